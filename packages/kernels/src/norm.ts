/**
 * RMSNorm (Llama): y = x / √(mean(x²) + eps) · weight, per row of x (rows, cols). Computes in f32; stores in y's dtype.
 * One program walks rows in a grid-stride loop; a row of up to BLOCK columns is one tile (single pass), longer rows
 * take two passes over column blocks (sum of squares, then scale).
 *
 * LayerNorm (`layernorm`, below): y = (x − mean) / √(var + eps) · weight + bias, per row, with the biased variance
 * (as PyTorch's `layer_norm`). Mean and variance in f32, from deviations, never from E[x²] − mean² (which cancels
 * catastrophically when |mean| ≫ std).
 */
import { type Device, type DeviceBuffer, type LaunchResult, type Tile, tileKernel } from '@tessera/device';
import { checkAliasing } from './alias';
import { check, checkBuffer, checkDims, FLOAT_DTYPES, nextPow2, type OpOptions } from './common';
import { maxVectorBlock, streamingGrid } from './config';
import { blockOption, blockShape, forEachRowBlock, maskColumns } from './tiling';

export const rmsnormKernel = tileKernel(
  {
    name: 'rmsnorm',
    params: { x: 'ptr', w: 'ptr', y: 'ptr', rows: 'i32', cols: 'i32', eps: 'f32', BLOCK: 'constexpr' },
  },
  (t, { x, w, y, rows, cols, eps, BLOCK }) => {
    const X = t.tensor(x, [rows, cols]);
    const Y = t.tensor(y, [rows, cols]);
    const W = t.tensor(w, [1, cols]);
    for (let r = t.programId(0); r < rows; r += t.numPrograms(0)) {
      if (cols <= BLOCK) {
        const v = t.loadBlock(X, [r, 0], [1, BLOCK]).cast('f32'); // (1, BLOCK), zero-padded past cols
        const inv = v.mul(v).sum(1, true).div(cols).add(eps).rsqrt(); // (1, 1)
        t.storeBlock(Y, [r, 0], v.mul(inv).mul(t.loadBlock(W, [0, 0], [1, BLOCK]).cast('f32')));
      } else {
        let ss = t.zeros([1, 1]);
        for (let c = 0; c < cols; c += BLOCK) {
          const v = t.loadBlock(X, [r, c], [1, BLOCK]).cast('f32');
          ss = ss.add(v.mul(v).sum(1, true));
        }
        const inv = ss.div(cols).add(eps).rsqrt();
        for (let c = 0; c < cols; c += BLOCK) {
          const v = t.loadBlock(X, [r, c], [1, BLOCK]).cast('f32');
          t.storeBlock(Y, [r, c], v.mul(inv).mul(t.loadBlock(W, [0, c], [1, BLOCK]).cast('f32')));
        }
      }
    }
  },
);

export interface RmsNormArgs {
  /** (rows, cols) input. */
  x: DeviceBuffer;
  /** (cols,) scale. */
  weight: DeviceBuffer;
  /** (rows, cols) output; may be x itself. */
  out: DeviceBuffer;
  rows: number;
  cols: number;
  /** Added to the mean square (Llama uses 1e-5 or 1e-6). */
  eps?: number;
}

