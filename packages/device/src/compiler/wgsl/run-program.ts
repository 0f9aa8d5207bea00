/**
 * Runs one lowered kernel (`WgslProgram`, the contract in abi.ts) on a WebGPU device: memory regions are uploaded,
 * the uniform fields filled from their sources, the grid dispatched in chunks (≤ the device's workgroups per
 * dimension, scratch sized per chunk), written regions read back, and the fault record returned. The one runner for
 * every host — @tessera/backend-webgpu (Dawn, in its GPU thread) and the dashboard's playground (`navigator.gpu`) —
 * typed against the slice of WebGPU in gpu-api.ts, with no WebGPU globals.
 *
 *   upload regions → bind each parameter to its window (snapshots where WebGPU forbids the overlap) → fill the
 *   uniforms → dispatch the chunks (timestamp queries around them) → read the fault record and written regions back
 *
 * Memory is given as regions (host bytes) and parameters as windows into them, so two parameters that are views of
 * one allocation share one GPU buffer and see each other's writes, as on a GPU with one address space.
 */
import type { DType } from '../../dtype/dtype';
import { DTYPE_INFO } from '../../dtype/dtype';
import { FAULT_WORDS, type WgslBufferBinding, type WgslProgram, type WgslScratchBinding } from './abi';
import {
  BufferUsage,
  type GpuBindGroup,
  type GpuBuffer,
  type GpuComputePipeline,
  type GpuDevice,
  limitOf,
  MAP_READ,
} from './gpu-api';

/** Host bytes of one memory region (its length need not be a multiple of 4). */
export interface ProgramRegion {
  bytes: Uint8Array;
}

/** A buffer parameter: a window of `length` elements at `byteOffset` in a region. */
export interface ProgramBuffer {
  region: number;
  byteOffset: number;
  length: number;
}

export interface ProgramLaunch {
  grid: readonly [number, number, number];
  regions: ProgramRegion[];
  buffers: Record<string, ProgramBuffer>;
  scalars: Record<string, number>;
  arrays: Record<string, readonly number[]>;
  /** Measure the dispatches with timestamp queries (needs the `timestamp-query` feature). */
  timestamps?: boolean;
}

export interface FaultRecord {
  count: number;
  /** Index into `WgslProgram.sites`. */
  site: number;
  index: number;
  /** Linear program / block id. */
  lin: number;
  /** SIMT: linear thread id in the block. */
  thread: number;
}

export interface ProgramResult {
  /** Region index → its bytes after the launch (regions a writable binding uses; the same length as given). */
  written: Map<number, Uint8Array>;
  fault: FaultRecord | null;
  /** GPU time of the dispatches from timestamp queries, or null. */
  gpuMs: number | null;
  /** Host time from submitting the dispatches to their completion (excludes uploads and read-back). */
  wallMs: number;
}

const elementBytes = (d: DType) => DTYPE_INFO[d].bytes;

/** Pipelines by WGSL text, per device. */
const pipelines = new WeakMap<GpuDevice, Map<string, Promise<GpuComputePipeline>>>();

/** Thrown for WGSL that Dawn rejects (a lowering bug): carries Dawn's messages and the code. */
export class WgslCompileError extends Error {}

/** Compiles `prog`'s pipeline (cached): throws WgslCompileError with the compiler's messages. */
export async function compileProgram(device: GpuDevice, prog: WgslProgram): Promise<void> {
  await pipelineFor(device, prog);
}

function pipelineFor(device: GpuDevice, prog: WgslProgram): Promise<GpuComputePipeline> {
  let cache = pipelines.get(device);
  if (!cache) {
    cache = new Map();
    pipelines.set(device, cache);
  }
  let p = cache.get(prog.code);
  if (!p) {
    p = (async () => {
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ code: prog.code });
      const info = await module.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === 'error');
      if (errors.length) {
        await device.popErrorScope();
        throw new WgslCompileError(
          `WGSL rejected by the WebGPU compiler:\n${errors.map((m) => `  line ${m.lineNum}: ${m.message}`).join('\n')}`,
        );
      }
      const pipeline = await device.createComputePipelineAsync({
        layout: 'auto',
        compute: { module, entryPoint: prog.entryPoint },
      });
      const err = await device.popErrorScope();
      if (err) throw new WgslCompileError(`WebGPU pipeline creation failed: ${err.message}`);
      return pipeline;
    })();
    cache.set(prog.code, p);
    p.catch(() => cache.delete(prog.code));
  }
  return p;
}

