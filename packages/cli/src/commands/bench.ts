/**
 * `tessera bench <op>`: runs a kernel of `@tessera/kernels` on one device and reports the modelled time, the achieved
 * rate and the efficiency against the device's peak. On a simulator the launch runs in timing-only mode (no data, so
 * 8192³ takes milliseconds); on a backend that runs kernels on real hardware (`webgpu`: it has an executor) it runs
 * functionally, on data, a warm-up and then `iters` times, and the result also carries what the hardware measured.
 */
import {
  type Backend,
  createRuntime,
  type Device,
  type DeviceBuffer,
  type DeviceProperties,
  DTYPE_INFO,
  type DType,
  type LaunchResult,
  TesseraError,
} from '@tessera/device';
import { copy, flashAttention, gemm, pagedAttention, rmsnorm, softmax } from '@tessera/kernels';
import { fmtBytes } from '../format';

/** What the hardware measured over the timed launches (after one warm-up launch). */
export interface BenchMeasured {
  /** Median over the timed launches, ms. */
  ms: number;
  min_ms: number;
  /** `timestamp-query` (GPU timestamps around the dispatches) or `host-wall` (submit to completion on the host). */
  by: 'timestamp-query' | 'host-wall';
  iterations: number;
  /** The rate at the measured median (TFLOP/s or GB/s, as the modelled one). */
  tflops?: number;
  gbps?: number;
}

/** The same op and shape modelled by a simulator, on the catalogue device the adapter is (an H100 → nvidia-sim h100). */
export interface BenchReference {
  backend: string;
  device: string;
  simulated_ms: number;
}

export interface BenchResult {
  device: string;
  backend: string;
  op: string;
  dtype: string;
  simulated_ms: number;
  tflops?: number;
  gbps?: number;
  efficiency: number;
  bound: string;
  shape: string;
  /** Wall time the modelling took, ms (on real hardware: the allocation, lowering, compile and first launch). */
  wall_ms: number;
  breakdown_us: Record<string, number>;
  /** On a backend that runs kernels on real hardware: what it measured. */
  measured?: BenchMeasured;
  /** Filled in by the CLI: the simulator's modelled time for the same launch on the device the adapter is. */
  reference?: BenchReference;
  /** What the figures mean here (e.g. a software adapter is a CPU). */
  notes?: string[];
}

export interface BenchOptions {
  profile: boolean;
  /** Timed launches on real hardware, after one warm-up (default 5); ignored by simulators (one launch). */
  iters?: number;
}

/** A bench's launch: allocates (and, on real hardware, fills) its buffers, then launches as often as called. */
type Setup = (dev: Device, fill: boolean) => () => LaunchResult;

interface Run {
  r: LaunchResult;
  wall: number;
  measured?: Omit<BenchMeasured, 'tflops' | 'gbps'>;
  trace?: object;
}

/**
 * Runs a bench on `device`: in timing-only mode on a simulator; functionally on a backend with an executor (real
 * hardware), timing `iters` launches after a warm-up.
 */
async function runBench(backend: Backend, device: DeviceProperties, o: BenchOptions, setup: Setup): Promise<Run> {
  const real = backend.executor !== undefined;
  const rt = await createRuntime({
    backend,
    devices: device.id,
    mode: real ? 'functional' : 'timing',
    profile: o.profile,
  });
  const dev = rt.device(0);
  const t0 = performance.now();
  const launch = setup(dev, real);
  let r = launch();
  const wall = performance.now() - t0;
  let measured: Run['measured'];
  if (real) {
    const iters = o.iters ?? 5;
    if (!Number.isInteger(iters) || iters < 1)
      throw new TesseraError('InvalidValue', `--iters must be a positive integer, got ${iters}.`);
    const times: number[] = [];
    let by: BenchMeasured['by'] = 'host-wall';
    for (let i = 0; i < iters; i++) {
      r = launch();
      if (r.measured) {
        times.push(r.measured.ms);
        by = r.measured.by;
      }
    }
    if (times.length) {
      times.sort((a, b) => a - b);
      const mid = times.length >> 1;
      const median = times.length % 2 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2;
      measured = { ms: median, min_ms: times[0]!, by, iterations: times.length };
    }
  }
  return { r, wall, measured, trace: o.profile ? rt.profiler.toChromeTrace() : undefined };
}

