/**
 * Softmax and log-softmax over the last axis of x (rows, cols), of the scaled logits z = scale·x:
 *
 *   softmax(z)_j     = exp(z_j − m) / s              m = max_j z_j,   s = Σ_j exp(z_j − m)
 *   logSoftmax(z)_j  = z_j − (m + log s)
 *
 * Subtracting the row maximum keeps exp in range (numerically stable). Computed in f32, stored in out's dtype.
 * A row of up to BLOCK columns is one tile: one read, one write (BR > 1 rows share a tile when rows are short).
 * Longer rows take two passes over BC-column blocks: an online pass keeping a running maximum m and a sum s rescaled
 * whenever m grows (s ← s·exp(m_old − m_new) + Σ exp(z − m_new), as in online softmax / FlashAttention), then a pass
 * that writes the outputs. A row that is all −∞ gives NaN, as in PyTorch.
 *
 * One program owns a row, so fewer rows than the device has units (e.g. 64 rows of 1M columns on a 48-vector-core
 * Ascend) leave units idle: such shapes would want a split-row variant that combines partial (m, s) across programs.
 */
import { type Device, type DeviceBuffer, type LaunchResult, type Tile, tileKernel } from '@tessera/device';
import { checkAliasing } from './alias';
import { check, checkBuffer, checkDims, FLOAT_DTYPES, type OpOptions } from './common';
import { maxVectorBlock, streamingGrid } from './config';
import { blockOption, blockShape, forEachRowBlock, maskColumns } from './tiling';

const NEG_INF = Number.NEGATIVE_INFINITY;

function makeSoftmaxKernel(log: boolean) {
  return tileKernel(
    {
      name: log ? 'log_softmax' : 'softmax',
      uses: { log, NEG_INF, forEachRowBlock, maskColumns },
      params: { x: 'ptr', out: 'ptr', rows: 'i64', cols: 'i64', scale: 'f32', BR: 'constexpr', BC: 'constexpr' },
    },
    (t, { x, out, rows, cols, scale, BR, BC }) => {
      const X = t.tensor(x, [rows, cols]);
      const O = t.tensor(out, [rows, cols]);
      /** (BR, BC) scaled logits of the block at (r, c); −∞ past the end of the row, so it adds nothing. */
      const logits = (r: number, c: number): Tile => {
        const raw = t.loadBlock(X, [r, c], [BR, BC]).cast('f32');
        const z = scale === 1 ? raw : raw.mul(scale);
        return maskColumns(t, z, c, cols, BC, NEG_INF);
      };
      /** The outputs of a block from its logits and the row's m (max) and s (sum of exp(z − m)), each (BR, 1). */
      const finish = (z: Tile, m: Tile, s: Tile): Tile =>
        log ? z.sub(m.add(t.log(s))) : t.exp(z.sub(m)).mul(t.div(1, s));
      forEachRowBlock(t, rows, BR, (r) => {
        if (cols <= BC) {
          const z = logits(r, 0);
          const m = z.max(1, true);
          if (log) {
            t.storeBlock(O, [r, 0], finish(z, m, t.exp(z.sub(m)).sum(1, true)));
          } else {
            const e = t.exp(z.sub(m)); // computed once, reused for the sum and the output
            t.storeBlock(O, [r, 0], e.mul(t.div(1, e.sum(1, true))));
          }
          return;
        }
        let m = t.full([BR, 1], NEG_INF);
        let s = t.zeros([BR, 1]);
        for (let c = 0; c < cols; c += BC) {
          const z = logits(r, c);
          const mNew = m.maximum(z.max(1, true));
          // While a row has seen only −∞, shift by 0: exp(−∞ − (−∞)) would be NaN, exp(−∞ − 0) is 0.
          const shift = t.where(mNew.eq(NEG_INF), 0, mNew);
          s = s.mul(t.exp(m.sub(shift))).add(t.exp(z.sub(shift)).sum(1, true));
          m = mNew;
        }
        for (let c = 0; c < cols; c += BC) t.storeBlock(O, [r, c], finish(logits(r, c), m, s));
      });
    },
  );
}

export const softmaxKernel = makeSoftmaxKernel(false);
export const logSoftmaxKernel = makeSoftmaxKernel(true);

export interface SoftmaxArgs {
  /** (rows, cols). */
  x: DeviceBuffer;
  /** (rows, cols); may be x itself. */
  out: DeviceBuffer;
  rows: number;
  cols: number;
  /** Multiplies the logits first (attention's 1/√d, a temperature's inverse); default 1. */
  scale?: number;
}

type SoftmaxOptions = OpOptions & { config?: { BLOCK?: number } };

function launch(op: string, kernel: typeof logSoftmaxKernel, dev: Device, a: SoftmaxArgs, o: SoftmaxOptions) {
  checkDims(op, { rows: a.rows, cols: a.cols });
  const text = `(rows, cols) = (${a.rows}, ${a.cols})`;
  checkBuffer(op, 'x', a.x, { shape: [a.rows, a.cols], shapeText: text, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'out', a.out, { shape: [a.rows, a.cols], shapeText: text, dtypes: FLOAT_DTYPES });
  checkAliasing(op, ['out', a.out, a.rows * a.cols], ['x', a.x, a.rows * a.cols], true);
  const scale = a.scale ?? 1;
  check(Number.isFinite(scale), op, `scale = ${scale} must be a finite number.`);
  // where() holds a mask and three f32 tiles: four tiles' worth.
  const shape = blockShape(a.rows, a.cols, blockOption(op, o.config?.BLOCK, maxVectorBlock(dev.properties, 4)));
  return dev.launch(
    kernel,
    { grid: streamingGrid(dev.properties, Math.max(1, Math.ceil(a.rows / shape.BR))), stream: o.stream },
    { x: a.x, out: a.out, rows: a.rows, cols: a.cols, scale, ...shape },
  );
}

/** out = softmax(scale · x) along the last axis. */
export function softmax(dev: Device, args: SoftmaxArgs, options: SoftmaxOptions = {}): LaunchResult {
  return launch('softmax', softmaxKernel, dev, args, options);
}

/** out = log(softmax(scale · x)) along the last axis, computed as z − (max + log Σ exp(z − max)). */
export function logSoftmax(dev: Device, args: SoftmaxArgs, options: SoftmaxOptions = {}): LaunchResult {
  return launch('logSoftmax', logSoftmaxKernel, dev, args, options);
}
