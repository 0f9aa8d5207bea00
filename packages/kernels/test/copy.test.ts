import { randomArray } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { copy } from '../src/index';
import { NUMERIC_TARGETS, openDevice } from './setup';

for (const target of NUMERIC_TARGETS) {
  describe(`copy on ${target.device}`, () => {
    it('copies every element, including a ragged tail, with a persistent grid', async () => {
      const dev = await openDevice(target);
      const n = 8192 * 100 + 17;
      const src = dev.alloc('f32', n);
      const dst = dev.alloc('f32', n);
      const v = Float32Array.from(randomArray(n, 1));
      dev.upload(src, v);
      dev.fill(dst, Number.NaN);
      const r = copy(dev, src, dst);
      expect(dev.download(dst)).toEqual(v);
      expect(r.cost.programs).toBeLessThanOrEqual(8 * dev.properties.computeUnits);
    });
  });
}
