/** Numerically stable row softmax as a tile kernel: one row per program, max-subtracted before exp. */
import { type Device, tileKernel } from '@tessera/device';
import { type ExampleResult, inputs, relError } from './check';

export const softmax = tileKernel(
  { name: 'softmax', params: { x: 'ptr<f32>', y: 'ptr<f32>', cols: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, cols, BLOCK }) => {
    const base = t.programId(0) * cols;
    const offs = t.arange(0, BLOCK); // (BLOCK,) ≥ cols
    const mask = offs.lt(cols);
    const row = t.load(x, offs.add(base), { mask, other: Number.NEGATIVE_INFINITY });
    const e = row.sub(row.max()).exp(); // exp(-inf) = 0 in the padding
    t.store(y, offs.add(base), e.div(e.sum()), { mask });
  },
);

export function runSoftmax(dev: Device, rows = 64, cols = 1000): ExampleResult {
  const xs = inputs(rows * cols, 6).map((v) => v * 10);
  const [x, y] = [dev.alloc('f32', [rows, cols]), dev.alloc('f32', [rows, cols])];
  dev.upload(x, xs);
  dev.fill(y, Number.NaN);
  const block = 2 ** Math.ceil(Math.log2(cols));
  const r = dev.launch(softmax, { grid: rows }, { x, y, cols, BLOCK: block });
  const ref = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const row = Array.from(xs.subarray(i * cols, (i + 1) * cols));
    const m = Math.max(...row);
    const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
    row.forEach((v, j) => {
      ref[i * cols + j] = Math.exp(v - m) / s;
    });
  }
  const err = relError(dev.download(y), ref);
  dev.free(x);
  dev.free(y);
  return { name: 'softmax (tile)', ok: err < 1e-5, relError: err, modelledMs: r.ms, detail: `${rows}×${cols}` };
}
