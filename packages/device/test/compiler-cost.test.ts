/**
 * The cost analysis (compiler/cost): cost records computed from the IR for a grid and scalars, compared with the
 * per-program reference (`analyzeCostByPrograms`: every program alone, loops iterated, nothing summarised or merged)
 * and with counts worked out by hand — masked tails,
 * partial blocks at interior positions, causal loops, grid-stride walks, runtime branches on program ids, faults,
 * data-dependent masks (reported as bounds), SIMT kernels, and grids of a million programs.
 */
import { describe, expect, it } from 'vitest';
import { analyzeCost, analyzeCostByPrograms, costAnalysisStats } from '../src/compiler/cost';
import { compareRecords } from '../src/compiler/cost/shadow-check';
import { compileKernel } from '../src/compiler/pipeline';
import {
  type CostRecord,
  cdiv,
  type Device,
  type Kernel,
  simtKernel,
  type TesseraError,
  tileKernel,
} from '../src/index';
import { testRuntime } from './helpers';

type Args = Record<string, unknown>;
type G3 = [number, number, number];

function g3(grid: number | number[]): G3 {
  const g = typeof grid === 'number' ? [grid] : grid;
  return [g[0] ?? 1, g[1] ?? 1, g[2] ?? 1];
}

type Costing = typeof analyzeCost;

/** Compiles `k` for `args` and costs a launch over `grid` with `cost` (the analysis or the per-program reference). */
function costWith(
  cost: Costing,
  dev: Device,
  k: Kernel,
  args: Args,
  grid: number | number[],
  block: G3 | null = null,
  smem = 0,
): CostRecord {
  const ir = compileKernel(k, args, block, smem).ir;
  return cost(ir, {
    grid: g3(grid),
    block,
    args,
    dynamicSharedBytes: smem,
    kernelName: k.name,
    ownerLabel: dev.label,
    flopsPerThread: k.style === 'simt' ? k.flopsPerThread : 0,
  });
}

type LaunchArgs = [dev: Device, k: Kernel, args: Args, grid: number | number[], block?: G3 | null, smem?: number];
const analysis = (...a: LaunchArgs) => costWith(analyzeCost, ...a);
const byPrograms = (...a: LaunchArgs) => costWith(analyzeCostByPrograms, ...a);

/** The analysis (pieces, summarised loops, merges) and the per-program reference agree exactly. */
function expectSame(
  dev: Device,
  k: Kernel,
  args: Args,
  grid: number | number[],
  block: G3 | null = null,
  smem = 0,
): CostRecord {
  const mine = analysis(dev, k, args, grid, block, smem);
  const theirs = byPrograms(dev, k, args, grid, block, smem);
  expect(compareRecords(mine, theirs)).toBeNull();
  expect(mine.exact).toBe(true);
  return mine;
}

function classCounts(r: CostRecord): number[] {
  return r.classes.map((c) => c.count);
}

function caught(fn: () => unknown): TesseraError {
  try {
    fn();
  } catch (e) {
    return e as TesseraError;
  }
  throw new Error('expected an error');
}

async function device(mode: 'functional' | 'timing' = 'functional'): Promise<Device> {
  return (await testRuntime(mode)).device(0);
}

