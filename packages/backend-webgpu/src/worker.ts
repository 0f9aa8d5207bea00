/**
 * The thread that owns the WebGPU device. Tessera's device API is synchronous, as CUDA's is (a launch returns when
 * its results can be read), while WebGPU's is asynchronous (buffers map through promises). So the GPU lives here, in a
 * worker thread, and the main thread blocks on `Atomics.wait` until a request is done (bridge.ts). Device memory
 * stays the runtime's SharedArrayBuffers, which both threads see: a launch uploads the regions it uses and writes
 * the regions it wrote back into them.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { WgslProgram } from '@tessera/device/wgsl';
import { type GpuHandle, lastOpenError, openGpu } from './gpu/open';
import { compileProgram, type ProgramLaunch, runProgram, WgslCompileError } from './gpu/run-program';
import type { AdapterReport, Reply, Request } from './protocol';

const { control, port } = workerData as { control: SharedArrayBuffer; port: MessagePort };
const ctl = new Int32Array(control);
let handle: GpuHandle | null = null;

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
  const launch: ProgramLaunch = {
    ...req.launch,
    regions: req.launch.regions.map((r) => ({ bytes: new Uint8Array(r.sab, r.byteOffset, r.byteLength) })),
  };
  const res = await runProgram(handle.device, req.program as WgslProgram, launch);
  // Results go straight into the runtime's memory (the same SharedArrayBuffers).
  for (const [i, bytes] of res.written) launch.regions[i]!.bytes.set(bytes);
  return { ok: true, fault: res.fault, gpuMs: res.gpuMs, wallMs: res.wallMs };
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