/** Fills a buffer with small values: in [-0.5, 0.5] for floats, 0..16 for integers (only on real hardware). */
function fillPattern(dev: Device, buf: DeviceBuffer): void {
  const integer = DTYPE_INFO[buf.dtype].kind === 'int';
  const v = new Float32Array(buf.length);
  for (let i = 0; i < v.length; i++) {
    const k = ((i * 7919) % 17) - 8;
    v[i] = integer ? k + 8 : k / 16;
  }
  dev.upload(buf, v);
}

const GEMM_DTYPES: Record<string, DType> = { bf16: 'bf16', f16: 'f16', f32: 'f32', fp8: 'fp8e4m3', int8: 'i8' };

/** Peak FLOP/s of `dtype` GEMMs: the matrix unit if it has a path, else FMAs on the vector units. */
export function gemmPeakTflops(d: DeviceProperties, dtype: DType): number {
  const m = d.peakTflops.matrix[dtype];
  if (m) return m;
  return 2 * (d.peakTflops.vector[dtype === 'i8' ? 'i32' : 'f32'] ?? 0);
}

function result(
  backend: Backend,
  device: DeviceProperties,
  op: string,
  dtype: string,
  shape: string,
  run: Run,
  rate: (ms: number) => { tflops?: number; gbps?: number },
  peak: number,
): BenchResult {
  const { r, wall } = run;
  const modelled = rate(r.ms);
  const achieved = modelled.tflops ?? modelled.gbps ?? 0;
  const notes: string[] = [];
  if (run.measured && device.computeUnitName === 'CPU core')
    notes.push(
      `${device.id} is a software rasteriser on the host CPU: the measured time is a CPU's, the modelled one a roofline over estimated host-CPU figures (tessera devices --backend ${backend.name} --json lists their sources); the point is correctness and the plumbing, not speed`,
    );
  return {
    device: device.id,
    backend: backend.name,
    op,
    dtype,
    simulated_ms: r.ms,
    ...modelled,
    efficiency: peak > 0 ? achieved / peak : 0,
    bound: r.timing.bound,
    shape,
    wall_ms: wall,
    breakdown_us: r.timing.breakdown,
    ...(run.measured ? { measured: { ...run.measured, ...rate(run.measured.ms) } } : {}),
    ...(notes.length ? { notes } : {}),
  };
}

export async function benchGemm(
  backend: Backend,
  device: DeviceProperties,
  o: BenchOptions & { dtype: string; m: number; n: number; k: number },
): Promise<{ result: BenchResult; trace?: object }> {
  const dtype = GEMM_DTYPES[o.dtype.toLowerCase()];
  if (!dtype) {
    throw new TesseraError('InvalidValue', `--dtype ${o.dtype} is not one of ${Object.keys(GEMM_DTYPES).join(', ')}.`);
  }
  const run = await runBench(backend, device, o, (dev, fill) => {
    const a = dev.alloc(dtype, o.m * o.k);
    const b = dev.alloc(dtype, o.k * o.n);
    const c = dev.alloc(dtype === 'i8' ? 'i32' : dtype === 'fp8e4m3' ? 'bf16' : dtype, o.m * o.n);
    if (fill) for (const x of [a, b]) fillPattern(dev, x);
    return () => gemm(dev, { a, b, c, M: o.m, N: o.n, K: o.k });
  });
  const flops = 2 * o.m * o.n * o.k;
  return {
    result: result(
      backend,
      device,
      'gemm',
      o.dtype.toLowerCase(),
      `${o.m}×${o.n}×${o.k}`,
      run,
      (ms) => ({ tflops: flops / (ms * 1e-3) / 1e12 }),
      gemmPeakTflops(device, dtype),
    ),
    trace: run.trace,
  };
}

export async function benchCopy(
  backend: Backend,
  device: DeviceProperties,
  o: BenchOptions & { bytes: number },
): Promise<{ result: BenchResult; trace?: object }> {
  const run = await runBench(backend, device, o, (dev, fill) => {
    const src = dev.alloc('u8', o.bytes);
    const dst = dev.alloc('u8', o.bytes);
    if (fill) fillPattern(dev, src);
    return () => copy(dev, src, dst);
  });
  const gbps = (ms: number) => ({ gbps: (2 * o.bytes) / (ms * 1e-3) / 1e9 }); // bytes read + bytes written
  return {
    result: result(backend, device, 'copy', 'u8', fmtBytes(o.bytes), run, gbps, device.memoryBandwidthGBs),
    trace: run.trace,
  };
}

