/**
 * A small browser-side runner for one lowered kernel (`WgslProgram`, the contract in @tessera/device/wgsl abi.ts),
 * after @tessera/backend-webgpu's run-program.ts (which cannot be imported here: that package opens Dawn in Node).
 * Each buffer parameter is its own allocation here, so bindings never overlap and every view starts at element 0.
 *
 *   upload each buffer → fill the uniform fields from their sources → dispatch the grid in chunks (≤ the adapter's
 *   workgroups per dimension; scratch sized per chunk) → read the fault record and the written buffers back.
 *
 * Time is the GPU's own (timestamp queries around the dispatches) when the device has `timestamp-query`, else the
 * host's wall time from submitting the dispatches to their completion.
 */
import { FAULT_WORDS, type WgslProgram, type WgslScratchBinding } from '@tessera/device/wgsl';
import type { Dim3 } from './types';
import {
  BufferUsage,
  type GpuBindGroup,
  type GpuBuffer,
  type GpuComputePipeline,
  type GpuDevice,
  limitOf,
  MAP_READ,
} from './webgpu-types';

export interface DispatchRequest {
  grid: Dim3;
  /** Host bytes of each buffer parameter (the dtype's storage: f32 words, packed f16 bits, …) and its elements. */
  buffers: Record<string, { bytes: Uint8Array; length: number }>;
  scalars: Record<string, number>;
  arrays: Record<string, readonly number[]>;
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

export interface DispatchResult {
  fault: FaultRecord | null;
  /** GPU time of the dispatches (timestamp queries), or null without them. */
  gpuMs: number | null;
  /** Host time from submitting the dispatches to their completion. */
  wallMs: number;
  /** Bytes of each buffer the kernel may write, after the launch. */
  written: Map<string, Uint8Array>;
}

/** The WGSL compiler's complaints about lowered code (a lowering bug, not the visitor's). */
export class WgslRejected extends Error {}

const round4 = (n: number) => Math.ceil(n / 4) * 4;
const pipelines = new WeakMap<GpuDevice, Map<string, Promise<GpuComputePipeline>>>();

/** Compiles (once per device and WGSL text) the program's pipeline. */
export function pipelineFor(device: GpuDevice, prog: WgslProgram): Promise<GpuComputePipeline> {
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
        throw new WgslRejected(errors.map((m) => `line ${m.lineNum}: ${m.message}`).join('\n'));
      }
      const pipeline = await device.createComputePipelineAsync({
        layout: 'auto',
        compute: { module, entryPoint: prog.entryPoint },
      });
      const err = await device.popErrorScope();
      if (err) throw new WgslRejected(`pipeline creation failed: ${err.message}`);
      return pipeline;
    })();
    cache.set(prog.code, p);
    p.catch(() => cache.delete(prog.code));
  }
  return p;
}

/** Host-array parameters packed into 32-bit words (i32 values, or f32 bits), with each one's first word. */
function packArrays(prog: WgslProgram, arrays: Record<string, readonly number[]>) {
  const binding = prog.bindings.find((b) => b.kind === 'arrays');
  const offsets = new Map<string, number>();
  if (binding?.kind !== 'arrays') return { words: null, offsets };
  let total = 0;
  for (const name of binding.params) {
    offsets.set(name, total);
    total += arrays[name]?.length ?? 0;
  }
  const dv = new DataView(new ArrayBuffer(Math.max(16, round4(total * 4))));
  for (const name of binding.params) {
    const a = arrays[name] ?? [];
    const at = offsets.get(name)!;
    const float = binding.floats.includes(name);
    for (let i = 0; i < a.length; i++) {
      if (float) dv.setFloat32((at + i) * 4, a[i]!, true);
      else dv.setInt32((at + i) * 4, a[i]!, true);
    }
  }
  return { words: new Uint8Array(dv.buffer), offsets };
}