const round4 = (n: number) => Math.ceil(n / 4) * 4;

/** Packs host arrays into words and records each one's offset. */
function packArrays(prog: WgslProgram, arrays: Record<string, readonly number[]>) {
  const binding = prog.bindings.find((b) => b.kind === 'arrays');
  const offsets = new Map<string, number>();
  if (binding?.kind !== 'arrays') return { words: null, offsets };
  let total = 0;
  for (const name of binding.params) {
    offsets.set(name, total);
    total += arrays[name]?.length ?? 0;
  }
  const buf = new ArrayBuffer(Math.max(4, total * 4));
  const dv = new DataView(buf);
  for (const name of binding.params) {
    const a = arrays[name] ?? [];
    const at = offsets.get(name)!;
    const float = binding.floats.includes(name);
    for (let i = 0; i < a.length; i++) {
      if (float) dv.setFloat32((at + i) * 4, a[i]!, true);
      else dv.setInt32((at + i) * 4, a[i]!, true);
    }
  }
  return { words: new Uint8Array(buf), offsets };
}

/** A buffer parameter bound to a GPU buffer: its view starts at `byteOffset` there and holds `length` elements. */
export interface BoundBuffer {
  gpu: GpuBuffer;
  byteOffset: number;
  byteLength: number;
  length: number;
}

export interface DispatchResult {
  fault: FaultRecord | null;
  gpuMs: number | null;
  wallMs: number;
}

const MIN_ALIGN = 256;

/**
 * Dispatches `prog` over `grid` with each buffer parameter bound to its GPU buffer. A parameter is bound to the range
 * of its view (aligned down to the storage-offset alignment), its element offset passed in the uniform. WebGPU
 * forbids overlapping bindings of one buffer when one of them is writable: a read-only parameter whose range overlaps
 * a written one's is bound to a snapshot copied at the start of the launch (it then reads the values from before the
 * launch, which is what it would see in CUDA unless the same thread wrote them); two written parameters that overlap
 * are refused.
 */
