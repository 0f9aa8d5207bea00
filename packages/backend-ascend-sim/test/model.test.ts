import { createRuntime, isTesseraError, simtKernel, tileKernel } from '@tessera/device';
import { conformanceKernels as K } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { createAscendSimBackend } from '../src/index';

const open = async (id: string, mode: 'functional' | 'timing' = 'timing') =>
  (await createRuntime({ backend: createAscendSimBackend(), devices: id, mode })).device(0);

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isTesseraError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  return 'no error';
}

describe('ascend-sim catalogue', () => {
  it('derives peaks from the Cube and Vector units', () => {
    const cat = createAscendSimBackend().catalog();
    const b2 = cat.find((d) => d.id === '910b2')!;
    expect(b2.peakTflops.matrix.bf16).toBeCloseTo(354, 0);
    expect(b2.peakTflops.matrix.i8).toBeCloseTo(708, 0);
    expect(cat.find((d) => d.id === '910b4')!.peakTflops.matrix.f16).toBeCloseTo(246, 0);
    const c = cat.find((d) => d.id === '910c')!;
    expect(c.peakTflops.matrix.bf16).toBeCloseTo(376, 0);
    expect(c.memoryBytes).toBe(64 * 1024 ** 3);
    for (const d of cat) expect(d.dtypes.some((t) => t.startsWith('fp8'))).toBe(false);
  });
});

describe('ascend-sim mapping and checks', () => {
  it('runs vector-only kernels on both vector cores of every AI core and dot kernels on the AI cores', async () => {
    const dev = await open('910b2');
    const n = 1 << 20;
    const x = dev.alloc('f32', n);
    const v = dev.launch(K.vectorAdd, { grid: n / 4096 }, { x, y: x, out: x, n, BLOCK: 4096 });
    expect(v.timing.breakdown.units).toBe(48);
    const a = dev.alloc('bf16', 1024 * 1024);
    const m = dev.launch(
      K.matmul,
      { grid: [8, 8] },
      { a, b: a, c: a, M: 1024, N: 1024, K: 1024, BM: 128, BN: 128, BK: 64 },
    );
    expect(m.timing.breakdown.units).toBe(24);
  });

  it('runs grids larger than the core count in waves', async () => {
    const dev = await open('910b2');
    const a = dev.alloc('bf16', 4096 * 4096);
    const r = dev.launch(
      K.matmul,
      { grid: [32, 16] },
      { a, b: a, c: a, M: 4096, N: 4096, K: 4096, BM: 128, BN: 256, BK: 64 },
    );
    expect(r.timing.breakdown.waves).toBe(Math.ceil(512 / 24));
  });

  it('refuses fp8 with a suggestion, tiles over L0C, L1 or the Unified Buffer, and too many blocks', async () => {
    const dev = await open('910b2');
    const a = dev.alloc('fp8e4m3', 128 * 128);
    expect(
      code(() =>
        dev.launch(K.matmul, { grid: [1, 1] }, { a, b: a, c: a, M: 128, N: 128, K: 128, BM: 64, BN: 64, BK: 64 }),
      ),
    ).toMatch(/^Unsupported: .*910B2.*float8.*int8 \(W8A8/);
    const b = dev.alloc('bf16', 512 * 512);
    expect(
      code(() =>
        dev.launch(K.matmul, { grid: [1, 1] }, { a: b, b, c: b, M: 512, N: 512, K: 512, BM: 256, BN: 256, BK: 32 }),
      ),
    ).toMatch(/L0C/);
    expect(
      code(() =>
        dev.launch(K.matmul, { grid: [1, 1] }, { a: b, b, c: b, M: 512, N: 512, K: 512, BM: 128, BN: 128, BK: 1024 }),
      ),
    ).toMatch(/L1/);
    const wide = tileKernel({ name: 'wide', params: { x: 'ptr' } }, (t, { x }) => {
      const o = t.arange(0, 1 << 15);
      t.store(x, o, t.load(x, o).add(1));
    });
    const x = dev.alloc('f32', 1 << 15);
    expect(code(() => dev.launch(wide, { grid: 1 }, { x }))).toMatch(/Unified Buffer.*ub overflow/);
    expect(code(() => dev.launch(K.vectorAdd, { grid: [300, 300] }, { x, y: x, out: x, n: 16, BLOCK: 16 }))).toMatch(
      /65535 \(blockDim\).*persistent/,
    );
  });

  it('demands 32-byte alignment of Unified Buffer views in SIMT kernels', async () => {
    const dev = await open('910b2', 'functional');
    const out = dev.alloc('f32', 8);
    const k = simtKernel({ name: 'ub', params: { out: 'ptr<f32>', off: 'constexpr' } }, (kk, { out, off }) => {
      const v = kk.dynamicShared('f32', off, 8);
      v[kk.threadIdx.x] = kk.threadIdx.x;
      out.set(kk.threadIdx.x, v[kk.threadIdx.x]!);
    });
    dev.launch(k, { grid: 1, block: 8, sharedMemBytes: 128 }, { out, off: 64 });
    expect(code(() => dev.launch(k, { grid: 1, block: 8, sharedMemBytes: 128 }, { out, off: 16 }))).toMatch(
      /^InvalidValue: .*misaligned Unified Buffer access.*32-byte alignment/,
    );
    expect(Array.from(dev.download(out))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]); // the failed launch changed nothing
  });

  it('is slower than an H100-class GPU at launch latency but streams at its own achievable bandwidth', async () => {
    const dev = await open('910b2');
    const n = 1 << 28;
    const x = dev.alloc('f32', n);
    const r = dev.launch(K.vectorAdd, { grid: 96 * 4 }, { x, y: x, out: x, n: 4096 * 384, BLOCK: 4096 });
    expect(r.ms).toBeGreaterThan(0.012);
    const tiny = dev.launch(K.vectorAdd, { grid: 1 }, { x, y: x, out: x, n: 16, BLOCK: 16 });
    expect(tiny.timing.bound).toBe('latency');
    expect(tiny.ms * 1000).toBeGreaterThanOrEqual(12);
  });
});
