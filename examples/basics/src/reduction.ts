/** Sum reduction as a tile kernel: each program reduces its slice to one value and adds it with one atomic. */
import { cdiv, type Device, tileKernel } from '@tessera/device';
import { type ExampleResult, inputs, relError } from './check';

export const sumReduce = tileKernel(
  { name: 'sum_reduce', params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, out, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const partial = t.load(x, offs, { mask: offs.lt(n) }).sum(); // () scalar tile
    t.atomicAdd(out, 0, partial);
  },
);

export function runReduction(dev: Device, n = 100_000): ExampleResult {
  const xs = inputs(n, 5);
  const [x, out] = [dev.alloc('f32', n), dev.alloc('f32', 1)];
  dev.upload(x, xs);
  dev.fill(out, 0); // the atomics accumulate into it
  const r = dev.launch(sumReduce, { grid: cdiv(n, 4096) }, { x, out, n, BLOCK: 4096 });
  const ref = xs.reduce((s, v) => s + v, 0);
  const err = relError(dev.download(out), [ref]);
  dev.free(x);
  dev.free(out);
  return { name: 'reduction (tile)', ok: err < 1e-5, relError: err, modelledMs: r.ms, detail: `n=${n}` };
}