export async function dispatchProgram(
  device: GpuDevice,
  prog: WgslProgram,
  grid: readonly [number, number, number],
  bound: Record<string, BoundBuffer>,
  scalars: Record<string, number>,
  arrays: Record<string, readonly number[]>,
  timestamps: boolean,
): Promise<DispatchResult> {
  const created: GpuBuffer[] = [];
  const make = (size: number, usage: number) => {
    const b = device.createBuffer({ size: Math.max(16, round4(size)), usage });
    created.push(b);
    return b;
  };
  let scopes = 0;
  try {
    const align = limitOf(device.limits, 'minStorageBufferOffsetAlignment', MIN_ALIGN);
    const bufferBindings = prog.bindings.filter((b): b is WgslBufferBinding => b.kind === 'buffer');
    // Binding ranges, and the snapshots overlapping read-only parameters need.
    const ranges = new Map<string, { gpu: GpuBuffer; offset: number; size: number; elemOffset: number }>();
    const pre = device.createCommandEncoder();
    const writers = bufferBindings.filter((b) => b.access === 'read_write');
    const rangeOf = (b: WgslBufferBinding) => {
      const p = bound[b.name];
      if (!p) throw new Error(`runProgram: no buffer for parameter '${b.name}'`);
      const lo = p.byteOffset - (p.byteOffset % align);
      const hi = Math.min(round4(p.byteOffset + p.byteLength), p.gpu.size);
      return { p, lo, hi: Math.max(hi, lo + 4) };
    };
    const overlaps = (a: WgslBufferBinding, b: WgslBufferBinding) => {
      const x = rangeOf(a);
      const y = rangeOf(b);
      return x.p.gpu === y.p.gpu && x.lo < y.hi && y.lo < x.hi;
    };
    for (const [i, w] of writers.entries())
      for (const v of writers.slice(i + 1))
        if (overlaps(w, v))
          throw new Error(
            `parameters '${w.name}' and '${v.name}' are written and their views of one allocation lie within ${align} bytes of each other; WebGPU cannot bind them together`,
          );
    // A buffer bound writable anywhere in a dispatch may only be bound writable (WebGPU's usage scopes): read-only
    // parameters of such a buffer are declared read_write in a variant of the program.
    const writtenGpus = new Set(writers.map((w) => bound[w.name]?.gpu));
    const promote: string[] = [];
    for (const b of bufferBindings) {
      const { p, lo, hi } = rangeOf(b);
      const eb = elementBytes(b.dtype);
      if (b.access === 'read' && writtenGpus.has(p.gpu) && !writers.some((w) => overlaps(w, b))) promote.push(b.name);
      if (b.access === 'read' && writers.some((w) => overlaps(w, b))) {
        const slo = p.byteOffset - (p.byteOffset % 4);
        const size = round4(p.byteOffset + p.byteLength) - slo;
        const snap = make(size, BufferUsage.STORAGE | BufferUsage.COPY_DST);
        pre.copyBufferToBuffer(p.gpu, slo, snap, 0, Math.min(size, p.gpu.size - slo));
        ranges.set(b.name, {
          gpu: snap,
          offset: 0,
          size: Math.max(16, round4(size)),
          elemOffset: (p.byteOffset - slo) / eb,
        });
      } else ranges.set(b.name, { gpu: p.gpu, offset: lo, size: hi - lo, elemOffset: (p.byteOffset - lo) / eb });
    }
    const pipeline = await pipelineFor(device, promote.length ? readWriteVariant(prog, promote) : prog);
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    scopes = 2;
    const STORAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
    const fault = make(FAULT_WORDS * 4, STORAGE);
    device.queue.writeBuffer(fault, 0, new Uint32Array(FAULT_WORDS));
    const { words: arrayWords, offsets: arrayOffsets } = packArrays(prog, arrays);
    const arraysBuf = arrayWords ? make(arrayWords.byteLength, STORAGE) : null;
    if (arraysBuf && arrayWords) device.queue.writeBuffer(arraysBuf, 0, arrayWords);

    // Chunks: the scratch binding bounds how many programs one dispatch may hold.
    const programs = grid[0] * grid[1] * grid[2];
    const scratch = prog.bindings.find((b): b is WgslScratchBinding => b.kind === 'scratch');
    const perDim = limitOf(device.limits, 'maxComputeWorkgroupsPerDimension', 65535);
    const maxBinding = limitOf(device.limits, 'maxStorageBufferBindingSize', 2 ** 27);
    let chunk = Math.min(programs, perDim * perDim);
    if (scratch && scratch.wordsPerProgram > 0)
      chunk = Math.max(1, Math.min(chunk, Math.floor(maxBinding / (scratch.wordsPerProgram * 4))));
    const scratchBuf =
      scratch && scratch.wordsPerProgram > 0
        ? make(chunk * scratch.wordsPerProgram * 4, BufferUsage.STORAGE)
        : scratch
          ? make(16, BufferUsage.STORAGE)
          : null;

    const passes: { bindGroup: GpuBindGroup; x: number; y: number }[] = [];
    for (let base = 0; base < programs; base += chunk) {
      const n = Math.min(chunk, programs - base);
      const entries: { binding: number; resource: { buffer: GpuBuffer; offset?: number; size?: number } }[] = [];
      for (const b of prog.bindings) {
        switch (b.kind) {
          case 'buffer': {
            const r = ranges.get(b.name)!;
            entries.push({ binding: b.binding, resource: { buffer: r.gpu, offset: r.offset, size: r.size } });
            break;
          }
          case 'fault':
            entries.push({ binding: b.binding, resource: { buffer: fault } });
            break;
          case 'arrays':
            entries.push({ binding: b.binding, resource: { buffer: arraysBuf! } });
            break;
          case 'scratch':
            entries.push({ binding: b.binding, resource: { buffer: scratchBuf! } });
            break;
          case 'uniform': {
            const data = new ArrayBuffer(b.size);
            const dv = new DataView(data);
            for (const f of b.fields) {
              const s = f.source;
              let v: number;
              switch (s.kind) {
                case 'scalar':
                  v = scalars[s.param] ?? Number.NaN;
                  break;
                case 'offset':
                  v = ranges.get(s.param)!.elemOffset;
                  break;
                case 'length':
                  v = bound[s.param]!.length;
                  break;
                case 'arrayOffset':
                  v = arrayOffsets.get(s.param) ?? 0;
                  break;
                case 'arrayLength':
                  v = arrays[s.param]?.length ?? 0;
                  break;
                case 'grid':
                  v = grid[s.axis];
                  break;
                case 'pidBase':
                  v = base;
                  break;
              }
              if (f.type === 'f32') dv.setFloat32(f.offset, v, true);
              else if (f.type === 'u32') dv.setUint32(f.offset, v >>> 0, true);
              else dv.setInt32(f.offset, v, true);
            }
            const u = make(b.size, BufferUsage.UNIFORM | BufferUsage.COPY_DST);
            device.queue.writeBuffer(u, 0, data);
            entries.push({ binding: b.binding, resource: { buffer: u } });
            break;
          }
        }
      }
      const x = Math.min(n, perDim);
      passes.push({
        bindGroup: device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }),
        x,
        y: Math.ceil(n / x),
      });
    }
    device.queue.submit([pre.finish()]);
    // Uploads and snapshots first, so the timed submission holds the dispatches only.
    await device.queue.onSubmittedWorkDone();

    const timed = timestamps && device.features.has('timestamp-query');
    const querySet = timed ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
    const resolve = timed ? make(16, BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC) : null;
    const enc = device.createCommandEncoder();
    passes.forEach((p, i) => {
      const timestampWrites =
        querySet && (i === 0 || i === passes.length - 1)
          ? {
              querySet,
              ...(i === 0 ? { beginningOfPassWriteIndex: 0 } : {}),
              ...(i === passes.length - 1 ? { endOfPassWriteIndex: 1 } : {}),
            }
          : undefined;
      const pass = enc.beginComputePass(timestampWrites ? { timestampWrites } : {});
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, p.bindGroup);
      pass.dispatchWorkgroups(p.x, p.y, 1);
      pass.end();
    });
    if (querySet && resolve) enc.resolveQuerySet(querySet, 0, 2, resolve, 0);
    const reads: { src: GpuBuffer; size: number; key: 'fault' | 'time' }[] = [
      { src: fault, size: FAULT_WORDS * 4, key: 'fault' },
    ];
    if (resolve) reads.push({ src: resolve, size: 16, key: 'time' });
    const staged = reads.map((r) => {
      const dst = make(r.size, BufferUsage.MAP_READ | BufferUsage.COPY_DST);
      enc.copyBufferToBuffer(r.src, 0, dst, 0, Math.max(16, r.size));
      return { ...r, dst };
    });
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    const wallMs = performance.now() - t0;
    scopes = 0;
    const oom = await device.popErrorScope();
    const invalid = await device.popErrorScope();
    if (invalid) throw new Error(`WebGPU validation error: ${invalid.message}`);
    if (oom) throw new Error(`WebGPU out of memory: ${oom.message}`);
    let faultRec: FaultRecord | null = null;
    let gpuMs: number | null = null;
    for (const s of staged) {
      await s.dst.mapAsync(MAP_READ);
      const bytes = new Uint8Array(s.dst.getMappedRange().slice(0));
      s.dst.unmap();
      if (s.key === 'fault') {
        const w = new Uint32Array(bytes.buffer, 0, FAULT_WORDS);
        if (w[0]! > 0) faultRec = { count: w[0]!, site: w[1]!, index: w[2]! | 0, lin: w[3]! | 0, thread: w[4]! | 0 };
      } else {
        const t = new BigUint64Array(bytes.buffer, 0, 2);
        const ns = Number(t[1]! - t[0]!);
        gpuMs = ns > 0 ? ns / 1e6 : null;
      }
    }
    querySet?.destroy();
    return { fault: faultRec, gpuMs, wallMs };
  } catch (e) {
    // Leave the error scopes balanced for the next launch on this device.
    for (; scopes > 0; scopes--) await device.popErrorScope().catch(() => null);
    throw e;
  } finally {
    for (const b of created) b.destroy();
  }
}

