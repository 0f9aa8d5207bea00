import { createAscendSimBackend } from '@tessera/backend-ascend-sim';
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
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