const FLOAT_BENCH_DTYPES: Record<string, DType> = { bf16: 'bf16', f16: 'f16', f32: 'f32' };

function floatDType(name: string): DType {
  const d = FLOAT_BENCH_DTYPES[name.toLowerCase()];
  if (!d)
    throw new TesseraError(
      'InvalidValue',
      `--dtype ${name} is not one of ${Object.keys(FLOAT_BENCH_DTYPES).join(', ')}.`,
    );
  return d;
}

/**
 * A row-wise bandwidth-bound operator over (rows, cols) — RMSNorm or softmax; GB/s counts x read plus y written
 * (and RMSNorm's weight).
 */
export async function benchRowwise(
  backend: Backend,
  device: DeviceProperties,
  op: 'rmsnorm' | 'softmax',
  o: BenchOptions & { rows: number; cols: number; dtype: string },
): Promise<{ result: BenchResult; trace?: object }> {
  const dtype = floatDType(o.dtype);
  const run = await runBench(backend, device, o, (dev, fill) => {
    const x = dev.alloc(dtype, o.rows * o.cols);
    const y = dev.alloc(dtype, o.rows * o.cols);
    if (fill) fillPattern(dev, x);
    if (op === 'softmax') return () => softmax(dev, { x, out: y, rows: o.rows, cols: o.cols });
    const weight = dev.alloc(dtype, o.cols);
    if (fill) fillPattern(dev, weight);
    return () => rmsnorm(dev, { x, weight, out: y, rows: o.rows, cols: o.cols });
  });
  const bytes = (2 * o.rows * o.cols + (op === 'rmsnorm' ? o.cols : 0)) * DTYPE_INFO[dtype].bytes;
  const gbps = (ms: number) => ({ gbps: bytes / (ms * 1e-3) / 1e9 });
  return {
    result: result(backend, device, op, dtype, `${o.rows}×${o.cols}`, run, gbps, device.memoryBandwidthGBs),
    trace: run.trace,
  };
}

/** Causal prefill attention (FlashAttention-style): TFLOP/s counts 4·D FLOPs per (query, key ≤ query) pair per head. */
export async function benchAttention(
  backend: Backend,
  device: DeviceProperties,
  o: BenchOptions & { batch: number; seq: number; heads: number; kvHeads: number; headDim: number; dtype: string },
): Promise<{ result: BenchResult; trace?: object }> {
  const dtype = floatDType(o.dtype);
  const T = o.batch * o.seq;
  const run = await runBench(backend, device, o, (dev, fill) => {
    const q = dev.alloc(dtype, T * o.heads * o.headDim);
    const k = dev.alloc(dtype, T * o.kvHeads * o.headDim);
    const v = dev.alloc(dtype, T * o.kvHeads * o.headDim);
    const out = dev.alloc(dtype, T * o.heads * o.headDim);
    if (fill) for (const x of [q, k, v]) fillPattern(dev, x);
    const seqLens = new Array(o.batch).fill(o.seq);
    return () => flashAttention(dev, { q, k, v, out, seqLens, heads: o.heads, kvHeads: o.kvHeads, headDim: o.headDim });
  });
  const flops = 4 * o.batch * ((o.seq * (o.seq + 1)) / 2) * o.heads * o.headDim;
  const tflops = (ms: number) => ({ tflops: flops / (ms * 1e-3) / 1e12 });
  const shape = `b${o.batch} s${o.seq} h${o.heads}/${o.kvHeads} d${o.headDim}`;
  return {
    result: result(backend, device, 'attention', dtype, shape, run, tflops, gemmPeakTflops(device, dtype)),
    trace: run.trace,
  };
}

