/**
 * The command-line wiring of `tessera bench <kernel>`: where a bench runs (`--backend`, `--device`,
 * TESSERA_BACKEND), each kernel's options, and on real hardware the simulator's time for the same launch beside the
 * measured one. The benches themselves are in bench.ts.
 */
import { type Backend, type DeviceProperties, findDeviceModel, listBackends, TesseraError } from '@tessera/device';
import { type Command, Option } from 'commander';
import { parseBytes, parsePositiveInt } from '../format';
import {
  type BenchOptions,
  type BenchResult,
  benchAttention,
  benchCopy,
  benchDecode,
  benchGemm,
  benchRowwise,
  formatBench,
} from './bench';
import type { ProgramContext } from './context';

export function addBenchCommands(program: Command, { io, backends, writeTrace }: ProgramContext): void {
  /**
   * The backend and device a bench runs on: `--backend` (its `--device`, else its first device — on webgpu, the
   * adapter); else `--device` in any backend; else the first device of the backend `TESSERA_BACKEND` names.
   */
  const benchTarget = (o: { device?: string; backend?: string }): { backend: Backend; device: DeviceProperties } => {
    if (o.backend) {
      const backend = backends.byName(o.backend);
      const device = o.device ? findDeviceModel(backend, o.device) : backend.catalog()[0];
      if (!device) throw new TesseraError('InvalidDevice', `Backend '${backend.name}' has no devices.`);
      return { backend, device };
    }
    if (o.device) return backends.findDevice(o.device);
    const env = process.env.TESSERA_BACKEND?.trim();
    if (env) return benchTarget({ backend: env });
    throw new TesseraError(
      'InvalidValue',
      'bench needs --device <id> (tessera devices lists them) or --backend <name>.',
    );
  };

  /**
   * The simulator device a real adapter is: the webgpu backend names an adapter that a simulator's catalogue knows
   * `<catalogue id>-<backend>` (an H100 → `h100-webgpu`) and models it with that simulator.
   */
  const referenceOf = (backend: Backend, device: DeviceProperties) => {
    const suffix = `-${backend.name}`;
    if (!backend.executor || !device.id.endsWith(suffix)) return null;
    const id = device.id.slice(0, -suffix.length);
    for (const b of backends.all) {
      const d = b.executor ? undefined : b.catalog().find((x) => x.id === id);
      if (d) return { backend: b, device: d };
    }
    return null;
  };

  type BenchFn = (
    backend: Backend,
    device: DeviceProperties,
    o: BenchOptions,
  ) => Promise<{ result: BenchResult; trace?: object }>;

  /** Runs a bench on its target; on real hardware the simulator's time for the same launch rides along. */
  const runBench = async (
    o: { device?: string; backend?: string; iters?: string },
    fn: BenchFn,
  ): Promise<{ result: BenchResult; trace?: object }> => {
    const { backend, device } = benchTarget(o);
    const iters = o.iters === undefined ? undefined : parsePositiveInt(o.iters, '--iters');
    const out = await fn(backend, device, { profile: !!program.opts().trace, iters });
    const ref = referenceOf(backend, device);
    if (ref) {
      const r = await fn(ref.backend, ref.device, { profile: false });
      out.result.reference = { backend: ref.backend.name, device: ref.device.id, simulated_ms: r.result.simulated_ms };
    }
    return out;
  };

  /** The options every bench takes: where it runs, and on real hardware how often. */
  const benchCommand = (name: string, description: string) =>
    bench
      .command(name)
      .description(description)
      .option(
        '--device <id>',
        'device id (tessera devices lists them); with --backend or TESSERA_BACKEND, default: its first (webgpu: the adapter)',
      )
      .option(
        '--backend <name>',
        `run on this backend: ${listBackends().join(', ')} (webgpu runs the kernel on this machine’s GPU and prints the measured time beside the modelled one)`,
      )
      .option('--iters <n>', 'on real hardware (webgpu): timed launches after one warm-up (default 5)');

  const bench = program
    .command('bench')
    .description(
      'model one kernel on one device in timing-only mode (--backend webgpu: run it on this machine’s GPU and measure it too)',
    );

  const report = (o: { json?: boolean }, out: { result: BenchResult; trace?: object }) => {
    io.out(o.json ? JSON.stringify(out.result, null, 2) : formatBench(out.result));
    writeTrace(out.trace);
  };
  type Where = { device?: string; backend?: string; iters?: string; json?: boolean };

  benchCommand('gemm', 'C = A·B with the GEMM of @tessera/kernels')
    .addOption(
      new Option('--dtype <dtype>', 'input dtype').choices(['bf16', 'f16', 'f32', 'fp8', 'int8']).default('bf16'),
    )
    .requiredOption('--m <M>', 'rows of A and C')
    .requiredOption('--n <N>', 'columns of B and C')
    .requiredOption('--k <K>', 'columns of A, rows of B')
    .option('--json', 'print JSON')
    .action(async (o: Where & { dtype: string; m: string; n: string; k: string }) => {
      const m = parsePositiveInt(o.m, '--m');
      const n = parsePositiveInt(o.n, '--n');
      const k = parsePositiveInt(o.k, '--k');
      report(o, await runBench(o, (b, d, x) => benchGemm(b, d, { ...x, dtype: o.dtype, m, n, k })));
    });

  benchCommand('copy', 'streaming device-to-device copy (bandwidth counts bytes read + bytes written)')
    .requiredOption('--bytes <N>', 'bytes to copy (K, M, G, T suffixes: powers of 1024)')
    .option('--json', 'print JSON')
    .action(async (o: Where & { bytes: string }) => {
      const bytes = parseBytes(o.bytes, '--bytes');
      if (bytes < 1) throw new TesseraError('InvalidValue', '--bytes must be at least 1.');
      report(o, await runBench(o, (b, d, x) => benchCopy(b, d, { ...x, bytes })));
    });

  const dtypeOption = () => new Option('--dtype <dtype>', 'dtype').choices(['bf16', 'f16', 'f32']).default('bf16');

  for (const op of ['rmsnorm', 'softmax'] as const) {
    benchCommand(
      op,
      `${op === 'rmsnorm' ? 'RMSNorm' : 'row softmax'} over (rows, cols) — bandwidth-bound; GB/s counts bytes read + written`,
    )
      .requiredOption('--rows <n>', 'rows (tokens)')
      .requiredOption('--cols <n>', op === 'rmsnorm' ? 'columns (hidden size)' : 'columns (e.g. vocabulary or keys)')
      .addOption(dtypeOption())
      .option('--json', 'print JSON')
      .action(async (o: Where & { rows: string; cols: string; dtype: string }) => {
        const rows = parsePositiveInt(o.rows, '--rows');
        const cols = parsePositiveInt(o.cols, '--cols');
        report(o, await runBench(o, (b, d, x) => benchRowwise(b, d, op, { ...x, rows, cols, dtype: o.dtype })));
      });
  }

  benchCommand(
    'attention',
    'causal prefill attention (FlashAttention-style); TFLOP/s counts 4·headDim FLOPs per causal pair per head',
  )
    .requiredOption('--seq <n>', 'tokens per sequence')
    .option('--batch <n>', 'sequences', '1')
    .option('--heads <n>', 'query heads', '32')
    .option('--kv-heads <n>', 'key/value heads (GQA)', '8')
    .option('--head-dim <n>', 'head dimension', '128')
    .addOption(dtypeOption())
    .option('--json', 'print JSON')
    .action(
      async (
        o: Where & { seq: string; batch: string; heads: string; kvHeads: string; headDim: string; dtype: string },
      ) => {
        const shape = {
          seq: parsePositiveInt(o.seq, '--seq'),
          batch: parsePositiveInt(o.batch, '--batch'),
          heads: parsePositiveInt(o.heads, '--heads'),
          kvHeads: parsePositiveInt(o.kvHeads, '--kv-heads'),
          headDim: parsePositiveInt(o.headDim, '--head-dim'),
          dtype: o.dtype,
        };
        report(o, await runBench(o, (b, d, x) => benchAttention(b, d, { ...x, ...shape })));
      },
    );

  benchCommand('decode', 'decode attention over a paged KV cache — bandwidth-bound; GB/s counts K, V, q and out')
    .requiredOption('--batch <n>', 'sequences decoding one token each')
    .requiredOption('--context <n>', 'cached tokens per sequence')
    .option('--heads <n>', 'query heads', '32')
    .option('--kv-heads <n>', 'key/value heads (GQA)', '8')
    .option('--head-dim <n>', 'head dimension', '128')
    .option('--block-size <n>', 'tokens per KV-cache block', '16')
    .addOption(dtypeOption())
    .option('--json', 'print JSON')
    .action(
      async (
        o: Where & {
          batch: string;
          context: string;
          heads: string;
          kvHeads: string;
          headDim: string;
          blockSize: string;
          dtype: string;
        },
      ) => {
        const shape = {
          batch: parsePositiveInt(o.batch, '--batch'),
          context: parsePositiveInt(o.context, '--context'),
          heads: parsePositiveInt(o.heads, '--heads'),
          kvHeads: parsePositiveInt(o.kvHeads, '--kv-heads'),
          headDim: parsePositiveInt(o.headDim, '--head-dim'),
          blockSize: parsePositiveInt(o.blockSize, '--block-size'),
          dtype: o.dtype,
        };
        report(o, await runBench(o, (b, d, x) => benchDecode(b, d, { ...x, ...shape })));
      },
    );
}
