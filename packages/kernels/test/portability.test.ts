/** The same kernels and inputs give bit-identical f32 and i32 results on both backends, whatever tiles each picks. */
import { tileKernel } from '@tessera/device';
import { randomArray, randomInts } from '@tessera/device/testing';
import { expect, it } from 'vitest';
import { chooseGemmConfig, gemm } from '../src/index';
import { openDevice, TARGETS } from './setup';

const intMix = tileKernel({ name: 'int_mix', params: { x: 'ptr<i32>', y: 'ptr<i32>', n: 'i32' } }, (t, { x, y, n }) => {
  const o = t.arange(0, 1024).add(t.programId(0) * 1024);
  const m = o.lt(n);
  const v = t.load(x, o, { mask: m });
  t.store(y, o, v.mul(v).add(v.shr(3)).xor(o).rem(97), { mask: m });
});

it('f32 GEMM and i32 arithmetic are bit-identical on nvidia-sim and ascend-sim', async () => {
  const [M, N, K] = [150, 333, 517];
  const a = Float32Array.from(randomArray(M * K, 11));
  const b = Float32Array.from(randomArray(K * N, 12));
  const xs = randomInts(5000, 13, -50000, 50000);
  const results: Array<{ c: Float32Array; y: Int32Array; cfg: string }> = [];
  for (const target of TARGETS) {
    const dev = await openDevice(target);
    const [da, db, dc] = [dev.alloc('f32', M * K), dev.alloc('f32', K * N), dev.alloc('f32', M * N)];
    dev.upload(da, a);
    dev.upload(db, b);
    gemm(dev, { a: da, b: db, c: dc, M, N, K });
    const [x, y] = [dev.alloc('i32', 5000), dev.alloc('i32', 5000)];
    dev.upload(x, xs);
    dev.launch(intMix, { grid: 5 }, { x, y, n: 5000 });
    results.push({
      c: dev.download(dc) as Float32Array,
      y: dev.download(y) as Int32Array,
      cfg: JSON.stringify(chooseGemmConfig(dev.properties, M, N, K, 'f32')),
    });
  }
  const [nv, asc] = results as [(typeof results)[0], (typeof results)[0]];
  expect(new Uint32Array(nv.c.buffer)).toEqual(new Uint32Array(asc.c.buffer));
  expect(nv.y).toEqual(asc.y);
});
