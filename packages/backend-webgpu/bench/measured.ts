/**
 * `pnpm bench` for @tessera/backend-webgpu: measured beside modelled. A representative set of kernels runs on the
 * WebGPU adapter (functional: real data, computed by the GPU), one warm-up launch and then ITERS timed launches each;
 * the table gives, per kernel and shape,
 *
 *   measured   the median of what the GPU measured (`LaunchResult.measured`: timestamp queries where the adapter has
 *              them, else the host's wall clock from submission to completion — the column says which)
 *   modelled   what the webgpu backend models for the adapter (an adapter a simulator's catalogue knows, e.g. a real
 *              H100, is modelled by that simulator; any other by a roofline over estimated figures — on llvmpipe the
 *              host CPU's)
 *   H100       what nvidia-sim models for the same launch (same kernel, grid, block and arguments) on an H100, on a
 *              timing-only runtime
 *   rel. err   ‖gpu − cpu‖ / ‖cpu‖ of the output against the same launch on nvidia-sim's CPU executor (0 = bit-exact)
 *
 * The kernels are written here (after @tessera/kernels and examples/cuda-samples, with fixed tile sizes so both
 * devices get the same launch): @tessera/kernels depends on this package for its own tests, so this one cannot
 * depend on it without a cycle in the build graph.
 *
 *   pnpm bench             markdown table
 *   pnpm bench --json      one JSON object per row (also BENCH_JSON=1)
 *   pnpm bench -- matmul   only the kernels whose name contains the word
 */
import os from 'node:os';
import '@tessera/backend-nvidia-sim';
import {
  type Backend,
  cdiv,
  createRuntime,
  type Device,
  type DeviceBuffer,
  type DType,
  getBackend,
  type LaunchResult,
  simtKernel,
  tileKernel,
} from '@tessera/device';
import { randomArray, randomInts } from '@tessera/device/random';
import { createWebGpuBackend, webgpuAvailability } from '../src/index';

const json = process.argv.includes('--json') || process.env.BENCH_JSON === '1';
/** The 1-minute load average when the bench starts: other work on the machine inflates the measured times. */
const LOAD_AT_START = os.loadavg()[0]!;
const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
/** Timed launches per kernel, after one warm-up launch. */
const ITERS = 5;

// ─── Kernels ─────────────────────────────────────────────────────────────────────────────────────────────────────

