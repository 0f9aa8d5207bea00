import { createAscendSimBackend } from '@tessera/backend-ascend-sim';
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
import { createWebGpuBackend, webgpuAvailability } from '@tessera/backend-webgpu';
import { createRuntime } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import { examples } from '../src/index';

const targets = [
  { backend: createNvidiaSimBackend, device: 'h100' },
  { backend: createAscendSimBackend, device: '910b2' },
];

for (const t of targets) {
  describe(`examples on ${t.device}`, () => {
    for (const run of examples) {
      it(`${run.name} checks its result and reports a modelled time`, async () => {
        const rt = await createRuntime({ backend: t.backend(), devices: t.device });
        const r = run(rt.device(0));
        expect(r.ok, `${r.name}: relative error ${r.relError}`).toBe(true);
        expect(r.modelledMs).toBeGreaterThan(0);
      });
    }
  });
}

// The same examples on the WebGPU adapter (on a machine without a GPU, Mesa's software rasteriser): computed by the
// GPU through the IR → WGSL lowering, each launch also carrying what the GPU measured.
const gpu = webgpuAvailability();
if (!gpu.ok) console.warn(`SKIP: examples on webgpu: ${gpu.reason}`);

describe.runIf(gpu.ok)('examples on webgpu', () => {
  for (const run of examples) {
    it(`${run.name} checks its result and reports a modelled time`, async () => {
      const rt = await createRuntime({ backend: await createWebGpuBackend(), profile: true });
      const r = run(rt.device(0));
      expect(r.ok, `${r.name}: relative error ${r.relError}`).toBe(true);
      expect(r.modelledMs).toBeGreaterThan(0);
      const kernels = rt.profiler.records.filter((a) => a.kind === 'kernel');
      expect(kernels.length).toBeGreaterThan(0);
      for (const k of kernels) expect(k.args?.measuredMs, `${k.name}: measured time`).toBeGreaterThan(0);
    });
  }
});
