/**
 * The tile language's semantics on Dawn, op family by op family, with the values where lowerings go wrong: integer
 * division by zero and INT_MIN, shifts past 31, wrapping of narrow integers, saturating and NaN casts, round half to
 * even, NaN in max / argmax / sort, ±0, scans and sorts along either axis, 3-D permutes, blocks with padding and
 * negative offsets, strided views, while loops and branches carrying tiles, atomics returning old values, tf32 and
 * fp8 dots. Every kernel runs on the reference back end and as WGSL (tileToWgsl) on Dawn; results must agree
 * (integers exactly, floats to 1e-6 relative unless noted). Skipped visibly without a WebGPU adapter.
 */
import { type Device, type DeviceBuffer, type DType, tileKernel } from '@tessera/device';
import { beforeAll, describe, expect, it } from 'vitest';
import { gpu, lastOpenError, type Replay, refDevice, relErr, replay } from './tile-harness';

const handle = await gpu();
if (!handle) console.warn(`SKIP: tile-language semantics on Dawn: ${lastOpenError}`);

/** Per-test limit: Dawn's llvmpipe compiles each shader on the CPU, slow on a loaded 2-core CI machine. */
const T = 120_000;

const ints = tileKernel(
  { name: 'sem_ints', params: { a: 'ptr<i32>', b: 'ptr<i32>', out: 'ptr<i32>', N: 'constexpr' } },
  (t, { a, b, out, N }) => {
    const i = t.arange(0, N);
    const x = t.load(a, i);
    const y = t.load(b, i);
    const res = [
      x.idiv(y),
      x.rem(y),
      x.shl(y),
      x.shr(y),
      x.shru(y),
      x.and(y).xor(x.or(y)),
      x.maximum(y).sub(x.minimum(y)),
      x.mul(y),
      x.cast('i8').cast('i32'),
      x.cast('u8').add(y.cast('i16')).cast('i32'),
      x.cast('i8').mul(y.cast('i8')).cast('i32'),
      x.abs().add(x.neg()).add(x.not()),
      x
        .lt(y)
        .cast('i32')
        .add(x.eq(y).cast('i32').mul(2))
        .add(x.ge(0).and(y.ne(0)).cast('i32').mul(4)),
      x.div(y).cast('i32'),
    ];
    res.forEach((r, k) => {
      t.store(out, i.add(k * N), r);
    });
  },
);

const quotients = tileKernel(
  { name: 'sem_quotients', params: { out: 'ptr<i32>', p: 'i32', q: 'i32' } },
  (t, { out, p, q }) => {
    const i = t.arange(0, 4);
    const v = [Math.floor(p / q), Math.ceil(p / q), Math.trunc(p / q), Math.ceil((p * 3) / 3)];
    for (let k = 0; k < 4; k++) t.store(out, k, v[k]!, { mask: i.eq(0) });
  },
);

const sums = tileKernel(
  { name: 'sem_sums', params: { x: 'ptr<f32>', out: 'ptr<f32>', N: 'constexpr' } },
  (t, { x, out, N }) => {
    const v = t.load(x, t.arange(0, N));
    t.store(out, t.arange(0, 1), v.sum(0, true));
    t.store(out, t.arange(1, N + 1), v.cumsum(0));
    t.store(
      out,
      t.arange(N + 1, N + 2),
      v
        .reshape([N / 8, 8])
        .sum(1)
        .sum(0, true),
    );
  },
);

