/**
 * Starter programs for the playground: each one a complete program (kernel, launch, float64 reference) at a size that
 * runs in well under a second, under the sanitizer too. `OFF_BY_ONE_TEMPLATE` is wrong on purpose: its guard lets the
 * last thread read one element past the input, which the run reports as a fault and the sanitizer pins to the line.
 */

export interface PlaygroundTemplate {
  id: string;
  title: string;
  description: string;
  source: string;
  /** Deliberately wrong (a lesson for the sanitizer). */
  buggy: boolean;
}

const HEADER = `// Plain JavaScript, run as written: no TypeScript types (there is no transpiler), no imports.
// In scope: tileKernel, simtKernel, deviceFunction, cdiv. The program returns the launch:
// { kernel, grid, block (SIMT), buffers, scalars, check }. Buffers are made for you: 'random' inputs come
// from a seed, 'poison' outputs start as NaN, and check.reference gets the inputs in float64.
`;

export const VECTOR_ADD_TEMPLATE = `${HEADER}
// Vector add, Triton style: each program adds one BLOCK-wide slice and masks the tail.
const n = 1 << 18;
const BLOCK = 1024; // a constexpr: the compiler specialises the kernel for it

const vectorAdd = tileKernel(
  { name: 'vector_add', params: { x: 'ptr<f32>', y: 'ptr<f32>', out: 'ptr<f32>', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, out, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const mask = offs.lt(n);
    t.store(out, offs, t.load(x, offs, { mask }).add(t.load(y, offs, { mask })), { mask });
  },
);

return {
  kernel: vectorAdd,
  grid: cdiv(n, BLOCK),
  buffers: {
    x: { dtype: 'f32', length: n, init: 'random' },
    y: { dtype: 'f32', length: n, init: 'random' },
    out: { dtype: 'f32', length: n, init: 'poison' },
  },
  scalars: { n, BLOCK },
  check: { output: 'out', reference: ({ x, y }) => x.map((v, i) => v + y[i]) },
};
`;

export const SOFTMAX_TEMPLATE = `${HEADER}
// Row softmax: one row per program, the row maximum subtracted before exp so that exp cannot overflow.
const rows = 256;
const cols = 1000;
const BLOCK = 1024; // a power of two ≥ cols: the whole row is one tile

const softmax = tileKernel(
  { name: 'softmax', params: { x: 'ptr<f32>', y: 'ptr<f32>', cols: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, cols, BLOCK }) => {
    const offs = t.arange(0, BLOCK);
    const mask = offs.lt(cols);
    const at = offs.add(t.programId(0) * cols);
    const row = t.load(x, at, { mask, other: Number.NEGATIVE_INFINITY });
    const e = row.sub(row.max()).exp(); // exp(-inf) = 0 in the padding
    t.store(y, at, e.div(e.sum()), { mask });
  },
);

return {
  kernel: softmax,
  grid: rows,
  buffers: {
    x: { dtype: 'f32', length: rows * cols, init: 'random', range: [-10, 10] },
    y: { dtype: 'f32', length: rows * cols, init: 'poison' },
  },
  scalars: { cols, BLOCK },
  check: {
    output: 'y',
    reference: ({ x }) => {
      const y = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        const row = x.subarray(r * cols, (r + 1) * cols);
        const m = Math.max(...row);
        let s = 0;
        for (const v of row) s += Math.exp(v - m);
        for (let c = 0; c < cols; c++) y[r * cols + c] = Math.exp(row[c] - m) / s;
      }
      return y;
    },
  },
};
`;