const variants = new Map<string, WgslProgram>();

/** `prog` with the named read-only buffer parameters declared read_write (same code otherwise; cached). */
function readWriteVariant(prog: WgslProgram, names: string[]): WgslProgram {
  const key = `${names.join(',')}\n${prog.code}`;
  let v = variants.get(key);
  if (!v) {
    let code = prog.code;
    for (const n of names) code = code.replace(`var<storage, read> b_${n}:`, `var<storage, read_write> b_${n}:`);
    v = { ...prog, code };
    if (variants.size > 256) variants.clear();
    variants.set(key, v);
  }
  return v;
}

/** Reads `size` bytes of `src` from `offset` back to the host. */
export async function readBuffer(device: GpuDevice, src: GpuBuffer, offset: number, size: number): Promise<Uint8Array> {
  const dst = device.createBuffer({
    size: Math.max(16, round4(size)),
    usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST,
  });
  try {
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(src, offset, dst, 0, round4(size));
    device.queue.submit([enc.finish()]);
    await dst.mapAsync(MAP_READ);
    const out = new Uint8Array(dst.getMappedRange().slice(0, size));
    dst.unmap();
    return out;
  } finally {
    dst.destroy();
  }
}

/** Uploads host bytes (any length) into a new storage buffer, zero-padded to a word. */
export function uploadBuffer(device: GpuDevice, bytes: Uint8Array | null, byteLength: number): GpuBuffer {
  const size = Math.max(16, round4(byteLength));
  const g = device.createBuffer({
    size,
    usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
  });
  if (bytes) writeHost(device, g, bytes);
  return g;
}

