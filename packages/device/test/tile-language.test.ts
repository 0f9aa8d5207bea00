import { describe, expect, it } from 'vitest';
import { roundBf16, roundTf32 } from '../src/dtype/float-formats';
import { cdiv, tileKernel } from '../src/index';
import { dotF32, dotF32Js } from '../src/kernel/dot';
import { randomArray } from '../src/testing/reference';
import { expectThrowCode, runTile, testRuntime } from './helpers';

const f32 = (shape: number[], values: number[]) => ({ dtype: 'f32' as const, shape, values });
const i32 = (shape: number[], values: number[]) => ({ dtype: 'i32' as const, shape, values });

describe('elementwise ops', () => {
  it('broadcast rows and columns as NumPy does', async () => {
    const dev = (await testRuntime()).device(0);
    const r = runTile(
      dev,
      [f32([2, 3], [1, 2, 3, 4, 5, 6]), f32([3], [10, 20, 30]), f32([2, 1], [100, 200])],
      (_t, [a, row, col]) => a!.add(row!).mul(col!),
    );
    expect(r.shape).toEqual([2, 3]);
    expect(r.values).toEqual([1100, 2200, 3300, 2800, 5000, 7200]);
  });

  it('promote types like Triton: int with a float scalar becomes f32; bf16 arithmetic rounds each result', async () => {
    const dev = (await testRuntime()).device(0);
    const r = runTile(dev, [i32([3], [1, 2, 3])], (_t, [a]) => a!.add(0.5));
    expect(r.dtype).toBe('f32');
    expect(r.values).toEqual([1.5, 2.5, 3.5]);
    const b = runTile(dev, [{ dtype: 'bf16', shape: [2], values: [1, 256] }], (_t, [a]) => a!.add(1 / 3));
    expect(b.dtype).toBe('bf16');
    expect(b.values).toEqual([roundBf16(Math.fround(1 + 1 / 3)), roundBf16(256 + 1 / 3)]);
  });

  it('integer ops follow C: truncating division, remainder sign, shifts, wrap-around', async () => {
    const dev = (await testRuntime()).device(0);
    const v = [7, -7, 2147483647, 5];
    const w = [2, 2, 1, 0];
    expect(runTile(dev, [i32([4], v), i32([4], w)], (_t, [a, b]) => a!.idiv(b!), 'i32').values).toEqual([
      3, -3, 2147483647, 0,
    ]);
    expect(runTile(dev, [i32([4], v), i32([4], w)], (_t, [a, b]) => a!.rem(b!), 'i32').values).toEqual([1, -1, 0, 0]);
    expect(runTile(dev, [i32([4], v)], (_t, [a]) => a!.add(1), 'i32').values).toEqual([8, -6, -2147483648, 6]);
    expect(runTile(dev, [i32([4], v)], (t, [a]) => t.shru(a!, 1), 'i32').values).toEqual([
      3, 2147483644, 1073741823, 2,
    ]);
    expect(runTile(dev, [i32([4], v)], (_t, [a]) => a!.mul(65536), 'i32').values).toEqual([
      458752, -458752, -65536, 327680,
    ]);
  });

  it('casts: float to int truncates and saturates, int narrowing wraps', async () => {
    const dev = (await testRuntime()).device(0);
    expect(runTile(dev, [f32([4], [1.9, -1.9, 300, Number.NaN])], (_t, [a]) => a!.cast('i8'), 'i32').values).toEqual([
      1, -1, 127, 0,
    ]);
    expect(runTile(dev, [i32([3], [300, -129, 127])], (_t, [a]) => a!.cast('i8'), 'i32').values).toEqual([
      44, 127, 127,
    ]);
  });

  it('math functions match float64 within f32 rounding', async () => {
    const dev = (await testRuntime()).device(0);
    const xs = Array.from(randomArray(64, 3, 0.1, 4), Math.fround);
    const ops: Array<[string, (x: number) => number]> = [
      ['exp', Math.exp],
      ['log', Math.log],
      ['sqrt', Math.sqrt],
      ['rsqrt', (x) => 1 / Math.sqrt(x)],
      ['sigmoid', (x) => 1 / (1 + Math.exp(-x))],
      ['tanh', Math.tanh],
    ];
    for (const [name, f] of ops) {
      const r = runTile(
        dev,
        [f32([64], xs)],
        (t, [a]) => (t as never as Record<string, (x: unknown) => never>)[name]!(a),
        'f32',
        { name },
      );
      expect(r.values).toEqual(xs.map((x) => Math.fround(f(x))));
    }
    const e = runTile(dev, [f32([3], [0.5, 1, -2])], (t, [a]) => t.erf(a!));
    expect(e.values).toEqual([0.5204998778130465, 0.8427007929497149, -0.9953222650189527].map(Math.fround));
    const rr = runTile(dev, [f32([4], [0.5, 1.5, 2.5, -0.5])], (t, [a]) => t.round(a!));
    expect(rr.values.map((v) => v + 0)).toEqual([0, 2, 2, 0]);
  });

  it('where selects per element with broadcasting', async () => {
    const dev = (await testRuntime()).device(0);
    const r = runTile(dev, [f32([2, 2], [1, -2, -3, 4])], (t, [a]) => t.where(a!.gt(0), a!, t.full([1], 0)));
    expect(r.values).toEqual([1, 0, 0, 4]);
  });
});

