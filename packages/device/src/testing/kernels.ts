/**
 * Kernels the conformance suite runs on every backend. Together they touch every op family of the tile language
 * (gathers with masks, block loads, elementwise math, reductions, dot, atomics) and the SIMT model (shared memory,
 * barriers, atomics).
 */
import { simtKernel, tileKernel } from '../kernel/kernel';

/** out = x + y over n elements, BLOCK per program (any dtype). */
export const vectorAdd = tileKernel(
  { name: 'conformance_vector_add', params: { x: 'ptr', y: 'ptr', out: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, out, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const mask = offs.lt(n);
    const a = t.load(x, offs, { mask });
    const b = t.load(y, offs, { mask });
    t.store(out, offs, a.add(b), { mask });
  },
);

/**
 * out = where(x > 0, exp(x)·y, sqrt(|x|) − y) + maximum(x, y)·0.25 − min(y, 0.5) / 2 — many elementwise ops at once.
 */
export const elementwiseMix = tileKernel(
  { name: 'conformance_elementwise', params: { x: 'ptr', y: 'ptr', out: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, out, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const mask = offs.lt(n);
    const a = t.load(x, offs, { mask }).cast('f32');
    const b = t.load(y, offs, { mask }).cast('f32');
    const pos = t.where(a.gt(0), a.exp().mul(b), a.abs().sqrt().sub(b));
    const r = pos.add(a.maximum(b).mul(0.25)).sub(b.minimum(0.5).div(2));
    t.store(out, offs, r, { mask });
  },
);

/** C(M,N) = A(M,K) · B(K,N) with block loads; BM×BN per program, BK per step. */
export const matmul = tileKernel(
  {
    name: 'conformance_matmul',
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
    let acc = t.zeros([BM, BN], 'f32');
    for (let k = 0; k < K; k += BK)
      acc = t.dot(t.loadBlock(A, [m0, k], [BM, BK]), t.loadBlock(B, [k, n0], [BK, BN]), acc);
    t.storeBlock(C, [m0, n0], acc);
  },
);

/** int8 × int8 → int32 GEMM (the W8A8 building block). */
export const matmulInt8 = tileKernel(
  {
    name: 'conformance_matmul_i8',
    params: {
      a: 'ptr<i8>',
      b: 'ptr<i8>',
      c: 'ptr<i32>',
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
    let acc = t.zeros([BM, BN], 'i32');
    for (let k = 0; k < K; k += BK)
      acc = t.dot(t.loadBlock(A, [m0, k], [BM, BK]), t.loadBlock(B, [k, n0], [BK, BN]), acc);
    t.storeBlock(C, [m0, n0], acc);
  },
);

/** Row softmax of a (rows, cols) matrix, one row per program, the whole row in one tile (BLOCK ≥ cols). */
export const softmax = tileKernel(
  { name: 'conformance_softmax', params: { x: 'ptr', y: 'ptr', cols: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, cols, BLOCK }) => {
    const row = t.programId(0);
    const offs = t.arange(0, BLOCK);
    const mask = offs.lt(cols);
    const v = t.load(x, offs.add(row * cols), { mask, other: Number.NEGATIVE_INFINITY }).cast('f32');
    const e = v.sub(v.max()).exp();
    t.store(y, offs.add(row * cols), e.div(e.sum()), { mask });
  },
);

/** sum(x) into out[0] with per-program partial sums and one atomic add each. */
export const atomicSum = tileKernel(
  { name: 'conformance_atomic_sum', params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, out, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    t.atomicAdd(out, 0, t.load(x, offs, { mask: offs.lt(n) }).sum());
  },
);

/** Reads one element past the end when `overrun` is 1: the illegal-address fault every backend must report. */
export const outOfBounds = tileKernel(
  { name: 'conformance_out_of_bounds', params: { x: 'ptr', out: 'ptr', n: 'i32', overrun: 'i32' } },
  (t, { x, out, n, overrun }) => {
    const offs = t.arange(0, 16);
    t.store(out, offs, t.load(x, offs.add(n - 16 + overrun)), { mask: offs.lt(n) });
  },
);

/** Classic CUDA vectorAdd: one thread per element. */
export const simtVectorAdd = simtKernel(
  { name: 'conformance_simt_vector_add', params: { x: 'ptr', y: 'ptr', out: 'ptr', n: 'i32' } },
  (k, { x, y, out, n }) => {
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    if (i < n) out.set(i, x.get(i) + y.get(i));
  },
);

/** Shared-memory tree reduction per block, then one atomicAdd per block (CUDA samples' reduction #3). */
export const simtReduce = simtKernel(
  {
    name: 'conformance_simt_reduce',
    params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32' },
    shared: { partial: ['f32', 1024] },
  },
  function* (k, { x, out, n }) {
    const tid = k.threadIdx.x;
    const i = k.blockIdx.x * k.blockDim.x + tid;
    const partial = k.shared.partial!;
    partial[tid] = i < n ? x.get(i) : 0;
    yield k.syncthreads();
    for (let s = k.blockDim.x >> 1; s > 0; s >>= 1) {
      if (tid < s) partial[tid] = Math.fround(partial[tid]! + partial[tid + s]!);
      yield k.syncthreads();
    }
    if (tid === 0) out.atomicAdd(0, partial[0]!);
  },
);