export function rmsnorm(
  dev: Device,
  a: RmsNormArgs,
  options: OpOptions & { config?: { BLOCK?: number } } = {},
): LaunchResult {
  const op = 'rmsnorm';
  checkDims(op, { rows: a.rows, cols: a.cols });
  const text = `(rows, cols) = (${a.rows}, ${a.cols})`;
  checkBuffer(op, 'x', a.x, { shape: [a.rows, a.cols], shapeText: text, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'weight', a.weight, { shape: [a.cols], shapeText: `(cols,) = (${a.cols},)`, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'out', a.out, { shape: [a.rows, a.cols], shapeText: text, dtypes: FLOAT_DTYPES });
  const eps = a.eps ?? 1e-6;
  check(Number.isFinite(eps) && eps >= 0, op, `eps = ${eps} must be a finite number ≥ 0.`);
  const BLOCK = options.config?.BLOCK ?? Math.min(nextPow2(a.cols), maxVectorBlock(dev.properties, 3));
  return dev.launch(
    rmsnormKernel,
    { grid: streamingGrid(dev.properties, Math.max(1, a.rows)), stream: options.stream },
    { x: a.x, w: a.weight, y: a.out, rows: a.rows, cols: a.cols, eps, BLOCK },
  );
}

/**
 * LayerNorm kernel. A program takes BR whole rows at a time (BR > 1 for short rows). A row of up to BC columns is one
 * tile: mean, then the deviations (masked to the row) give the variance, and the same tile is normalised and stored.
 * Longer rows take two passes over BC-column blocks: the first computes each block's mean and M2 (sum of squared
 * deviations) and merges them into the row's (Chan, Golub & LeVeque: δ = mean_b − mean, mean += δ·n_b/n,
 * M2 += M2_b + δ²·n_a·n_b/n); the second normalises. Block counts n_a, n_b are scalars (they depend on cols only).
 */
export const layernormKernel = tileKernel(
  {
    name: 'layernorm',
    uses: { forEachRowBlock, maskColumns },
    params: {
      x: 'ptr',
      w: 'ptr',
      b: 'ptr',
      y: 'ptr',
      rows: 'i64',
      cols: 'i64',
      eps: 'f32',
      HAS_BIAS: 'constexpr',
      BR: 'constexpr',
      BC: 'constexpr',
    },
  },
  (t, { x, w, b, y, rows, cols, eps, HAS_BIAS, BR, BC }) => {
    const X = t.tensor(x, [rows, cols]);
    const Y = t.tensor(y, [rows, cols]);
    const W = t.tensor(w, [1, cols]);
    const B = t.tensor(b, [1, cols]);
    /** Mean (BR, 1), M2 (BR, 1) and the masked deviations (BR, BC) of the block at (r, c). */
    const stats = (r: number, c: number) => {
      const v = t.loadBlock(X, [r, c], [BR, BC]).cast('f32'); // zero-padded past the row
      const mean = v.sum(1, true).div(Math.min(BC, cols - c));
      const d = maskColumns(t, v.sub(mean), c, cols, BC, 0); // zero past the row
      return { mean, m2: d.mul(d).sum(1, true), d };
    };
    /** Stores normalised deviations d (BR, BC) at (r, c), scaled by weight and shifted by bias. */
    const store = (r: number, c: number, d: Tile, rstd: Tile) => {
      let o = d.mul(rstd).mul(t.loadBlock(W, [0, c], [1, BC]).cast('f32'));
      if (HAS_BIAS) o = o.add(t.loadBlock(B, [0, c], [1, BC]).cast('f32'));
      t.storeBlock(Y, [r, c], o);
    };
    forEachRowBlock(t, rows, BR, (r) => {
      if (cols <= BC) {
        const { m2, d } = stats(r, 0);
        store(r, 0, d, m2.div(cols).add(eps).rsqrt());
        return;
      }
      let { mean, m2 } = stats(r, 0);
      let n = BC;
      for (let c = BC; c < cols; c += BC) {
        const nb = Math.min(BC, cols - c);
        const s = stats(r, c);
        const delta = s.mean.sub(mean);
        mean = mean.add(delta.mul(nb / (n + nb)));
        m2 = m2.add(s.m2).add(delta.mul(delta).mul((n * nb) / (n + nb)));
        n += nb;
      }
      const rstd = m2.div(cols).add(eps).rsqrt();
      for (let c = 0; c < cols; c += BC) {
        store(r, c, t.loadBlock(X, [r, c], [BR, BC]).cast('f32').sub(mean), rstd);
      }
    });
  },
);

export interface LayerNormArgs {
  /** (rows, cols) input. */
  x: DeviceBuffer;
  /** (cols,) scale (γ). */
  weight: DeviceBuffer;
  /** (cols,) shift (β); none if absent. */
  bias?: DeviceBuffer;
  /** (rows, cols) output; may be x itself. */
  out: DeviceBuffer;
  rows: number;
  cols: number;
  /** Added to the variance (default 1e-5, PyTorch's). */
  eps?: number;
}

/** out = (x − mean) / √(var + eps) · weight + bias over the last axis. */
export function layernorm(
  dev: Device,
  a: LayerNormArgs,
  options: OpOptions & { config?: { BLOCK?: number } } = {},
): LaunchResult {
  const op = 'layernorm';
  checkDims(op, { rows: a.rows, cols: a.cols });
  const text = `(rows, cols) = (${a.rows}, ${a.cols})`;
  const vec = `(cols,) = (${a.cols},)`;
  checkBuffer(op, 'x', a.x, { shape: [a.rows, a.cols], shapeText: text, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'weight', a.weight, { shape: [a.cols], shapeText: vec, dtypes: FLOAT_DTYPES });
  if (a.bias !== undefined) checkBuffer(op, 'bias', a.bias, { shape: [a.cols], shapeText: vec, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'out', a.out, { shape: [a.rows, a.cols], shapeText: text, dtypes: FLOAT_DTYPES });
  const n = a.rows * a.cols;
  checkAliasing(op, ['out', a.out, n], ['x', a.x, n], true);
  checkAliasing(op, ['out', a.out, n], ['weight', a.weight, a.cols], false);
  if (a.bias) checkAliasing(op, ['out', a.out, n], ['bias', a.bias, a.cols], false);
  const eps = a.eps ?? 1e-5;
  check(Number.isFinite(eps) && eps >= 0, op, `eps = ${eps} must be a finite number ≥ 0.`);
  // where() holds a mask and three f32 tiles: four tiles' worth.
  const shape = blockShape(a.rows, a.cols, blockOption(op, options.config?.BLOCK, maxVectorBlock(dev.properties, 4)));
  return dev.launch(
    layernormKernel,
    { grid: streamingGrid(dev.properties, Math.max(1, Math.ceil(a.rows / shape.BR))), stream: options.stream },
    {
      x: a.x,
      w: a.weight,
      b: a.bias ?? a.weight,
      y: a.out,
      rows: a.rows,
      cols: a.cols,
      eps,
      HAS_BIAS: a.bias ? 1 : 0,
      ...shape,
    },
  );
}
