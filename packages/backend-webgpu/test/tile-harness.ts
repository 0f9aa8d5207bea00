/**
 * Test harness of the tile → WGSL lowering: a launch recorded on the reference back end is replayed on Dawn (the
 * WGSL from `tileToWgsl`, run with `runProgram`) on a snapshot of its inputs, and every buffer it writes is compared
 * with what the reference back end wrote.
 */
import {
  compileKernel,
  createRuntime,
  type Device,
  type DeviceBuffer,
  type DType,
  type Kernel,
  type LaunchResult,
} from '@tessera/device';
import { createTestBackend } from '@tessera/device/reference-backend';
import { type ProgramBuffer, type ProgramResult, runProgram, tileToWgsl, type WgslProgram } from '@tessera/device/wgsl';
import { type GpuHandle, lastOpenError, openGpu } from '../src/gpu/open';

export interface Replay {
  kernel: string;
  prog: WgslProgram;
  /** Per written buffer parameter: reference values and the GPU's. */
  outputs: { name: string; dtype: DType; ref: number[]; gpu: number[] }[];
  fault: { site: string; index: number } | null;
  gpuWallMs: number;
}

let gpuPromise: Promise<GpuHandle | null> | null = null;
export function gpu(): Promise<GpuHandle | null> {
  gpuPromise ??= openGpu();
  return gpuPromise;
}
export { lastOpenError };

const BYTES: Record<string, number> = { f32: 4, i32: 4, f16: 2, bf16: 2, i16: 2, i8: 1, u8: 1, fp8e4m3: 1, fp8e5m2: 1 };

function rawBytes(dev: Device, b: DeviceBuffer): Uint8Array {
  const out = new Uint8Array(b.byteLength);
  dev.memcpyDtoH(out, b);
  return out;
}

/** The values of raw bytes of a dtype, as the device would decode them. */
function decode(dev: Device, dtype: DType, bytes: Uint8Array, length: number): number[] {
  const tmp = dev.alloc(dtype, length);
  dev.memcpyHtoD(tmp, bytes);
  const out = Array.from(dev.download(tmp) as ArrayLike<number>);
  dev.free(tmp);
  return out;
}

export interface ReplayOptions {
  maxWorkgroupBytes?: number;
  /** Invocations per program (default: the lowering's choice). */
  workgroupSize?: number;
}

/**
 * Runs `launch` on `dev` (a reference-back-end device) and replays it on the GPU; returns both results. Buffers are
 * identified by the launch's arguments.
 */
export async function replay(
  handle: GpuHandle,
  dev: Device,
  kernel: Kernel,
  grid: number | readonly number[],
  args: Record<string, unknown>,
  opts: ReplayOptions = {},
): Promise<Replay> {
  const g3 = (typeof grid === 'number' ? [grid, 1, 1] : [...grid, 1, 1, 1].slice(0, 3)) as [number, number, number];
  const compiled = compileKernel(kernel, args, null, 0);
  const limits = handle.device.limits;
  const prog = tileToWgsl(compiled.ir, {
    maxWorkgroupBytes: opts.maxWorkgroupBytes ?? limits.maxComputeWorkgroupStorageSize,
    maxInvocations: limits.maxComputeInvocationsPerWorkgroup,
    ...(opts.workgroupSize ? { workgroupSize: opts.workgroupSize } : {}),
  });
  const {
    res,
    outputs,
    refError: refFault,
  } = await replayProgram(handle, dev, prog, g3, args, () =>
    (dev.launch as (k: Kernel, o: object, a: object) => LaunchResult)(kernel, { grid: g3 }, args),
  );
  const fault = res.fault
    ? { site: `${prog.sites[res.fault.site]?.op} ${prog.sites[res.fault.site]?.name}`, index: res.fault.index }
    : null;
  if (refFault && !fault) throw new Error(`the reference back end faulted but the GPU did not: ${String(refFault)}`);
  return { kernel: compiled.ir.name, prog, outputs, fault, gpuWallMs: res.wallMs };
}

/**
 * Runs `prog` on the GPU over a snapshot of the launch's buffers (`args`), then `reference` (the same launch on the
 * reference back end, `dev`); returns the GPU's result, every written buffer's values on both sides (when the
 * reference did not fault) and the reference's error. Both the tile and the SIMT lowering tests replay through it.
 */
