/**
 * The webgpu backend: real GPUs (and Mesa's software rasterisers) through WebGPU. Kernels run on the adapter through
 * the executor (executor.ts: IR → WGSL → Dawn); capacity, launch checks and modelled time follow the same Backend
 * interface as the simulators, so timelines, events, timing-only mode and projections work unchanged, and every
 * functional launch also carries what the GPU measured (`LaunchResult.measured`).
 *
 * Modelled time: an adapter a registered simulator knows (e.g. an H100 through nvidia-sim) is modelled by that
 * simulator; any other by a roofline over its (estimated) figures — properties.ts says where each comes from.
 */
import {
  type Backend,
  type CopyDescriptor,
  type DeviceProperties,
  formatBytes,
  getBackend,
  type LaunchDescriptor,
  listBackends,
  TesseraError,
  validateDeviceSpec,
} from '@tessera/device';
import { rooflineCopyTime, rooflineKernelTime } from '@tessera/device/model';
import { GpuThread } from './bridge';
import { createExecutor } from './executor';
import { adapterProperties, matchCatalog } from './properties';
import type { AdapterReport } from './protocol';

/** WebGPU buffers are allocated exactly; 256 B matches the storage-binding offset alignment. */
const ALLOCATION_GRANULARITY = 256;

/** Launch overhead of one dispatch in the roofline (submission + a compute pass), µs: an estimate. */
const LAUNCH_US = 10;

let shared: { thread: GpuThread; adapter: AdapterReport } | null = null;
let openFailure: TesseraError | null = null;

/** The GPU thread and its adapter (one per process), or a `NoBackend` error saying why there is none. */
function openAdapter(): { thread: GpuThread; adapter: AdapterReport } {
  if (shared) return shared;
  if (openFailure) throw openFailure;
  const thread = new GpuThread();
  const r = thread.call({ op: 'init' });
  if (!r.ok || !('adapter' in r)) {
    thread.close();
    openFailure = new TesseraError('NoBackend', `webgpu: ${r.ok ? 'unexpected reply' : r.error}.`, {
      hint:
        'On a machine without a GPU, install Mesa (Debian: libegl1 libegl-mesa0 libgl1-mesa-dri) for the OpenGL ' +
        'software adapter, or a Vulkan driver; TESSERA_WEBGPU_BACKEND=vulkan|opengl picks one. The simulator ' +
        'backends (nvidia-sim, ascend-sim) need nothing.',
    });
    throw openFailure;
  }
  shared = { thread, adapter: r.adapter };
  return shared;
}

/** The adapter this process would use, without creating a backend (for `tessera devices` and tests). */
export function webgpuAdapter(): AdapterReport {
  return openAdapter().adapter;
}

/** Whether a WebGPU adapter can be opened here, and if not, why (tests skip with the reason). */
export function webgpuAvailability(): { ok: true; adapter: AdapterReport } | { ok: false; reason: string } {
  try {
    return { ok: true, adapter: openAdapter().adapter };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/** Creates the backend: opens the adapter (once per process) and describes it. */
export async function createWebGpuBackend(): Promise<Backend> {
  const { thread, adapter } = openAdapter();
  // A simulator that knows this product models it (found by name through the registry, never imported).
  let simulator: Backend | null = null;
  let known: DeviceProperties | null = null;
  for (const name of listBackends()) {
    if (name === 'webgpu') continue;
    const b = await getBackend(name);
    known = matchCatalog(adapter, b.catalog());
    if (known) {
      simulator = b;
      break;
    }
  }
  const device = adapterProperties(adapter, known);
  const catalog: DeviceProperties[] = [device];
  const limits = adapter.limits;
  return {
    name: 'webgpu',
    description: `WebGPU through Dawn: ${device.name}`,
    catalog: () => catalog,
    addDevice(spec: unknown, source = 'device spec') {
      // A spec describes the adapter's figures (peak rates, memory) for the model; the adapter stays the same.
      const d = validateDeviceSpec(spec, source);
      const merged = { ...d, maxThreadsPerBlock: device.maxThreadsPerBlock, maxBlockDim: device.maxBlockDim };
      const i = catalog.findIndex((c) => c.id === d.id);
      if (i >= 0) catalog[i] = merged;
      else catalog.push(merged);
      return merged;
    },
    allocationGranularity: () => ALLOCATION_GRANULARITY,
    checkLaunch(p: DeviceProperties, launch: LaunchDescriptor) {
      if (launch.block) {
        const threads = launch.block[0] * launch.block[1] * launch.block[2];
        if (threads > p.maxThreadsPerBlock)
          throw new TesseraError(
            'InvalidConfiguration',
            `launch of '${launch.kernel}': ${threads} threads per block is above this adapter's maxComputeInvocationsPerWorkgroup (${p.maxThreadsPerBlock}).`,
            { hint: `Use blocks of at most ${p.maxThreadsPerBlock} threads.` },
          );
        const shared = launch.probe.resources.sharedMemoryBytes;
        const max = limits.maxComputeWorkgroupStorageSize ?? 16384;
        if (shared > max)
          throw new TesseraError(
            'InvalidConfiguration',
            `launch of '${launch.kernel}': ${formatBytes(shared)} of shared memory per block is above this adapter's maxComputeWorkgroupStorageSize (${formatBytes(max)}).`,
            { hint: 'Use smaller shared arrays or smaller blocks.' },
          );
      }
    },
    kernelTime: (p, cost) =>
      simulator && known && p.id === device.id
        ? simulator.kernelTime(known, cost)
        : rooflineKernelTime(p, cost, LAUNCH_US),
    copyTime: (p: DeviceProperties, copy: CopyDescriptor): number =>
      simulator && known && p.id === device.id ? simulator.copyTime(known, copy) : rooflineCopyTime(p, copy),
    executor: createExecutor(thread, adapter),
  };
}
