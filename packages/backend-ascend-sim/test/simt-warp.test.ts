import { createRuntime, isTesseraError, simtKernel } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import { createAscendSimBackend } from '../src/index';

/**
 * The 910B/910C have no SIMT hardware (a SIMT block runs on the lanes of one vector core) and Huawei's warp intrinsics
 * exist only on the Atlas 350 (Ascend 950): warp intrinsics are Unsupported here, pointing to shared memory and the
 * tile style; lane / warp ids and shared-memory atomics, which need no warp, run.
 */
const warpSum = simtKernel({ name: 'warp_sum', params: { x: 'ptr<f32>', y: 'ptr<f32>' } }, (k, { x, y }) => {
  const t = k.threadIdx.x;
  let v = x.get(t);
  for (let o = 16; o > 0; o >>= 1) v += k.shflDown(0xffffffff, v, o);
  if (k.laneId === 0) y.set(k.warpId, v);
});

const histogram = simtKernel(
  { name: 'histogram', params: { x: 'ptr<i32>', h: 'ptr<i32>' }, shared: { bins: ['u32', 4] } },
  function* (k, { x, h }) {
    const t = k.threadIdx.x;
    k.shared.bins!.atomicAdd(x.get(t) & 3, 1);
    yield k.syncthreads();
    if (t < 4) h.set(t, k.shared.bins![t]!);
  },
);

describe('SIMT warps on Ascend', () => {
  for (const id of ['910b2', '910c']) {
    it(`${id}: warp intrinsics are Unsupported (no warps: warpSize ${1}), naming the kernel and the alternatives`, async () => {
      const dev = (await createRuntime({ backend: createAscendSimBackend(), devices: id })).device(0);
      expect(dev.properties.warpSize).toBe(1);
      const x = dev.alloc('f32', 64);
      const y = dev.alloc('f32', 2);
      let err: unknown = null;
      try {
        dev.launch(warpSum, { grid: 1, block: 64 }, { x, y });
      } catch (e) {
        err = e;
      }
      expect(isTesseraError(err, 'Unsupported')).toBe(true);
      expect((err as Error).message).toMatch(
        /Kernel 'warp_sum' at .*simt-warp\.test\.ts:\d+: k\.shflDown \(__shfl_down_sync\) .* no warps \(warpSize 1\).*Atlas 350.*tile style/,
      );
      // Not a fault: the device stays usable, and shared atomics run.
      const xs = dev.alloc('i32', 64);
      dev.upload(
        xs,
        Array.from({ length: 64 }, (_, i) => i * 5),
      );
      const h = dev.alloc('i32', 4);
      dev.launch(histogram, { grid: 1, block: 64 }, { x: xs, h });
      expect(Array.from(dev.download(h))).toEqual([16, 16, 16, 16]);
    });
  }
});
