/**
 * The `tessera` command line. `createProgram(io)` builds it around injectable output so tests can run it in-process.
 */

import { writeFileSync } from 'node:fs';
import { isTesseraError, TesseraError } from '@tessera/device';
import { Command, CommanderError, Option } from 'commander';
import { Backends } from './backends';
import { benchCopy, benchGemm, formatBench } from './commands/bench';
import { devicesCommand } from './commands/devices';
import { parseBytes, parsePositiveInt } from './format';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIo: Io = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) };

export function createProgram(io: Io = defaultIo): Command {
  const backends = new Backends();
  const program = new Command('tessera')
    .description('Tessera: portable kernels on simulated NVIDIA GPUs and Huawei Ascend NPUs')
    .option('--device-spec <file>', 'add a device from a JSON spec (vendor "nvidia" or "huawei") before running')
    .option('--trace <file>', 'write a Chrome/Perfetto trace of the run to FILE')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  program.hook('preAction', () => {
    const spec = program.opts().deviceSpec as string | undefined;
    if (spec) backends.addSpecFile(spec);
  });

  const writeTrace = (trace: object | undefined) => {
    const file = program.opts().trace as string | undefined;
    if (file && trace) {
      writeFileSync(file, JSON.stringify(trace));
      io.err(`trace written to ${file} (open it in https://ui.perfetto.dev)`);
    }
  };

  program
    .command('devices')
    .description('list every simulated device and its properties (like nvidia-smi / npu-smi info)')
    .addOption(new Option('--backend <name>', 'only this backend').choices(['nvidia-sim', 'ascend-sim']))
    .option('--json', 'print JSON')
    .action((o: { backend?: string; json?: boolean }) => {
      const list = o.backend ? [backends.byName(o.backend)] : backends.all;
      io.out(devicesCommand(list, !!o.json));
      writeTrace(program.opts().trace ? { traceEvents: [] } : undefined);
    });

  const bench = program.command('bench').description('model one kernel on one device in timing-only mode');

  bench
    .command('gemm')
    .description('C = A·B with the GEMM of @tessera/kernels')
    .requiredOption('--device <id>', 'device id (tessera devices lists them)')
    .addOption(
      new Option('--dtype <dtype>', 'input dtype').choices(['bf16', 'f16', 'f32', 'fp8', 'int8']).default('bf16'),
    )
    .requiredOption('--m <M>', 'rows of A and C')
    .requiredOption('--n <N>', 'columns of B and C')
    .requiredOption('--k <K>', 'columns of A, rows of B')
    .option('--json', 'print JSON')
    .action(async (o: { device: string; dtype: string; m: string; n: string; k: string; json?: boolean }) => {
      const { backend, device } = backends.findDevice(o.device);
      const m = parsePositiveInt(o.m, '--m');
      const n = parsePositiveInt(o.n, '--n');
      const k = parsePositiveInt(o.k, '--k');
      const { result, trace } = await benchGemm(backend, device, {
        dtype: o.dtype,
        m,
        n,
        k,
        profile: !!program.opts().trace,
      });
      io.out(o.json ? JSON.stringify(result, null, 2) : formatBench(result));
      writeTrace(trace);
    });

  bench
    .command('copy')
    .description('streaming device-to-device copy (bandwidth counts bytes read + bytes written)')
    .requiredOption('--device <id>', 'device id (tessera devices lists them)')
    .requiredOption('--bytes <N>', 'bytes to copy (K, M, G, T suffixes: powers of 1024)')
    .option('--json', 'print JSON')
    .action(async (o: { device: string; bytes: string; json?: boolean }) => {
      const { backend, device } = backends.findDevice(o.device);
      const bytes = parseBytes(o.bytes, '--bytes');
      if (bytes < 1) throw new TesseraError('InvalidValue', '--bytes must be at least 1.');
      const { result, trace } = await benchCopy(backend, device, { bytes, profile: !!program.opts().trace });
      io.out(o.json ? JSON.stringify(result, null, 2) : formatBench(result));
      writeTrace(trace);
    });

  return program;
}

/** Runs the CLI with `argv` (without node and script); returns the exit code instead of exiting. */
export async function run(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; usage errors were already printed by commander.
      return e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.help' ? 0 : 2;
    }
    if (isTesseraError(e)) {
      io.err(`tessera: ${e.message}`);
      return 1;
    }
    io.err(`tessera: ${(e as Error).message ?? String(e)}`);
    return 1;
  }
}
