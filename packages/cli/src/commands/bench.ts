/**
 * `tessera bench <op>`: runs a kernel of `@tessera/kernels` in timing-only mode on one simulated device and reports
 * the modelled time, the achieved rate and the efficiency against the device's peak.
 */
import {
  type Backend,
  createRuntime,
  type DeviceProperties,
  DTYPE_INFO,
  type DType,
  type LaunchResult,
  TesseraError,
} from '@tessera/device';
import { copy, flashAttention, gemm, pagedAttention, rmsnorm, softmax } from '@tessera/kernels';
import { fmtBytes } from '../format';

export interface BenchResult {
  device: string;
  op: string;
  dtype: string;
  simulated_ms: number;
  tflops?: number;
  gbps?: number;
  efficiency: number;
  bound: string;
  shape: string;
  /** Wall time the modelling took, ms. */
  wall_ms: number;
  breakdown_us: Record<string, number>;
}

const GEMM_DTYPES: Record<string, DType> = { bf16: 'bf16', f16: 'f16', f32: 'f32', fp8: 'fp8e4m3', int8: 'i8' };

/** Peak FLOP/s of `dtype` GEMMs: the matrix unit if it has a path, else FMAs on the vector units. */
export function gemmPeakTflops(d: DeviceProperties, dtype: DType): number {
  const m = d.peakTflops.matrix[dtype];
  if (m) return m;
  return 2 * (d.peakTflops.vector[dtype === 'i8' ? 'i32' : 'f32'] ?? 0);
}

async function timingRuntime(backend: Backend, device: DeviceProperties, profile: boolean) {
  return createRuntime({ backend, devices: device.id, mode: 'timing', profile });
}

function result(
  device: DeviceProperties,
  op: string,
  dtype: string,
  shape: string,
  r: LaunchResult,
  wall: number,
  rate: { tflops?: number; gbps?: number },
  peak: number,
): BenchResult {
  const achieved = rate.tflops ?? rate.gbps ?? 0;
  return {
    device: device.id,
    op,
    dtype,
    simulated_ms: r.ms,
    ...rate,
    efficiency: peak > 0 ? achieved / peak : 0,
    bound: r.timing.bound,
    shape,
    wall_ms: wall,
    breakdown_us: r.timing.breakdown,
  };
}

export async function benchGemm(
  backend: Backend,
  device: DeviceProperties,
  o: { dtype: string; m: number; n: number; k: number; profile: boolean },
): Promise<{ result: BenchResult; trace?: object }> {
  const dtype = GEMM_DTYPES[o.dtype.toLowerCase()];
  if (!dtype) {
    throw new TesseraError('InvalidValue', `--dtype ${o.dtype} is not one of ${Object.keys(GEMM_DTYPES).join(', ')}.`);
  }
  const rt = await timingRuntime(backend, device, o.profile);
  const dev = rt.device(0);
  const t0 = performance.now();
  const a = dev.alloc(dtype, o.m * o.k);
  const b = dev.alloc(dtype, o.k * o.n);
  const c = dev.alloc(dtype === 'i8' ? 'i32' : dtype === 'fp8e4m3' ? 'bf16' : dtype, o.m * o.n);
  const r = gemm(dev, { a, b, c, M: o.m, N: o.n, K: o.k });
  const wall = performance.now() - t0;
  const tflops = (2 * o.m * o.n * o.k) / (r.ms * 1e-3) / 1e12;
  return {
    result: result(
      device,
      'gemm',
      o.dtype.toLowerCase(),
      `${o.m}×${o.n}×${o.k}`,
      r,
      wall,
      { tflops },
      gemmPeakTflops(device, dtype),
    ),
    trace: o.profile ? rt.profiler.toChromeTrace() : undefined,
  };
}

