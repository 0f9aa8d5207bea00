/**
 * `pnpm --filter @tessera/device bench:sanitize`: the sanitizer's overhead (docs/sanitizer.md). For a few kernels of
 * both styles — streaming, reductions with shared memory and barriers, a tiled GEMM, a row softmax — the wall time of
 * a plain launch (the generated code) beside the same launch under each tool and under all four, as a factor.
 * compute-sanitizer's memcheck is typically 10–100× slower than a plain run; the goal is to stay within that.
 *
 * Each configuration is timed as the median of several launches after a warm-up (compiles and the first run excluded).
 * The plain run is single-threaded here (`TESSERA_THREADS=1` unless set) so the factor compares
 * the same amount of hardware; a plain launch may otherwise spread over the program pool.
 *
 *   pnpm bench:sanitize            table
 *   pnpm bench:sanitize --json     one JSON object per row
 */
import { loadavg } from 'node:os';
import {
  cdiv,
  createRuntime,
  type Device,
  disableSanitizer,
  enableSanitizer,
  sanitizerReports,
  simtKernel,
  tileKernel,
} from '../src/index';
import { createTestBackend } from '../src/testing/test-backend';

const json = process.argv.includes('--json');

const vectorAdd = tileKernel(
  { name: 'bench_san_vector_add', params: { x: 'ptr', y: 'ptr', out: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, out, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const mask = offs.lt(n);
    t.store(out, offs, t.load(x, offs, { mask }).add(t.load(y, offs, { mask })), { mask });
  },
);

const softmax = tileKernel(
  { name: 'bench_san_softmax', params: { x: 'ptr', y: 'ptr', cols: 'constexpr' } },
  (t, { x, y, cols }) => {
    const X = t.tensor(x, [t.numPrograms(0), cols]);
    const row = t.loadBlock(X, [t.programId(0), 0], [1, cols]);
    const e = row.sub(row.max(1, true)).exp();
    t.storeBlock(t.tensor(y, [t.numPrograms(0), cols]), [t.programId(0), 0], e.div(e.sum(1, true)));
  },
);

const matmul = tileKernel(
  {
    name: 'bench_san_matmul',
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
    const [A, B, C] = [t.tensor(a, [M, K]), t.tensor(b, [K, N]), t.tensor(c, [M, N])];
    const [m0, n0] = [t.programId(0) * BM, t.programId(1) * BN];
    let acc = t.zeros([BM, BN]);
    for (let k = 0; k < K; k += BK)
      acc = t.dot(t.loadBlock(A, [m0, k], [BM, BK]), t.loadBlock(B, [k, n0], [BK, BN]), acc);
    t.storeBlock(C, [m0, n0], acc);
  },
);

const simtAdd = simtKernel(
  { name: 'bench_san_simt_add', params: { x: 'ptr<f32>', y: 'ptr<f32>', out: 'ptr<f32>', n: 'i32' } },
  (k, { x, y, out, n }) => {
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    if (i < n) out.set(i, x.get(i) + y.get(i));
  },
);

const simtReduce = simtKernel(
  {
    name: 'bench_san_simt_reduce',
    params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32' },
    shared: { part: ['f32', 256] },
  },
  function* (k, { x, out, n }) {
    const tid = k.threadIdx.x;
    const i = k.blockIdx.x * 256 + tid;
    k.shared.part![tid] = i < n ? x.get(i) : 0;
    yield k.syncthreads();
    for (let s = 128; s > 0; s >>= 1) {
      if (tid < s) k.shared.part![tid] += k.shared.part![tid + s]!;
      yield k.syncthreads();
    }
    if (tid === 0) out.atomicAdd(0, k.shared.part![0]!);
  },
);

const simtTranspose = simtKernel(
  {
    name: 'bench_san_simt_transpose',
    params: { src: 'ptr<f32>', dst: 'ptr<f32>', w: 'i32', h: 'i32' },
    shared: { tile: ['f32', 32 * 33] },
  },
  function* (k, { src, dst, w, h }) {
    const [tx, ty] = [k.threadIdx.x, k.threadIdx.y];
    let x = k.blockIdx.x * 32 + tx;
    let y = k.blockIdx.y * 32 + ty;
    for (let j = 0; j < 32; j += 8)
      if (x < w && y + j < h) k.shared.tile![(ty + j) * 33 + tx] = src.get((y + j) * w + x);
    yield k.syncthreads();
    x = k.blockIdx.y * 32 + tx;
    y = k.blockIdx.x * 32 + ty;
    for (let j = 0; j < 32; j += 8) if (x < h && y + j < w) dst.set((y + j) * h + x, k.shared.tile![tx * 33 + ty + j]!);
  },
);

interface Case {
  name: string;
  style: 'tile' | 'simt';
  work: string;
  launch(dev: Device): () => void;
}

function filled(dev: Device, n: number, seed: number) {
  const b = dev.alloc('f32', n);
  dev.upload(
    b,
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed)),
  );
  return b;
}