describe('reductions, scans and sorts', () => {
  const m = [3, 1, 2, 9, 9, 0];
  it('reduce along an axis or everything, with keepDims', async () => {
    const dev = (await testRuntime()).device(0);
    expect(runTile(dev, [f32([2, 3], m)], (_t, [a]) => a!.sum(1)).values).toEqual([6, 18]);
    expect(runTile(dev, [f32([2, 3], m)], (_t, [a]) => a!.sum(0, true)).shape).toEqual([1, 3]);
    expect(runTile(dev, [f32([2, 3], m)], (_t, [a]) => a!.max()).values).toEqual([9]);
    expect(runTile(dev, [f32([2, 3], m)], (_t, [a]) => a!.argmax(1), 'i32').values).toEqual([0, 0]);
    expect(runTile(dev, [f32([2, 3], m)], (t, [a]) => t.argmin(a!, 0), 'i32').values).toEqual([0, 0, 1]);
    expect(runTile(dev, [f32([3], [1, Number.NaN, 5])], (_t, [a]) => a!.argmax(), 'i32').values).toEqual([1]);
  });

  it('cumsum, sort and argsort (stable, NaN last)', async () => {
    const dev = (await testRuntime()).device(0);
    expect(runTile(dev, [f32([2, 3], m)], (t, [a]) => t.cumsum(a!, 1)).values).toEqual([3, 4, 6, 9, 18, 18]);
    expect(runTile(dev, [f32([5], [3, Number.NaN, 1, 3, 2])], (t, [a]) => t.sort(a!)).values).toEqual([
      1,
      2,
      3,
      3,
      Number.NaN,
    ]);
    expect(
      runTile(dev, [f32([5], [3, 5, 1, 3, 2])], (t, [a]) => t.argsort(a!, { descending: true }), 'i32').values,
    ).toEqual([1, 0, 3, 4, 2]);
  });
});

describe('shape ops', () => {
  it('reshape, expandDims, trans and permute', async () => {
    const dev = (await testRuntime()).device(0);
    const v = [0, 1, 2, 3, 4, 5];
    expect(runTile(dev, [f32([2, 3], v)], (_t, [a]) => a!.trans()).values).toEqual([0, 3, 1, 4, 2, 5]);
    expect(runTile(dev, [f32([6], v)], (_t, [a]) => a!.reshape([3, -1])).shape).toEqual([3, 2]);
    expect(runTile(dev, [f32([3], [1, 2, 3])], (_t, [a]) => a!.expandDims(1).mul(a!.expandDims(0))).values).toEqual([
      1, 2, 3, 2, 4, 6, 3, 6, 9,
    ]);
    expect(runTile(dev, [f32([1, 2, 3], v)], (t, [a]) => t.permute(a!, [2, 0, 1])).values).toEqual([0, 3, 1, 4, 2, 5]);
  });
});

