/**
 * `pnpm bench` for @tessera/device: functional speed of the tile executor beside TensorFlow.js's CPU backend on the
 * same shapes, in the same run (ratios, not absolute numbers, are what to compare on a noisy machine), and the wall
 * time of costing an 8192³ GEMM launch in timing-only mode.
 *
 *   pnpm bench            table
 *   pnpm bench --json     one JSON object per row
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { cdiv, createRuntime, type Device, simtKernel, tileKernel } from '../src/index';
import { createTestBackend } from '../src/testing/test-backend';

const json = process.argv.includes('--json') || process.env.BENCH_JSON === '1';

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
  { name: 'bench_softmax', params: { x: 'ptr', y: 'ptr', cols: 'i32' } },
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

  // Costing one 8192³ GEMM launch in timing-only mode (no data): sampled, and with every program traced.
  const trt = await createRuntime({ backend, devices: 'bench', mode: 'timing' });
  const td = trt.device(0);
  const S = 8192;
  const [a, b, c] = [td.alloc('bf16', S * S), td.alloc('bf16', S * S), td.alloc('bf16', S * S)];
  const args = { a, b, c, M: S, N: S, K: S, BM: 128, BN: 128, BK: 64 };
  let t0 = performance.now();
  td.launch(matmul, { grid: [S / 128, S / 128] }, args);
  const sampledMs = performance.now() - t0;
  t0 = performance.now();
  td.launch(matmul, { grid: [S / 128, S / 128], exact: true }, args);
  const exactMs = performance.now() - t0;

  if (json) {
    for (const r of rows) console.log(JSON.stringify(r));
    for (const r of simtRows) console.log(JSON.stringify(r));
    console.log(
      JSON.stringify({ op: 'timing-only gemm', shape: '8192³', sampled_wall_ms: sampledMs, exact_wall_ms: exactMs }),
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
    `\nTiming-only mode, one 8192³ bf16 GEMM launch (4096 programs): ${sampledMs.toFixed(1)} ms sampled, ${exactMs.toFixed(0)} ms tracing every program.`,
  );
}

function row(op: string, shape: string, tessera: number, tfjs: number, unit: string): Row {
  return { op, shape, tessera, tfjs, unit, ratio_vs_tfjs: tessera / tfjs };
}

await main();
