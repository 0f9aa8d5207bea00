/**
 * The backend conformance suite of @tessera/device, on the WebGPU adapter this machine has (in CI: Mesa's llvmpipe
 * through OpenGL ES). Without an adapter the suite is skipped with a visible reason, never passed silently.
 */
import { runConformanceSuite } from '@tessera/device/testing';
import { it } from 'vitest';
import { createWebGpuBackend, webgpuAvailability } from '../src/index';

const gpu = webgpuAvailability();
if (gpu.ok) runConformanceSuite({ backend: () => createWebGpuBackend() });
else {
  console.warn(`SKIP: webgpu conformance suite: ${gpu.reason}`);
  it.skip(`webgpu conformance suite (no adapter: ${gpu.reason})`, () => {});
}
