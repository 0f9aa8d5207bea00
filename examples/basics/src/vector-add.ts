/** vectorAdd as a tile kernel: each program adds one BLOCK-wide slice, masking the tail. */
import { cdiv, type Device, tileKernel } from '@tessera/device';
import { type ExampleResult, inputs, relError } from './check';

export const vectorAdd = tileKernel(
  { name: 'vector_add', params: { x: 'ptr<f32>', y: 'ptr<f32>', out: 'ptr<f32>', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, out, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK); // (BLOCK,)
    const mask = offs.lt(n);
    t.store(out, offs, t.load(x, offs, { mask }).add(t.load(y, offs, { mask })), { mask });
  },
);

export function runVectorAdd(dev: Device, n = 50_000): ExampleResult {
  const xs = inputs(n, 1);
  const ys = inputs(n, 2);
  const [x, y, out] = [dev.alloc('f32', n), dev.alloc('f32', n), dev.alloc('f32', n)];
  dev.upload(x, xs);
  dev.upload(y, ys);
  dev.fill(out, Number.NaN); // poison: a lane the kernel forgets shows up as NaN
  const r = dev.launch(vectorAdd, { grid: cdiv(n, 1024) }, { x, y, out, n, BLOCK: 1024 });
  const err = relError(
    dev.download(out),
    xs.map((v, i) => v + ys[i]!),
  );
  for (const b of [x, y, out]) dev.free(b);
  return { name: 'vectorAdd (tile)', ok: err < 1e-6, relError: err, modelledMs: r.ms, detail: `n=${n}` };
}
