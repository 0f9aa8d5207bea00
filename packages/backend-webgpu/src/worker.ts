/**
 * The thread that owns the WebGPU device. Tessera's device API is synchronous, as CUDA's is (a launch returns when
 * its results can be read), while WebGPU's is asynchronous (buffers map through promises). So the GPU lives here, in a
 * worker thread, and the main thread blocks on `Atomics.wait` until a request is done (bridge.ts). Allocations stay
 * resident on the GPU between launches, keyed by `Allocation.uid`: a launch uploads only host bytes newer than the
 * GPU's copy, and the host pulls a written allocation back only when it touches its bytes (memory/buffer.ts
 * `DeviceCopy`). Both threads see the runtime's SharedArrayBuffers, so uploads and pulls copy straight from and into
 * them.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { GpuBuffer, WgslProgram } from '@tessera/device/wgsl';
import {
  type BoundBuffer,
  compileProgram,
  dispatchProgram,
  readBuffer,
  uploadBuffer,
  WgslCompileError,
  writeHost,
} from '@tessera/device/wgsl';
import { type GpuHandle, lastOpenError, openGpu } from './gpu/open';
import type { AdapterReport, Reply, Request } from './protocol';

const { control, port } = workerData as { control: SharedArrayBuffer; port: MessagePort };
const ctl = new Int32Array(control);
let handle: GpuHandle | null = null;
/** Allocations resident on the GPU, by Allocation.uid (the host pulls them back only when it touches the bytes). */
const resident = new Map<number, GpuBuffer>();

function reply(r: Reply): void {
  port.postMessage(r);
  Atomics.store(ctl, 0, 1);
  Atomics.notify(ctl, 0);
}

function report(h: GpuHandle): AdapterReport {
  const info = h.adapter.info;
  const limits: Record<string, number> = {};
  for (const k in h.device.limits) {
    const v = (h.device.limits as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number') limits[k] = v;
  }
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    api: h.api,
    featureLevel: h.featureLevel,
    features: h.features,
    subgroupSize: h.subgroupSize,
    limits,
  };
}

async function handleRequest(req: Request): Promise<Reply> {
  if (req.op === 'init') {
    handle ??= await openGpu();
    return handle ? { ok: true, adapter: report(handle) } : { ok: false, error: lastOpenError, kind: 'no-adapter' };
  }
  if (!handle) return { ok: false, error: 'the WebGPU device is not open', kind: 'no-adapter' };
  if (req.op === 'compile') {
    await compileProgram(handle.device, req.program as WgslProgram);
    return { ok: true, compiled: true };
  }
  if (req.op === 'free') {
    resident.get(req.uid)?.destroy();
    resident.delete(req.uid);
    return { ok: true, done: true };
  }
  if (req.op === 'pull') {
    const g = resident.get(req.uid);
    if (g) new Uint8Array(req.sab, 0, req.byteLength).set(await readBuffer(handle.device, g, 0, req.byteLength));
    return { ok: true, done: true };
  }
  const device = handle.device;
  const gpus = req.allocations.map((a) => {
    let g = resident.get(a.uid);
    if (!g) {
      g = uploadBuffer(device, a.upload ? new Uint8Array(a.upload, 0, a.byteLength) : null, a.byteLength);
      resident.set(a.uid, g);
    } else if (a.upload) writeHost(device, g, new Uint8Array(a.upload, 0, a.byteLength));
    return g;
  });
  const bound: Record<string, BoundBuffer> = {};
  for (const [name, v] of Object.entries(req.buffers))
    bound[name] = { gpu: gpus[v.alloc]!, byteOffset: v.byteOffset, byteLength: v.byteLength, length: v.length };
  const r = await dispatchProgram(
    device,
    req.program as WgslProgram,
    req.grid,
    bound,
    req.scalars,
    req.arrays,
    req.timestamps,
  );
  return { ok: true, fault: r.fault, gpuMs: r.gpuMs, wallMs: r.wallMs };
}

port.on('message', (req: Request) => {
  handleRequest(req).then(reply, (e: unknown) =>
    reply({
      ok: false,
      error: e instanceof Error ? e.message : String(e),
      kind: e instanceof WgslCompileError ? 'compile' : 'gpu',
    }),
  );
});
parentPort?.unref();