const vectorAdd = tileKernel(
  { name: 'cost_vector_add', params: { x: 'ptr', y: 'ptr', out: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, out, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const mask = offs.lt(n);
    t.store(out, offs, t.load(x, offs, { mask }).add(t.load(y, offs, { mask })), { mask });
  },
);

/** Persistent (grid-stride) walk over blocks with descriptor loads, as the streaming kernels do. */
const gridStride = tileKernel(
  { name: 'cost_grid_stride', params: { x: 'ptr', out: 'ptr', n: 'i64', BLOCK: 'constexpr' } },
  (t, { x, out, n, BLOCK }) => {
    const X = t.tensor(x, [n]);
    const O = t.tensor(out, [n]);
    for (let i = t.programId(0); i * BLOCK < n; i += t.numPrograms(0)) {
      const v = t.loadBlock(X, [i * BLOCK], [BLOCK]).cast('f32');
      t.storeBlock(O, [i * BLOCK], v.mul(v.sigmoid()));
    }
  },
);

/** 2-D blocks with masked tails along both axes and a K loop, GEMM-shaped. */
const matmul = tileKernel(
  {
    name: 'cost_matmul',
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
    },
  },
  (t, { a, b, c, M, N, K, BM, BN, BK }) => {
    const A = t.tensor(a, [M, K]);
    const B = t.tensor(b, [K, N]);
    const C = t.tensor(c, [M, N]);
    const m0 = t.programId(0) * BM;
    const n0 = t.programId(1) * BN;
    let acc = t.zeros([BM, BN]);
    for (let k = 0; k < K; k += BK)
      acc = t.dot(t.loadBlock(A, [m0, k], [BM, BK]), t.loadBlock(B, [k, n0], [BK, BN]), acc);
    t.storeBlock(C, [m0, n0], acc.mul(2));
  },
);

/** Program i does i+1 steps (causal attention's shape): the cost grows with the program id. */
const triangular = tileKernel(
  { name: 'cost_triangular', params: { x: 'ptr', n: 'i32', B: 'constexpr' } },
  (t, { x, n, B }) => {
    const X = t.tensor(x, [n, B]);
    let acc = t.zeros([B]);
    for (let j = 0; j <= t.programId(0); j++) acc = acc.add(t.reshape(t.loadBlock(X, [j, 0], [1, B]), [B]));
    t.storeBlock(X, [t.programId(0), 0], t.reshape(acc, [1, B]));
  },
);

/** A 3-point stencil with a halo: the first block's halo is clipped at 0, the last at n; masks from index math. */
const stencil = tileKernel(
  { name: 'cost_stencil', params: { x: 'ptr', out: 'ptr', n: 'i32', B: 'constexpr' } },
  (t, { x, out, n, B }) => {
    const X = t.tensor(x, [n]);
    const pid = t.programId(0);
    const halo = t.loadBlock(X, [pid * B - 1], [B + 2]); // clipped at both ends
    const offs = t.arange(0, B).add(pid * B);
    const inside = offs.lt(n);
    const left = t.load(x, offs.sub(1), { mask: offs.ge(1).and(inside) });
    t.store(out, offs, halo.sum().add(left.sum()), { mask: inside });
  },
);

/** A causal mask built from index arithmetic feeding a gather, in a loop whose trip count depends on the program. */
const causal = tileKernel(
  { name: 'cost_causal', params: { k: 'ptr', out: 'ptr', n: 'i32', BM: 'constexpr', BN: 'constexpr' } },
  (t, { k, out, n, BM, BN }) => {
    const m0 = t.programId(0) * BM;
    const rows = t.arange(m0, m0 + BM).expandDims(1); // (BM, 1)
    let acc = t.zeros([BM, BN]);
    for (let n0 = 0; n0 < Math.min(n, m0 + BM); n0 += BN) {
      const cols = t.arange(n0, n0 + BN).expandDims(0); // (1, BN)
      const keep = cols.le(rows).and(cols.lt(n)).and(rows.lt(n));
      acc = acc.add(t.load(k, rows.mul(n).add(cols), { mask: keep }));
    }
    t.store(out, rows.mul(BN).add(t.arange(0, BN).expandDims(0)), acc, { mask: rows.lt(n) });
  },
);

/** Runtime branches on program ids: every third program does extra work; program 0 does something else. */
const branchy = tileKernel(
  { name: 'cost_branchy', params: { x: 'ptr', n: 'i32', B: 'constexpr' } },
  (t, { x, n, B }) => {
    const X = t.tensor(x, [n]);
    const pid = t.programId(0);
    let v = t.loadBlock(X, [pid * B], [B]);
    if (pid % 3 === 0) v = v.exp();
    if (pid === 0) v = v.mul(t.loadBlock(X, [0], [B]));
    t.storeBlock(X, [pid * B], v);
  },
);