/** Decode attention over a paged KV cache: GB/s counts the K and V read plus q and out. */
export async function benchDecode(
  backend: Backend,
  device: DeviceProperties,
  o: BenchOptions & {
    batch: number;
    context: number;
    heads: number;
    kvHeads: number;
    headDim: number;
    blockSize: number;
    dtype: string;
  },
): Promise<{ result: BenchResult; trace?: object }> {
  const dtype = floatDType(o.dtype);
  const maxBlocks = Math.ceil(o.context / o.blockSize);
  const cacheElems = o.batch * maxBlocks * o.blockSize * o.kvHeads * o.headDim;
  const run = await runBench(backend, device, o, (dev, fill) => {
    const q = dev.alloc(dtype, o.batch * o.heads * o.headDim);
    const keyCache = dev.alloc(dtype, cacheElems);
    const valueCache = dev.alloc(dtype, cacheElems);
    const blockTables = dev.alloc('i32', o.batch * maxBlocks);
    if (fill) {
      for (const x of [q, keyCache, valueCache]) fillPattern(dev, x);
      // Each sequence its own blocks, as a real cache holds them (zeros would read block 0 for everyone).
      dev.upload(
        blockTables,
        Int32Array.from({ length: o.batch * maxBlocks }, (_, i) => i),
      );
    }
    const queryLens = new Array(o.batch).fill(1);
    const contextLens = new Array(o.batch).fill(o.context);
    return () =>
      pagedAttention(dev, {
        q,
        keyCache,
        valueCache,
        blockTables,
        out: q,
        queryLens,
        contextLens,
        maxBlocksPerSeq: maxBlocks,
        blockSize: o.blockSize,
        heads: o.heads,
        kvHeads: o.kvHeads,
        headDim: o.headDim,
      });
  });
  const e = DTYPE_INFO[dtype].bytes;
  const bytes = (2 * o.batch * o.context * o.kvHeads * o.headDim + 2 * o.batch * o.heads * o.headDim) * e;
  const gbps = (ms: number) => ({ gbps: bytes / (ms * 1e-3) / 1e9 });
  const shape = `b${o.batch} ctx${o.context} h${o.heads}/${o.kvHeads} d${o.headDim} page${o.blockSize}`;
  return {
    result: result(backend, device, 'decode-attention', dtype, shape, run, gbps, device.memoryBandwidthGBs),
    trace: run.trace,
  };
}

const fmtMs = (ms: number) => (ms >= 1 ? `${ms.toFixed(3)} ms` : `${(ms * 1000).toFixed(1)} µs`);

export function formatBench(r: BenchResult): string {
  const rateOf = (x: { tflops?: number; gbps?: number }) =>
    x.tflops === undefined
      ? `${x.gbps!.toFixed(x.gbps! < 10 ? 2 : 0)} GB/s`
      : x.tflops < 0.1
        ? `${(x.tflops * 1000).toFixed(2)} GFLOP/s`
        : `${x.tflops.toFixed(1)} TFLOP/s`;
  const b = r.breakdown_us;
  const m = r.measured;
  const lines = [`${r.op} ${r.shape} ${r.dtype} on ${r.device}${m ? ` (${r.backend})` : ''}`];
  if (m)
    lines.push(
      `  measured time   ${fmtMs(m.ms)}  (${m.by === 'timestamp-query' ? 'GPU timestamps' : 'host wall clock, submit to completion'}; median of ${m.iterations} after a warm-up, min ${fmtMs(m.min_ms)}; ${rateOf(m)})`,
    );
  lines.push(`  modelled time   ${fmtMs(r.simulated_ms)}`);
  if (r.reference)
    lines.push(
      `  ${r.reference.backend} models ${fmtMs(r.reference.simulated_ms)} for the same launch on ${r.reference.device}`,
    );
  lines.push(
    `  achieved        ${rateOf(r)}  (${(r.efficiency * 100).toFixed(1)} % of peak, ${r.bound}-bound${m ? ', modelled' : ''})`,
  );
  if (b.compute !== undefined || b.waves !== undefined)
    lines.push(
      `  breakdown (µs)  launch ${b.launch?.toFixed(1)}, compute ${b.compute?.toFixed(1)}, memory ${b.memory?.toFixed(1)}; ${b.waves} wave(s) over ${b.units} units`,
    );
  else
    lines.push(
      `  breakdown (µs)  ${Object.entries(b)
        .map(([k, v]) => `${k} ${v.toFixed(1)}`)
        .join(', ')}`,
    );
  lines.push(
    m
      ? `  first launch    ${r.wall_ms.toFixed(0)} ms of wall time (allocation, data, lowering to WGSL, compile, run)`
      : `  modelled in     ${r.wall_ms.toFixed(0)} ms of wall time (timing-only mode)`,
  );
  for (const n of r.notes ?? []) lines.push(`  note: ${n}`);
  return lines.join('\n');
}
