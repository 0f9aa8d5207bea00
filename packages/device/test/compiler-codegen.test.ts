/**
 * The CPU back end against the eager interpreter: small kernels covering every op and dtype, masks, faults, loops
 * and fusion, on random inputs (with NaN, ±0 and ±∞) and poisoned outputs; generated code, IR interpreter and eager
 * interpreter must agree bit for bit on every buffer, and raise the same faults.
 */
import { describe, expect, it } from 'vitest';
import type { DType, TileDType } from '../src/dtype/dtype';
import { type Tile, tileKernel } from '../src/index';
import { buffer, device, expectSame, poisoned } from './compiler-codegen-helpers';

const FLOATS: DType[] = ['f32', 'f16', 'bf16'];
const INTS: DType[] = ['i32', 'i16', 'i8', 'u8'];
const BINARY = [
  'add',
  'sub',
  'mul',
  'div',
  'maximum',
  'minimum',
  'idiv',
  'rem',
  'and',
  'or',
  'xor',
  'shl',
  'shr',
  'shru',
  'lt',
  'le',
  'gt',
  'ge',
  'eq',
  'ne',
] as const;
const INT_ONLY = new Set(['idiv', 'rem', 'and', 'or', 'xor', 'shl', 'shr', 'shru']);
/** The tile language's ops by name (kernels pick one with a compile-time string). */
type Ops = Record<string, (...args: unknown[]) => Tile>;
const UNARY = [
  'neg',
  'abs',
  'exp',
  'exp2',
  'log',
  'log2',
  'sqrt',
  'rsqrt',
  'sin',
  'cos',
  'tanh',
  'sigmoid',
  'erf',
  'floor',
  'ceil',
  'trunc',
  'round',
  'not',
  'isnan',
] as const;

/** out[i] = OP(x[i], y[j]) over a (R, C) block, y broadcast as SHAPE says (0 full, 1 row vector, 2 column, 3 scalar). */
function binaryKernel(op: string) {
  const OP = op; // the eager interpreter closes over it; the compiler reads it from `uses`
  return tileKernel(
    {
      name: `bin_${op}`,
      uses: { OP: op },
      params: {
        x: 'ptr',
        y: 'ptr',
        out: 'ptr',
        s: 'f32',
        si: 'i32',
        R: 'constexpr',
        C: 'constexpr',
        SHAPE: 'constexpr',
        DT: 'constexpr',
      },
    },
    (t, { x, y, out, s, si, R, C, SHAPE, DT }) => {
      const X = t.tensor(x, [R, C]);
      const a = t.loadBlock(X, [0, 0], [R, C]);
      const dt = ['f32', 'f16', 'bf16', 'i32', 'i16', 'i8', 'u8', 'bool'][DT] as TileDType;
      const ac = a.cast(dt);
      let b: Tile | number;
      if (SHAPE === 0) b = t.loadBlock(t.tensor(y, [R, C]), [0, 0], [R, C]).cast(dt);
      else if (SHAPE === 1)
        b = t
          .loadBlock(t.tensor(y, [C]), [0], [C])
          .cast(dt)
          .expandDims(0);
      else if (SHAPE === 2)
        b = t
          .loadBlock(t.tensor(y, [R]), [0], [R])
          .cast(dt)
          .expandDims(1);
      else b = DT < 3 ? s : si;
      const r = (t as unknown as Ops)[OP]!(ac, b);
      t.storeBlock(t.tensor(out, [R, C]), [0, 0], r.cast(out.dtype));
    },
  );
}