describe('cost analysis of tile kernels', () => {
  it('counts a masked tail exactly (and agrees with the per-program reference)', async () => {
    const dev = await device();
    const n = 1000;
    const [x, y, out] = [dev.alloc('f32', n), dev.alloc('f32', n), dev.alloc('f32', n)];
    const r = expectSame(dev, vectorAdd, { x, y, out, n, BLOCK: 128 }, cdiv(n, 128));
    expect(classCounts(r)).toEqual([7, 1]);
    expect(r.total.bytesRead).toBe(2 * n * 4);
    expect(r.total.bytesWritten).toBe(n * 4);
    expect(r.classes[1]!.cost.bytesRead).toBe(2 * (n - 7 * 128) * 4);
  });

  it('summarises grid-stride loops: exact for every grid and size, including more programs than blocks', async () => {
    const dev = await device();
    for (const [n, P, B] of [
      [1000, 3, 64],
      [4096, 7, 64],
      [100, 5, 16],
      [100, 20, 16],
      [1, 4, 8],
    ] as const) {
      const x = dev.alloc('bf16', n);
      const out = dev.alloc('bf16', n);
      const r = expectSame(dev, gridStride, { x, out, n, BLOCK: B }, P);
      expect(r.total.bytesRead).toBe(n * 2);
    }
  });

  it('GEMM-shaped kernels: partial blocks along M, N and K, a summarised K loop', async () => {
    const dev = await device();
    const [M, N, K] = [100, 70, 90];
    const a = dev.alloc('f32', M * K);
    const b = dev.alloc('f32', K * N);
    const c = dev.alloc('f32', M * N);
    const r = expectSame(dev, matmul, { a, b, c, M, N, K, BM: 32, BN: 32, BK: 16 }, [cdiv(M, 32), cdiv(N, 32)]);
    expect(r.total.bytesWritten).toBe(M * N * 4);
    expect(r.resources.dotOperandBytes).toBe(2 * 32 * 16 * 4);
    // A long K loop is summarised, not run iteration by iteration.
    const K2 = 8000;
    const a2 = dev.alloc('f32', M * K2);
    const b2 = dev.alloc('f32', K2 * N);
    const r2 = analysis(dev, matmul, { a: a2, b: b2, c, M, N, K: K2, BM: 32, BN: 32, BK: 16 }, [
      cdiv(M, 32),
      cdiv(N, 32),
    ]);
    expect(costAnalysisStats.summarised).toBeGreaterThan(0);
    expect(costAnalysisStats.ops).toBeLessThan(1000);
    expect(r2.total.bytesRead).toBe(cdiv(N, 32) * M * K2 * 4 + cdiv(M, 32) * K2 * N * 4);
  });

  it('costs that grow with the program id: one class per program, exact totals', async () => {
    const dev = await device();
    const n = 300;
    const x = dev.alloc('f32', n * 8);
    const r = expectSame(dev, triangular, { x, n, B: 8 }, n);
    expect(r.classes.length).toBe(n);
    expect(r.total.bytesRead).toBe(((n * (n + 1)) / 2) * 8 * 4);
  });

  it('halo blocks clipped at both ends and masks from index arithmetic (program 0 and the last differ)', async () => {
    const dev = await device();
    for (const n of [64, 100, 129]) {
      const x = dev.alloc('f32', n);
      const out = dev.alloc('f32', n);
      expectSame(dev, stencil, { x, out, n, B: 16 }, cdiv(n, 16));
    }
  });

  it('causal masks (rows against columns) in loops whose trip count depends on the program', async () => {
    const dev = await device();
    for (const n of [64, 100]) {
      const k = dev.alloc('f32', n * n);
      const out = dev.alloc('f32', n * 16);
      const r = expectSame(dev, causal, { k, out, n, BM: 16, BN: 16 }, cdiv(n, 16));
      // Each row i reads keys 0..i: n(n+1)/2 elements.
      expect(r.total.bytesRead).toBe(((n * (n + 1)) / 2) * 4);
    }
  });

  it('runtime branches on program ids, and a modulus of the program id', async () => {
    const dev = await device();
    const n = 37 * 16;
    const x = dev.alloc('f32', n);
    const r = expectSame(dev, branchy, { x, n, B: 16 }, 37);
    expect(classCounts(r).sort((p, q) => p - q)).toEqual([1, 12, 24]);
  });

  it('a million programs: exact class counts, and the work does not grow with the grid', async () => {
    const dev = await device('timing');
    // The analysis reads only a buffer's length, dtype and identity: stand-ins let the sizes exceed the test chip.
    let id = 0;
    const buf = (dtype: string, length: number) => ({
      dtype,
      length,
      byteLength: length * 4,
      id: `fake${id++}`,
      describe: () => 'fake',
    });
    const counts: number[] = [];
    for (const n of [1000 * 128 - 5, 1_000_000 * 128 - 5]) {
      const [x, y, out] = [buf('f32', n), buf('f32', n), buf('f32', n)];
      const r = analysis(dev, vectorAdd, { x, y, out, n, BLOCK: 128 }, cdiv(n, 128));
      expect(r.programs).toBe(cdiv(n, 128));
      expect(classCounts(r)).toEqual([cdiv(n, 128) - 1, 1]);
      expect(r.total.bytesRead).toBe(2 * n * 4);
      counts.push(costAnalysisStats.ops);
    }
    expect(counts[1]).toBe(counts[0]);
    // A grid-stride walk over 2³⁰ elements with 132 programs: a handful of pieces, whatever the size.
    const ops: number[] = [];
    for (const n of [2 ** 20 + 3, 2 ** 30 + 3]) {
      const r = analysis(dev, gridStride, { x: buf('bf16', n), out: buf('bf16', n), n, BLOCK: 1024 }, 132);
      expect(r.total.bytesRead).toBe(n * 2);
      expect(r.total.memoryOps).toBe(2 * cdiv(n, 1024));
      ops.push(costAnalysisStats.ops);
    }
    expect(ops[1]).toBe(ops[0]);
  });

  it('a repeated launch (same scalars, grid and buffer sizes) is a cache hit', async () => {
    const dev = await device();
    const n = 777;
    const [x, y, out] = [dev.alloc('f32', n), dev.alloc('f32', n), dev.alloc('f32', n)];
    const first = analysis(dev, vectorAdd, { x, y, out, n, BLOCK: 64 }, cdiv(n, 64));
    const hits = costAnalysisStats.cacheHits;
    const again = analysis(dev, vectorAdd, { x, y, out, n, BLOCK: 64 }, cdiv(n, 64));
    expect(costAnalysisStats.cacheHits).toBe(hits + 1);
    // Equal, but copies: a caller changing its record cannot change the cache (or the next launch's record).
    expect(again.classes).toEqual(first.classes);
    expect(again.classes).not.toBe(first.classes);
    first.total.bytesRead = -1;
    expect(analysis(dev, vectorAdd, { x, y, out, n, BLOCK: 64 }, cdiv(n, 64)).total.bytesRead).toBe(2 * n * 4);
    const other = analysis(dev, vectorAdd, { x, y, out, n: 700, BLOCK: 64 }, cdiv(n, 64));
    expect(costAnalysisStats.cacheHits).toBe(hits + 2);
    expect(other.total.bytesWritten).toBe(700 * 4);
  });
});

