/**
 * Row softmax, y[r, :] = exp(x[r, :] − max x[r, :]) / Σ exp(x[r, :] − max x[r, :]), subtracting the row maximum so
 * that exp never overflows. Not one of the CUDA samples, but built from their pieces:
 *
 *   SIMT — one block per row, the way a hand-written CUDA softmax does it: each thread strides over the row keeping
 *          a running max, a shared-memory tree reduction (reduce2's sequential addressing) gives the block the row
 *          max; the same again for the sum of exponentials; then every thread writes its elements.
 *   tile — one row per program: load (padding with −inf), `max`, `exp`, `sum`, divide, store.
 *
 * FLOPs are counted from the arithmetic in both: per element max; sub, exp, add; sub, exp, div, with `exp` and the
 * division also on the special-function units.
 */
import { type Device, simtKernel, tileKernel } from '@tessera/device';
import { compare, type ExampleResult, poison, type SampleResult, sample, uploadInputs, within } from './check';

export const THREADS = 256;

export const softmaxSimt = simtKernel(
  {
    name: 'softmax_simt',
    params: { x: 'ptr<f32>', y: 'ptr<f32>', cols: 'i32' },
    shared: { red: ['f32', THREADS] }, // __shared__ float red[THREADS]
  },
  function* (k, { x, y, cols }) {
    const f32 = Math.fround; // float arithmetic: round every result to f32, as the GPU would
    const red = k.shared.red!;
    const tid = k.threadIdx.x;
    const base = k.blockIdx.x * cols;
    const stride = k.blockDim.x;

    // 1. Row max: a running max per thread, then a tree over the block.
    let m = Number.NEGATIVE_INFINITY;
    for (let j = tid; j < cols; j += stride) m = Math.max(m, x.get(base + j));
    red[tid] = m;
    yield k.syncthreads();
    for (let s = stride >> 1; s > 0; s >>= 1) {
      if (tid < s) {
        red[tid] = Math.max(red[tid]!, red[tid + s]!);
      }
      yield k.syncthreads();
    }
    const rowMax = red[0]!;
    yield k.syncthreads(); // everyone has read red[0] before it is reused for the sums

    // 2. Row sum of exp(x − max), the same way.
    let sum = 0;
    for (let j = tid; j < cols; j += stride) sum = f32(sum + f32(Math.exp(f32(x.get(base + j) - rowMax))));
    red[tid] = sum;
    yield k.syncthreads();
    for (let s = stride >> 1; s > 0; s >>= 1) {
      if (tid < s) {
        red[tid] = red[tid]! + red[tid + s]!;
      }
      yield k.syncthreads();
    }
    const rowSum = red[0]!;

    // 3. Normalise (recomputing the exponentials rather than keeping them: a thread's share of the row need not
    //    fit in registers).
    for (let j = tid; j < cols; j += stride) y.set(base + j, f32(Math.exp(f32(x.get(base + j) - rowMax))) / rowSum);
  },
);

export const softmaxTile = tileKernel(
  { name: 'softmax_tile', params: { x: 'ptr<f32>', y: 'ptr<f32>', cols: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, cols, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * cols); // BLOCK ≥ cols
    const mask = t.arange(0, BLOCK).lt(cols);
    const row = t.load(x, offs, { mask, other: Number.NEGATIVE_INFINITY });
    const e = row.sub(row.max()).exp(); // exp(−inf) = 0 in the padding
    t.store(y, offs, e.div(e.sum()), { mask });
  },
);

export function runSoftmax(dev: Device, rows = 64, cols = 1000): SampleResult {
  const [x, y] = [dev.alloc('f32', [rows, cols]), dev.alloc('f32', [rows, cols])];
  const hx = uploadInputs(dev, x, 501, 10); // in [-10, 10): exp would span e^±10 without the max subtraction
  const ref = () => {
    const r = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      let m = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < cols; j++) m = Math.max(m, hx[i * cols + j]!);
      let s = 0;
      for (let j = 0; j < cols; j++) s += Math.exp(hx[i * cols + j]! - m);
      for (let j = 0; j < cols; j++) r[i * cols + j] = Math.exp(hx[i * cols + j]! - m) / s;
    }
    return r;
  };
  const size = `${rows}×${cols}`;
  const run = (name: string, detail: string, launch: () => number): ExampleResult => {
    poison(dev, y);
    const ms = launch();
    const err = compare(dev, y, ref);
    return { name, ok: within(err, 1e-5), relError: err, modelledMs: ms, detail };
  };
  const BLOCK = 2 ** Math.ceil(Math.log2(cols));
  const variants = [
    run(
      'softmax: SIMT, one block per row, shared-memory reductions',
      `${size}, ${THREADS} threads/block`,
      () => dev.launch(softmaxSimt, { grid: rows, block: THREADS }, { x, y, cols }).ms,
    ),
    run(
      'softmax: tile, one row per program',
      `${size}, BLOCK ${BLOCK}`,
      () => dev.launch(softmaxTile, { grid: rows }, { x, y, cols, BLOCK }).ms,
    ),
  ];
  dev.free(x);
  dev.free(y);
  return sample('softmax', size, variants);
}
