import { describe, expect, it } from 'vitest';
import { cdiv, tileKernel } from '../src/index';
import { expectThrowCode, testRuntime } from './helpers';

/** A causal-attention-shaped kernel: program i does i+1 steps, so its cost grows with the program id. */
const triangular = tileKernel(
  { name: 'triangular', params: { x: 'ptr', n: 'i32', B: 'constexpr' } },
  (t, { x, n, B }) => {
    const X = t.tensor(x, [n, B]);
    let acc = t.zeros([B]);
    for (let j = 0; j <= t.programId(0); j++) acc = acc.add(t.reshape(t.loadBlock(X, [j, 0], [1, B]), [B]));
    t.storeBlock(X, [t.programId(0), 0], t.reshape(acc, [1, B]));
  },
);

/** Uniform programs with a masked tail along both axes. */
const tiles2d = tileKernel(
  { name: 'tiles2d', params: { x: 'ptr', M: 'i32', N: 'i32', BM: 'constexpr', BN: 'constexpr' } },
  (t, { x, M, N, BM, BN }) => {
    const X = t.tensor(x, [M, N]);
    const b = t.loadBlock(X, [t.programId(0) * BM, t.programId(1) * BN], [BM, BN]);
    t.storeBlock(X, [t.programId(0) * BM, t.programId(1) * BN], b.mul(2).exp());
  },
);

describe('timing-only mode', () => {
  it('is exact by analysis: no sampling, the same record with or without exact: true', async () => {
    const dev = (await testRuntime('timing')).device(0);
    const [M, N] = [1000, 777];
    const x = dev.alloc('f32', M * N);
    const args = { x, M, N, BM: 16, BN: 16 };
    const grid = [cdiv(M, 16), cdiv(N, 16)];
    const sampled = dev.launch(tiles2d, { grid }, args);
    const exact = dev.launch(tiles2d, { grid, exact: true }, args);
    expect(sampled.cost.exact).toBe(true);
    expect(exact.cost.exact).toBe(true);
    expect(sampled.cost.classes.length).toBeGreaterThan(1); // the partial blocks of the last row and column
    expect(sampled.cost.programs).toBe(grid[0]! * grid[1]!);
    expect(sampled.cost.total.toJSON()).toEqual(exact.cost.total.toJSON());
    expect(sampled.cost.total.bytesRead).toBe(M * N * 4);
  });

  it('traces every program along an axis whose cost varies with the program id', async () => {
    const dev = (await testRuntime('timing')).device(0);
    const n = 600;
    const x = dev.alloc('f32', n * 8);
    const r = dev.launch(triangular, { grid: n }, { x, n, B: 8 });
    expect(r.cost.total.bytesRead).toBe(((n * (n + 1)) / 2) * 8 * 4);
    expect(r.cost.classes.length).toBe(n);
  });

  it('matches functional mode on the same launch', async () => {
    const f = (await testRuntime('functional')).device(0);
    const t = (await testRuntime('timing')).device(0);
    const n = 300;
    const fx = f.alloc('f32', n * 8);
    const tx = t.alloc('f32', n * 8);
    expect(t.launch(triangular, { grid: n }, { x: tx, n, B: 8 }).cost.total.toJSON()).toEqual(
      f.launch(triangular, { grid: n }, { x: fx, n, B: 8 }).cost.total.toJSON(),
    );
  });

  it('allocates far beyond host memory, and still reports out-of-memory past the device', async () => {
    const rt = await testRuntime('timing');
    rt.backend.addDevice({ ...rt.device(0).properties, id: 'bigchip', memoryBytes: 80e9 });
    const { createRuntime } = await import('../src/index');
    const big = (await createRuntime({ backend: rt.backend, devices: 'bigchip', mode: 'timing' })).device(0);
    const huge = big.alloc('bf16', 30e9);
    expect(huge.byteLength).toBe(60e9);
    expectThrowCode(() => big.alloc('bf16', 15e9), 'OutOfMemory', /requested 27.94 GiB/);
  });

  it('reuses the cost of a repeated identical launch', async () => {
    const dev = (await testRuntime('timing')).device(0);
    const x = dev.alloc('f32', 64 * 64);
    const a = dev.launch(tiles2d, { grid: [4, 4] }, { x, M: 64, N: 64, BM: 16, BN: 16 });
    const b = dev.launch(tiles2d, { grid: [4, 4] }, { x, M: 64, N: 64, BM: 16, BN: 16 });
    expect(b.cost).toBe(a.cost);
    expect(b.startMs).toBeGreaterThanOrEqual(a.endMs);
  });
});