/** Runs `prog` over `req.grid` on `device`. Destroys every GPU buffer it made, whatever happens. */
export async function dispatchLowered(
  device: GpuDevice,
  prog: WgslProgram,
  req: DispatchRequest,
): Promise<DispatchResult> {
  const pipeline = await pipelineFor(device, prog);
  const created: GpuBuffer[] = [];
  const make = (size: number, usage: number) => {
    const b = device.createBuffer({ size: Math.max(16, round4(size)), usage });
    created.push(b);
    return b;
  };
  const upload = (bytes: Uint8Array, usage: number) => {
    const b = make(bytes.byteLength, usage);
    const padded = new Uint8Array(round4(Math.max(bytes.byteLength, 4)));
    padded.set(bytes);
    device.queue.writeBuffer(b, 0, padded);
    return b;
  };
  const STORAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let scopes = 2;
  try {
    const gpuOf = new Map<string, GpuBuffer>();
    for (const b of prog.bindings) {
      if (b.kind !== 'buffer') continue;
      const host = req.buffers[b.name];
      if (!host) throw new Error(`no buffer for parameter '${b.name}'`);
      gpuOf.set(b.name, upload(host.bytes, STORAGE));
    }
    const fault = upload(new Uint8Array(FAULT_WORDS * 4), STORAGE);
    const { words, offsets } = packArrays(prog, req.arrays);
    const arraysBuf = words ? upload(words, STORAGE) : null;

    // Chunks: at most the per-dimension limit squared, and few enough programs that their scratch fits one binding.
    const programs = req.grid[0] * req.grid[1] * req.grid[2];
    const perDim = limitOf(device.limits, 'maxComputeWorkgroupsPerDimension', 65535);
    const scratch = prog.bindings.find((b): b is WgslScratchBinding => b.kind === 'scratch');
    let chunk = Math.min(programs, perDim * perDim);
    if (scratch && scratch.wordsPerProgram > 0) {
      const maxBinding = limitOf(device.limits, 'maxStorageBufferBindingSize', 2 ** 27);
      chunk = Math.max(1, Math.min(chunk, Math.floor(maxBinding / (scratch.wordsPerProgram * 4))));
    }
    const scratchBuf = scratch ? make(chunk * Math.max(1, scratch.wordsPerProgram) * 4, BufferUsage.STORAGE) : null;

    const passes: { group: GpuBindGroup; x: number; y: number }[] = [];
    for (let base = 0; base < programs; base += chunk) {
      const n = Math.min(chunk, programs - base);
      const entries: { binding: number; resource: { buffer: GpuBuffer } }[] = [];
      for (const b of prog.bindings) {
        if (b.kind === 'buffer') entries.push({ binding: b.binding, resource: { buffer: gpuOf.get(b.name)! } });
        else if (b.kind === 'fault') entries.push({ binding: b.binding, resource: { buffer: fault } });
        else if (b.kind === 'arrays') entries.push({ binding: b.binding, resource: { buffer: arraysBuf! } });
        else if (b.kind === 'scratch') entries.push({ binding: b.binding, resource: { buffer: scratchBuf! } });
        else {
          const dv = new DataView(new ArrayBuffer(b.size));
          for (const f of b.fields) {
            const s = f.source;
            const v =
              s.kind === 'scalar'
                ? (req.scalars[s.param] ?? Number.NaN)
                : s.kind === 'offset'
                  ? 0 // every parameter is a whole allocation of its own
                  : s.kind === 'length'
                    ? req.buffers[s.param]!.length
                    : s.kind === 'arrayOffset'
                      ? (offsets.get(s.param) ?? 0)
                      : s.kind === 'arrayLength'
                        ? (req.arrays[s.param]?.length ?? 0)
                        : s.kind === 'grid'
                          ? req.grid[s.axis]
                          : base;
            if (f.type === 'f32') dv.setFloat32(f.offset, v, true);
            else if (f.type === 'u32') dv.setUint32(f.offset, v >>> 0, true);
            else dv.setInt32(f.offset, v, true);
          }
          entries.push({
            binding: b.binding,
            resource: { buffer: upload(new Uint8Array(dv.buffer), BufferUsage.UNIFORM | BufferUsage.COPY_DST) },
          });
        }
      }
      const x = Math.min(n, perDim);
      passes.push({
        group: device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }),
        x,
        y: Math.ceil(n / x),
      });
    }
    // Uploads first, so that the timed submission holds the dispatches only.
    await device.queue.onSubmittedWorkDone();

    const timed = device.features.has('timestamp-query');
    const querySet = timed ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
    const resolved = querySet ? make(16, BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC) : null;
    const enc = device.createCommandEncoder();
    passes.forEach((p, i) => {
      const first = i === 0;
      const last = i === passes.length - 1;
      const pass = enc.beginComputePass(
        querySet && (first || last)
          ? {
              timestampWrites: {
                querySet,
                ...(first ? { beginningOfPassWriteIndex: 0 } : {}),
                ...(last ? { endOfPassWriteIndex: 1 } : {}),
              },
            }
          : {},
      );
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, p.group);
      pass.dispatchWorkgroups(p.x, p.y, 1);
      pass.end();
    });
    if (querySet && resolved) enc.resolveQuerySet(querySet, 0, 2, resolved, 0);
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    const wallMs = performance.now() - t0;
    querySet?.destroy();

    // Read back: the fault record, the timestamps, and every buffer the kernel may have written.
    const reads: { name: string; src: GpuBuffer; size: number }[] = [
      { name: '#fault', src: fault, size: FAULT_WORDS * 4 },
    ];
    if (resolved) reads.push({ name: '#time', src: resolved, size: 16 });
    for (const b of prog.bindings) {
      if (b.kind === 'buffer' && b.access === 'read_write') {
        reads.push({ name: b.name, src: gpuOf.get(b.name)!, size: req.buffers[b.name]!.bytes.byteLength });
      }
    }
    const back = device.createCommandEncoder();
    const staged = reads.map((r) => {
      const dst = make(r.size, BufferUsage.MAP_READ | BufferUsage.COPY_DST);
      back.copyBufferToBuffer(r.src, 0, dst, 0, Math.min(round4(r.size), r.src.size));
      return { ...r, dst };
    });
    device.queue.submit([back.finish()]);
    scopes = 0;
    const invalid = await device.popErrorScope();
    const oom = await device.popErrorScope();
    if (invalid) throw new Error(`WebGPU validation error: ${invalid.message}`);
    if (oom) throw new Error(`WebGPU out of memory: ${oom.message}`);

    let faultRec: FaultRecord | null = null;
    let gpuMs: number | null = null;
    const written = new Map<string, Uint8Array>();
    for (const s of staged) {
      await s.dst.mapAsync(MAP_READ);
      const bytes = new Uint8Array(s.dst.getMappedRange().slice(0, s.size));
      s.dst.unmap();
      if (s.name === '#fault') {
        const w = new Uint32Array(bytes.buffer, 0, FAULT_WORDS);
        if (w[0]! > 0) faultRec = { count: w[0]!, site: w[1]!, index: w[2]! | 0, lin: w[3]! | 0, thread: w[4]! | 0 };
      } else if (s.name === '#time') {
        const t = new BigUint64Array(bytes.buffer, 0, 2);
        const ns = Number(t[1]! - t[0]!);
        gpuMs = ns > 0 ? ns / 1e6 : null;
      } else written.set(s.name, bytes);
    }
    return { fault: faultRec, gpuMs, wallMs, written };
  } catch (e) {
    // Leave the error scopes balanced for the next launch on this device.
    for (; scopes > 0; scopes--) await device.popErrorScope().catch(() => null);
    throw e;
  } finally {
    for (const b of created) b.destroy();
  }
}
