import { createRuntime } from '@tessera/device';
import { createTestBackend } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { examples } from '../src/index';

describe('examples', () => {
  for (const run of examples) {
    it(`${run.name} checks its result`, async () => {
      const rt = await createRuntime({ backend: createTestBackend() });
      const r = run(rt.device(0));
      expect(r.ok, `${r.name}: relative error ${r.relError}`).toBe(true);
      expect(r.modelledMs).toBeGreaterThan(0);
    });
  }
});