const floats = tileKernel(
  { name: 'sem_floats', params: { x: 'ptr<f32>', y: 'ptr<f32>', out: 'ptr<f32>', iout: 'ptr<i32>', N: 'constexpr' } },
  (t, { x, y, out, iout, N }) => {
    const i = t.arange(0, N);
    const a = t.load(x, i);
    const b = t.load(y, i);
    const safe = t.where(a.isnan(), 0, a);
    const res = [
      a.round(),
      a.floor().add(a.ceil()).add(a.trunc()),
      safe.div(8).erf(),
      safe.tanh(),
      safe.sigmoid(),
      safe.abs().add(1).rsqrt(),
      t.exp2(safe.div(64)),
      t.log2(safe.abs().add(1)),
      safe.minimum(8e5).maximum(-8e5).sin().add(safe.minimum(8e5).maximum(-8e5).div(3).cos()),
      a.maximum(b),
      a.minimum(b),
      t.where(a.gt(b), a, b.neg()),
      a.cast('f16').cast('f32'),
      a.cast('bf16').cast('f32'),
      a.div(16).cast('fp8e4m3').cast('f32'),
      a.mul(100).cast('fp8e5m2').cast('f32'),
      a.cast('f16').mul(b.cast('f16')).cast('f32'),
      safe.div(64).exp().add(safe.abs().add(1).log()),
      safe.abs().sqrt(),
    ];
    res.forEach((r, k) => {
      t.store(out, i.add(k * N), r);
    });
    const ires = [a.cast('i32'), a.cast('u8'), a.cast('i8'), a.cast('i16'), a.cast('bool'), a.isnan()];
    ires.forEach((r, k) => {
      t.store(iout, i.add(k * N), r.cast('i32'));
    });
  },
);

const shapes = tileKernel(
  {
    name: 'sem_shapes',
    params: { x: 'ptr<f32>', out: 'ptr<f32>', iout: 'ptr<i32>', R: 'constexpr', C: 'constexpr' },
  },
  (t, { x, out, iout, R, C }) => {
    const X = t.tensor(x, [R, C]);
    const v = t.loadBlock(X, [0, 0], [R, C]);
    let at = 0;
    const put = (r: ReturnType<typeof t.zeros>) => {
      t.store(out, t.arange(at, at + r.size), r.reshape([r.size]));
      at += r.size;
    };
    let iat = 0;
    const iput = (r: ReturnType<typeof t.zeros>) => {
      t.store(iout, t.arange(iat, iat + r.size), r.reshape([r.size]));
      iat += r.size;
    };
    put(v.trans());
    put(v.sum(0));
    put(v.sum(1, true));
    put(v.max(0));
    put(v.min(1));
    put(v.sum());
    put(v.cumsum(0));
    put(v.cumsum(1));
    put(t.sort(v, { axis: 0 }));
    put(t.sort(v, { axis: 1, descending: true }));
    put(
      v
        .reshape([2, R / 2, C])
        .permute([2, 0, 1])
        .add(
          v
            .reshape([2, R / 2, C])
            .sum(1)
            .permute([1, 0])
            .expandDims(2)
            .broadcastTo([C, 2, R / 2])
            .mul(0.5),
        ),
    );
    put(
      v
        .expandDims(0)
        .broadcastTo([3, R, C])
        .mul(t.arange(0, 3).cast('f32').reshape([3, 1, 1])),
    );
    iput(v.argmax(0));
    iput(v.argmin(1, true));
    iput(t.argsort(v, { axis: 1 }));
    iput(t.argsort(v, { axis: 0, descending: true }));
    iput(v.gt(0).cast('i32').cumsum(1));
    iput(v.gt(0).sum(0));
  },
);

const control = tileKernel(
  {
    name: 'sem_control',
    params: {
      x: 'ptr<f32>',
      out: 'ptr<f32>',
      cnt: 'ptr<i32>',
      amax: 'ptr<f32>',
      n: 'i32',
      steps: 'i32',
      N: 'constexpr',
    },
  },
  (t, { x, out, cnt, amax, n, steps, N }) => {
    const i = t.arange(0, N);
    const m = i.lt(n);
    let v = t.load(x, i, { mask: m, other: 0 });
    let k = 0;
    let acc = t.zeros([N]);
    while (k < steps) {
      acc = acc.add(v.mul(k));
      v = v.mul(0.5);
      k += 1;
    }
    let w: typeof acc;
    if (steps > 2) w = acc.add(1);
    else w = acc.sub(1);
    t.store(out, i, w, { mask: m });
    t.store(out, i.add(N), 7, { mask: m.and(i.rem(3).eq(0)) });
    const old = t.atomicMax(cnt, i.rem(4), i.sub(5), { mask: m });
    t.store(out, i.add(2 * N), old.cast('f32'), { mask: m });
    const oldf = t.atomicMin(amax, i.rem(2), v, { mask: m });
    t.store(out, i.add(3 * N), oldf.mul(0), { mask: m });
    t.atomicAdd(cnt, 4, 1, { mask: m });
  },
);

