/**
 * The warp-level cost of SIMT kernels (compiler/cost/warp.ts): 32-byte sectors and 128-byte lines per warp access
 * (coalescing), shared-memory bank conflicts (the three transposes of Mark Harris's "An Efficient Matrix Transpose in
 * CUDA C/C++"), divergence, same-address atomics, FLOPs counted from the arithmetic, and the sampling of large
 * launches against exact mode. Every expected count is derived here from the kernel's access pattern — thread
 * t of a block is lane t % 32 of warp ⌊t / 32⌋ — never read back from a timing. The modelled times these counters
 * give on an H100 are tested in @tessera/backend-nvidia-sim (test/simt-memory.test.ts).
 */
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type CostRecord, type Device, type Kernel, simtKernel } from '../src/index';
import { testRuntime } from './helpers';

async function device(mode: 'functional' | 'timing' = 'timing'): Promise<Device> {
  return (await testRuntime(mode)).device(0);
}

type G3 = [number, number, number];

function cost(dev: Device, k: Kernel, grid: G3, block: G3, args: Record<string, unknown>, exact?: boolean): CostRecord {
  return dev.launch(k, { grid, block, ...(exact === undefined ? {} : { exact }) }, args).cost;
}

/**
 * Over every warp of a launch (blocks in launch order, 32 lanes of consecutive linear thread ids): Σ per warp of
 * `f(lanes' values)`, where `at(block, thread)` gives a lane's value (null: the lane does not access).
 */
function sumOverWarps(
  grid: G3,
  block: G3,
  at: (b: G3, t: G3) => number | null,
  f: (values: number[]) => number,
): number {
  const T = block[0] * block[1] * block[2];
  let total = 0;
  for (let bz = 0; bz < grid[2]; bz++)
    for (let by = 0; by < grid[1]; by++)
      for (let bx = 0; bx < grid[0]; bx++)
        for (let w = 0; w * 32 < T; w++) {
          const vals: number[] = [];
          for (let l = 0; l < 32 && w * 32 + l < T; l++) {
            const t = w * 32 + l;
            const tid: G3 = [t % block[0], Math.floor(t / block[0]) % block[1], Math.floor(t / (block[0] * block[1]))];
            const v = at([bx, by, bz], tid);
            if (v !== null) vals.push(v);
          }
          if (vals.length) total += f(vals);
        }
  return total;
}

const distinctBy = (gran: number) => (bytes: number[]) => new Set(bytes.map((a) => Math.floor(a / gran))).size;
/** Bank-conflict degree: the most distinct 4-byte words in one of 32 banks. */
const conflictDegree = (words: number[]) => {
  const perBank = new Map<number, Set<number>>();
  for (const w of words) {
    const b = w % 32;
    if (!perBank.has(b)) perBank.set(b, new Set());
    perBank.get(b)!.add(w);
  }
  return Math.max(...[...perBank.values()].map((s) => s.size));
};