describe('elementwise ops, every dtype, fused, bit-identical', () => {
  it('binary ops on floats, ints and bool with full, row, column and scalar operands', async () => {
    const dev = await device();
    const dtNames = ['f32', 'f16', 'bf16', 'i32', 'i16', 'i8', 'u8', 'bool'];
    for (const op of BINARY) {
      const k = binaryKernel(op);
      for (let DT = 0; DT < dtNames.length; DT++) {
        const dt = dtNames[DT]!;
        const isFloat = dt === 'f32' || dt === 'f16' || dt === 'bf16';
        if (INT_ONLY.has(op) && isFloat) continue;
        if (
          dt === 'bool' &&
          !['maximum', 'minimum', 'and', 'or', 'xor', 'lt', 'le', 'gt', 'ge', 'eq', 'ne'].includes(op)
        )
          continue;
        for (let SHAPE = 0; SHAPE < 4; SHAPE++) {
          const [R, C] = [3, 8];
          const inDt: DType = isFloat ? 'f32' : 'i32';
          const x = buffer(dev, inDt, R * C, 1 + DT, { specials: true, ...(isFloat ? {} : { lo: -300, hi: 300 }) });
          const y = buffer(dev, inDt, R * C, 2 + DT, { specials: true, ...(isFloat ? {} : { lo: -40, hi: 40 }) });
          const outDt: DType = isFloat && !['lt', 'le', 'gt', 'ge', 'eq', 'ne'].includes(op) ? (dt as DType) : 'i32';
          const out = poisoned(dev, outDt, R * C);
          expectSame(dev, k, 1, {
            x,
            y,
            out,
            s: 1.7,
            si: op === 'shl' || op === 'shr' || op === 'shru' ? 35 : -3,
            R,
            C,
            SHAPE,
            DT,
          });
        }
      }
    }
  });

  it('unary ops on every dtype they take', async () => {
    const dev = await device();
    for (const op of UNARY) {
      const OP = op;
      const k = tileKernel(
        { name: `un_${op}`, uses: { OP: op }, params: { x: 'ptr', out: 'ptr', N: 'constexpr', DT: 'constexpr' } },
        (t, { x, out, N, DT }) => {
          const dt = ['f32', 'f16', 'bf16', 'i32', 'i8', 'u8', 'bool'][DT] as TileDType;
          const v = t.loadBlock(t.tensor(x, [N]), [0], [N]).cast(dt);
          t.storeBlock(t.tensor(out, [N]), [0], (t as unknown as Ops)[OP]!(v).cast(out.dtype));
        },
      );
      for (let DT = 0; DT < 7; DT++) {
        const N = 40;
        const x = buffer(dev, DT < 3 ? 'f32' : 'i32', N, 7 + DT, {
          specials: true,
          ...(DT < 3 ? {} : { lo: -200, hi: 200 }),
        });
        const out = poisoned(dev, DT < 3 && op !== 'isnan' ? (['f32', 'f16', 'bf16'][DT] as DType) : 'i32', N);
        if (DT === 6 && op !== 'not' && op !== 'isnan') continue;
        if (DT < 3 && op === 'not') continue;
        if (DT >= 3 && DT < 6 && op === 'isnan') continue;
        expectSame(dev, k, 1, { x, out, N, DT });
      }
    }
  });

  it('casts between every pair of dtypes, saturating, wrapping and rounding as the eager interpreter', async () => {
    const dev = await device();
    const ALL: TileDType[] = ['f32', 'f16', 'bf16', 'fp8e4m3', 'fp8e5m2', 'i32', 'i16', 'i8', 'u8', 'bool'];
    const all = ALL;
    const k = tileKernel(
      {
        name: 'cast_pair',
        uses: { ALL: all },
        params: { x: 'ptr', out: 'ptr', N: 'constexpr', A: 'constexpr', B: 'constexpr' },
      },
      (t, { x, out, N, A, B }) => {
        const v = t
          .loadBlock(t.tensor(x, [N]), [0], [N])
          .cast(ALL[A]!)
          .cast(ALL[B]!);
        t.storeBlock(t.tensor(out, [N]), [0], v.cast(out.dtype));
      },
    );
    for (let A = 0; A < all.length; A++) {
      for (let B = 0; B < all.length; B++) {
        const N = 48;
        const x = buffer(dev, 'f32', N, 31 * A + B, { specials: true, lo: -70000, hi: 70000 });
        const to = all[B]!;
        const out = poisoned(dev, to === 'bool' ? 'u8' : (to as DType), N);
        expectSame(dev, k, 1, { x, out, N, A, B });
      }
    }
  });

  it('where with tile and scalar operands; chains with broadcasts stay fused in one loop', async () => {
    const dev = await device();
    const k = tileKernel(
      {
        name: 'where_chain',
        params: { x: 'ptr<f32>', m: 'ptr<f32>', out: 'ptr', s: 'f32', R: 'constexpr', C: 'constexpr' },
      },
      (t, { x, m, out, s, R, C }) => {
        const X = t.loadBlock(t.tensor(x, [R, C]), [0, 0], [R, C]);
        const row = t.loadBlock(t.tensor(m, [R]), [0], [R]).expandDims(1); // (R, 1)
        const col = t.arange(0, C).expandDims(0); // (1, C)
        const z = t.where(col.lt(5), X.sub(row), -Infinity);
        const e = t.exp(z.mul(s)).add(t.where(X.gt(0), 1, X));
        t.storeBlock(t.tensor(out, [R, C]), [0, 0], e.cast(out.dtype));
      },
    );
    for (const dt of ['f32', 'bf16', 'f16'] as DType[]) {
      const [R, C] = [5, 9];
      const src = expectSame(dev, k, 1, {
        x: buffer(dev, 'f32', R * C, 3, { specials: true }),
        m: buffer(dev, 'f32', R, 4),
        out: poisoned(dev, dt, R * C),
        s: 0.37,
        R,
        C,
      });
      // One loop nest computes the whole expression: no intermediate slots besides the loaded blocks.
      expect(src.match(/new Float32Array/g)?.length).toBe(2);
    }
  });

  it('reshape, expandDims, broadcastTo, permute and trans, materialised and fused', async () => {
    const dev = await device();
    const k = tileKernel({ name: 'shapes', params: { x: 'ptr<f32>', out: 'ptr<f32>' } }, (t, { x, out }) => {
      const v = t.loadBlock(t.tensor(x, [2, 3, 4]), [0, 0, 0], [2, 3, 4]);
      const p = t.permute(v, [2, 0, 1]).reshape([4, 6]); // (4, 6)
      const q = t.trans(p).add(t.broadcastTo(t.arange(0, 4).cast('f32').expandDims(0), [6, 4])); // (6, 4)
      const r = q.reshape([24]).mul(2).reshape([3, 8]);
      t.storeBlock(
        t.tensor(out, [48]),
        [0],
        t
          .dot(t.trans(r), t.full([3, 2], 0.5))
          .reshape([16])
          .expandDims(1)
          .broadcastTo([16, 3])
          .reshape([48])
          .reshape([48])
          .add(0),
      );
    });
    expectSame(dev, k, 1, { x: buffer(dev, 'f32', 24, 5), out: poisoned(dev, 'f32', 48) });
  });
});