describe('memory ops', () => {
  it('block loads pad outside the tensor and block stores clip; strided views read columns', async () => {
    const dev = (await testRuntime()).device(0);
    const x = dev.alloc('f32', [3, 4]);
    dev.upload(x, [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);
    const out = dev.alloc('f32', 16);
    const y = dev.alloc('f32', [3, 4]);
    dev.fill(y, -1);
    const k = tileKernel({ name: 'blocks', params: { x: 'ptr', out: 'ptr', y: 'ptr' } }, (t, { x, out, y }) => {
      const X = t.tensor(x, [3, 4]);
      const b = t.loadBlock(X, [2, 2], [2, 4], { padding: -7 }); // rows 2..3, cols 2..5
      t.store(out, t.arange(0, 8), t.reshape(b, [8]));
      const col = t.tensor(x, [3], [4]); // column 0: stride 4
      t.store(out, t.arange(8, 11), t.loadBlock(col, [0], [3]));
      t.storeBlock(t.tensor(y, [3, 4]), [1, 3], t.full([4, 4], 5));
    });
    dev.launch(k, { grid: 1 }, { x, out, y });
    expect(Array.from(dev.download(out)).slice(0, 11)).toEqual([22, 23, -7, -7, -7, -7, -7, -7, 0, 10, 20]);
    expect(Array.from(dev.download(y))).toEqual([-1, -1, -1, -1, -1, -1, -1, 5, -1, -1, -1, 5]);
  });

  it('masked gathers read `other` and count only active lanes', async () => {
    const dev = (await testRuntime()).device(0);
    const x = dev.alloc('f32', 10);
    dev.upload(x, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const out = dev.alloc('f32', 16);
    const k = tileKernel({ name: 'gather', params: { x: 'ptr', out: 'ptr', n: 'i32' } }, (t, { x, out, n }) => {
      const idx = t.arange(0, 16).mul(3).rem(17);
      const mask = idx.lt(n);
      t.store(out, t.arange(0, 16), t.load(x, idx, { mask, other: -1 }));
    });
    const r = dev.launch(k, { grid: 1 }, { x, out, n: 10 });
    const want = Array.from({ length: 16 }, (_, i) => ((i * 3) % 17 < 10 ? (i * 3) % 17 : -1));
    expect(Array.from(dev.download(out))).toEqual(want);
    expect(r.cost.total.bytesRead).toBe(want.filter((v) => v >= 0).length * 4);
  });

  it('atomics update in lane order and return old values', async () => {
    const dev = (await testRuntime()).device(0);
    const acc = dev.alloc('i32', 2);
    const old = dev.alloc('i32', 4);
    const k = tileKernel({ name: 'atomics', params: { acc: 'ptr', old: 'ptr' } }, (t, { acc, old }) => {
      const lanes = t.arange(0, 4);
      t.store(old, lanes, t.atomicAdd(acc, lanes.rem(2), lanes.add(1)));
      t.atomicMax(acc, 1, t.full([1], 100, 'i32'));
    });
    dev.launch(k, { grid: 1 }, { acc, old });
    expect(Array.from(dev.download(acc))).toEqual([4, 100]);
    expect(Array.from(dev.download(old))).toEqual([0, 0, 1, 2]);
  });

  it('reject bad masks and operands at compile time, out-of-range views at launch, with clear errors', async () => {
    const dev = (await testRuntime()).device(0);
    const x = dev.alloc('f32', 8);
    const bad = (body: Parameters<typeof tileKernel>[1]) => () =>
      dev.launch(tileKernel({ name: 'bad', params: { x: 'ptr' } }, body), { grid: 1 }, { x });
    expectThrowCode(
      bad((t, { x }) => void t.load(x as never, t.arange(0, 4), { mask: t.arange(0, 4) })),
      'CompileError',
      /mask must be a bool tile/,
    );
    expectThrowCode(
      bad((t, { x }) => void t.load(x as never, t.full([4], 1.5))),
      'CompileError',
      /integer tile/,
    );
    expectThrowCode(
      bad((t) => void t.dot(t.zeros([2, 3]), t.zeros([4, 2]))),
      'CompileError',
      /inner dimensions differ/,
    );
    expectThrowCode(
      bad((t) => void t.dot(t.zeros([2, 2], 'f16'), t.zeros([2, 2], 'bf16'))),
      'CompileError',
      /cannot meet/,
    );
    expectThrowCode(
      bad((t) => void t.zeros([2], 'fp8e4m3').add(1)),
      'CompileError',
      /fp8 tiles only support/,
    );
    expectThrowCode(
      bad((t, { x }) => void t.tensor(x as never, [3, 3])),
      'IllegalAddress',
      /past the end/,
    );
  });
});

describe('dot', () => {
  it('gives bit-identical results whatever the tile sizes, and on the JS and WebAssembly paths', async () => {
    const dev = (await testRuntime()).device(0);
    const [M, N, K] = [40, 36, 100];
    const a = dev.alloc('f32', M * K);
    const b = dev.alloc('f32', K * N);
    dev.upload(a, randomArray(M * K, 1));
    dev.upload(b, randomArray(K * N, 2));
    const mm = tileKernel(
      {
        name: 'mm',
        params: { a: 'ptr', b: 'ptr', c: 'ptr', BM: 'constexpr', BN: 'constexpr', BK: 'constexpr' },
        uses: { M, N, K },
      },
      (t, { a, b, c, BM, BN, BK }) => {
        const [A, B, C] = [t.tensor(a, [M, K]), t.tensor(b, [K, N]), t.tensor(c, [M, N])];
        const [m0, n0] = [t.programId(0) * BM, t.programId(1) * BN];
        let acc = t.zeros([BM, BN]);
        for (let k = 0; k < K; k += BK)
          acc = t.dot(t.loadBlock(A, [m0, k], [BM, BK]), t.loadBlock(B, [k, n0], [BK, BN]), acc);
        t.storeBlock(C, [m0, n0], acc);
      },
    );
    const results = [
      [8, 8, 4],
      [16, 32, 64],
      [40, 36, 100],
    ].map(([BM, BN, BK]) => {
      const c = dev.alloc('f32', M * N);
      dev.launch(mm, { grid: [cdiv(M, BM!), cdiv(N, BN!)] }, { a, b, c, BM: BM!, BN: BN!, BK: BK! });
      return Array.from(dev.download(c));
    });
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
    const A = Float32Array.from(randomArray(33 * 17, 5));
    const B = Float32Array.from(randomArray(17 * 29, 6));
    const c1 = Float32Array.from(randomArray(33 * 29, 7));
    const c2 = c1.slice();
    dotF32(A, B, c1, 33, 29, 17);
    dotF32Js(A, B, c2, 33, 29, 17);
    expect(Array.from(c1)).toEqual(Array.from(c2));
  });

  it('costs 2·M·N·K matrix FLOPs by operand dtype and honours tf32 precision', async () => {
    const dev = (await testRuntime()).device(0);
    const r = runTile(dev, [f32([2, 2], [1 + 2 ** -11, 0, 0, 1]), f32([2, 2], [1, 0, 0, 1])], (t, [a, b]) =>
      t.dot(a!, b!, undefined, { precision: 'tf32' }),
    );
    expect(r.values[0]).toBe(roundTf32(1 + 2 ** -11));
    const x = dev.alloc('bf16', 64 * 32);
    const y = dev.alloc('bf16', 32 * 16);
    const z = dev.alloc('f32', 64 * 16);
    // The result is stored: the compiler removes a dot whose result nothing uses (as nvcc would).
    const k = tileKernel({ name: 'cost', params: { x: 'ptr', y: 'ptr', z: 'ptr' } }, (t, { x, y, z }) => {
      const c = t.dot(
        t.loadBlock(t.tensor(x, [64, 32]), [0, 0], [64, 32]),
        t.loadBlock(t.tensor(y, [32, 16]), [0, 0], [32, 16]),
      );
      t.storeBlock(t.tensor(z, [64, 16]), [0, 0], c);
    });
    const res = dev.launch(k, { grid: 3 }, { x, y, z });
    expect(res.cost.total.matrixFlopsOf('bf16')).toBe(3 * 2 * 64 * 16 * 32);
    expect(res.cost.resources.dotOperandBytes).toBe((64 * 32 + 32 * 16) * 2);
    expect(res.cost.resources.accumulatorBytes).toBe(64 * 16 * 4);
  });
});