export async function benchCopy(
  backend: Backend,
  device: DeviceProperties,
  o: { bytes: number; profile: boolean },
): Promise<{ result: BenchResult; trace?: object }> {
  const rt = await timingRuntime(backend, device, o.profile);
  const dev = rt.device(0);
  const t0 = performance.now();
  const src = dev.alloc('u8', o.bytes);
  const dst = dev.alloc('u8', o.bytes);
  const r = copy(dev, src, dst);
  const wall = performance.now() - t0;
  const gbps = (2 * o.bytes) / (r.ms * 1e-3) / 1e9; // bytes read + bytes written
  return {
    result: result(device, 'copy', 'u8', fmtBytes(o.bytes), r, wall, { gbps }, device.memoryBandwidthGBs),
    trace: o.profile ? rt.profiler.toChromeTrace() : undefined,
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
  o: { rows: number; cols: number; dtype: string; profile: boolean },
): Promise<{ result: BenchResult; trace?: object }> {
  const dtype = floatDType(o.dtype);
  const rt = await timingRuntime(backend, device, o.profile);
  const dev = rt.device(0);
  const t0 = performance.now();
  const x = dev.alloc(dtype, o.rows * o.cols);
  const y = dev.alloc(dtype, o.rows * o.cols);
  const r =
    op === 'rmsnorm'
      ? rmsnorm(dev, { x, weight: dev.alloc(dtype, o.cols), out: y, rows: o.rows, cols: o.cols })
      : softmax(dev, { x, out: y, rows: o.rows, cols: o.cols });
  const wall = performance.now() - t0;
  const bytes = (2 * o.rows * o.cols + (op === 'rmsnorm' ? o.cols : 0)) * DTYPE_INFO[dtype].bytes;
  const gbps = bytes / (r.ms * 1e-3) / 1e9;
  return {
    result: result(device, op, dtype, `${o.rows}×${o.cols}`, r, wall, { gbps }, device.memoryBandwidthGBs),
    trace: o.profile ? rt.profiler.toChromeTrace() : undefined,
  };
}

/** Causal prefill attention (FlashAttention-style): TFLOP/s counts 4·D FLOPs per (query, key ≤ query) pair per head. */
export async function benchAttention(
  backend: Backend,
  device: DeviceProperties,
  o: { batch: number; seq: number; heads: number; kvHeads: number; headDim: number; dtype: string; profile: boolean },
): Promise<{ result: BenchResult; trace?: object }> {
  const dtype = floatDType(o.dtype);
  const rt = await timingRuntime(backend, device, o.profile);
  const dev = rt.device(0);
  const t0 = performance.now();
  const T = o.batch * o.seq;
  const q = dev.alloc(dtype, T * o.heads * o.headDim);
  const r = flashAttention(dev, {
    q,
    k: dev.alloc(dtype, T * o.kvHeads * o.headDim),
    v: dev.alloc(dtype, T * o.kvHeads * o.headDim),
    out: dev.alloc(dtype, T * o.heads * o.headDim),
    seqLens: new Array(o.batch).fill(o.seq),
    heads: o.heads,
    kvHeads: o.kvHeads,
    headDim: o.headDim,
  });
  const wall = performance.now() - t0;
  const flops = 4 * o.batch * ((o.seq * (o.seq + 1)) / 2) * o.heads * o.headDim;
  const tflops = flops / (r.ms * 1e-3) / 1e12;
  const shape = `b${o.batch} s${o.seq} h${o.heads}/${o.kvHeads} d${o.headDim}`;
  return {
    result: result(device, 'attention', dtype, shape, r, wall, { tflops }, gemmPeakTflops(device, dtype)),
    trace: o.profile ? rt.profiler.toChromeTrace() : undefined,
  };
}

/** Decode attention over a paged KV cache: GB/s counts the K and V read plus q and out. */
export async function benchDecode(
  backend: Backend,
  device: DeviceProperties,
  o: {
    batch: number;
    context: number;
    heads: number;
    kvHeads: number;
    headDim: number;
    blockSize: number;
    dtype: string;
    profile: boolean;
  },
): Promise<{ result: BenchResult; trace?: object }> {
  const dtype = floatDType(o.dtype);
  const rt = await timingRuntime(backend, device, o.profile);
  const dev = rt.device(0);
  const t0 = performance.now();
  const maxBlocks = Math.ceil(o.context / o.blockSize);
  const cacheElems = o.batch * maxBlocks * o.blockSize * o.kvHeads * o.headDim;
  const q = dev.alloc(dtype, o.batch * o.heads * o.headDim);
  const r = pagedAttention(dev, {
    q,
    keyCache: dev.alloc(dtype, cacheElems),
    valueCache: dev.alloc(dtype, cacheElems),
    blockTables: dev.alloc('i32', o.batch * maxBlocks),
    out: q,
    queryLens: new Array(o.batch).fill(1),
    contextLens: new Array(o.batch).fill(o.context),
    maxBlocksPerSeq: maxBlocks,
    blockSize: o.blockSize,
    heads: o.heads,
    kvHeads: o.kvHeads,
    headDim: o.headDim,
  });
  const wall = performance.now() - t0;
  const e = DTYPE_INFO[dtype].bytes;
  const bytes = (2 * o.batch * o.context * o.kvHeads * o.headDim + 2 * o.batch * o.heads * o.headDim) * e;
  const gbps = bytes / (r.ms * 1e-3) / 1e9;
  const shape = `b${o.batch} ctx${o.context} h${o.heads}/${o.kvHeads} d${o.headDim} page${o.blockSize}`;
  return {
    result: result(device, 'decode-attention', dtype, shape, r, wall, { gbps }, device.memoryBandwidthGBs),
    trace: o.profile ? rt.profiler.toChromeTrace() : undefined,
  };
}

export function formatBench(r: BenchResult): string {
  const rate = r.tflops !== undefined ? `${r.tflops.toFixed(1)} TFLOP/s` : `${r.gbps!.toFixed(0)} GB/s`;
  const b = r.breakdown_us;
  const lines = [
    `${r.op} ${r.shape} ${r.dtype} on ${r.device}`,
    `  modelled time   ${r.simulated_ms >= 1 ? `${r.simulated_ms.toFixed(3)} ms` : `${(r.simulated_ms * 1000).toFixed(1)} µs`}`,
    `  achieved        ${rate}  (${(r.efficiency * 100).toFixed(1)} % of peak, ${r.bound}-bound)`,
    `  breakdown (µs)  launch ${b.launch?.toFixed(1)}, compute ${b.compute?.toFixed(1)}, memory ${b.memory?.toFixed(1)}; ${b.waves} wave(s) over ${b.units} units`,
    `  modelled in     ${r.wall_ms.toFixed(0)} ms of wall time (timing-only mode)`,
  ];
  return lines.join('\n');
}
