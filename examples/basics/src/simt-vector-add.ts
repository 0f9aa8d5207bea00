/** vectorAdd the classic CUDA way: one thread per element, `i = blockIdx.x * blockDim.x + threadIdx.x`. */
import { cdiv, type Device, simtKernel } from '@tessera/device';
import { type ExampleResult, inputs, relError } from './check';

export const simtVectorAdd = simtKernel(
  { name: 'simt_vector_add', params: { x: 'ptr<f32>', y: 'ptr<f32>', out: 'ptr<f32>', n: 'i32' } },
  (k, { x, y, out, n }) => {
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    if (i < n) out.set(i, x.get(i) + y.get(i));
  },
);

export function runSimtVectorAdd(dev: Device, n = 20_000): ExampleResult {
  const xs = inputs(n, 7);
  const ys = inputs(n, 8);
  const [x, y, out] = [dev.alloc('f32', n), dev.alloc('f32', n), dev.alloc('f32', n)];
  dev.upload(x, xs);
  dev.upload(y, ys);
  dev.fill(out, Number.NaN);
  const threads = 256;
  const r = dev.launch(simtVectorAdd, { grid: cdiv(n, threads), block: threads }, { x, y, out, n });
  const err = relError(
    dev.download(out),
    xs.map((v, i) => v + ys[i]!),
  );
  for (const b of [x, y, out]) dev.free(b);
  return {
    name: 'vectorAdd (SIMT)',
    ok: err < 1e-6,
    relError: err,
    modelledMs: r.ms,
    detail: `n=${n}, ${threads} threads/block`,
  };
}