/** Writes host bytes (any length) to the start of `g`, zero-padded to a word as writeBuffer requires. */
export function writeHost(device: GpuDevice, g: GpuBuffer, bytes: Uint8Array): void {
  if (!bytes.byteLength) return;
  const padded = new Uint8Array(round4(bytes.byteLength));
  padded.set(bytes);
  device.queue.writeBuffer(g, 0, padded);
}

/**
 * Runs `prog` over `launch.grid` on host regions (uploaded for the launch, written ones read back): the runner of the
 * dashboard's playground and of @tessera/backend-webgpu's lowering tests. The backend itself keeps allocations
 * resident between launches and calls dispatchProgram (its worker.ts).
 */
export async function runProgram(device: GpuDevice, prog: WgslProgram, launch: ProgramLaunch): Promise<ProgramResult> {
  const gpus = launch.regions.map((r) => uploadBuffer(device, r.bytes, r.bytes.byteLength));
  try {
    const bound: Record<string, BoundBuffer> = {};
    const writtenRegions = new Set<number>();
    for (const b of prog.bindings) {
      if (b.kind !== 'buffer') continue;
      const p = launch.buffers[b.name];
      if (!p) throw new Error(`runProgram: no buffer for parameter '${b.name}'`);
      bound[b.name] = {
        gpu: gpus[p.region]!,
        byteOffset: p.byteOffset,
        byteLength: p.length * elementBytes(b.dtype),
        length: p.length,
      };
      if (b.access === 'read_write') writtenRegions.add(p.region);
    }
    const r = await dispatchProgram(
      device,
      prog,
      launch.grid,
      bound,
      launch.scalars,
      launch.arrays,
      !!launch.timestamps,
    );
    const written = new Map<number, Uint8Array>();
    for (const i of writtenRegions)
      written.set(i, await readBuffer(device, gpus[i]!, 0, launch.regions[i]!.bytes.byteLength));
    return { written, ...r };
  } finally {
    for (const g of gpus) g.destroy();
  }
}
