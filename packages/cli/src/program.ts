/**
 * The `tessera` command line. `createProgram(io)` builds it around injectable output so tests can run it in-process.
 * The small commands are wired here; `bench` and `project`, with many options each, in commands/*-command.ts.
 */

import { writeFileSync } from 'node:fs';
import { isTesseraError, listBackends, TesseraError } from '@tessera/device';
import { Command, CommanderError, Option } from 'commander';
import { Backends } from './backends';
import { addBenchCommands } from './commands/bench-command';
import { collPerf, parseCollPerfArgs } from './commands/coll-perf';
import { compileCommand } from './commands/compile';
import type { Io, ProgramContext } from './commands/context';
import { devicesCommand } from './commands/devices';
import { addProjectCommand } from './commands/project-command';
import { sanitizeCommand } from './commands/sanitize';
import { parsePositiveInt } from './format';

export type { Io } from './commands/context';

/** A command's own exit code (`tessera sanitize` relays its child's, or reports errors found). */
class ExitWith extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
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

  program.hook('preAction', async (_program, action) => {
    // Opt-in backends (webgpu opens a GPU) are created only for a command that names one, by flag or environment.
    const takes = (flag: string) => action.options.some((opt) => opt.long === flag);
    const names = takes('--backend') || takes('--device') ? [process.env.TESSERA_BACKEND] : [];
    if (takes('--backend')) names.push(action.opts().backend as string | undefined);
    await backends.load(names);
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
    .description(
      'list every simulated device and its properties (like nvidia-smi / npu-smi info); --backend webgpu: this machine’s GPU',
    )
    .option(
      '--backend <name>',
      `only this backend: ${listBackends().join(', ')} (default: the one TESSERA_BACKEND names, else every simulated backend)`,
    )
    .option('--json', 'print JSON')
    .action((o: { backend?: string; json?: boolean }) => {
      const list = o.backend ? [backends.byName(o.backend)] : backends.selected();
      io.out(devicesCommand(list, !!o.json));
      const optIn = o.backend || process.env.TESSERA_BACKEND?.trim() ? [] : backends.notLoaded();
      if (!o.json && optIn.length)
        io.out(
          `Not listed: ${optIn.join(', ')} — real hardware, opened only when named (tessera devices --backend ${optIn[0]}).`,
        );
      writeTrace(program.opts().trace ? { traceEvents: [] } : undefined);
    });

  const context: ProgramContext = { io, backends, writeTrace };
  addBenchCommands(program, context);

  const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

  program
    .command('sanitize')
    .description(
      'run a command with the sanitizer on, like compute-sanitizer: tessera sanitize --tool memcheck -- node app.js',
    )
    .option('--tool <name>', 'memcheck, racecheck, initcheck, synccheck, a comma list, or all', 'memcheck')
    .option('--print-limit <n>', 'print at most N reports per process (default 100; later ones are counted)')
    .option('--error-exitcode <n>', "exit code when errors were found (default: the command's own, else 1)")
    .argument('<command...>', 'the command to run, after --')
    .action(async (command: string[], o: { tool: string; printLimit?: string; errorExitcode?: string }) => {
      const code = await sanitizeCommand(
        {
          tool: o.tool,
          command,
          printLimit: o.printLimit === undefined ? undefined : parsePositiveInt(o.printLimit, '--print-limit'),
          errorExitcode:
            o.errorExitcode === undefined ? undefined : parsePositiveInt(o.errorExitcode, '--error-exitcode'),
        },
        io,
      );
      if (code !== 0) throw new ExitWith(code);
    });

  program
    .command('compile')
    .description(
      'compile one kernel of a module and print its IR, generated JavaScript or launch cost (like TRITON_KERNEL_DUMP)',
    )
    .argument('<file>', 'module that exports the kernel (.ts through tsx, or .js)')
    .requiredOption('--kernel <name>', 'the exported kernel (export name or kernel name)')
    .option(
      '--arg <name=value>',
      'a parameter: BM=64, a=bf16 (buffer dtype), a=bf16:1048576 (and length), starts=0,7,9',
      collect,
      [],
    )
    .addOption(
      new Option('--dump <what>', 'what to print (wgsl: SIMT kernels)')
        .choices(['ir', 'js', 'wgsl', 'cost'])
        .default('ir'),
    )
    .option('--grid <x,y,z>', 'grid of the launch (for --dump cost)')
    .option('--block <x,y,z>', 'threads per block (SIMT kernels)')
    .option('--shared-mem-bytes <n>', 'dynamic shared memory (SIMT kernels)')
    .option('--device <id>', 'with --dump cost: also print the modelled time on this device')
    .action(
      async (
        file: string,
        o: {
          kernel: string;
          arg: string[];
          dump: 'ir' | 'js' | 'cost';
          grid?: string;
          block?: string;
          sharedMemBytes?: string;
          device?: string;
        },
      ) => {
        const device = o.device ? backends.findDevice(o.device) : null;
        io.out(
          await compileCommand(
            {
              file,
              kernel: o.kernel,
              args: o.arg,
              dump: o.dump,
              grid: o.grid,
              block: o.block,
              sharedMemBytes: o.sharedMemBytes,
            },
            device,
          ),
        );
      },
    );

  program
    .command('coll-perf')
    .description(
      'nccl-tests-style sweep of one collective over a simulated cluster: modelled times, bus bandwidth, and a functional check at small sizes',
    )
    .requiredOption('--op <op>', 'allreduce, allgather, reducescatter, alltoall, broadcast, reduce or sendrecv')
    .requiredOption(
      '--topology <T>',
      'dgx-a100, dgx-h100, hgx-h200, hgx-h800, nvl72, atlas-800t-a2, cloudmatrix384 (xN for N of them on a fat-tree, e.g. dgx-h100x4), webgpu-local (xN: N ranks sharing this machine’s GPU), or a JSON/YAML topology file',
    )
    .option('--ranks <n>', 'use the first n ranks (default: all of the topology)')
    .option('--min-bytes <size>', 'smallest size (K, M, G suffixes: powers of 1024)', '8')
    .option('--max-bytes <size>', 'largest size', '8G')
    .option('--step-factor <f>', 'multiply the size by f each row (at least 2)', '2')
    .option('--dtype <type>', 'float, half, bfloat16, int32, int8, uint8, f8e4m3, f8e5m2', 'float')
    .option(
      '--algo <name>',
      'force ring, tree, direct, nvls, hier, onesided (all-to-all as one-sided puts) or p2p (default: the tuner picks per size)',
    )
    .option('--fail-rank <r>', 'fail rank r before the sweep (repeatable, or a comma list)', collect)
    .option(
      '--degrade-link <name=factor>',
      'run a link at factor (0..1] of its bandwidth: "rank3→sw0=0.5" (one direction), or "a-b=0.5" for the direct links between ranks a and b (repeatable)',
      collect,
    )
    .option('--cut-link <name>', 'cut a link (same names as --degrade-link; repeatable)', collect)
    .option('--json', 'print the rows as JSON: [{ bytes, time_us, algbw_gbs, busbw_gbs, algo }]')
    .action(
      async (o: {
        op: string;
        topology: string;
        ranks?: string;
        minBytes: string;
        maxBytes: string;
        stepFactor: string;
        dtype: string;
        algo?: string;
        json?: boolean;
        failRank?: string[];
        degradeLink?: string[];
        cutLink?: string[];
      }) => {
        const options = parseCollPerfArgs({ ...o, profile: !!program.opts().trace });
        const { trace } = await collPerf(options, io.out);
        writeTrace(trace);
      },
    );

  program
    .command('ui')
    .description(
      'serve the browser dashboard: projections, topologies and collectives with faults (no model: apps/llm-serve serves the live engine)',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', '8100')
    .action(async (o: { host: string; port: string }) => {
      const port = Number(o.port);
      if (!(Number.isInteger(port) && port >= 0 && port <= 65535))
        throw new TesseraError('InvalidValue', `--port '${o.port}' must be an integer from 0 to 65535.`);
      // Loaded here: the server and the dashboard's files matter to this command only.
      const { startUiServer } = await import('./ui/server');
      const server = await startUiServer({ host: o.host, port, log: io.err }).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL')
          throw new TesseraError('InvalidValue', `Cannot listen on ${o.host}:${port} (${e.code}).`, {
            hint: 'Pass another --port (0: any free one) or --host.',
          });
        throw e;
      });
      io.out(`Dashboard: ${server.url}`);
      io.err('Serving the dashboard and its API; Ctrl-C stops.');
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await server.close();
    });

  addProjectCommand(program, context);

  return program;
}

/** Runs the CLI with `argv` (without node and script); returns the exit code instead of exiting. */
export async function run(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof ExitWith) return e.code;
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
