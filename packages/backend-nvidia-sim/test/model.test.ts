import { createRuntime, isTesseraError, simtKernel, tileKernel } from '@tessera/device';
import { conformanceKernels as K } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { createNvidiaSimBackend, occupancy } from '../src/index';

const open = async (id: string, mode: 'functional' | 'timing' = 'timing') =>
  (await createRuntime({ backend: createNvidiaSimBackend(), devices: id, mode })).device(0);

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isTesseraError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  return 'no error';
}

describe('nvidia-sim catalogue', () => {
  it('carries the datasheet figures', () => {
    const cat = createNvidiaSimBackend().catalog();
    const h100 = cat.find((d) => d.id === 'h100')!;
    expect(h100.computeUnits).toBe(132);
    expect(h100.peakTflops.matrix.bf16).toBeCloseTo(989, 0);
    expect(h100.memoryBandwidthGBs).toBe(3350);
    const h200 = cat.find((d) => d.id === 'h200')!;
    expect(h200.peakTflops.matrix).toEqual(h100.peakTflops.matrix);
    expect(h200.memoryBandwidthGBs).toBe(4800);
    expect(cat.find((d) => d.id === 'a100')!.dtypes).not.toContain('fp8e4m3');
    expect(cat.find((d) => d.id === 'b200')!.peakTflops.matrix.fp8e4m3).toBe(4500);
    for (const d of cat) expect(d.hostLink.pinnedGBs).toBeGreaterThan(d.hostLink.pageableGBs - 1e-9);
  });
});

describe('nvidia-sim timing model', () => {
  it('makes tiny launches latency-bound and large streaming launches memory-bound near achievable bandwidth', async () => {
    const dev = await open('h100');
    const small = dev.alloc('f32', 1024);
    const r = dev.launch(K.vectorAdd, { grid: 1 }, { x: small, y: small, out: small, n: 1024, BLOCK: 1024 });
    expect(r.timing.bound).toBe('latency');
    expect(r.ms * 1000).toBeLessThan(10);
    const n = 1 << 28;
    const [x, y, out] = [dev.alloc('f32', n), dev.alloc('f32', n), dev.alloc('f32', n)];
    const s = dev.launch(K.vectorAdd, { grid: n / 4096 }, { x, y, out, n, BLOCK: 4096 });
    expect(s.timing.bound).toBe('memory');
    const gbs = (3 * n * 4) / (s.ms * 1e6);
    expect(gbs / 3350).toBeGreaterThan(0.85);
    expect(gbs / 3350).toBeLessThan(0.92);
  });

  it('charges small tiles for re-reading operands', async () => {
    const dev = await open('a100');
    const S = 2048;
    const a = dev.alloc('bf16', S * S);
    const t = (B: number) =>
      dev.launch(K.matmul, { grid: [S / B, S / B] }, { a, b: a, c: a, M: S, N: S, K: S, BM: B, BN: B, BK: 32 }).ms;
    expect(t(16)).toBeGreaterThan(2 * t(128));
  });

  it('runs FP8 on Hopper at twice the BF16 rate and refuses it on Ampere', async () => {
    const h = await open('h100');
    const S = 4096;
    const run = (dev: typeof h, dt: 'bf16' | 'fp8e4m3') => {
      const a = dev.alloc(dt, S * S);
      const c = dev.alloc('f32', S * S);
      return dev.launch(
        K.matmul,
        { grid: [S / 128, S / 128] },
        { a, b: a, c, M: S, N: S, K: S, BM: 128, BN: 128, BK: 64 },
      );
    };
    const ratio = run(h, 'bf16').ms / run(h, 'fp8e4m3').ms;
    expect(ratio).toBeGreaterThan(1.5);
    const a100 = await open('a100');
    expect(code(() => run(a100, 'fp8e4m3'))).toMatch(/^Unsupported: .*A100.*float8 e4m3.*Use int8/);
  });

  it('rejects tiles that do not fit shared memory or registers, with advice', async () => {
    const dev = await open('a100');
    const a = dev.alloc('f32', 512 * 512);
    expect(
      code(() =>
        dev.launch(K.matmul, { grid: [1, 1] }, { a, b: a, c: a, M: 512, N: 512, K: 512, BM: 256, BN: 256, BK: 128 }),
      ),
    ).toMatch(/^InvalidConfiguration: .*shared memory.*Use smaller BM, BN or BK/);
    const wide = tileKernel({ name: 'wide', params: { x: 'ptr' } }, (t, { x }) => {
      const o = t.arange(0, 1 << 17);
      t.store(x, o, t.load(x, o).exp());
    });
    const x = dev.alloc('f32', 1 << 17);
    expect(code(() => dev.launch(wide, { grid: 1 }, { x }))).toMatch(/^InvalidConfiguration: .*register file/);
  });

  it('derives occupancy from threads, shared memory and registers', async () => {
    const dev = await open('h100');
    const a = dev.alloc('bf16', 1024 * 1024);
    const big = dev.launch(
      K.matmul,
      { grid: [8, 4] },
      { a, b: a, c: a, M: 1024, N: 1024, K: 1024, BM: 128, BN: 256, BK: 64 },
    );
    const occ = occupancy(dev.properties, big.cost, 'matmul');
    expect(occ).toMatchObject({ warps: 8, stages: 3, resident: 1 });
    const threads = simtKernel({ name: 'threads', params: { x: 'ptr' } }, () => {});
    const r = dev.launch(threads, { grid: 264, block: 256 }, { x: a });
    expect(r.timing.breakdown.residentPerUnit).toBe(8);
  });

  it('models pinned PCIe Gen5 copies faster than Gen4 ones', async () => {
    const be = createNvidiaSimBackend();
    const [a100, h100] = ['a100', 'h100'].map((id) => be.catalog().find((d) => d.id === id)!);
    const bytes = 1 << 30;
    const gbs = (d: typeof a100) => bytes / (be.copyTime(d!, { kind: 'HtoD', bytes, pinned: true }) * 1e6);
    expect(gbs(a100)).toBeGreaterThan(20);
    expect(gbs(a100)).toBeLessThan(32);
    expect(gbs(h100) / gbs(a100)).toBeGreaterThan(1.8);
  });
});