describe('reductions, scans and sorts', () => {
  it('sum, max, min, argmax and argmin over every axis and the whole tile, with NaNs and fused producers', async () => {
    const dev = await device();
    const k = tileKernel(
      {
        name: 'reduce_all',
        params: {
          x: 'ptr',
          out: 'ptr',
          R: 'constexpr',
          C: 'constexpr',
          KIND: 'constexpr',
          AXIS: 'constexpr',
          KEEP: 'constexpr',
          DT: 'constexpr',
        },
      },
      (t, { x, out, R, C, KIND, AXIS, KEEP, DT }) => {
        const dt = ['f32', 'f16', 'bf16', 'i32', 'i8', 'bool'][DT] as TileDType;
        const v = t.loadBlock(t.tensor(x, [R, C]), [0, 0], [R, C]);
        const fused = DT < 3 ? v.mul(1.5).sub(0.25).cast(dt) : v.cast(dt);
        const kind = ['sum', 'max', 'min', 'argmax', 'argmin'][KIND]!;
        const ops = t as unknown as Ops;
        const r = AXIS === 2 ? ops[kind]!(fused, undefined, KEEP === 1) : ops[kind]!(fused, AXIS, KEEP === 1);
        const flat = r.reshape([r.size]);
        t.store(out, t.arange(0, r.size), flat);
      },
    );
    for (let DT = 0; DT < 6; DT++) {
      for (let KIND = 0; KIND < 5; KIND++) {
        if (DT === 5 && KIND !== 0) continue;
        for (const AXIS of [0, 1, 2]) {
          for (const KEEP of [0, 1]) {
            const [R, C] = [6, 7];
            const x = buffer(dev, 'f32', R * C, 100 + DT * 10 + KIND, {
              specials: DT < 3,
              ...(DT >= 3 ? { lo: -200, hi: 200 } : {}),
            });
            const outDt: DType = KIND >= 3 || DT >= 3 ? 'i32' : (['f32', 'f16', 'bf16'][DT] as DType);
            expectSame(dev, k, 1, { x, out: poisoned(dev, outDt, 64), R, C, KIND, AXIS, KEEP, DT });
          }
        }
      }
    }
  });

  it('softmax-style row reductions consume fused producers (exp computed once per element)', async () => {
    const dev = await device();
    const k = tileKernel(
      {
        name: 'softmax_rows',
        params: { x: 'ptr', out: 'ptr', rows: 'i32', cols: 'i32', BR: 'constexpr', BC: 'constexpr' },
      },
      (t, { x, out, rows, cols, BR, BC }) => {
        const X = t.tensor(x, [rows, cols]);
        const r0 = t.programId(0) * BR;
        const z0 = t.loadBlock(X, [r0, 0], [BR, BC], { padding: -Infinity }).cast('f32');
        const z = t.where(t.arange(0, BC).expandDims(0).lt(cols), z0, -Infinity);
        const m = z.max(1, true);
        const e = t.exp(z.sub(m));
        t.storeBlock(t.tensor(out, [rows, cols]), [r0, 0], e.mul(t.div(1, e.sum(1, true))));
      },
    );
    for (const dt of ['f32', 'bf16', 'f16'] as DType[]) {
      const [rows, cols] = [13, 50];
      expectSame(dev, k, 4, {
        x: buffer(dev, dt, rows * cols, 17),
        out: poisoned(dev, dt, rows * cols),
        rows,
        cols,
        BR: 4,
        BC: 64,
      });
    }
  });

  it('cumsum, sort and argsort (stable, NaN last, descending) on floats and ints', async () => {
    const dev = await device();
    const k = tileKernel(
      {
        name: 'scan_sort',
        params: { x: 'ptr', out: 'ptr', R: 'constexpr', C: 'constexpr', AXIS: 'constexpr', DT: 'constexpr' },
      },
      (t, { x, out, R, C, AXIS, DT }) => {
        const dt = ['f32', 'bf16', 'i32', 'i8'][DT] as TileDType;
        const v = t.loadBlock(t.tensor(x, [R, C]), [0, 0], [R, C]).cast(dt);
        const O = t.tensor(out, [5, R, C]);
        const put = (i: number, tile: ReturnType<typeof v.cast>) =>
          t.storeBlock(O, [i, 0, 0], tile.cast(out.dtype).reshape([1, R, C]));
        put(0, t.cumsum(v, AXIS));
        put(1, t.sort(v, { axis: AXIS }));
        put(2, t.sort(v, { axis: AXIS, descending: true }));
        put(3, t.argsort(v, { axis: AXIS }));
        put(4, t.argsort(v, { axis: AXIS, descending: true }));
      },
    );
    for (let DT = 0; DT < 4; DT++) {
      for (const AXIS of [0, 1]) {
        const [R, C] = [5, 8];
        // Few distinct values: ties exercise stability.
        const x = buffer(dev, 'f32', R * C, 40 + DT, { specials: DT < 2, lo: -4, hi: 4 });
        const st = x.storage() as Float32Array;
        for (let i = 0; i < st.length; i++) if (Number.isFinite(st[i]!)) st[i] = Math.round(st[i]!);
        expectSame(dev, k, 1, { x, out: poisoned(dev, DT < 2 ? 'f32' : 'i32', 5 * R * C), R, C, AXIS, DT });
      }
    }
  });
});