describe('loops and carried state', () => {
  /** FlashAttention's shape: a carried accumulator that starts as zeros and then holds dot results. */
  const attention = tileKernel(
    {
      name: 'cost_attention',
      params: { q: 'ptr', k: 'ptr', o: 'ptr', n: 'i32', BM: 'constexpr', BN: 'constexpr', D: 'constexpr' },
    },
    (t, { q, k, o, n, BM, BN, D }) => {
      const Q = t.tensor(q, [n, D]);
      const K = t.tensor(k, [n, D]);
      const O = t.tensor(o, [n, D]);
      const m0 = t.programId(0) * BM;
      const qt = t.loadBlock(Q, [m0, 0], [BM, D]);
      const rows = t.arange(m0, m0 + BM).expandDims(1);
      let m = t.full([BM, 1], Number.NEGATIVE_INFINITY);
      let acc = t.zeros([BM, D]);
      for (let n0 = 0; n0 < Math.min(n, m0 + BM); n0 += BN) {
        const kt = t.loadBlock(K, [n0, 0], [BN, D]);
        const cols = t.arange(n0, n0 + BN).expandDims(0);
        const s = t.where(cols.le(rows).and(cols.lt(n)), t.dot(qt, kt.trans()), Number.NEGATIVE_INFINITY);
        const mNew = m.maximum(s.max(1, true));
        acc = t.dot(s.sub(mNew).exp(), kt, acc.mul(m.sub(mNew).exp()));
        m = mNew;
      }
      t.storeBlock(O, [m0, 0], acc);
    },
  );

  /** A loop with an early exit on a runtime condition: a while loop with tile ops inside. */
  const early = tileKernel(
    { name: 'cost_early_exit', params: { x: 'ptr', n: 'i32', stop: 'i32', B: 'constexpr' } },
    (t, { x, n, stop, B }) => {
      const X = t.tensor(x, [n]);
      let acc = t.zeros([B]);
      for (let i = t.programId(0); i < n; i += B) {
        if (i >= stop) break;
        acc = acc.add(t.loadBlock(X, [i], [B]));
      }
      t.storeBlock(X, [t.programId(0) * B], acc);
    },
  );

  /** Nested summarised loops (rows × column blocks) under a grid-stride walk, with an integer division of offsets. */
  const nested = tileKernel(
    {
      name: 'cost_nested',
      params: { x: 'ptr', pos: 'ptr<i32>', rows: 'i32', cols: 'i32', heads: 'i32', BR: 'constexpr', BC: 'constexpr' },
    },
    (t, { x, pos, rows, cols, heads, BR, BC }) => {
      const X = t.tensor(x, [rows, cols]);
      for (let r = t.programId(0) * BR; r < rows; r += t.numPrograms(0) * BR) {
        const rowIdx = t.arange(r, r + BR);
        const p = t.load(pos, rowIdx.idiv(heads), { mask: rowIdx.lt(rows) });
        for (let c = 0; c < cols; c += BC) {
          const v = t.loadBlock(X, [r, c], [BR, BC]);
          t.storeBlock(X, [r, c], v.add(p.cast('f32').expandDims(1)));
        }
      }
    },
  );

  it('carried dot accumulators (peeled, then summarised) and causal masks: exact resources and counts', async () => {
    const dev = await device();
    for (const n of [64, 70, 128]) {
      const [q, k, o] = [dev.alloc('f32', n * 16), dev.alloc('f32', n * 16), dev.alloc('f32', n * 16)];
      expectSame(dev, attention, { q, k, o, n, BM: 16, BN: 8, D: 16 }, cdiv(n, 16));
    }
  });

  it('early exits under runtime conditions', async () => {
    const dev = await device();
    const n = 200;
    const x = dev.alloc('f32', n);
    for (const stop of [0, 50, 130, 1000]) expectSame(dev, early, { x, n, stop, B: 16 }, 9);
  });

  it('nested loops, and offsets divided by a runtime scalar', async () => {
    const dev = await device();
    for (const [rows, cols, P] of [
      [100, 70, 3],
      [64, 64, 8],
      [37, 200, 5],
    ] as const) {
      const x = dev.alloc('f32', rows * cols);
      const pos = dev.alloc('i32', rows);
      expectSame(dev, nested, { x, pos, rows, cols, heads: 4, BR: 8, BC: 32 }, P);
    }
  });
});

