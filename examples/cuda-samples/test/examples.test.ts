import { createAscendSimBackend } from '@tessera/backend-ascend-sim';
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
import { createRuntime } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import { runMatrixMul, samples } from '../src/index';

const targets = [
  { backend: createNvidiaSimBackend, device: 'h100' },
  { backend: createAscendSimBackend, device: '910b2' },
];

for (const t of targets) {
  describe(`CUDA samples on ${t.device}`, () => {
    for (const run of samples) {
      it(`${run.name} checks every kernel's result and reports a modelled time`, async () => {
        const rt = await createRuntime({ backend: t.backend(), devices: t.device });
        const r = run(rt.device(0));
        expect(r.variants.length).toBeGreaterThan(0);
        for (const v of r.variants) {
          expect(Number.isFinite(v.relError), `${v.name}: was not checked`).toBe(true);
          expect(v.ok, `${v.name}: relative error ${v.relError}`).toBe(true);
          expect(v.modelledMs).toBeGreaterThan(0);
        }
        expect(r.ok).toBe(true);
      });
    }

    it('matrixMul at 2048³ (timing-only): t.dot on f16 models far faster than the SIMT kernel', async () => {
      const rt = await createRuntime({ backend: t.backend(), devices: t.device, mode: 'timing' });
      const [simt, tileF32, tileF16] = runMatrixMul(rt.device(0), 2048, 2048, 2048).variants;
      expect(simt!.modelledMs / tileF16!.modelledMs).toBeGreaterThan(5);
      expect(tileF32!.modelledMs).toBeLessThan(simt!.modelledMs);
      expect(tileF16!.modelledMs).toBeLessThan(tileF32!.modelledMs);
    });
  });
}
