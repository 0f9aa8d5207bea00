/**
 * Opening a WebGPU device in Node through Dawn (the `webgpu` package). Dawn does not fall back from one native API to
 * another by itself, so we try them in order: Vulkan at the core feature level (real GPUs; Mesa's lavapipe on a
 * machine without one, from Mesa 25 on), then OpenGL ES through EGL at the compatibility level (Mesa's llvmpipe on
 * stock Debian 12; `EGL_PLATFORM=surfaceless` so no display is needed). `TESSERA_WEBGPU_BACKEND=vulkan|opengl`
 * forces one. Limits are raised to what the adapter allows (the defaults cap workgroups at 256 invocations and 16 KiB
 * of workgroup memory), and the optional features Tessera uses are requested where present.
 */

import { deviceRequest, fixedSubgroupSize } from '@tessera/device/wgsl';
import type { create as CreateFn } from 'webgpu';

export interface GpuHandle {
  /** Kept referenced while the device is in use (Dawn's instance). */
  gpu: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
  /** The native API Dawn runs on. */
  api: 'vulkan' | 'opengl';
  featureLevel: 'core' | 'compatibility';
  features: string[];
  /** Subgroup size when the adapter has the `subgroups` feature and a fixed size (min = max). */
  subgroupSize: number | null;
}

const ORDER: readonly ['vulkan' | 'opengl', 'core' | 'compatibility'][] = [
  ['vulkan', 'core'],
  ['opengl', 'compatibility'],
];

/** Why the last attempt found no adapter (for the caller's message). */
export let lastOpenError = '';

/** Opens the first adapter that works, or returns null (the reason in `lastOpenError`). */
export async function openGpu(): Promise<GpuHandle | null> {
  let create: typeof CreateFn;
  try {
    // Only `create`: the runner (@tessera/device/wgsl run-program.ts) uses the spec's flag values, not the
    // GPUBufferUsage / GPUMapMode globals.
    ({ create } = await import('webgpu'));
  } catch (e) {
    lastOpenError = `the 'webgpu' package (Dawn) could not be loaded: ${(e as Error).message}`;
    return null;
  }
  // EGL reads it from the C environment when Dawn first initialises it; a worker's process.env is a copy, so the
  // main thread sets it before starting the worker too (bridge.ts).
  process.env.EGL_PLATFORM ??= 'surfaceless';
  const forced = process.env.TESSERA_WEBGPU_BACKEND?.trim().toLowerCase();
  const tried: string[] = [];
  for (const [api, featureLevel] of ORDER) {
    if (forced && forced !== api) continue;
    try {
      const gpu = create([`backend=${api}`]);
      const adapter = await gpu.requestAdapter({ featureLevel } as GPURequestAdapterOptions);
      if (!adapter) {
        tried.push(`${api}: no adapter`);
        continue;
      }
      const { requiredFeatures: features, requiredLimits } = deviceRequest(adapter);
      const device = await adapter.requestDevice({
        requiredFeatures: features as GPUFeatureName[],
        requiredLimits,
      });
      const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
      return { gpu, adapter, device, api, featureLevel, features, subgroupSize: fixedSubgroupSize(features, info) };
    } catch (e) {
      tried.push(`${api}: ${(e as Error).message}`);
    }
  }
  lastOpenError = forced
    ? `TESSERA_WEBGPU_BACKEND=${forced} found no adapter (${tried.join('; ') || 'not a Dawn backend: use vulkan or opengl'})`
    : `no WebGPU adapter (${tried.join('; ')})`;
  return null;
}