const CASES: Case[] = [
  {
    name: 'vector add',
    style: 'tile',
    work: '1 M f32',
    launch(dev) {
      const n = 1 << 20;
      const [x, y, out] = [filled(dev, n, 1), filled(dev, n, 2), dev.alloc('f32', n)];
      return () => dev.launch(vectorAdd, { grid: cdiv(n, 1024) }, { x, y, out, n, BLOCK: 1024 });
    },
  },
  {
    name: 'row softmax',
    style: 'tile',
    work: '1024 × 1024',
    launch(dev) {
      const [x, y] = [filled(dev, 1 << 20, 3), dev.alloc('f32', 1 << 20)];
      return () => dev.launch(softmax, { grid: 1024 }, { x, y, cols: 1024 });
    },
  },
  {
    name: 'matmul (t.dot)',
    style: 'tile',
    work: '256³ f32',
    launch(dev) {
      const n = 256;
      const [a, b, c] = [filled(dev, n * n, 4), filled(dev, n * n, 5), dev.alloc('f32', n * n)];
      return () =>
        dev.launch(matmul, { grid: [n / 64, n / 64] }, { a, b, c, M: n, N: n, K: n, BM: 64, BN: 64, BK: 32 });
    },
  },
  {
    name: 'vector add',
    style: 'simt',
    work: '1 M f32',
    launch(dev) {
      const n = 1 << 20;
      const [x, y, out] = [filled(dev, n, 1), filled(dev, n, 2), dev.alloc('f32', n)];
      return () => dev.launch(simtAdd, { grid: cdiv(n, 256), block: 256 }, { x, y, out, n });
    },
  },
  {
    name: 'shared-memory reduction',
    style: 'simt',
    work: '1 M f32, 9 barriers',
    launch(dev) {
      const n = 1 << 20;
      const [x, out] = [filled(dev, n, 6), dev.alloc('f32', 1)];
      return () => {
        dev.memset(out, 0);
        dev.launch(simtReduce, { grid: cdiv(n, 256), block: 256 }, { x, out, n });
      };
    },
  },
  {
    name: 'transpose (shared tile)',
    style: 'simt',
    work: '1024 × 1024',
    launch(dev) {
      const w = 1024;
      const [src, dst] = [filled(dev, w * w, 7), dev.alloc('f32', w * w)];
      return () => dev.launch(simtTranspose, { grid: [w / 32, w / 32], block: [32, 8] }, { src, dst, w, h: w });
    },
  },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median wall time of `fn` after a warm-up call, over at least `reps` calls and `minMs`. */
function time(fn: () => void, reps = 3, minMs = 200): number {
  fn();
  const ts: number[] = [];
  const t0 = performance.now();
  while (ts.length < reps || performance.now() - t0 < minMs) {
    const s = performance.now();
    fn();
    ts.push(performance.now() - s);
    if (ts.length >= 50) break;
  }
  return median(ts);
}

const MODES = ['plain', 'memcheck', 'racecheck', 'initcheck', 'synccheck', 'all'] as const;

async function main(): Promise<void> {
  const rows: { kernel: string; style: string; work: string; ms: Record<string, number> }[] = [];
  for (const c of CASES) {
    const ms: Record<string, number> = {};
    for (const mode of MODES) {
      disableSanitizer();
      if (mode !== 'plain') enableSanitizer(mode, { print: false });
      // A fresh runtime per mode: initcheck sees the inputs uploaded (allocations made before it was on count as set).
      const rt = await createRuntime({ backend: createTestBackend(), devices: 'testchip' });
      const run = c.launch(rt.device(0));
      ms[mode] = time(run, mode === 'plain' ? 5 : 3);
      if (mode !== 'plain' && sanitizerReports().some((r) => r.severity === 'error'))
        throw new Error(`${c.name}: the sanitizer reported errors on a correct kernel`);
    }
    disableSanitizer();
    rows.push({ kernel: c.name, style: c.style, work: c.work, ms });
  }
  if (json) {
    for (const r of rows) {
      const factors = Object.fromEntries(MODES.slice(1).map((m) => [m, +(r.ms[m]! / r.ms.plain!).toFixed(1)]));
      console.log(JSON.stringify({ ...r, factors }));
    }
    return;
  }
  console.log(`Sanitizer overhead (wall time per launch, median; load average ${loadavg()[0]!.toFixed(2)})\n`);
  const head = ['kernel', 'style', 'work', 'plain ms', ...MODES.slice(1).map((m) => `${m} ×`)];
  const body = rows.map((r) => [
    r.kernel,
    r.style,
    r.work,
    r.ms.plain!.toFixed(2),
    ...MODES.slice(1).map((m) => `${(r.ms[m]! / r.ms.plain!).toFixed(1)}× (${r.ms[m]!.toFixed(0)} ms)`),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(head));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const b of body) console.log(line(b));
  console.log('\ncompute-sanitizer memcheck: typically 10–100× a plain run.');
}

process.env.TESSERA_THREADS ??= '1';
await main();