describe('coalescing: 32-byte sectors and 128-byte lines per warp access', () => {
  const gather = simtKernel(
    { name: 'simt_cost_gather', params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32', S: 'i32' } },
    (k, { x, out, n, S }) => {
      const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
      if (i < n) out.set(i, x.get(i * S));
    },
  );

  it('coalesced, strided and misaligned reads touch the sectors their addresses give', async () => {
    const dev = await device();
    const n = 4000; // the last block is partial: lanes past n do not access
    const block: G3 = [256, 1, 1];
    const grid: G3 = [Math.ceil(n / 256), 1, 1];
    for (const S of [1, 2, 3, 8, 33]) {
      for (const offset of [0, 1, 5]) {
        const base = dev.alloc('f32', n * S + 8);
        const x = offset ? base.view(offset, n * S) : base;
        const out = dev.alloc('f32', n);
        const r = cost(dev, gather, grid, block, { x, out, n, S });
        const i = (b: G3, t: G3) => b[0] * 256 + t[0];
        const readAt = (b: G3, t: G3) => (i(b, t) < n ? 4 * (offset + i(b, t) * S) : null);
        const writeAt = (b: G3, t: G3) => (i(b, t) < n ? 4 * i(b, t) : null);
        const s = r.total.simt;
        expect(s.sectorsRead, `S ${S} offset ${offset}`).toBe(sumOverWarps(grid, block, readAt, distinctBy(32)));
        expect(s.sectorsWritten).toBe(sumOverWarps(grid, block, writeAt, distinctBy(32)));
        const lines =
          sumOverWarps(grid, block, readAt, distinctBy(128)) + sumOverWarps(grid, block, writeAt, distinctBy(128));
        expect(s.l2Requests).toBe(lines);
        expect(s.globalRequests).toBe(2 * sumOverWarps(grid, block, readAt, () => 1));
        expect(r.exact).toBe(true);
        dev.free(base);
        dev.free(out);
      }
    }
  });

  it('a coalesced f32 warp access is 4 sectors in 1 line; a stride of 8 floats, 32 sectors in 8 lines', async () => {
    const dev = await device();
    const n = 32 * 64;
    const grid: G3 = [n / 128, 1, 1];
    const block: G3 = [128, 1, 1];
    const warps = n / 32;
    const run = (S: number) => {
      const x = dev.alloc('f32', n * S);
      return cost(dev, gather, grid, block, { x, out: dev.alloc('f32', n), n, S }).total.simt;
    };
    const unit = run(1);
    expect([unit.sectorsRead, unit.l2Requests]).toEqual([4 * warps, 2 * warps]);
    const strided = run(8);
    expect([strided.sectorsRead, strided.l2Requests]).toEqual([32 * warps, 8 * warps + warps]);
  });
});

// "An Efficient Matrix Transpose in CUDA C/C++" (Mark Harris, NVIDIA Developer Blog, 2013): 32×32 tiles, 32×8 threads.
const TILE_DIM = 32;
const BLOCK_ROWS = 8;
const tparams = { odata: 'ptr<f32>', idata: 'ptr<f32>', width: 'i32', height: 'i32' } as const;

const transposeNaive = simtKernel(
  { name: 'harris_transpose_naive', params: tparams, uses: { TILE_DIM, BLOCK_ROWS } },
  (k, { odata, idata, width }) => {
    const x = k.blockIdx.x * TILE_DIM + k.threadIdx.x;
    const y = k.blockIdx.y * TILE_DIM + k.threadIdx.y;
    for (let j = 0; j < TILE_DIM; j += BLOCK_ROWS) odata.set(x * width + (y + j), idata.get((y + j) * width + x));
  },
);

function sharedTranspose(name: string, pitch: number) {
  return simtKernel(
    { name, params: tparams, shared: { tile: ['f32', TILE_DIM * pitch] }, uses: { TILE_DIM, BLOCK_ROWS, pitch } },
    function* (k, { odata, idata, width }) {
      const tile = k.shared.tile!;
      let x = k.blockIdx.x * TILE_DIM + k.threadIdx.x;
      let y = k.blockIdx.y * TILE_DIM + k.threadIdx.y;
      for (let j = 0; j < TILE_DIM; j += BLOCK_ROWS)
        tile[(k.threadIdx.y + j) * pitch + k.threadIdx.x] = idata.get((y + j) * width + x);
      yield k.syncthreads();
      x = k.blockIdx.y * TILE_DIM + k.threadIdx.x; // transpose block offset
      y = k.blockIdx.x * TILE_DIM + k.threadIdx.y;
      for (let j = 0; j < TILE_DIM; j += BLOCK_ROWS)
        odata.set((y + j) * width + x, tile[k.threadIdx.x * pitch + k.threadIdx.y + j]!);
    },
  );
}

/** transposeCoalesced: `__shared__ float tile[32][32]`; reading a column of it hits one bank 32 times. */
const transposeCoalesced = sharedTranspose('harris_transpose_coalesced', TILE_DIM);
/** transposeNoBankConflicts: `tile[32][33]`; a column spans all 32 banks. */
const transposeNoBankConflicts = sharedTranspose('harris_transpose_no_bank_conflicts', TILE_DIM + 1);

describe('shared-memory bank conflicts: the three transposes of "An Efficient Matrix Transpose in CUDA C/C++"', () => {
  it('naive: strided stores, one sector per lane; shared: 32-way conflicts unpadded, none padded', async () => {
    const dev = await device();
    const N = 96;
    const grid: G3 = [N / TILE_DIM, N / TILE_DIM, 1];
    const block: G3 = [TILE_DIM, BLOCK_ROWS, 1];
    const args = { odata: dev.alloc('f32', N * N), idata: dev.alloc('f32', N * N), width: N, height: N };
    /** Σ over the loop's 4 rows j of Σ over warps of f(lanes' values at row j). */
    const overRows = (at: (b: G3, t: G3, j: number) => number, f: (v: number[]) => number) => {
      let s = 0;
      for (let j = 0; j < TILE_DIM; j += BLOCK_ROWS) s += sumOverWarps(grid, block, (b, t) => at(b, t, j), f);
      return s;
    };
    const inAt = (b: G3, t: G3, j: number) => 4 * ((b[1] * TILE_DIM + t[1] + j) * N + b[0] * TILE_DIM + t[0]);
    const naiveOutAt = (b: G3, t: G3, j: number) => 4 * ((b[0] * TILE_DIM + t[0]) * N + b[1] * TILE_DIM + t[1] + j);

    const naive = cost(dev, transposeNaive, grid, block, args).total.simt;
    expect(naive.sectorsRead).toBe(overRows(inAt, distinctBy(32)));
    expect(naive.sectorsWritten).toBe(overRows(naiveOutAt, distinctBy(32)));
    expect(naive.sectorsWritten).toBe(8 * naive.sectorsRead); // 32 sectors per warp store against 4 per load
    expect(naive.sharedRequests).toBe(0);

    for (const [k, pitch] of [
      [transposeCoalesced, TILE_DIM],
      [transposeNoBankConflicts, TILE_DIM + 1],
    ] as const) {
      const s = cost(dev, k, grid, block, args).total.simt;
      const storeWords = (_b: G3, t: G3, j: number) => (t[1] + j) * pitch + t[0];
      const loadWords = (_b: G3, t: G3, j: number) => t[0] * pitch + t[1] + j;
      const wavefronts = overRows(storeWords, conflictDegree) + overRows(loadWords, conflictDegree);
      expect(s.sharedWavefronts, k.name).toBe(wavefronts);
      expect(s.sectorsRead).toBe(naive.sectorsRead);
      expect(s.sectorsWritten).toBe(naive.sectorsRead); // both global accesses walk rows
      const warpRows = (N / TILE_DIM) ** 2 * BLOCK_ROWS * (TILE_DIM / BLOCK_ROWS);
      expect(s.sharedRequests).toBe(2 * warpRows);
      // Unpadded: each column read is 32 words of one bank; padded: one wavefront per access.
      expect(s.sharedWavefronts).toBe(pitch === TILE_DIM ? warpRows * (1 + 32) : 2 * warpRows);
    }
  });

  it('functional and timing-only launches give the same records', async () => {
    const [f, t] = [await device('functional'), await device('timing')];
    const N = 64;
    for (const k of [transposeNaive, transposeCoalesced, transposeNoBankConflicts]) {
      const rec = (dev: Device) =>
        cost(dev, k, [N / 32, N / 32, 1], [32, 8, 1], {
          odata: dev.alloc('f32', N * N),
          idata: dev.alloc('f32', N * N),
          width: N,
          height: N,
        });
      const [a, b] = [rec(f), rec(t)];
      expect(isDeepStrictEqual(a.total.toJSON(), b.total.toJSON())).toBe(true);
      expect(a.simt).toEqual(b.simt);
    }
  });
});

describe('divergence', () => {
  const branchy = (name: string, divergent: boolean) =>
    simtKernel({ name, params: { x: 'ptr<f32>', out: 'ptr<f32>' }, uses: { divergent } }, (k, { x, out }) => {
      const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
      const v = x.get(i);
      // Divergent: pairs of lanes alternate sides. Uniform: whole warps (32 threads) take one side. The same two
      // instructions either way.
      const side = divergent ? (k.threadIdx.x >> 1) % 2 : (k.threadIdx.x >> 5) % 2;
      let r = v;
      if (side === 0) r = ((r * 1.5 + 2) * r - 3) * r + 4;
      else r = ((r * 0.5 - 1) * r + 6) * r - 2;
      out.set(i, r);
    });
  const divergent = branchy('simt_cost_divergent', true);
  const uniform = branchy('simt_cost_uniform', false);

  it('a warp whose lanes disagree issues both sides; one whose lanes agree issues one', async () => {
    const dev = await device();
    const grid: G3 = [8, 1, 1];
    const block: G3 = [256, 1, 1];
    const args = { x: dev.alloc('f32', 2048), out: dev.alloc('f32', 2048) };
    const d = cost(dev, divergent, grid, block, args).total;
    const u = cost(dev, uniform, grid, block, args).total;
    const warps = 8 * 8;
    expect(d.simt.divergentBranches).toBe(warps);
    expect(u.simt.divergentBranches).toBe(0);
    // Same arithmetic per thread (6 FLOPs on either side), so the same FLOPs …
    expect(d.vectorOpsOf('f32')).toBe(6 * 2048);
    expect(u.vectorOpsOf('f32')).toBe(d.vectorOpsOf('f32'));
    // … but the divergent warps issue the other side too: 3 FMAs (the multiplies contract into the adds).
    expect(d.simt.warpInstructions - u.simt.warpInstructions).toBe(3 * warps);
  });
});

describe('atomics', () => {
  const histogram = (name: string, skewed: boolean) =>
    simtKernel({ name, params: { hist: 'ptr<i32>', n: 'i32' }, uses: { skewed } }, (k, { hist, n }) => {
      const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
      // The bin follows from the index, so the analysis sees it (bins from loaded data would be taken as spread).
      // Uniform: 256 bins in turn. Skewed: 90 % of the values in bin 0, the rest spread as before.
      const bin = skewed ? (i % 10 === 0 ? i % 256 : 0) : i % 256;
      if (i < n) hist.atomicAdd(bin, 1);
    });
  const uniform = histogram('simt_cost_hist_uniform', false);
  const skewed = histogram('simt_cost_hist_skewed', true);

  it('same-address lanes of a warp serialise; the hottest address is counted over the launch', async () => {
    const dev = await device();
    const n = 8192;
    const grid: G3 = [n / 256, 1, 1];
    const block: G3 = [256, 1, 1];
    const hist = dev.alloc('i32', 256);
    const bins = { uniform: (i: number) => i % 256, skewed: (i: number) => (i % 10 === 0 ? i % 256 : 0) };
    for (const [k, bin] of [
      [uniform, bins.uniform],
      [skewed, bins.skewed],
    ] as const) {
      const r = cost(dev, k, grid, block, { hist, n });
      const at = (b: G3, t: G3) => bin(b[0] * 256 + t[0]);
      // Per warp: one request per 128-byte line, plus one per further update of the line's most-updated address.
      const requests = (binsOfWarp: number[]) => {
        const byLine = new Map<number, Map<number, number>>();
        for (const b of binsOfWarp) {
          const line = Math.floor((4 * b) / 128);
          const m = byLine.get(line) ?? new Map<number, number>();
          m.set(b, (m.get(b) ?? 0) + 1);
          byLine.set(line, m);
        }
        return [...byLine.values()].reduce((s, m) => s + Math.max(...m.values()), 0);
      };
      expect(r.total.simt.l2Requests, k.name).toBe(sumOverWarps(grid, block, at, requests));
      const counts = new Map<number, number>();
      for (let i = 0; i < n; i++) counts.set(bin(i), (counts.get(bin(i)) ?? 0) + 1);
      expect(r.simt?.hotAtomicUpdates).toBe(Math.max(...counts.values()));
      expect(r.total.atomicOps).toBe(n);
    }
  });
});

describe('shared-memory atomics', () => {
  /** A per-block sub-histogram in shared memory (the shared-atomics pattern), merged with one global add per bin. */
  const sharedHistogram = (name: string, skewed: boolean) =>
    simtKernel(
      { name, params: { hist: 'ptr<i32>', n: 'i32' }, shared: { s: ['u32', 256] }, uses: { skewed } },
      function* (k, { hist, n }) {
        const s = k.shared.s!;
        const t = k.threadIdx.x;
        s[t] = 0;
        yield k.syncthreads();
        const i = k.blockIdx.x * k.blockDim.x + t;
        const bin = skewed ? (i % 10 === 0 ? i % 256 : 0) : i % 256;
        if (i < n) s.atomicAdd(bin, 1);
        yield k.syncthreads();
        hist.atomicAdd(t, s[t]!);
      },
    );

  it('lanes of a warp updating one word serialise (one wavefront each); distinct banks take one', async () => {
    const dev = await device();
    const n = 8192;
    const grid: G3 = [n / 256, 1, 1];
    const block: G3 = [256, 1, 1];
    const hist = dev.alloc('i32', 256);
    const bins = { uniform: (i: number) => i % 256, skewed: (i: number) => (i % 10 === 0 ? i % 256 : 0) };
    const warps = (n / 256) * 8;
    const lanesPerBank = (words: number[]) => {
      const c = new Map<number, number>();
      for (const w of words) c.set(w % 32, (c.get(w % 32) ?? 0) + 1);
      return Math.max(...c.values());
    };
    for (const [name, bin] of Object.entries(bins)) {
      const r = cost(dev, sharedHistogram(`simt_cost_shared_hist_${name}`, name === 'skewed'), grid, block, {
        hist,
        n,
      });
      const atomics = sumOverWarps(grid, block, (b, t) => bin(b[0] * 256 + t[0]), lanesPerBank);
      // The clear (s[t] = 0), the read for the merge (s[t]): one wavefront per warp each; then the atomics.
      expect(r.total.simt.sharedWavefronts, name).toBe(2 * warps + atomics);
      if (name === 'uniform') expect(atomics).toBe(warps);
      else expect(atomics).toBeGreaterThan(25 * warps);
    }
  });
});

describe('FLOPs counted from the arithmetic', () => {
  it('equal a hand count', async () => {
    const dev = await device();
    const n = 1000;
    const K = 37;
    const x = dev.alloc('f32', n);
    const y = dev.alloc('f32', n);
    const grid: G3 = [4, 1, 1];
    const block: G3 = [256, 1, 1];
    const cases: [Kernel, Record<string, unknown>, number, number][] = [
      [
        // y = a·x + y: a multiply and an add per element (a contracted FMA is still 2 FLOPs); index math is not.
        simtKernel(
          { name: 'flops_saxpy', params: { x: 'ptr<f32>', y: 'ptr<f32>', a: 'f32', n: 'i32' } },
          (k, { x, y, a, n }) => {
            const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
            if (i < n) y.set(i, a * x.get(i) + y.get(i));
          },
        ),
        { x, y, a: 2, n },
        2 * n,
        0,
      ],
      [
        // ×, +, sqrt, −, ÷: 5 FLOPs, sqrt and ÷ on the special-function units too; Math.fround rounds to f32 (free
        // on a GPU) and is none.
        simtKernel({ name: 'flops_special', params: { x: 'ptr<f32>', n: 'i32' } }, (k, { x, n }) => {
          const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
          if (i < n) {
            const v = x.get(i);
            x.set(i, Math.fround(Math.sqrt(Math.fround(v * v + 1)) / (v - 3)));
          }
        }),
        { x, n },
        5 * n,
        2 * n,
      ],
      [
        // A runtime-length loop: 2 FLOPs per iteration, K iterations, for every thread of the launch; the deprecated
        // countFlops declaration adds nothing.
        simtKernel({ name: 'flops_loop', params: { x: 'ptr<f32>', K: 'i32' } }, (k, { x, K }) => {
          const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
          let acc = 0;
          for (let j = 0; j < K; j++) acc = acc * 0.5 + j;
          k.countFlops(1000);
          if (i < 1000) x.set(i, acc);
        }),
        { x, K },
        2 * K * 4 * 256,
        0,
      ],
    ];
    for (const [k, args, flops, special] of cases) {
      const r = cost(dev, k, grid, block, args);
      expect(r.total.vectorOpsOf('f32'), k.name).toBe(flops);
      expect(r.total.totalVectorOps).toBe(flops);
      expect(r.total.specialOps).toBe(special);
    }
  });
});

describe('sampling of large launches, and exact mode', () => {
  const shifted = simtKernel(
    { name: 'simt_cost_shifted', params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32' } },
    (k, { x, out, n }) => {
      const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
      // Each block reads with its own misalignment (0–6 floats) and every thread's stride is 5: sectors per warp
      // differ between blocks, so a sample of blocks is an estimate.
      if (i < n) out.set(i, x.get(i * 5 + (k.blockIdx.x % 7)));
    },
  );
  const walk = simtKernel(
    { name: 'simt_cost_walk', params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32', S: 'i32' } },
    (k, { x, out, n, S }) => {
      // A grid-stride loop of many iterations, read at a stride of S (misaligned differently in each iteration).
      let acc = 0;
      for (let i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x; i < n; i += k.gridDim.x * k.blockDim.x)
        acc += x.get(i * S);
      out.set(k.blockIdx.x * k.blockDim.x + k.threadIdx.x, acc);
    },
  );
  const rel = (a: number, b: number) => Math.abs(a - b) / b;

  it('sampled blocks: within 2 % of every block, and within the reported standard error', async () => {
    const dev = await device();
    const blocks = 4096;
    const n = blocks * 256;
    const args = { x: dev.alloc('f32', 5 * n + 8), out: dev.alloc('f32', n), n };
    const grid: G3 = [blocks, 1, 1];
    const block: G3 = [256, 1, 1];
    const sampled = cost(dev, shifted, grid, block, args);
    const exact = cost(dev, shifted, grid, block, args, true);
    expect(sampled.exact).toBe(false);
    expect(exact.exact).toBe(true);
    expect(exact.simt!.blocksEvaluated).toBe(blocks);
    expect(sampled.simt!.blocksEvaluated).toBeLessThan(blocks / 8);
    // Exact: every block's sectors from its addresses.
    const readAt = (b: G3, t: G3) => 4 * ((b[0] * 256 + t[0]) * 5 + (b[0] % 7));
    expect(exact.total.simt.sectorsRead).toBe(sumOverWarps(grid, block, readAt, distinctBy(32)));
    const se = sampled.simt!.relStdErr;
    expect(se).toBeGreaterThan(0);
    for (const f of ['sectorsRead', 'l2Requests', 'warpInstructions'] as const) {
      const e = rel(sampled.total.simt[f], exact.total.simt[f]);
      expect(e, f).toBeLessThan(0.02);
      expect(e, f).toBeLessThanOrEqual(4 * se + 1e-12);
    }
  });

  it('sampled loop iterations: within 2 % of every iteration; TESSERA_COST_EXACT=1 is exact mode', async () => {
    const dev = await device('functional');
    const n = 1 << 18;
    const args = { x: dev.alloc('f32', 3 * n), out: dev.alloc('f32', 8 * 128), n, S: 3 };
    const grid: G3 = [8, 1, 1];
    const block: G3 = [128, 1, 1];
    const sampled = cost(dev, walk, grid, block, args);
    expect(sampled.simt!.iterationsSampled).toBe(true);
    expect(sampled.exact).toBe(false);
    process.env.TESSERA_COST_EXACT = '1';
    let exact: CostRecord;
    try {
      exact = cost(dev, walk, grid, block, args);
    } finally {
      delete process.env.TESSERA_COST_EXACT;
    }
    expect(exact.exact).toBe(true);
    expect(exact.simt!.iterationsSampled).toBe(false);
    const iters = n / (8 * 128);
    const readAt = (j: number) => (b: G3, t: G3) => 4 * 3 * (b[0] * 128 + t[0] + j * 1024);
    let sectors = 0;
    for (let j = 0; j < iters; j++) sectors += sumOverWarps(grid, block, readAt(j), distinctBy(32));
    expect(exact.total.simt.sectorsRead).toBe(sectors);
    for (const f of ['sectorsRead', 'l2Requests', 'warpInstructions'] as const)
      expect(rel(sampled.total.simt[f], exact.total.simt[f]), f).toBeLessThan(0.02);
    // FLOPs and bytes come from the exact analysis in both.
    expect(sampled.total.toJSON().vectorOps).toEqual(exact.total.toJSON().vectorOps);
    expect(sampled.total.bytesRead).toBe(exact.total.bytesRead);
  });
});