const vectorAddTile = tileKernel(
  { name: 'vector_add', params: { x: 'ptr<f32>', y: 'ptr<f32>', out: 'ptr<f32>', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, out, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const mask = offs.lt(n);
    t.store(out, offs, t.load(x, offs, { mask }).add(t.load(y, offs, { mask })), { mask });
  },
);

const vectorAddSimt = simtKernel(
  { name: 'vectorAdd', params: { A: 'ptr<f32>', B: 'ptr<f32>', C: 'ptr<f32>', n: 'i32' } },
  (k, { A, B, C, n }) => {
    const i = k.blockDim.x * k.blockIdx.x + k.threadIdx.x;
    if (i < n) C.set(i, A.get(i) + B.get(i));
  },
);

const matmulTile = tileKernel(
  {
    name: 'matmul',
    params: {
      a: 'ptr<f32|f16>',
      b: 'ptr<f32|f16>',
      c: 'ptr<f32>',
      M: 'i32',
      N: 'i32',
      K: 'i32',
      BM: 'constexpr',
      BN: 'constexpr',
      BK: 'constexpr',
    },
  },
  (t, { a, b, c, M, N, K, BM, BN, BK }) => {
    const [A, B, C] = [t.tensor(a, [M, K]), t.tensor(b, [K, N]), t.tensor(c, [M, N])];
    const [m0, n0] = [t.programId(1) * BM, t.programId(0) * BN];
    let acc = t.zeros([BM, BN], 'f32');
    for (let k = 0; k < K; k += BK)
      acc = t.dot(t.loadBlock(A, [m0, k], [BM, BK]), t.loadBlock(B, [k, n0], [BK, BN]), acc);
    t.storeBlock(C, [m0, n0], acc);
  },
);

/** The CUDA samples' matrixMul (shared-memory tiles of 16×16, one output per thread). */
const TS = 16;
const matmulSimt = simtKernel(
  {
    name: 'MatrixMulCUDA<16>',
    params: { C: 'ptr<f32>', A: 'ptr<f32>', B: 'ptr<f32>', wA: 'i32', wB: 'i32' },
    shared: { As: ['f32', TS * TS], Bs: ['f32', TS * TS] },
    uses: { TS },
  },
  function* (k, { C, A, B, wA, wB }) {
    const [tx, ty] = [k.threadIdx.x, k.threadIdx.y];
    const As = k.shared.As!;
    const Bs = k.shared.Bs!;
    const row = k.blockIdx.y * TS + ty;
    const col = k.blockIdx.x * TS + tx;
    let acc = 0;
    for (let k0 = 0; k0 < wA; k0 += TS) {
      As[ty * TS + tx] = A.get(row * wA + k0 + tx);
      Bs[ty * TS + tx] = B.get((k0 + ty) * wB + col);
      yield k.syncthreads();
      for (let kk = 0; kk < TS; kk++) acc = Math.fround(acc + Math.fround(As[ty * TS + kk]! * Bs[kk * TS + tx]!));
      yield k.syncthreads();
    }
    C.set(row * wB + col, acc);
  },
);

/** Row softmax, one row of up to BLOCK columns per program. */
const softmaxTile = tileKernel(
  { name: 'softmax', params: { x: 'ptr<f32>', y: 'ptr<f32>', cols: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, cols, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * cols);
    const mask = t.arange(0, BLOCK).lt(cols);
    const row = t.load(x, offs, { mask, other: Number.NEGATIVE_INFINITY });
    const e = row.sub(row.max()).exp();
    t.store(y, offs, e.div(e.sum()), { mask });
  },
);

/** RMSNorm (Llama), one row of up to BLOCK columns per program and row (grid-stride over rows). */
const rmsnormTile = tileKernel(
  {
    name: 'rmsnorm',
    params: { x: 'ptr', w: 'ptr', y: 'ptr', rows: 'i32', cols: 'i32', eps: 'f32', BLOCK: 'constexpr' },
  },
  (t, { x, w, y, rows, cols, eps, BLOCK }) => {
    const X = t.tensor(x, [rows, cols]);
    const Y = t.tensor(y, [rows, cols]);
    const W = t.tensor(w, [1, cols]);
    for (let r = t.programId(0); r < rows; r += t.numPrograms(0)) {
      const v = t.loadBlock(X, [r, 0], [1, BLOCK]).cast('f32');
      const inv = v.mul(v).sum(1, true).div(cols).add(eps).rsqrt();
      t.storeBlock(Y, [r, 0], v.mul(inv).mul(t.loadBlock(W, [0, 0], [1, BLOCK]).cast('f32')));
    }
  },
);

/** Rotary position embedding, the 'half' (rotate_half) convention, over the whole head; BR rows per block. */
const ropeTile = tileKernel(
  {
    name: 'rope',
    params: {
      x: 'ptr',
      out: 'ptr',
      positions: 'ptr<i32>',
      rows: 'i32',
      heads: 'i32',
      headDim: 'i32',
      theta: 'f32',
      BR: 'constexpr',
      HB: 'constexpr',
    },
  },
  (t, { x, out, positions, rows, heads, headDim, theta, BR, HB }) => {
    const half = headDim / 2;
    const X = t.tensor(x, [rows, 2, half], [headDim, half, 1]);
    const O = t.tensor(out, [rows, 2, half], [headDim, half, 1]);
    const freq = t
      .exp(
        t
          .arange(0, HB)
          .cast('f32')
          .mul((-2 * Math.log(theta)) / headDim),
      )
      .expandDims(0); // (1, HB)
    for (let r = t.programId(0) * BR; r < rows; r += t.numPrograms(0) * BR) {
      const row = t.arange(r, r + BR);
      const pos = t
        .load(positions, row.idiv(heads), { mask: row.lt(rows) })
        .cast('f32')
        .expandDims(1); // (BR, 1)
      const angle = pos.mul(freq); // (BR, HB)
      const [cos, sin] = [t.cos(angle), t.sin(angle)];
      const a = t.loadBlock(X, [r, 0, 0], [BR, 1, HB]).reshape([BR, HB]).cast('f32');
      const b = t.loadBlock(X, [r, 1, 0], [BR, 1, HB]).reshape([BR, HB]).cast('f32');
      t.storeBlock(O, [r, 0, 0], a.mul(cos).sub(b.mul(sin)).reshape([BR, 1, HB]));
      t.storeBlock(O, [r, 1, 0], b.mul(cos).add(a.mul(sin)).reshape([BR, 1, HB]));
    }
  },
);

/**
 * Decode attention over a paged KV cache (vLLM's PagedAttention, flash-decoding's online softmax): one program per
 * (sequence, KV head), the G = heads / kvHeads query heads sharing that KV head stacked as the rows of one tile; K
 * and V pages gathered through the block table.
 */
const pagedDecode = tileKernel(
  {
    name: 'paged_attention_decode',
    params: {
      q: 'ptr',
      kc: 'ptr',
      vc: 'ptr',
      bt: 'ptr<i32>',
      o: 'ptr',
      ctx: 'i32',
      pages: 'i32',
      maxBlocks: 'i32',
      scale: 'f32',
      heads: 'constexpr',
      kvHeads: 'constexpr',
      HD: 'constexpr',
      BS: 'constexpr',
    },
  },
  (t, { q, kc, vc, bt, o, ctx, pages, maxBlocks, scale, heads, kvHeads, HD, BS }) => {
    const s = t.programId(0);
    const g = t.programId(1);
    const G = heads / kvHeads;
    const dcol = t.arange(0, HD).expandDims(0); // (1, HD)
    const qOff = t
      .arange(0, G)
      .add(s * heads + g * G)
      .mul(HD)
      .expandDims(1)
      .add(dcol); // (G, HD)
    const qt = t.load(q, qOff);
    let mi = t.full([G, 1], Number.NEGATIVE_INFINITY);
    let li = t.zeros([G, 1]);
    let acc = t.zeros([G, HD]);
    const slot = t.arange(0, BS).expandDims(1); // (BS, 1)
    for (let p = 0; p < pages; p++) {
      const phys = t.load(bt, s * maxBlocks + p);
      const kvOff = phys.mul(BS).add(slot).mul(kvHeads).add(g).mul(HD).add(dcol); // (BS, HD)
      const inCtx = slot.add(p * BS).lt(ctx);
      const kpos = t.arange(p * BS, p * BS + BS).expandDims(0); // (1, BS)
      let sc = t.dot(qt, t.load(kc, kvOff, { mask: inCtx }).trans()).mul(scale); // (G, BS)
      sc = t.where(kpos.lt(ctx), sc, Number.NEGATIVE_INFINITY);
      const mNew = mi.maximum(sc.max(1, true));
      const pr = sc.sub(mNew).exp();
      const alpha = mi.sub(mNew).exp();
      li = li.mul(alpha).add(pr.sum(1, true));
      const vt = t.load(vc, kvOff, { mask: inCtx });
      acc = t.dot(pr.cast(vt.dtype), vt, acc.mul(alpha));
      mi = mNew;
    }
    t.store(o, qOff, acc.div(li));
  },
);

/** The CUDA samples' reduce2 (sequential addressing in dynamic shared memory): one partial sum per block. */
const reduce2 = simtKernel(
  { name: 'reduce2', params: { g_idata: 'ptr<f32>', g_odata: 'ptr<f32>', n: 'i32' } },
  function* (k, { g_idata, g_odata, n }) {
    const sdata = k.dynamicShared('f32');
    const tid = k.threadIdx.x;
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    sdata[tid] = i < n ? g_idata.get(i) : 0;
    yield k.syncthreads();
    for (let s = k.blockDim.x >> 1; s > 0; s >>= 1) {
      if (tid < s) sdata[tid] = sdata[tid]! + sdata[tid + s]!;
      yield k.syncthreads();
    }
    if (tid === 0) g_odata.set(k.blockIdx.x, sdata[0]!);
  },
);

/** The CUDA samples' transposeNoBankConflicts: a 32×32 tile through shared memory padded to 32×33, 32×8 threads. */
const [TILE, ROWS, PITCH] = [32, 8, 33];
const transposeSimt = simtKernel(
  {
    name: 'transposeNoBankConflicts',
    params: { odata: 'ptr<f32>', idata: 'ptr<f32>', width: 'i32', height: 'i32' },
    shared: { tile: ['f32', TILE * PITCH] },
    uses: { TILE, ROWS, PITCH },
  },
  function* (k, { odata, idata, width, height }) {
    const tile = k.shared.tile!;
    const [tx, ty] = [k.threadIdx.x, k.threadIdx.y];
    const inIdx = k.blockIdx.x * TILE + tx + (k.blockIdx.y * TILE + ty) * width;
    const outIdx = k.blockIdx.y * TILE + tx + (k.blockIdx.x * TILE + ty) * height;
    for (let i = 0; i < TILE; i += ROWS) tile[(ty + i) * PITCH + tx] = idata.get(inIdx + i * width);
    yield k.syncthreads();
    for (let i = 0; i < TILE; i += ROWS) odata.set(outIdx + i * height, tile[tx * PITCH + ty + i]!);
  },
);

const transposeTile = tileKernel(
  {
    name: 'transpose',
    params: { odata: 'ptr<f32>', idata: 'ptr<f32>', width: 'i32', height: 'i32', T: 'constexpr' },
  },
  (t, { odata, idata, width, height, T }) => {
    const In = t.tensor(idata, [height, width]);
    const Out = t.tensor(odata, [width, height]);
    const [r0, c0] = [t.programId(1) * T, t.programId(0) * T];
    t.storeBlock(Out, [c0, r0], t.loadBlock(In, [r0, c0], [T, T]).trans());
  },
);

// ─── Cases ───────────────────────────────────────────────────────────────────────────────────────────────────────

/** One launch, set up on a device: `launch` runs it, `out` holds its result. */
interface Prepared {
  launch: () => LaunchResult;
  out: DeviceBuffer;
}

interface Case {
  kernel: string;
  shape: string;
  /** Allocates (and, on a functional device, fills with seeded data) the launch's buffers. */
  prepare: (dev: Device) => Prepared;
}

/** A buffer of `dtype` and `shape`, holding seeded random values in [lo, hi) on a functional device. */
function input(dev: Device, dtype: DType, shape: number | number[], seed: number, lo = -1, hi = 1): DeviceBuffer {
  const b = dev.alloc(dtype, shape);
  if (dev.mode === 'functional') dev.upload(b, randomArray(b.length, seed, lo, hi));
  return b;
}

function vectorAddCase(style: 'tile' | 'SIMT', n: number): Case {
  return {
    kernel: `vector add (${style})`,
    shape: `${n} f32`,
    prepare(dev) {
      const [x, y, out] = [input(dev, 'f32', n, 1), input(dev, 'f32', n, 2), dev.alloc('f32', n)];
      return {
        out,
        launch: () =>
          style === 'tile'
            ? dev.launch(vectorAddTile, { grid: cdiv(n, 1024) }, { x, y, out, n, BLOCK: 1024 })
            : dev.launch(vectorAddSimt, { grid: cdiv(n, 256), block: 256 }, { A: x, B: y, C: out, n }),
      };
    },
  };
}

function matmulCase(dtype: 'f32' | 'f16', S: number, B = 64): Case {
  return {
    kernel: `matmul (tile, ${dtype} in, f32 acc)`,
    shape: `${S}³, ${B}×${B}×32 tiles`,
    prepare(dev) {
      const [a, b, c] = [input(dev, dtype, [S, S], 3), input(dev, dtype, [S, S], 4), dev.alloc('f32', [S, S])];
      const args = { a, b, c, M: S, N: S, K: S, BM: B, BN: B, BK: 32 };
      return { out: c, launch: () => dev.launch(matmulTile, { grid: [S / B, S / B] }, args) };
    },
  };
}

function matmulSimtCase(S: number): Case {
  return {
    kernel: 'matmul (SIMT, shared 16×16)',
    shape: `${S}³ f32`,
    prepare(dev) {
      const [a, b, c] = [input(dev, 'f32', [S, S], 3), input(dev, 'f32', [S, S], 4), dev.alloc('f32', [S, S])];
      return {
        out: c,
        launch: () =>
          dev.launch(matmulSimt, { grid: [S / TS, S / TS], block: [TS, TS] }, { C: c, A: a, B: b, wA: S, wB: S }),
      };
    },
  };
}

const CASES: Case[] = [
  vectorAddCase('tile', 1 << 22),
  vectorAddCase('SIMT', 1 << 22),
  matmulCase('f32', 256),
  matmulCase('f32', 512),
  matmulCase('f32', 1024),
  matmulCase('f16', 256),
  matmulCase('f16', 512),
  matmulSimtCase(512),
  {
    kernel: 'softmax (tile)',
    shape: '4096×1024 f32',
    prepare(dev) {
      const [rows, cols] = [4096, 1024];
      const [x, y] = [input(dev, 'f32', [rows, cols], 5, -10, 10), dev.alloc('f32', [rows, cols])];
      return { out: y, launch: () => dev.launch(softmaxTile, { grid: rows }, { x, y, cols, BLOCK: cols }) };
    },
  },
  {
    kernel: 'rmsnorm (tile)',
    shape: '4096×2048 f32',
    prepare(dev) {
      const [rows, cols] = [4096, 2048];
      const [x, w, y] = [
        input(dev, 'f32', [rows, cols], 6),
        input(dev, 'f32', cols, 7),
        dev.alloc('f32', [rows, cols]),
      ];
      return {
        out: y,
        launch: () => dev.launch(rmsnormTile, { grid: 1024 }, { x, w, y, rows, cols, eps: 1e-6, BLOCK: cols }),
      };
    },
  },
  {
    kernel: 'rope (tile, rotate_half)',
    shape: '512 tokens × 32 heads × 128',
    prepare(dev) {
      const [tokens, heads, headDim] = [512, 32, 128];
      const x = input(dev, 'f32', [tokens, heads, headDim], 8);
      const out = dev.alloc('f32', [tokens, heads, headDim]);
      const positions = dev.alloc('i32', tokens);
      if (dev.mode === 'functional') dev.upload(positions, randomInts(tokens, 9, 0, 8192));
      const rows = tokens * heads;
      const BR = 16;
      return {
        out,
        launch: () =>
          dev.launch(
            ropeTile,
            { grid: Math.min(1024, rows / BR) },
            { x, out, positions, rows, heads, headDim, theta: 10000, BR, HB: headDim / 2 },
          ),
      };
    },
  },
  {
    kernel: 'paged attention decode (tile)',
    shape: '8 seqs × 1024 ctx, 32/8 heads × 128, pages of 16',
    prepare(dev) {
      const [seqs, ctx, heads, kvHeads, HD, BS] = [8, 1024, 32, 8, 128, 16];
      const pages = ctx / BS;
      const blocks = seqs * pages;
      const q = input(dev, 'f32', [seqs, heads, HD], 10);
      const kc = input(dev, 'f32', [blocks, BS, kvHeads, HD], 11);
      const vc = input(dev, 'f32', [blocks, BS, kvHeads, HD], 12);
      const bt = dev.alloc('i32', [seqs, pages]);
      // Each sequence's pages scattered over the cache: a fixed permutation of the physical blocks.
      if (dev.mode === 'functional')
        dev.upload(
          bt,
          Int32Array.from({ length: blocks }, (_, i) => (i * 37) % blocks),
        );
      const o = dev.alloc('f32', [seqs, heads, HD]);
      const args = { q, kc, vc, bt, o, ctx, pages, maxBlocks: pages, scale: 1 / Math.sqrt(HD) };
      return {
        out: o,
        launch: () => dev.launch(pagedDecode, { grid: [seqs, kvHeads] }, { ...args, heads, kvHeads, HD, BS }),
      };
    },
  },
  {
    kernel: 'reduction (SIMT reduce2, shared memory)',
    shape: `${1 << 22} f32 → partial sums, 256/block`,
    prepare(dev) {
      const n = 1 << 22;
      const [x, out] = [input(dev, 'f32', n, 13), dev.alloc('f32', n / 256)];
      return {
        out,
        launch: () =>
          dev.launch(reduce2, { grid: n / 256, block: 256, sharedMemBytes: 256 * 4 }, { g_idata: x, g_odata: out, n }),
      };
    },
  },
  {
    kernel: 'transpose (SIMT, shared 32×33)',
    shape: '2048×2048 f32',
    prepare(dev) {
      const S = 2048;
      const [x, y] = [input(dev, 'f32', [S, S], 14), dev.alloc('f32', [S, S])];
      return {
        out: y,
        launch: () =>
          dev.launch(
            transposeSimt,
            { grid: [S / TILE, S / TILE], block: [TILE, ROWS] },
            { odata: y, idata: x, width: S, height: S },
          ),
      };
    },
  },
  {
    kernel: 'transpose (tile)',
    shape: '2048×2048 f32, 32×32 blocks',
    prepare(dev) {
      const S = 2048;
      const [x, y] = [input(dev, 'f32', [S, S], 14), dev.alloc('f32', [S, S])];
      return {
        out: y,
        launch: () =>
          dev.launch(transposeTile, { grid: [S / 32, S / 32] }, { odata: y, idata: x, width: S, height: S, T: 32 }),
      };
    },
  },
];

// ─── Run ─────────────────────────────────────────────────────────────────────────────────────────────────────────

function relError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    if (Number.isNaN(out[i]!) !== Number.isNaN(ref[i]!)) return Number.POSITIVE_INFINITY;
    if (Number.isNaN(ref[i]!)) continue;
    num += (out[i]! - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Row {
  kernel: string;
  shape: string;
  measured_ms: number;
  measured_min_ms: number;
  measured_by: string;
  iterations: number;
  modelled_ms: number;
  modelled_bound: string;
  h100_ms: number;
  rel_error_vs_cpu: number;
}

const gpu = webgpuAvailability();
if (!gpu.ok) {
  // A machine without an adapter has nothing to measure: say so (never silently), and leave `pnpm bench` running.
  console.warn(`SKIP: webgpu bench: ${gpu.reason}`);
  process.exit(0);
}
const webgpu = await createWebGpuBackend();
const dev = (await createRuntime({ backend: webgpu })).device(0);
const nvidia: Backend = await getBackend('nvidia-sim');
const h100 = (await createRuntime({ backend: nvidia, devices: 'h100', mode: 'timing' })).device(0);
const cpu = (await createRuntime({ backend: nvidia, devices: 'h100' })).device(0);

const rows: Row[] = [];
for (const c of CASES) {
  if (only.length > 0 && !only.some((w) => `${c.kernel} ${c.shape}`.includes(w))) continue;
  const g = c.prepare(dev);
  g.launch(); // warm-up: compiles the kernel, its WGSL and the pipeline
  const times: number[] = [];
  const by = new Set<string>();
  let r!: LaunchResult;
  for (let i = 0; i < ITERS; i++) {
    r = g.launch();
    if (!r.measured) throw new Error(`${c.kernel}: the launch measured nothing`);
    times.push(r.measured.ms);
    by.add(r.measured.by);
  }
  const got = dev.download(g.out);
  const ref = c.prepare(cpu);
  ref.launch();
  const row: Row = {
    kernel: c.kernel,
    shape: c.shape,
    measured_ms: median(times),
    measured_min_ms: Math.min(...times),
    measured_by: [...by].join('+'),
    iterations: ITERS,
    modelled_ms: r.ms,
    modelled_bound: r.timing.bound,
    h100_ms: c.prepare(h100).launch().ms,
    rel_error_vs_cpu: relError(got, cpu.download(ref.out)),
  };
  // Free this case's buffers on every device before the next (the largest cases hold tens of MB each).
  for (const d of [dev, cpu, h100]) d.reset();
  rows.push(row);
  if (!json) process.stderr.write(`  ${c.kernel} ${c.shape}: ${row.measured_ms.toFixed(3)} ms\n`);
}

const device = dev.properties;
const cpuModel = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
const adapter = `${gpu.adapter.device} — ${gpu.adapter.description} (${gpu.adapter.api}, ${gpu.adapter.featureLevel})`;

if (json) {
  for (const r of rows) console.log(JSON.stringify({ device: device.id, adapter, load_at_start: LOAD_AT_START, ...r }));
} else {
  /** A time with 3 significant digits in µs below 1 ms, else ms. */
  const fmt = (ms: number) =>
    ms < 1 ? `${(ms * 1000).toPrecision(3)} µs` : ms < 1000 ? `${ms.toPrecision(3)} ms` : `${ms.toFixed(0)} ms`;
  const err = (e: number) => (e === 0 ? '0 (bit-exact)' : e.toExponential(1));
  console.log(`Adapter: ${adapter}`);
  console.log(`Device: ${device.name} (${device.id})`);
  console.log(
    `Host: ${os.availableParallelism()} CPUs, ${cpuModel}; Node ${process.version}; load average ${LOAD_AT_START.toFixed(2)} at the start`,
  );
  console.log(
    `Measured: median of ${ITERS} launches after a warm-up. Modelled: the webgpu backend's model of ${device.id}. ` +
      'H100: nvidia-sim, the same launch.\n',
  );
  console.log(
    `| kernel | shape | measured (median) | how | modelled (${device.id}) | H100 (nvidia-sim) | rel. err vs CPU |`,
  );
  console.log('| --- | --- | ---: | --- | ---: | ---: | ---: |');
  for (const r of rows)
    console.log(
      `| ${r.kernel} | ${r.shape} | ${fmt(r.measured_ms)} | ${r.measured_by} | ${fmt(r.modelled_ms)} | ${fmt(r.h100_ms)} | ${err(r.rel_error_vs_cpu)} |`,
    );
}
// Dawn's GPU thread is unref'd, but end here rather than wait on anything else it holds.
process.exit(0);