const blocks = tileKernel(
  {
    name: 'sem_blocks',
    params: { x: 'ptr<f32>', out: 'ptr<f32>', R: 'i32', C: 'i32', r0: 'i32', c0: 'i32' },
  },
  (t, { x, out, R, C, r0, c0 }) => {
    const X = t.tensor(x, [R, C]);
    const Xs = t.tensor(x, [R, C / 2], [C, 2], 1); // odd columns
    const X3 = t.tensor(x, [2, R / 2, C]);
    const O = t.tensor(out, [R, C]);
    const a = t.loadBlock(X, [r0, c0], [8, 8], { padding: -3 });
    const b = t.loadBlock(Xs, [r0, 0], [8, 4], { padding: 2.5 });
    const c = t.loadBlock(X3, [1, 0, c0], [1, 4, 8]).reshape([4, 8]);
    t.storeBlock(O, [r0 + 1, c0 - 2], a.add(t.broadcastTo(b.sum(1, true), [8, 8])));
    t.storeBlock(O, [0, 0], c.mul(2));
  },
);

const dots = tileKernel(
  {
    name: 'sem_dots',
    params: { a: 'ptr<f32>', b: 'ptr<f32>', out: 'ptr<f32>', M: 'constexpr', N: 'constexpr', K: 'constexpr' },
  },
  (t, { a, b, out, M, N, K }) => {
    const A = t.loadBlock(t.tensor(a, [M, K]), [0, 0], [M, K]);
    const B = t.loadBlock(t.tensor(b, [K, N]), [0, 0], [K, N]);
    const O = t.tensor(out, [3 * M, N]);
    t.storeBlock(O, [0, 0], t.dot(A, B, undefined, { precision: 'tf32' }));
    t.storeBlock(O, [M, 0], t.dot(A.cast('fp8e4m3'), B.cast('fp8e5m2')));
    t.storeBlock(O, [2 * M, 0], t.dot(A.cast('bf16'), B.trans().trans().cast('bf16'), t.full([M, N], 0.5)));
  },
);

const trapAndAtomics = tileKernel(
  { name: 'sem_trap', params: { x: 'ptr<bf16>', h: 'ptr<f16>', o: 'ptr<f32>', n: 'i32', N: 'constexpr' } },
  (t, { x, h, o, n, N }) => {
    if (n > 100) throw new RangeError('n is too large');
    const i = t.arange(0, N);
    const m = i.lt(n);
    t.atomicAdd(x, i.rem(4), i.ge(0).cast('f32'), { mask: m });
    t.store(o, i, t.atomicMax(h, i.rem(3), i.cast('f32').sub(7).cast('f16'), { mask: m }).cast('f32').mul(0), {
      mask: m,
    });
  },
);

