/**
 * Shared-memory tree reduction (CUDA samples' `reduce` with sequential addressing): each block loads one element per
 * thread into shared memory, halves the active threads each step with a barrier between steps, and thread 0 adds the
 * block's sum to the output atomically.
 */
import { cdiv, type Device, simtKernel } from '@tessera/device';
import { type ExampleResult, inputs, relError } from './check';

const THREADS = 256;

export const simtReduce = simtKernel(
  {
    name: 'simt_reduce',
    params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32' },
    shared: { partial: ['f32', THREADS] },
  },
  function* (k, { x, out, n }) {
    const tid = k.threadIdx.x;
    const i = k.blockIdx.x * k.blockDim.x + tid;
    const partial = k.shared.partial!; // __shared__ float partial[THREADS]
    partial[tid] = i < n ? x.get(i) : 0;
    yield k.syncthreads();
    for (let s = k.blockDim.x >> 1; s > 0; s >>= 1) {
      if (tid < s) partial[tid] = partial[tid]! + partial[tid + s]!;
      yield k.syncthreads();
    }
    if (tid === 0) out.atomicAdd(0, partial[0]!);
  },
);

export function runSimtReduction(dev: Device, n = 20_000): ExampleResult {
  const xs = inputs(n, 9);
  const [x, out] = [dev.alloc('f32', n), dev.alloc('f32', 1)];
  dev.upload(x, xs);
  dev.fill(out, 0);
  const r = dev.launch(simtReduce, { grid: cdiv(n, THREADS), block: THREADS }, { x, out, n });
  const err = relError(dev.download(out), [xs.reduce((s, v) => s + v, 0)]);
  dev.free(x);
  dev.free(out);
  return { name: 'reduction (SIMT, shared memory)', ok: err < 1e-5, relError: err, modelledMs: r.ms, detail: `n=${n}` };
}