describe('masks and offsets that depend on loaded data', () => {
  const gather = tileKernel(
    { name: 'cost_gather', params: { ids: 'ptr<i32>', table: 'ptr', out: 'ptr', n: 'i32', B: 'constexpr' } },
    (t, { ids, table, out, n, B }) => {
      const offs = t.arange(0, B).add(t.programId(0) * B);
      const inRange = offs.lt(n);
      const id = t.load(ids, offs, { mask: inRange, other: -1 });
      const ok = id.ge(0); // from data
      // Offsets from data, mask partly from data: the index part still limits the lanes.
      const v = t.load(table, id, { mask: ok.and(inRange) });
      t.store(out, offs, v, { mask: inRange });
    },
  );

  it('counts every lane index arithmetic does not rule out, and reports the op as a bound', async () => {
    const dev = await device();
    const n = 100;
    const ids = dev.alloc('i32', n);
    dev.upload(
      ids,
      Array.from({ length: n }, (_, i) => (i % 2 ? i : -1)),
    );
    const table = dev.alloc('f32', n);
    const out = dev.alloc('f32', n);
    const args = { ids, table, out, n, B: 32 };
    const r = analysis(dev, gather, args, 4) as CostRecord & { bounds?: { op: string; snippet: string }[] };
    // Bound: every in-range lane of the data-masked load (a run reads only the odd ones: n / 2 of them).
    expect(r.total.bytesRead).toBe(n * 4 + n * 4);
    expect(r.bounds).toEqual([
      expect.objectContaining({ op: 'mem.load', snippet: expect.stringContaining('ok.and(inRange)') }),
    ]);
    expect(r.total.bytesWritten).toBe(n * 4);
  });
});