export async function replayProgram(
  handle: GpuHandle,
  dev: Device,
  prog: WgslProgram,
  grid: [number, number, number],
  args: Record<string, unknown>,
  reference: () => void,
): Promise<{ res: ProgramResult; outputs: Replay['outputs']; refError: Error | null }> {
  const bufArgs = Object.entries(args).filter(([, v]) => isBuffer(v)) as [string, DeviceBuffer][];
  const regions = bufArgs.map(([, b]) => ({ bytes: rawBytes(dev, b) }));
  const buffers: Record<string, ProgramBuffer> = {};
  bufArgs.forEach(([name, b], i) => {
    buffers[name] = { region: i, byteOffset: 0, length: b.length };
  });
  const scalars: Record<string, number> = {};
  const arrays: Record<string, readonly number[]> = {};
  for (const [k, v] of Object.entries(args)) {
    if (typeof v === 'number' || typeof v === 'boolean') scalars[k] = Number(v);
    else if (Array.isArray(v)) arrays[k] = v;
    else if (ArrayBuffer.isView(v)) arrays[k] = Array.from(v as unknown as ArrayLike<number>);
  }
  const res = await runProgram(handle.device, prog, { grid, regions, buffers, scalars, arrays });
  let refError: Error | null = null;
  try {
    reference();
    dev.synchronize();
  } catch (e) {
    refError = e as Error;
  }
  const outputs: Replay['outputs'] = [];
  if (!refError) {
    for (const b of prog.bindings) {
      if (b.kind !== 'buffer' || b.access !== 'read_write') continue;
      const entry = bufArgs.findIndex(([n]) => n === b.name);
      const [, db] = bufArgs[entry]!;
      const ref = Array.from(dev.download(db) as ArrayLike<number>);
      const bytes = res.written.get(entry)!;
      outputs.push({ name: b.name, dtype: db.dtype, ref, gpu: decode(dev, db.dtype, bytes, db.length) });
    }
  }
  return { res, outputs, refError };
}

function isBuffer(v: unknown): v is DeviceBuffer {
  return typeof v === 'object' && v !== null && 'dtype' in v && 'length' in v && !Array.isArray(v);
}

/** A reference-back-end device: the test chip, with the fp8 dtypes added so fp8 kernels run too. */
export async function refDevice(): Promise<Device> {
  const backend = createTestBackend();
  const chip = backend.catalog()[0]!;
  backend.addDevice?.(
    { ...chip, id: 'testchip-fp8', dtypes: [...chip.dtypes, 'fp8e4m3', 'fp8e5m2'] },
    'tile-lowering tests',
  );
  const rt = await createRuntime({ backend, devices: 'testchip-fp8' });
  return rt.device(0);
}

/**
 * ‖out − ref‖ / ‖ref‖ over the finite reference values; a non-finite reference value must be matched exactly (NaN by
 * NaN, ±∞ by itself), else the error is ∞.
 */
export function relErr(out: readonly number[], ref: readonly number[]): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const [o, r] = [out[i]!, ref[i]!];
    if (!Number.isFinite(r)) {
      if (!(Object.is(o, r) || (Number.isNaN(o) && Number.isNaN(r)))) num = Number.POSITIVE_INFINITY;
      continue;
    }
    num += (o - r) * (o - r);
    den += r * r;
  }
  if (Number.isNaN(num)) return Number.POSITIVE_INFINITY;
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** Deterministic values in [-1, 1). */
export function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

export { BYTES };

interface Recorded {
  kernel: Kernel;
  grid: number | readonly number[];
  args: Record<string, unknown>;
}

/**
 * Runs a host function of @tessera/kernels against a recording view of `dev` (its launches are captured, not run),
 * then replays each launch in order: on the reference device (so later launches see earlier results) and on the GPU.
 */
export async function replayOp(
  handle: GpuHandle,
  dev: Device,
  fn: (d: Device) => unknown,
  opts: ReplayOptions = {},
): Promise<Replay[]> {
  const calls: Recorded[] = [];
  const rec = new Proxy(dev, {
    get(target, prop, receiver) {
      if (prop === 'launch')
        return (kernel: Kernel, config: { grid: number | readonly number[] }, args: Record<string, unknown>) => {
          calls.push({ kernel, grid: config.grid, args });
          return { timeMs: 0, cost: null } as unknown as LaunchResult;
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  fn(rec);
  const out: Replay[] = [];
  for (const c of calls) out.push(await replay(handle, dev, c.kernel, c.grid, c.args, opts));
  return out;
}