describe('dot', () => {
  const dotKernel = tileKernel(
    {
      name: 'dot_loop',
      params: {
        a: 'ptr',
        b: 'ptr',
        c: 'ptr',
        M: 'i32',
        N: 'i32',
        K: 'i32',
        BM: 'constexpr',
        BN: 'constexpr',
        BK: 'constexpr',
        TF32: 'constexpr',
        ACC: 'constexpr',
      },
    },
    (t, { a, b, c, M, N, K, BM, BN, BK, TF32, ACC }) => {
      const A = t.tensor(a, [M, K]);
      const B = t.tensor(b, [K, N]);
      const m0 = t.programId(0) * BM;
      const n0 = t.programId(1) * BN;
      const int = a.dtype === 'i8' || a.dtype === 'u8';
      let acc = t.full([BM, BN], ACC ? 0.25 : 0, int ? 'i32' : 'f32');
      for (let k = 0; k < K; k += BK) {
        const at = t.loadBlock(A, [m0, k], [BM, BK]);
        const bt = t.loadBlock(B, [k, n0], [BK, BN]);
        acc =
          ACC || k > 0
            ? t.dot(at, bt, acc, { precision: TF32 ? 'tf32' : 'ieee' })
            : t.dot(at, bt, undefined, { precision: TF32 ? 'tf32' : 'ieee' });
      }
      t.storeBlock(t.tensor(c, [M, N]), [m0, n0], acc.mul(1.5).cast(c.dtype));
    },
  );

  it('f32, f16, bf16, fp8 and int8 operands, tf32, with and without accumulators, JS and WebAssembly sizes', async () => {
    const dev = await device();
    const cases: [DType, DType, number, number, number, number, number, number][] = [
      ['f32', 'f32', 20, 24, 40, 8, 8, 8],
      ['f32', 'f32', 70, 50, 96, 32, 32, 32],
      ['bf16', 'f32', 64, 64, 64, 32, 32, 16],
      ['f16', 'f16', 33, 31, 17, 16, 16, 8],
      ['fp8e4m3', 'f32', 16, 16, 32, 16, 16, 16],
      ['i8', 'i32', 24, 24, 40, 16, 16, 16],
      ['u8', 'i32', 16, 16, 16, 8, 8, 8],
    ];
    for (const [dt, cdt, M, N, K, BM, BN, BK] of cases) {
      for (const TF32 of dt === 'f32' ? [0, 1] : [0]) {
        for (const ACC of [0, 1]) {
          const a = buffer(
            dev,
            dt,
            M * K,
            M + K,
            dt === 'u8' ? { lo: 0, hi: 256 } : dt === 'i8' ? {} : { lo: -2, hi: 2 },
          );
          const b = buffer(
            dev,
            dt,
            K * N,
            N + K,
            dt === 'u8' ? { lo: 0, hi: 256 } : dt === 'i8' ? {} : { lo: -2, hi: 2 },
          );
          const c = poisoned(dev, cdt, M * N);
          expectSame(dev, dotKernel, [Math.ceil(M / BM), Math.ceil(N / BN)], {
            a,
            b,
            c,
            M,
            N,
            K,
            BM,
            BN,
            BK,
            TF32,
            ACC,
          });
        }
      }
    }
  });

  it('accumulates in place in the loop slot (no copy per K step)', async () => {
    const dev = await device();
    const [M, N, K] = [64, 64, 128];
    const src = expectSame(dev, dotKernel, [1, 1], {
      a: buffer(dev, 'f32', M * K, 1),
      b: buffer(dev, 'f32', K * N, 2),
      c: poisoned(dev, 'f32', M * N),
      M,
      N,
      K,
      BM: 64,
      BN: 64,
      BK: 32,
      TF32: 0,
      ACC: 1,
    });
    expect(src).toMatch(/rt\.dotF32\((S\d+), (S\d+), (S\d+), 64, 64, 32, \3\)/);
  });
});