describe.skipIf(!handle)('tile-language semantics on Dawn', () => {
  let dev: Device;
  beforeAll(async () => {
    dev = await refDevice();
  });
  const up = (dtype: DType, values: number[]): DeviceBuffer => {
    const b = dev.alloc(dtype, values.length);
    dev.upload(b, values);
    return b;
  };
  const poison = (dtype: DType, n: number): DeviceBuffer => {
    const b = dev.alloc(dtype, n);
    dev.fill(b, dtype === 'f32' ? Number.NaN : -1);
    return b;
  };
  const same = (r: Replay, tol = 1e-6) => {
    expect(r.fault).toBeNull();
    for (const o of r.outputs) {
      if (o.dtype === 'f32') {
        const nanRef = o.ref.map(Number.isNaN);
        expect(o.gpu.map(Number.isNaN), `${r.kernel}: ${o.name} NaN positions`).toEqual(nanRef);
        const g = o.gpu.map((v, i) => (nanRef[i] ? 0 : v));
        const f = o.ref.map((v, i) => (nanRef[i] ? 0 : v));
        const bad = f.flatMap((v, i) =>
          Object.is(v, g[i]) || (Number.isFinite(v) && Math.abs(v - g[i]!) <= tol * Math.max(1, Math.abs(v)))
            ? []
            : [`[${i}] ${g[i]} vs ${v}`],
        );
        if (bad.length && process.env.TILE_DEBUG) console.log(`${r.kernel} ${o.name}: ${bad.slice(0, 20).join(', ')}`);
        expect(relErr(g, f), `${r.kernel}: ${o.name}`).toBeLessThanOrEqual(tol);
      } else expect(o.gpu, `${r.kernel}: ${o.name}`).toEqual(o.ref);
    }
  };
  const I32_MIN = -2147483648;

  it(
    'integer ops: division by zero, INT_MIN / -1, shifts ≥ 32, narrow wrap and saturation',
    async () => {
      const xs = [7, -7, 7, -7, 0, I32_MIN, I32_MIN, 2147483647, 300, -129, 255, 1000, 5, -1, 65537, 12345];
      const ys = [2, 2, -2, -2, 0, -1, 0, 33, 3, 0, -256, 31, 40, -1, 7, 100];
      const N = 16;
      same(await replay(handle!, dev, ints, 1, { a: up('i32', xs), b: up('i32', ys), out: poison('i32', 14 * N), N }));
    },
    T,
  );

  it(
    'integer quotients rounded by floor / ceil / trunc (cdiv) are exact',
    async () => {
      for (const [p, q] of [
        [7, 2],
        [-7, 2],
        [7, -2],
        [-7, -2],
        [6, 3],
        [-6, 3],
        [16777217, 3],
        [100000007, 7],
        [0, 5],
      ]) {
        same(await replay(handle!, dev, quotients, 1, { out: poison('i32', 4), p, q }));
      }
    },
    T,
  );

  it(
    "sums and scans accumulate compensated, as the CPU's float64 accumulation rounds once",
    async () => {
      const N = 512;
      const x = Array.from({ length: N }, (_, i) => [1e8, 1, -1e8, 0.5, 3e7, 1, -3e7, 0.25][i % 8]! * (1 + (i % 5)));
      const r = await replay(handle!, dev, sums, 1, { x: up('f32', x), out: poison('f32', N + 2), N });
      const o = r.outputs[0]!;
      // The exact sums are representable: the GPU must reproduce them, not the naive f32 sum's cancellation.
      expect(o.gpu[0]).toBe(o.ref[0]);
      expect(o.gpu[N + 1]).toBe(o.ref[N + 1]);
      same(r);
    },
    T,
  );

  it(
    'float ops and casts: round half to even, NaN and ±0 through max/min, saturating and NaN casts',
    async () => {
      const xs = [
        0.5,
        1.5,
        2.5,
        -0.5,
        -2.5,
        3.7,
        -3.7,
        Number.NaN,
        0,
        -0,
        300.7,
        -300.7,
        1e10,
        -1e10,
        65519,
        70000,
        1e-8,
        127.5,
        -128.9,
        2 ** 31,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        0.1,
        42,
      ];
      const ys = [1, -1, Number.NaN, 0, -0, 3.7, 5, 1, -0, 0, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0.2, -42];
      const N = 32;
      const pad = (v: number[]) => [...v, ...Array.from({ length: N - v.length }, (_, i) => i / 7 - 2)];
      const r = await replay(handle!, dev, floats, 1, {
        x: up('f32', pad(xs)),
        y: up('f32', pad(ys)),
        out: poison('f32', 19 * N),
        iout: poison('i32', 6 * N),
        N,
      });
      same(r, 2e-6);
      // Signed zeros survive max / min exactly as on the CPU.
      const o = r.outputs.find((x) => x.name === 'out')!;
      for (const k of [9, 10]) for (const i of [8, 9]) expect(Object.is(o.gpu[k * N + i], o.ref[k * N + i])).toBe(true);
    },
    T,
  );

  it(
    'shapes, reductions, scans and sorts along each axis (ties, NaN, 3-D permutes)',
    async () => {
      const [R, C] = [8, 16];
      const vals = Array.from({ length: R * C }, (_, i) => ((i * 37) % 11) - 5 + (i % 3 === 0 ? 0.25 : 0));
      vals[5] = Number.NaN;
      vals[40] = Number.NaN;
      const r = await replay(handle!, dev, shapes, 1, {
        x: up('f32', vals),
        out: poison('f32', 4096),
        iout: poison('i32', 2048),
        R,
        C,
      });
      same(r);
    },
    T,
  );

  it(
    'a while loop and a branch carrying tiles, masked scalar stores, atomics returning old values',
    async () => {
      const N = 64;
      const n = 50;
      for (const steps of [0, 3]) {
        const cnt = up('i32', [-100, -100, -100, -100, 0]);
        const r = await replay(handle!, dev, control, 1, {
          x: up(
            'f32',
            Array.from({ length: N }, (_, i) => i / 3 - 4),
          ),
          out: poison('f32', 4 * N),
          cnt,
          amax: up('f32', [0, 0]),
          n,
          steps,
          N,
        });
        // Old values of colliding atomics depend on the order lanes run in: compare the final memory, and the
        // old values as a multiset.
        const out = r.outputs.find((o) => o.name === 'out')!;
        const olds = (v: number[]) => v.slice(2 * N, 2 * N + n).sort((p, q) => p - q);
        expect(olds(out.gpu)).toEqual(olds(out.ref));
        for (const o of r.outputs) {
          if (o.name === 'out') {
            const keep = (v: number[]) => [...v.slice(0, 2 * N), ...v.slice(3 * N)];
            expect(relErr(keep(o.gpu), keep(o.ref))).toBeLessThanOrEqual(1e-6);
          } else expect(o.gpu, o.name).toEqual(o.ref);
        }
      }
    },
    T,
  );

  it(
    'blocks: padding, negative and clipped offsets, strided and 3-D views',
    async () => {
      const [R, C] = [12, 10];
      for (const [r0, c0] of [
        [0, 0],
        [-3, -2],
        [7, 5],
      ]) {
        const r = await replay(handle!, dev, blocks, 1, {
          x: up(
            'f32',
            Array.from({ length: R * C }, (_, i) => i * 0.5 - 7),
          ),
          out: poison('f32', R * C),
          R,
          C,
          r0,
          c0,
        });
        same(r);
      }
    },
    T,
  );

  it(
    'dots: tf32 operands, fp8 operands, bf16 with an accumulator',
    async () => {
      const [M, N, K] = [16, 16, 32];
      const a = Array.from({ length: M * K }, (_, i) => Math.sin(i) * 3);
      const b = Array.from({ length: K * N }, (_, i) => Math.cos(i * 1.3) * 2);
      same(
        await replay(handle!, dev, dots, 1, {
          a: up('f32', a),
          b: up('f32', b),
          out: poison('f32', 3 * M * N),
          M,
          N,
          K,
        }),
      );
    },
    T,
  );

  it(
    'packed bf16 / f16 atomics, and a trap raised at run time recorded as a trap fault',
    async () => {
      const args = (n: number) => ({
        x: up('bf16', [1, 2, 3, 4]),
        h: up('f16', [-100, 5, 100]),
        o: poison('f32', 64),
        n,
        N: 64,
      });
      same(await replay(handle!, dev, trapAndAtomics, 2, args(50)));
      const r = await replay(handle!, dev, trapAndAtomics, 2, args(101));
      expect(r.fault?.site).toBe('trap ');
      expect(r.prog.sites.find((x) => x.kind === 'trap')?.message).toContain('n is too large');
    },
    T,
  );
});