export const BLOCK_REDUCE_TEMPLATE = `${HEADER}
// Block reduction, CUDA style: each block sums THREADS elements in shared memory, halving the active threads
// each step with a barrier (__syncthreads) between steps; thread 0 writes the block's partial sum.
const n = 1 << 16;
const THREADS = 256; // threads per block: the length of the shared array
const blocks = cdiv(n, THREADS);

const blockSum = simtKernel(
  {
    name: 'block_sum',
    params: { x: 'ptr<f32>', partial: 'ptr<f32>', n: 'i32' },
    shared: { sdata: ['f32', THREADS] }, // __shared__ float sdata[THREADS]
  },
  function* (k, { x, partial, n }) {
    const sdata = k.shared.sdata;
    const tid = k.threadIdx.x;
    const i = k.blockIdx.x * k.blockDim.x + tid;
    sdata[tid] = i < n ? x.get(i) : 0;
    yield k.syncthreads(); // __syncthreads(): a generator's yield is the barrier
    for (let s = k.blockDim.x >> 1; s > 0; s >>= 1) {
      if (tid < s) sdata[tid] = sdata[tid] + sdata[tid + s];
      yield k.syncthreads();
    }
    if (tid === 0) partial.set(k.blockIdx.x, sdata[0]);
  },
);

return {
  kernel: blockSum,
  grid: blocks,
  block: THREADS,
  buffers: {
    x: { dtype: 'f32', length: n, init: 'random' },
    partial: { dtype: 'f32', length: blocks, init: 'poison' },
  },
  scalars: { n },
  check: {
    output: 'partial',
    reference: ({ x }) => {
      const sums = new Float64Array(blocks);
      for (let i = 0; i < n; i++) sums[Math.floor(i / THREADS)] += x[i];
      return sums;
    },
  },
};
`;

export const OFF_BY_ONE_TEMPLATE = `${HEADER}
// Forward difference, dx[i] = x[i + 1] - x[i], with a classic bug: dx has n - 1 elements, but the guard lets
// thread n - 1 run too, and it reads x[n], one past the end (and writes dx[n - 1]). The run faults; with the
// sanitizer on, memcheck names the access, the buffer and this line. The fix: if (i < n - 1).
const n = 1 << 12;
const THREADS = 128;

const forwardDiff = simtKernel(
  { name: 'forward_diff', params: { x: 'ptr<f32>', dx: 'ptr<f32>', n: 'i32' } },
  (k, { x, dx, n }) => {
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    if (i < n) dx.set(i, x.get(i + 1) - x.get(i));
  },
);

return {
  kernel: forwardDiff,
  grid: cdiv(n, THREADS),
  block: THREADS,
  buffers: {
    x: { dtype: 'f32', length: n, init: 'random' },
    dx: { dtype: 'f32', length: n - 1, init: 'poison' },
  },
  scalars: { n },
  check: {
    output: 'dx',
    reference: ({ x }) => Float64Array.from({ length: n - 1 }, (_, i) => x[i + 1] - x[i]),
  },
};
`;

export const PLAYGROUND_TEMPLATES: readonly PlaygroundTemplate[] = Object.freeze([
  {
    id: 'vector-add',
    title: 'Vector add (tile)',
    description: 'out = x + y, one BLOCK-wide slice per program with a masked tail: memory-bound everywhere.',
    source: VECTOR_ADD_TEMPLATE,
    buggy: false,
  },
  {
    id: 'softmax',
    title: 'Row softmax (tile)',
    description: 'A numerically stable softmax over each row: max, exp, sum and divide on one tile per program.',
    source: SOFTMAX_TEMPLATE,
    buggy: false,
  },
  {
    id: 'block-reduce',
    title: 'Block reduction (SIMT, shared memory)',
    description:
      'A CUDA-style tree reduction in shared memory with a barrier between steps: one partial sum per block.',
    source: BLOCK_REDUCE_TEMPLATE,
    buggy: false,
  },
  {
    id: 'off-by-one',
    title: 'Off-by-one (buggy: find it with the sanitizer)',
    description: 'A forward difference whose guard lets the last thread read past the end of its input.',
    source: OFF_BY_ONE_TEMPLATE,
    buggy: true,
  },
]);
