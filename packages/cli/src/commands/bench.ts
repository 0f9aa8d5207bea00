/**
 * `tessera bench <op>`: runs a kernel of `@tessera/kernels` in timing-only mode on one simulated device and reports
 * the modelled time, the achieved rate and the efficiency against the device's peak.
 */
import {
  type Backend,
  createRuntime,
  type DeviceProperties,
  type DType,
  type LaunchResult,
  TesseraError,
} from '@tessera/device';
import { copy, gemm } from '@tessera/kernels';
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
