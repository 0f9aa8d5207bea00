import { createRuntime, simtKernel } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import { createNvidiaSimBackend } from '../src/index';

/** Warp size comes from the device: 32 on every NVIDIA part; a warp sum with shuffles runs on it. */
const warpSum = simtKernel({ name: 'warp_sum', params: { x: 'ptr<f32>', y: 'ptr<f32>' } }, (k, { x, y }) => {
  const t = k.threadIdx.x;
  let v = x.get(t);
  for (let o = k.warpSize / 2; o > 0; o >>= 1) v += k.shflDown(0xffffffff, v, o);
  if (k.laneId === 0) y.set(k.warpId, v);
});

describe('SIMT warps on NVIDIA', () => {
  for (const id of ['a100', 'h100', 'h200', 'b200']) {
    it(`${id}: warpSize 32, shuffles within each warp`, async () => {
      const dev = (await createRuntime({ backend: createNvidiaSimBackend(), devices: id })).device(0);
      expect(dev.properties.warpSize).toBe(32);
      const x = dev.alloc('f32', 128);
      dev.upload(
        x,
        Array.from({ length: 128 }, (_, i) => i),
      );
      const y = dev.alloc('f32', 4);
      const r = dev.launch(warpSum, { grid: 1, block: 128 }, { x, y });
      expect(Array.from(dev.download(y))).toEqual([0, 1, 2, 3].map((w) => 32 * 32 * w + 496));
      expect(r.ms).toBeGreaterThan(0);
    });
  }
});
