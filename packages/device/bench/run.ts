/**
 * `pnpm bench` for @tessera/device: functional speed of the tile executor beside TensorFlow.js's CPU backend on the
 * same shapes, in the same run (ratios, not absolute numbers, are what to compare on a noisy machine), the wall
 * time of costing an 8192³ GEMM launch in timing-only mode, and the device layer's small-kernel costs with their
 * performance goals: the host time of one launch beside a plain JS function doing the same work, `vector_add` over
 * 1 M f32 beside a JS loop, and the wall time of costing a grid-stride SIMT kernel over 1 GiB in timing-only mode.
 *
 * Everything here runs on the reference backend (a roofline): this package cannot depend on a real backend (they
 * depend on it). The kernels bench measures the same small-kernel rows on nvidia-sim H100 / H200 devices, beside
 * the rest of the goals.
 *
 *   pnpm bench            table
 *   pnpm bench --json     one JSON object per row
 */
import { availableParallelism, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { cdiv, createRuntime, type Device, type DeviceBuffer, simtKernel, tileKernel } from '../src/index';
import { createTestBackend } from '../src/testing/test-backend';

const json = process.argv.includes('--json') || process.env.BENCH_JSON === '1';
/** The 1-minute load average when the bench starts: other work on the machine inflates absolute numbers. */
const LOAD_AT_START = loadavg()[0]!;

const matmul = tileKernel(
  {
    name: 'bench_matmul',
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

const softmax = tileKernel(
  // cols is a constexpr: a row is one (1, cols) tile, and tile shapes are compile-time.
  { name: 'bench_softmax', params: { x: 'ptr', y: 'ptr', cols: 'constexpr' } },
  (t, { x, y, cols }) => {
    const X = t.tensor(x, [t.numPrograms(0), cols]);
    const row = t.loadBlock(X, [t.programId(0), 0], [1, cols]);
    const e = row.sub(row.max(1, true)).exp();
    t.storeBlock(t.tensor(y, [t.numPrograms(0), cols]), [t.programId(0), 0], e.div(e.sum(1, true)));
  },
);

/** The CUDA Programming Guide's shared-memory tiled matmul (16×16 blocks): shared-array reads dominate. */
const SIMT_TILE = 16;
const simtMatmul = simtKernel(
  {
    name: 'bench_simt_matmul',
    params: { a: 'ptr<f32>', b: 'ptr<f32>', c: 'ptr<f32>', n: 'i32' },
    shared: { As: ['f32', SIMT_TILE * SIMT_TILE], Bs: ['f32', SIMT_TILE * SIMT_TILE] },
    uses: { SIMT_TILE },
  },
  function* (k, { a, b, c, n }) {
    const [tx, ty] = [k.threadIdx.x, k.threadIdx.y];
    const row = k.blockIdx.y * SIMT_TILE + ty;
    const col = k.blockIdx.x * SIMT_TILE + tx;
    const As = k.shared.As!;
    const Bs = k.shared.Bs!;
    let acc = 0;
    for (let k0 = 0; k0 < n; k0 += SIMT_TILE) {
      As[ty * SIMT_TILE + tx] = a.get(row * n + k0 + tx);
      Bs[ty * SIMT_TILE + tx] = b.get((k0 + ty) * n + col);
      yield k.syncthreads();
      for (let kk = 0; kk < SIMT_TILE; kk++)
        acc = Math.fround(acc + Math.fround(As[ty * SIMT_TILE + kk]! * Bs[kk * SIMT_TILE + tx]!));
      yield k.syncthreads();
    }
    c.set(row * n + col, acc);
  },
);

/** Shared-memory tree reduction per block (CUDA samples' reduce2), one atomicAdd per block. */
const simtReduce = simtKernel(
  { name: 'bench_simt_reduce', params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32' }, shared: { s: ['f32', 256] } },
  function* (k, { x, out, n }) {
    const tid = k.threadIdx.x;
    const i = k.blockIdx.x * k.blockDim.x + tid;
    const s = k.shared.s!;
    s[tid] = i < n ? x.get(i) : 0;
    yield k.syncthreads();
    for (let h = k.blockDim.x >> 1; h > 0; h >>= 1) {
      if (tid < h) s[tid] = s[tid]! + s[tid + h]!;
      yield k.syncthreads();
    }
    if (tid === 0) out.atomicAdd(0, s[0]!);
  },
);

/**
 * `vector_add` as the Triton tutorial and the conformance suite write it: program p adds elements
 * [p·BLOCK, (p+1)·BLOCK) through index tiles and a mask (pointer gathers).
 */
const vectorAdd = tileKernel(
  { name: 'bench_vector_add', params: { x: 'ptr', y: 'ptr', out: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, out, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const mask = offs.lt(n);
    t.store(out, offs, t.load(x, offs, { mask }).add(t.load(y, offs, { mask })), { mask });
  },
);

/** The same decomposition with block loads through tensor descriptors (row copies, clipped tails, no index tiles). */
const vectorAddBlocks = tileKernel(
  { name: 'bench_vector_add_blocks', params: { x: 'ptr', y: 'ptr', out: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, out, n, BLOCK }) => {
    const [X, Y, O] = [t.tensor(x, [n]), t.tensor(y, [n]), t.tensor(out, [n])];
    const at = [t.programId(0) * BLOCK];
    t.storeBlock(O, at, t.loadBlock(X, at, [BLOCK]).add(t.loadBlock(Y, at, [BLOCK])));
  },
);

/** CUDA's grid-stride loop: each thread adds elements i, i + gridDim·blockDim, … (one FLOP each). */
const gridStrideAdd = simtKernel(
  { name: 'bench_grid_stride_add', params: { x: 'ptr<f32>', y: 'ptr<f32>', out: 'ptr<f32>', n: 'i64' } },
  (k, { x, y, out, n }) => {
    const stride = k.gridDim.x * k.blockDim.x;
    for (let i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x; i < n; i += stride) out.set(i, x.get(i) + y.get(i));
  },
);

/** The plain JS function the launches are compared with: the same add over typed arrays. */
function jsAdd(x: Float32Array, y: Float32Array, out: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = x[i]! + y[i]!;
}

/** Goals: host µs per cached launch of a small kernel; vector_add vs the JS loop; wall s to cost the SIMT launch. */
const LAUNCH_GOAL_US = 20;
const VECTOR_ADD_GOAL = 0.5;
const SIMT_GOAL_S = 0.5;

/**
 * Times functions interleaved: each warms up for `warmMs`, then in each of `reps` rounds every function takes one
 * sample (at least minMs / reps of runs); returns each one's per-call times (ms) in round order. Interleaving keeps
 * ratios steady while the load of a shared machine changes.
 */
function timeInterleaved(fns: (() => void)[], { minMs = 1000, reps = 25, warmMs = 300 } = {}): number[][] {
  for (const fn of fns) {
    const warm = performance.now();
    do fn();
    while (performance.now() - warm < warmMs);
  }
  const samples: number[][] = fns.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (const [i, fn] of fns.entries()) {
      let n = 0;
      const t0 = performance.now();
      do {
        fn();
        n++;
      } while (performance.now() - t0 < minMs / reps);
      samples[i]!.push((performance.now() - t0) / n);
    }
  }
  return samples;
}

function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
}

/** Median over rounds of a[r] / b[r] (samples taken back to back in the same round). */
function pairedRatio(a: readonly number[], b: readonly number[]): number {
  return median(a.map((x, r) => x / b[r]!));
}

/** How far a result is from its goal, as a factor: 2 significant digits (1.08, 3.1, 12, 290). */
function factor(f: number): string {
  return f < 1.1 ? f.toFixed(2) : f < 10 ? f.toFixed(1) : f.toFixed(0);
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** Median of repeated runs, each at least `minMs` of work (medians resist this machine's noise). */
function time(fn: () => void, minMs = 300, reps = 5): number {
  const warm = performance.now();
  do fn();
  while (performance.now() - warm < 150); // let the JIT settle before measuring
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    let n = 0;
    const t0 = performance.now();
    do {
      fn();
      n++;
    } while (performance.now() - t0 < minMs / reps);
    samples.push((performance.now() - t0) / n);
  }
  return samples.sort((a, b) => a - b)[samples.length >> 1]!;
}

function random(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

interface Row {
  op: string;
  shape: string;
  tessera: number;
  tfjs: number;
  unit: string;
  ratio_vs_tfjs: number;
}

async function main(): Promise<void> {
  tf.enableProdMode(); // also silences the "install tfjs-node" banner, keeping stdout clean for --json
  await tf.setBackend('cpu');
  const backend = createTestBackend();
  // The executor is the same for every backend; a device with room for large tiles keeps launch checks out of the way.
  const base = backend.catalog()[0]!;
  backend.addDevice({
    ...base,
    id: 'bench',
    memoryBytes: 64 * 1024 ** 3,
    onChip: { ...base.onChip, sharedPerBlockOptin: 1 << 24 },
  });
  const dev: Device = (await createRuntime({ backend, devices: 'bench', hostMemoryLimit: 8 * 1024 ** 3 })).device(0);
  const rows: Row[] = [];

  // Small kernels first, before anything has started worker threads. A launch: a 1-program vector_add over 1024 f32,
  // repeated with the same kernel, grid and buffers (everything a launch path could cache is warm).
  const upload = (v: Float32Array): DeviceBuffer => {
    const b = dev.alloc('f32', v.length);
    dev.upload(b, v);
    return b;
  };
  let smallMatch = true;
  const launch = (() => {
    const n = 1024;
    const [xv, yv, jo] = [random(n), random(n), new Float32Array(n)];
    const [x, y, out] = [upload(xv), upload(yv), dev.alloc('f32', n)];
    const [launchMs, jsMs] = timeInterleaved([
      () => dev.launch(vectorAdd, { grid: 1 }, { x, y, out, n, BLOCK: n }),
      () => jsAdd(xv, yv, jo, n),
    ]);
    smallMatch &&= sameBits(dev.download(out) as Float32Array, jo);
    for (const b of [x, y, out]) dev.free(b);
    return { us: median(launchMs!) * 1e3, jsUs: median(jsMs!) * 1e3 };
  })();
  // vector_add over 1 M f32, 1024 per program, both kernel forms, beside jsAdd (12 bytes per element moved).
  const streaming = (() => {
    const [n, BLOCK] = [1 << 20, 1024];
    const [xv, yv, jo] = [random(n), random(n), new Float32Array(n)];
    const [x, y, out, out2] = [upload(xv), upload(yv), dev.alloc('f32', n), dev.alloc('f32', n)];
    const grid = n / BLOCK;
    const [masked, blocks, js] = timeInterleaved(
      [
        () => dev.launch(vectorAdd, { grid }, { x, y, out, n, BLOCK }),
        () => dev.launch(vectorAddBlocks, { grid }, { x, y, out: out2, n, BLOCK }),
        () => jsAdd(xv, yv, jo, n),
      ],
      { minMs: 3000, reps: 15 },
    );
    smallMatch &&= sameBits(dev.download(out) as Float32Array, jo) && sameBits(dev.download(out2) as Float32Array, jo);
    for (const b of [x, y, out, out2]) dev.free(b);
    const gbs = (ms: number) => (12 * n) / ms / 1e6;
    return {
      masked: gbs(median(masked!)),
      blocks: gbs(median(blocks!)),
      js: gbs(median(js!)),
      maskedVsJs: pairedRatio(js!, masked!),
      blocksVsJs: pairedRatio(js!, blocks!),
    };
  })();

  for (const S of [256, 512, 1024]) {
    const [av, bv] = [random(S * S), random(S * S)];
    const [a, b, c] = [dev.alloc('f32', S * S), dev.alloc('f32', S * S), dev.alloc('f32', S * S)];
    dev.upload(a, av);
    dev.upload(b, bv);
    const B = Math.min(128, S);
    const ours = time(() =>
      dev.launch(matmul, { grid: [cdiv(S, B), cdiv(S, B)] }, { a, b, c, M: S, N: S, K: S, BM: B, BN: B, BK: 64 }),
    );
    const ta = tf.tensor2d(av, [S, S]);
    const tb = tf.tensor2d(bv, [S, S]);
    const theirs = time(() => tf.matMul(ta, tb).dataSync(), S >= 1024 ? 3000 : 600, 3);
    tf.dispose([ta, tb]);
    const flops = 2 * S ** 3;
    rows.push(row('matmul f32', `${S}×${S}×${S}`, flops / ours / 1e6, flops / theirs / 1e6, 'GFLOP/s'));
    for (const x of [a, b, c]) dev.free(x);
  }

  {
    const [R, C] = [1024, 4096];
    const xv = random(R * C);
    const [x, y] = [dev.alloc('f32', R * C), dev.alloc('f32', R * C)];
    dev.upload(x, xv);
    const ours = time(() => dev.launch(softmax, { grid: R }, { x, y, cols: C }));
    const tx = tf.tensor2d(xv, [R, C]);
    const theirs = time(() => tf.softmax(tx).dataSync(), 3000, 3);
    tx.dispose();
    const bytes = 2 * R * C * 4;
    rows.push(row('softmax f32', `${R}×${C}`, bytes / ours / 1e6, bytes / theirs / 1e6, 'GB/s'));
  }

  // SIMT kernels: plain JS per thread, so the executor's per-access overhead (global and shared arrays) is what shows.
  const simtRows: { op: string; shape: string; tessera: number; unit: string }[] = [];
  {
    const S = 128;
    const [a, b, c] = [dev.alloc('f32', S * S), dev.alloc('f32', S * S), dev.alloc('f32', S * S)];
    dev.upload(a, random(S * S));
    dev.upload(b, random(S * S));
    const grid = [S / SIMT_TILE, S / SIMT_TILE];
    const ms = time(() => dev.launch(simtMatmul, { grid, block: [SIMT_TILE, SIMT_TILE] }, { a, b, c, n: S }));
    simtRows.push({ op: 'simt matmul', shape: `${S}³`, tessera: (2 * S ** 3) / ms / 1e6, unit: 'GFLOP/s' });
    const N = 1 << 18;
    const [x, out] = [dev.alloc('f32', N), dev.alloc('f32', 1)];
    dev.upload(x, random(N));
    const rms = time(() => dev.launch(simtReduce, { grid: N / 256, block: 256 }, { x, out, n: N }));
    simtRows.push({ op: 'simt reduce', shape: `${N}`, tessera: (4 * N) / rms / 1e6, unit: 'GB/s' });
    for (const z of [a, b, c, x, out]) dev.free(z);
  }

  // Costing one 8192³ GEMM launch in timing-only mode (no data): the first launch compiles the kernel; a launch with
  // new scalars (K one block shorter) reuses the compiled kernel and is analysed afresh.
  const trt = await createRuntime({ backend, devices: 'bench', mode: 'timing' });
  const td = trt.device(0);
  const S = 8192;
  const [a, b, c] = [td.alloc('bf16', S * S), td.alloc('bf16', S * S), td.alloc('bf16', S * S)];
  const args = { a, b, c, M: S, N: S, K: S, BM: 128, BN: 128, BK: 64 };
  let t0 = performance.now();
  td.launch(matmul, { grid: [S / 128, S / 128] }, args);
  const sampledMs = performance.now() - t0;
  t0 = performance.now();
  td.launch(matmul, { grid: [S / 128, S / 128] }, { ...args, K: S - 64 });
  const exactMs = performance.now() - t0;

  // A grid-stride SIMT vector add over 2²⁸ f32 (1 GiB per operand) in timing-only mode, with the grid nvidia-sim's
  // streaming kernels get on an H100 / H200 (8 blocks × 132 SMs) of 256 threads: the wall time of costing it.
  const SIMT_N = 2 ** 28;
  const [SIMT_GRID, SIMT_BLOCK] = [8 * 132, 256];
  const [gx, gy, gout] = [td.alloc('f32', SIMT_N), td.alloc('f32', SIMT_N), td.alloc('f32', SIMT_N)];
  t0 = performance.now();
  const simtLaunch = td.launch(
    gridStrideAdd,
    { grid: SIMT_GRID, block: SIMT_BLOCK },
    { x: gx, y: gy, out: gout, n: SIMT_N },
  );
  const simtWallMs = performance.now() - t0;
  const simtShape = `${SIMT_N} f32 (1 GiB per operand), grid ${SIMT_GRID} × ${SIMT_BLOCK} threads`;
  const launchMet = launch.us <= LAUNCH_GOAL_US;
  const vectorRows = [
    { form: 'masked loads (Triton tutorial form)', gbs: streaming.masked, ratio: streaming.maskedVsJs },
    { form: 'block loads (tensor descriptors)', gbs: streaming.blocks, ratio: streaming.blocksVsJs },
  ].map((r) => ({ ...r, met: r.ratio >= VECTOR_ADD_GOAL }));
  const simtMet = simtWallMs / 1e3 < SIMT_GOAL_S;

  if (json) {
    for (const r of rows) console.log(JSON.stringify(r));
    for (const r of simtRows) console.log(JSON.stringify(r));
    console.log(
      JSON.stringify({
        op: 'timing-only gemm',
        shape: '8192³',
        first_wall_ms: sampledMs,
        new_scalars_wall_ms: exactMs,
      }),
    );
    console.log(
      JSON.stringify({
        op: 'launch overhead',
        shape: 'vector_add 1024 f32, 1 program, functional reference device',
        tessera: launch.us,
        unit: 'µs',
        js: launch.jsUs,
        goal: `≤${LAUNCH_GOAL_US} µs`,
        met: launchMet,
      }),
    );
    for (const r of vectorRows) {
      console.log(
        JSON.stringify({
          op: 'vector_add f32',
          shape: `${1 << 20}, ${r.form}`,
          tessera: r.gbs,
          unit: 'GB/s',
          js: streaming.js,
          ratio_vs_js: r.ratio,
          goal: `≥${VECTOR_ADD_GOAL}× js`,
          met: r.met,
        }),
      );
    }
    console.log(
      JSON.stringify({
        op: 'timing-only simt grid-stride add',
        shape: simtShape,
        wall_s: simtWallMs / 1e3,
        modelled_ms: simtLaunch.ms,
        goal: `<${SIMT_GOAL_S} s`,
        met: simtMet,
      }),
    );
    return;
  }
  console.log(
    'Functional mode, one thread (tile executor with WebAssembly SIMD dot) vs @tensorflow/tfjs-backend-cpu 4.22.0\n',
  );
  console.log(
    `${'op'.padEnd(12)} ${'shape'.padEnd(16)} ${'tessera'.padStart(10)} ${'tfjs-cpu'.padStart(10)}  unit      ratio`,
  );
  for (const r of rows) {
    console.log(
      `${r.op.padEnd(12)} ${r.shape.padEnd(16)} ${r.tessera.toFixed(2).padStart(10)} ${r.tfjs.toFixed(3).padStart(10)}  ${r.unit.padEnd(8)} ${r.ratio_vs_tfjs.toFixed(1).padStart(6)}×`,
    );
  }
  console.log('\nSIMT kernels, functional mode (no tfjs equivalent)\n');
  for (const r of simtRows) {
    console.log(`${r.op.padEnd(12)} ${r.shape.padEnd(16)} ${r.tessera.toFixed(3).padStart(10)}  ${r.unit}`);
  }
  console.log(
    `\nTiming-only mode, one 8192³ bf16 GEMM launch (4096 programs): ${sampledMs.toFixed(1)} ms the first time (compiling it), ${exactMs.toFixed(1)} ms with new scalars (cost analysis and timing model only); every program is accounted for, none traced.`,
  );

  console.log(
    '\nSmall kernels and their goals (device layer, reference backend; host time, one thread). A repeated launch ' +
      '(same kernel, grid and buffers) beside a plain JS function over Float32Arrays doing the same work, ' +
      'interleaved; ×js = js time / tessera time (median over rounds of back-to-back samples). ' +
      `Results ${smallMatch ? 'equal' : 'DIFFER from'} the JS loop's, bit for bit.\n`,
  );
  const table = [
    ['row', 'shape', 'tessera', 'js', 'unit', '×js', 'goal', 'met'],
    [
      'launch overhead',
      'vector_add 1024 f32, 1 program',
      launch.us.toFixed(1),
      launch.jsUs.toFixed(2),
      'µs/call',
      (launch.jsUs / launch.us).toFixed(3),
      `≤${LAUNCH_GOAL_US} µs`,
      launchMet ? 'yes' : `no (${factor(launch.us / LAUNCH_GOAL_US)}× over)`,
    ],
    ...vectorRows.map((r) => [
      'vector_add f32',
      `1 M, ${r.form}`,
      r.gbs.toFixed(2),
      streaming.js.toFixed(2),
      'GB/s',
      r.ratio.toFixed(3),
      `≥${VECTOR_ADD_GOAL}× js`,
      r.met ? 'yes' : `no (${factor(VECTOR_ADD_GOAL / r.ratio)}× short)`,
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((t) => t[i]!.length)));
  const left = new Set([0, 1, 4, 6, 7]);
  for (const t of table) {
    console.log(
      t
        .map((c, i) => (left.has(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
        .join('  ')
        .trimEnd(),
    );
  }
  console.log(
    `\nTiming-only mode, grid-stride SIMT vector add over ${simtShape}: ${(simtWallMs / 1e3).toFixed(3)} s of wall ` +
      `time to cost (modelled ${simtLaunch.ms.toFixed(2)} ms); goal < ${SIMT_GOAL_S} s: ` +
      `${simtMet ? 'met' : `missed, ${factor(simtWallMs / 1e3 / SIMT_GOAL_S)}× over`}.`,
  );
  console.log(
    `Load average (1 min) on these ${availableParallelism()} cores: ${LOAD_AT_START.toFixed(2)} at the start, ` +
      `${loadavg()[0]!.toFixed(2)} at the end; other work inflates times and wall seconds (ratios less).`,
  );
}

function row(op: string, shape: string, tessera: number, tfjs: number, unit: string): Row {
  return { op, shape, tessera, tfjs, unit, ratio_vs_tfjs: tessera / tfjs };
}

await main();