describe('faults the analysis raises', () => {
  const view = tileKernel(
    { name: 'cost_view', params: { x: 'ptr', rows: 'i32', B: 'constexpr' } },
    (t, { x, rows, B }) => {
      const X = t.tensor(x, [rows, B], undefined, t.programId(0) * B);
      t.storeBlock(X, [0, 0], t.loadBlock(X, [0, 0], [1, B]));
    },
  );

  it('a view past the end of its buffer: IllegalAddress, in timing-only mode too, for the first program that hits it', async () => {
    const dev = await device();
    const x = dev.alloc('f32', 100);
    const args = { x, rows: 2, B: 10 };
    const mine = caught(() => analysis(dev, view, args, 10));
    const timing = await device('timing');
    const tx = timing.alloc('f32', 100);
    const theirs = caught(() => timing.launch(view, { grid: 10 }, { ...args, x: tx }));
    expect(mine.code).toBe('IllegalAddress');
    // Program 9 is the first whose view (offset 90, 20 elements) passes the end of the 100 elements.
    expect(mine.message).toMatch(
      /program \(9, 0, 0\): tensor: a \[2, 10\] view with strides \[10, 1\] at offset 90 reaches element 109/,
    );
    expect(theirs.code).toBe('IllegalAddress');
    expect(mine.message.replace(/#\d+/g, '#')).toBe(theirs.message.replace(/#\d+/g, '#'));
  });

  it('an unmasked gather out of bounds: the first faulting program and lane', async () => {
    const dev = await device();
    const oob = tileKernel({ name: 'cost_oob', params: { x: 'ptr', B: 'constexpr' } }, (t, { x, B }) => {
      const offs = t.arange(0, B).add(t.programId(0) * B + 3);
      t.store(x, offs, t.load(x, offs.sub(3)));
    });
    const x = dev.alloc('f32', 64);
    const e = caught(() => analysis(dev, oob, { x, B: 16 }, 4));
    expect(e.code).toBe('IllegalAddress');
    expect(e.message).toContain("kernel 'cost_oob' program (3, 0, 0): store of");
    expect(e.message).toContain('at element 64 is out of bounds (valid 0..63)');
  });

  it('a throw reached under a runtime condition is a LaunchFailure naming the program', async () => {
    const dev = await device();
    const trap = tileKernel({ name: 'cost_trap', params: { x: 'ptr', bad: 'i32' } }, (t, { x, bad }) => {
      if (t.programId(0) === bad) throw new Error('boom');
      t.store(x, t.programId(0), 1);
    });
    const x = dev.alloc('f32', 64);
    const e = caught(() => analysis(dev, trap, { x, bad: 5 }, 64));
    expect(e.code).toBe('LaunchFailure');
    expect(e.message).toMatch(/^kernel 'cost_trap' program \(5, 0, 0\) threw Error: boom\./);
    expect(analysis(dev, trap, { x, bad: 100 }, 64).total.bytesWritten).toBe(64 * 4);
  });
});

describe('cost analysis of SIMT kernels', () => {
  const vadd = simtKernel(
    { name: 'cost_simt_vadd', params: { x: 'ptr', y: 'ptr', out: 'ptr', n: 'i32' }, flopsPerThread: 1 },
    (k, { x, y, out, n }) => {
      const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
      if (i < n) out.set(i, x.get(i) + y.get(i));
    },
  );

  const strided = simtKernel(
    { name: 'cost_simt_grid_stride', params: { x: 'ptr', out: 'ptr', n: 'i32' } },
    (k, { x, out, n }) => {
      for (let i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x; i < n; i += k.gridDim.x * k.blockDim.x) {
        out.set(i, x.get(i) * 2);
        k.countFlops(1);
      }
    },
  );

  const reduce = simtKernel(
    {
      name: 'cost_simt_reduce',
      params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32' },
      shared: { part: ['f32', 128] },
      flopsPerThread: 1,
    },
    function* (k, { x, out, n }) {
      const tid = k.threadIdx.x;
      const i = k.blockIdx.x * k.blockDim.x + tid;
      const part = k.shared.part!;
      part[tid] = i < n ? x.get(i) : 0;
      yield k.syncthreads();
      for (let s = k.blockDim.x >> 1; s > 0; s >>= 1) {
        if (tid < s) part[tid] += part[tid + s]!;
        yield k.syncthreads();
      }
      if (tid === 0) out.atomicAdd(0, part[0]!);
    },
  );

  const positive = simtKernel(
    { name: 'cost_simt_data_branch', params: { x: 'ptr', out: 'ptr', n: 'i32' } },
    (k, { x, out, n }) => {
      const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
      if (i < n && x.get(i) > 0) out.set(i, 1);
    },
  );

  it('per-thread accesses summed over threads, a masked last block, FLOPs counted from the arithmetic', async () => {
    const dev = await device();
    const n = 1000;
    const [x, y, out] = [dev.alloc('f32', n), dev.alloc('f32', n), dev.alloc('f32', n)];
    const r = expectSame(dev, vadd, { x, y, out, n }, cdiv(n, 128), [128, 1, 1]);
    expect(r.total.bytesRead).toBe(2 * n * 4);
    // One add per thread that passes i < n (the deprecated flopsPerThread: 1 is ignored, not added).
    expect(r.total.vectorOps[0]).toBe(n);
  });

  it('grid-stride loops per thread, with countFlops', async () => {
    const dev = await device();
    for (const [n, blocks] of [
      [1000, 3],
      [5000, 7],
      [100, 2],
    ] as const) {
      const x = dev.alloc('f32', n);
      const out = dev.alloc('f32', n);
      const r = expectSame(dev, strided, { x, out, n }, blocks, [64, 1, 1]);
      expect(r.total.memoryOps).toBe(2 * n);
    }
  });

  it('shared memory, barriers and an atomic per block', async () => {
    const dev = await device();
    const n = 1000;
    const x = dev.alloc('f32', n);
    const out = dev.alloc('f32', 1);
    const r = expectSame(dev, reduce, { x, out, n }, cdiv(n, 128), [128, 1, 1]);
    expect(r.total.atomicOps).toBe(cdiv(n, 128));
    expect(r.resources.sharedMemoryBytes).toBe(128 * 4);
  });

  it('a branch on loaded data counts the costlier side and is reported as a bound', async () => {
    const dev = await device();
    const n = 200;
    const x = dev.alloc('f32', n);
    dev.upload(
      x,
      Array.from({ length: n }, (_, i) => (i % 4 ? -1 : 1)),
    );
    const out = dev.alloc('f32', n);
    const r = analysis(dev, positive, { x, out, n }, 2, [128, 1, 1]) as CostRecord & { bounds?: unknown[] };
    expect(r.total.bytesRead).toBe(n * 4);
    expect(r.total.bytesWritten).toBe(n * 4); // the bound: every thread that reads may write
    expect(r.bounds?.length).toBe(1);
  });

  it('a shared-memory index out of range: the first thread in phase order', async () => {
    const dev = await device();
    const bad = simtKernel(
      { name: 'cost_shared_oob', params: { out: 'ptr' }, shared: { tile: ['f32', 32] } },
      function* (k, { out }) {
        const t = k.threadIdx.x;
        k.shared.tile![t] = t;
        yield k.syncthreads();
        out.set(t, k.shared.tile![t + 1]!);
      },
    );
    const out = dev.alloc('f32', 32);
    const mine = caught(() => analysis(dev, bad, { out }, 1, [32, 1, 1]));
    expect(mine.code).toBe('IllegalAddress');
    expect(mine.message).toMatch(
      /^kernel 'cost_shared_oob' block \(0, 0, 0\) thread \(31, 0, 0\): read of shared array 'tile' \(f32\[32\]\) at index 32 is out of bounds \(valid 0\.\.31\)/,
    );
  });

  it('an out-of-bounds access names the first faulting block and thread', async () => {
    const dev = await device();
    const oob = simtKernel({ name: 'cost_simt_oob', params: { x: 'ptr' } }, (k, { x }) => {
      x.set(k.blockIdx.x * k.blockDim.x + k.threadIdx.x + 5, 1);
    });
    const x = dev.alloc('f32', 100);
    const e = caught(() => analysis(dev, oob, { x }, 4, [32, 1, 1]));
    expect(e.code).toBe('IllegalAddress');
    expect(e.message).toContain("kernel 'cost_simt_oob' block (2, 0, 0) thread (31, 0, 0): write of");
    expect(e.message).toContain('at index 100 is out of bounds (valid 0..99)');
  });
});

describe('pieces', () => {
  // A scan over host-array sequence lengths, as varlen attention finds its sequence: programs end the scan at
  // different iterations, then merge back into one piece when the sequences look alike.
  const scan = tileKernel(
    { name: 'cost_scan', params: { x: 'ptr', starts: 'i32[]', B: 'constexpr' } },
    (t, { x, starts, B }) => {
      let blk = t.programId(0);
      let s = 0;
      for (; s < starts.length - 1; s++) {
        const nb = Math.ceil((starts[s + 1]! - starts[s]!) / B);
        if (blk < nb) break;
        blk -= nb;
      }
      const start = starts[s]!;
      const len = starts[s + 1]! - start;
      const X = t.tensor(x, [len], undefined, start);
      t.storeBlock(X, [blk * B], t.loadBlock(X, [blk * B], [B]).add(1));
    },
  );

  it('sequences of equal length merge into one piece; unequal ones keep their classes', async () => {
    const dev = await device();
    const x = dev.alloc('f32', 4000);
    const equal = Array.from({ length: 101 }, (_, i) => i * 16);
    const r = expectSame(dev, scan, { x, starts: equal, B: 16 }, 100);
    expect(classCounts(r)).toEqual([100]);
    expect(costAnalysisStats.pieces).toBe(1);
    const lens = [5, 40, 16, 33, 1];
    const starts = [0];
    for (const l of lens) starts.push(starts[starts.length - 1]! + l);
    const blocks = lens.reduce((a, l) => a + cdiv(l, 16), 0);
    expectSame(dev, scan, { x, starts, B: 16 }, blocks);
  });
});
