/**
 * WebGPU in Node for the playground's tests: Dawn through the `webgpu` package (a devDependency only: the browser
 * brings its own WebGPU), opened as @tessera/backend-webgpu opens it (src/gpu/open.ts). Vulkan first (real GPUs,
 * lavapipe), then OpenGL ES through EGL at the compatibility level (Mesa's llvmpipe here; `EGL_PLATFORM=surfaceless`
 * needs no display).
 * `TESSERA_WEBGPU_BACKEND=vulkan|opengl` forces one, as for @tessera/backend-webgpu. Returns the GPU entry point, or
 * why there is none (the tests skip with that reason).
 */
import type { WebGpuLike } from '../../ui/src/playground/index';

type Create = (flags: string[]) => WebGpuLike;

let opened: Promise<{ gpu: WebGpuLike; api: string } | { reason: string }> | undefined;

export function openDawn(): Promise<{ gpu: WebGpuLike; api: string } | { reason: string }> {
  opened ??= (async () => {
    let create: Create;
    try {
      ({ create } = (await import('webgpu')) as unknown as { create: Create });
    } catch (e) {
      return { reason: `the 'webgpu' package (Dawn) could not be loaded: ${(e as Error).message}` };
    }
    // EGL reads it when Dawn first initialises OpenGL ES.
    process.env.EGL_PLATFORM ??= 'surfaceless';
    const tried: string[] = [];
    const forced = process.env.TESSERA_WEBGPU_BACKEND?.trim().toLowerCase();
    for (const [api, featureLevel] of [
      ['vulkan', 'core'],
      ['opengl', 'compatibility'],
    ] as const) {
      if (forced && forced !== api) continue;
      try {
        const gpu = create([`backend=${api}`]);
        if (await gpu.requestAdapter({ featureLevel })) return { gpu, api };
        tried.push(`${api}: no adapter`);
      } catch (e) {
        tried.push(`${api}: ${(e as Error).message}`);
      }
    }
    return { reason: `no WebGPU adapter through Dawn (${tried.join('; ')})` };
  })();
  return opened;
}