describe('global memory', () => {
  it('gathers with masks and other values, scatters with duplicate offsets (last lane wins), every buffer dtype', async () => {
    const dev = await device();
    const k = tileKernel(
      { name: 'gather_scatter', params: { x: 'ptr', idx: 'ptr<i32>', out: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
      (t, { x, idx, out, n, BLOCK }) => {
        const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
        const mask = offs.lt(n);
        const where = t.load(idx, offs, { mask, other: 0 });
        const v = t.load(x, where, { mask: where.ge(0).and(mask), other: 0.3 });
        t.store(out, where.rem(7).add(3), v, { mask });
        t.store(out, 1, t.load(x, 2));
      },
    );
    for (const dt of [...FLOATS, 'fp8e4m3', 'fp8e5m2', ...INTS] as DType[]) {
      const n = 45;
      const x = buffer(dev, dt, 64, 9, { specials: dt === 'f32' });
      const idx = buffer(dev, 'i32', 64, 10, { lo: -3, hi: 64 });
      expectSame(dev, k, 3, { x, idx, out: poisoned(dev, dt, 16), n, BLOCK: 16 });
    }
  });

  it('atomics add / max / min on f32, f16, bf16 and i32, in lane order, with masks and colliding lanes', async () => {
    const dev = await device();
    const k = tileKernel(
      { name: 'atomics', params: { acc: 'ptr', v: 'ptr<f32>', old: 'ptr', KIND: 'constexpr', N: 'constexpr' } },
      (t, { acc, v, old, KIND, N }) => {
        const lanes = t.arange(0, N);
        const vals = t.loadBlock(t.tensor(v, [N]), [0], [N]).mul(t.programId(0) + 1);
        const target = lanes.rem(5);
        const mask = lanes.rem(3).ne(1);
        const fn = ['atomicAdd', 'atomicMax', 'atomicMin'][KIND]!;
        const ops = t as unknown as Ops;
        const prev = ops[fn]!(acc, target, vals, { mask });
        t.store(old, lanes.add(t.programId(0) * N), prev.cast(old.dtype));
        ops[fn]!(acc, 7, 1.25);
      },
    );
    for (const dt of ['f32', 'f16', 'bf16', 'i32'] as DType[]) {
      for (let KIND = 0; KIND < 3; KIND++) {
        const N = 24;
        expectSame(dev, k, 3, {
          acc: buffer(dev, dt, 8, 21 + KIND, dt === 'i32' ? { lo: -5, hi: 5 } : {}),
          v: buffer(dev, 'f32', N, 22, { lo: -3, hi: 3 }),
          old: poisoned(dev, dt, 3 * N),
          KIND,
          N,
        });
      }
    }
  });

  it('block loads and stores clip and pad at the view, on strided, transposed and offset views of every dtype', async () => {
    const dev = await device();
    const k = tileKernel(
      {
        name: 'blocks',
        params: {
          x: 'ptr',
          out: 'ptr',
          R: 'i32',
          C: 'i32',
          r0: 'i32',
          c0: 'i32',
          off: 'i32',
          BR: 'constexpr',
          BC: 'constexpr',
          TRANS: 'constexpr',
        },
      },
      (t, { x, out, R, C, r0, c0, off, BR, BC, TRANS }) => {
        const X = TRANS ? t.tensor(x, [R, C], [1, R], off) : t.tensor(x, [R, C], undefined, off);
        const v = t.loadBlock(X, [r0, c0], [BR, BC], { padding: 2.5 });
        const O = t.tensor(out, [C + 2, R + 1], [R + 1, 1]);
        t.storeBlock(O, [c0 - 1, r0 + 1], t.trans(v).cast('f32').add(1).cast(out.dtype));
        const whole = t.loadBlock(t.tensor(x, [8]), [4], [8]).cast('f32');
        t.storeBlock(
          t.tensor(out, [3, 3], [0, 1], 1),
          [0, 0],
          whole
            .reshape([2, 4])
            .sum(0, true)
            .reshape([4])
            .reshape([1, 4])
            .broadcastTo([3, 4])
            .add(0)
            .reshape([3, 4])
            .sum(1, true)
            .broadcastTo([3, 3])
            .cast(out.dtype),
        );
      },
    );
    for (const dt of ['f32', 'bf16', 'f16', 'fp8e5m2', 'i32', 'i16', 'i8', 'u8'] as DType[]) {
      for (const [r0, c0, TRANS] of [
        [0, 0, 0],
        [-2, 3, 0],
        [4, -1, 1],
        [5, 5, 1],
      ] as const) {
        const [R, C] = [7, 6];
        expectSame(dev, k, 1, {
          x: buffer(dev, dt, 60, r0 + 50, { lo: -20, hi: 20 }),
          out: poisoned(dev, dt, (C + 2) * (R + 1)),
          R,
          C,
          r0,
          c0,
          off: 3,
          BR: 4,
          BC: 5,
          TRANS,
        });
      }
    }
  });
});

describe('control flow and buffer planning', () => {
  it('for loops carry tiles (in place, swapped, unchanged), while loops and ifs merge them', async () => {
    const dev = await device();
    const k = tileKernel(
      { name: 'loops', params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32', N: 'constexpr' } },
      (t, { x, out, n, N }) => {
        const X = t.tensor(x, [64]);
        let a = t.loadBlock(X, [0], [N]);
        let b = t.loadBlock(X, [N], [N]);
        const inv = t.loadBlock(X, [2 * N], [N]); // read inside the loop: lives through it
        let c = t.zeros([N]);
        for (let i = 0; i < n; i++) {
          const tmp = a;
          a = b.mul(0.5).add(inv);
          b = tmp; // a swap through loop-carried slots
          c = c.add(a.mul(i));
        }
        let j = 0;
        let s = t.full([N], 1);
        while (j < n + 2) {
          s = s.mul(1.25).sub(a.mul(0.01));
          j += 1;
        }
        const pick = t.programId(0) === 0 ? s.add(b) : c;
        const r = n > 2 ? pick : pick.neg();
        t.storeBlock(t.tensor(out, [4, N]), [t.programId(0), 0], r.reshape([1, N]));
        t.storeBlock(t.tensor(out, [4, N]), [2 + t.programId(0), 0], c.reshape([1, N]));
      },
    );
    for (const n of [0, 1, 3, 6]) {
      expectSame(dev, k, 2, { x: buffer(dev, 'f32', 64, n), out: poisoned(dev, 'f32', 4 * 16), n, N: 16 });
    }
  });

  it('scalar control flow: early exits become flags, host arrays, buffer lengths, Math on scalars', async () => {
    const dev = await device();
    const k = tileKernel(
      { name: 'scalars', params: { out: 'ptr<f32>', lens: 'i32[]', scale: 'f32' } },
      (t, { out, lens, scale }) => {
        const p = t.programId(0);
        if (p >= lens.length) return;
        let total = 0;
        for (let i = 0; i < lens.length; i++) {
          if (lens[i]! < 0) break;
          total += Math.max(lens[i]!, 1) * scale;
        }
        const v =
          Math.floor(total / 3) + (total % 3) + Math.hypot(p, 2) + p ** 2 + (out.length >>> 1) + Math.imul(p, 7);
        t.store(out, p, t.full([], v, 'f32').add(Math.sqrt(lens[p]! + 1)));
      },
    );
    expectSame(dev, k, 6, { out: poisoned(dev, 'f32', 8), lens: [3, 5, -1, 7, 2], scale: 0.7 });
  });
});

describe('faults', () => {
  const gather = tileKernel(
    {
      name: 'two_gathers',
      params: { x: 'ptr<f32>', y: 'ptr<f32>', out: 'ptr<f32>', dx: 'i32', dy: 'i32', N: 'constexpr' },
    },
    (t, { x, y, out, dx, dy, N }) => {
      const i = t.arange(0, N);
      // x faults from lane N - dx on, y from lane N - dy on: x's fault comes first in program order whatever the lanes.
      const v = t.load(x, i.add(dx)).add(t.load(y, i.add(dy)));
      t.store(out, i, v);
    },
  );

  it('out-of-bounds gathers fault like the eager interpreter, the first in program order, also when fused', async () => {
    for (const [dx, dy] of [
      [0, 0],
      [4, 0],
      [0, 3],
      [2, 7],
      [7, 2],
      [-1, 5],
    ]) {
      const dev = await device();
      const x = buffer(dev, 'f32', 16, 1);
      const y = buffer(dev, 'f32', 16, 2);
      expectSame(dev, gather, 2, { x, y, out: poisoned(dev, 'f32', 16), dx, dy, N: 16 });
    }
  });

  it('scatters, atomics, views past the end and throws under runtime control flow', async () => {
    const k = tileKernel(
      { name: 'faulty', params: { x: 'ptr<f32>', n: 'i32', WHAT: 'constexpr' } },
      (t, { x, n, WHAT }) => {
        const i = t.arange(0, 8).add(n);
        if (WHAT === 0) t.store(x, i, 1, { mask: i.ne(n + 2) });
        if (WHAT === 1) t.atomicAdd(x, i.mul(2), 1);
        if (WHAT === 2) t.loadBlock(t.tensor(x, [n, 4], undefined, 2), [0, 0], [2, 2]);
        if (WHAT === 3 && t.programId(0) === 1) throw new Error('bad program');
        if (WHAT === 4) t.store(x, i.sum(), 5);
        if (WHAT === 5) t.store(x, t.where(i.lt(n + 4), i, -3).max(), 5);
      },
    );
    for (let WHAT = 0; WHAT < 6; WHAT++) {
      for (const n of [0, 3, 9]) {
        const dev = await device();
        expectSame(dev, k, 2, { x: buffer(dev, 'f32', 12, 3), n, WHAT });
      }
    }
  });

  it('a gather fused into a reduction over a leading axis keeps the first fault in lane order', async () => {
    const k = tileKernel(
      { name: 'reduce_gather', params: { x: 'ptr<f32>', out: 'ptr<f32>', d: 'i32' } },
      (t, { x, out, d }) => {
        const i = t.arange(0, 4).expandDims(1).mul(5).add(t.arange(0, 5).expandDims(0)); // (4, 5)
        const v = t.load(x, i.add(d).sub(t.arange(0, 5).expandDims(0).eq(0).cast('i32').mul(40)), { mask: i.ne(7) });
        t.store(out, t.arange(0, 5), v.exp().sum(0));
      },
    );
    for (const d of [0, 1, 2]) {
      const dev = await device();
      expectSame(dev, k, 1, { x: buffer(dev, 'f32', 21, 5), out: poisoned(dev, 'f32', 5), d });
    }
  });
});
