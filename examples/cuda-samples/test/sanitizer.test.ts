/**
 * Zero false positives (`@tessera/device`'s docs/sanitizer.md): every CUDA sample — SIMT and tile variants, shared
 * memory with barriers, atomics — runs under every sanitizer tool on both backends, reports nothing and still checks
 * its results.
 */
import { createAscendSimBackend } from '@tessera/backend-ascend-sim';
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
import { createRuntime, disableSanitizer, enableSanitizer, sanitizerReports, sanitizerSummary } from '@tessera/device';
import { afterEach, describe, expect, it } from 'vitest';
import { samples } from '../src/index';

afterEach(() => disableSanitizer());

for (const t of [
  { backend: createNvidiaSimBackend, device: 'h100' },
  { backend: createAscendSimBackend, device: '910b2' },
]) {
  describe(`CUDA samples under the sanitizer on ${t.device}`, () => {
    it('report nothing under memcheck, racecheck, initcheck and synccheck', async () => {
      enableSanitizer('all', { print: false });
      const dev = (await createRuntime({ backend: t.backend(), devices: t.device })).device(0);
      for (const run of samples) {
        const r = run(dev);
        for (const v of r.variants) expect(v.ok, `${v.name}: relative error ${v.relError}`).toBe(true);
      }
      expect(
        sanitizerReports()
          .map((r) => r.text)
          .join('\n'),
      ).toBe('');
      expect(sanitizerSummary().launches).toBeGreaterThan(samples.length);
    });
  });
}
