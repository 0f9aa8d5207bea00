import { describe, expect, it } from 'vitest';
import { simtKernel } from '../src/index';
import { expectThrowCode, testRuntime } from './helpers';

/** Reverses each block's slice through shared memory: wrong without the barrier. */
const reverse = simtKernel(
  { name: 'reverse', params: { x: 'ptr<f32>', y: 'ptr<f32>' }, shared: { s: ['f32', 64] } },
  function* (k, { x, y }) {
    const t = k.threadIdx.x;
    const base = k.blockIdx.x * k.blockDim.x;
    k.shared.s![t] = x.get(base + t);
    yield k.syncthreads();
    y.set(base + t, k.shared.s![k.blockDim.x - 1 - t]!);
  },
);

describe('SIMT kernels', () => {
  it('run threads in barrier phases with per-block shared memory', async () => {
    const dev = (await testRuntime()).device(0);
    const x = dev.alloc('f32', 128);
    const y = dev.alloc('f32', 128);
    dev.upload(
      x,
      Array.from({ length: 128 }, (_, i) => i),
    );
    dev.launch(reverse, { grid: 2, block: 64 }, { x, y });
    const out = Array.from(dev.download(y));
    expect(out.slice(0, 3)).toEqual([63, 62, 61]);
    expect(out.slice(64, 67)).toEqual([127, 126, 125]);
  });

  it('carve dynamic shared memory with alignment checks and enforce the per-block limit and opt-in', async () => {
    const dev = (await testRuntime()).device(0);
    const out = dev.alloc('i32', 2);
    const k = simtKernel({ name: 'dyn', params: { out: 'ptr<i32>', off: 'constexpr' } }, (kk, { out, off }) => {
      const ints = kk.dynamicShared('i32', off, 2);
      ints[kk.threadIdx.x] = kk.threadIdx.x + 10;
      out.set(kk.threadIdx.x, ints[kk.threadIdx.x]!);
    });
    dev.launch(k, { grid: 1, block: 2, sharedMemBytes: 64 }, { out, off: 32 });
    expect(Array.from(dev.download(out))).toEqual([10, 11]);
    expectThrowCode(
      () => dev.launch(k, { grid: 1, block: 2, sharedMemBytes: 64 }, { out, off: 2 }),
      'CompileError',
      /multiple of 4/,
    );
    const limit = dev.properties.onChip.sharedPerBlock;
    expectThrowCode(
      () => dev.launch(k, { grid: 1, block: 2, sharedMemBytes: limit + 4 }, { out, off: 0 }),
      'InvalidConfiguration',
      /setMaxDynamicSharedMemory/,
    );
    k.setMaxDynamicSharedMemory(limit + 4);
    dev.launch(k, { grid: 1, block: 2, sharedMemBytes: limit + 4 }, { out, off: 0 });
    expectThrowCode(
      () =>
        dev.launch(
          k,
          { grid: 1, block: 2, sharedMemBytes: dev.properties.onChip.sharedPerBlockOptin + 4 },
          { out, off: 0 },
        ),
      'InvalidConfiguration',
      /at most/,
    );
  });

  it('name the block and thread of an out-of-bounds access, and support atomicCAS', async () => {
    const dev = (await testRuntime()).device(0);
    const x = dev.alloc('i32', 4);
    const cas = simtKernel({ name: 'cas', params: { x: 'ptr<i32>' } }, (k, { x }) => {
      x.atomicCAS(0, 0, k.threadIdx.x + 1); // only the first thread wins
      x.atomicAdd(1, 1);
    });
    dev.launch(cas, { grid: 1, block: 8 }, { x });
    expect(Array.from(dev.download(x)).slice(0, 2)).toEqual([1, 8]);
    const oob = simtKernel({ name: 'oob', params: { x: 'ptr<i32>' } }, (k, { x }) =>
      x.set(k.blockIdx.x * 4 + k.threadIdx.x, 1),
    );
    expectThrowCode(
      () => dev.launch(oob, { grid: 2, block: 5 }, { x }),
      'IllegalAddress',
      /block \(0, 0, 0\) thread \(4, 0, 0\)/,
    );
  });

  it('count global bytes and declared flops in the cost record', async () => {
    const dev = (await testRuntime()).device(0);
    const x = dev.alloc('f32', 128);
    const y = dev.alloc('f32', 128);
    const r = dev.launch(reverse, { grid: 2, block: 64 }, { x, y });
    expect(r.cost.total.bytesRead).toBe(512);
    expect(r.cost.total.bytesWritten).toBe(512);
    expect(r.cost.resources.sharedMemoryBytes).toBe(256);
    expect(r.cost.block).toEqual([64, 1, 1]);
  });
});
