/**
 * INT8 quantisation for W8A8 GEMMs (what Ascend serving uses in place of FP8): activations per token (row) on the
 * device, weights per output channel on the host, both symmetric: scale = max|x| / 127, q = round(x / scale) in
 * [-127, 127]. Dequantised, x ≈ q · scale; a W8A8 GEMM computes (Σ q_a·q_b) · scale_a[m] · scale_b[n].
 */
import { type Device, type DeviceBuffer, type LaunchResult, tileKernel } from '@tessera/device';
import { check, checkBuffer, checkDims, FLOAT_DTYPES, nextPow2, type OpOptions } from './common';
import { maxVectorBlock, streamingGrid } from './config';

export const quantizeKernel = tileKernel(
  {
    name: 'quantize_per_token',
    params: { x: 'ptr', q: 'ptr<i8>', s: 'ptr<f32>', rows: 'i32', cols: 'i32', BLOCK: 'constexpr' },
  },
  (t, { x, q, s, rows, cols, BLOCK }) => {
    const X = t.tensor(x, [rows, cols]);
    const Q = t.tensor(q, [rows, cols]);
    const S = t.tensor(s, [rows, 1]);
    for (let r = t.programId(0); r < rows; r += t.numPrograms(0)) {
      let amax = t.zeros([1, 1]);
      for (let c = 0; c < cols; c += BLOCK)
        amax = amax.maximum(t.loadBlock(X, [r, c], [1, BLOCK]).cast('f32').abs().max(1, true));
      const scale = t.where(amax.gt(0), amax.div(127), t.full([1, 1], 1)); // (1, 1); all-zero rows get scale 1
      t.storeBlock(S, [r, 0], scale);
      for (let c = 0; c < cols; c += BLOCK) {
        const v = t.loadBlock(X, [r, c], [1, BLOCK]).cast('f32').div(scale).round().maximum(-127).minimum(127);
        t.storeBlock(Q, [r, c], v);
      }
    }
  },
);

export interface QuantizeArgs {
  /** (rows, cols) f32/f16/bf16. */
  x: DeviceBuffer;
  /** (rows, cols) int8 output. */
  out: DeviceBuffer;
  /** (rows,) f32 output scales. */
  scales: DeviceBuffer;
  rows: number;
  cols: number;
}

/** Dynamic per-token symmetric int8 quantisation of activations. */
export function quantizePerToken(dev: Device, a: QuantizeArgs, options: OpOptions = {}): LaunchResult {
  const op = 'quantizePerToken';
  checkDims(op, { rows: a.rows, cols: a.cols });
  const text = `(rows, cols) = (${a.rows}, ${a.cols})`;
  checkBuffer(op, 'x', a.x, { shape: [a.rows, a.cols], shapeText: text, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'out', a.out, { shape: [a.rows, a.cols], shapeText: text, dtypes: ['i8'] });
  checkBuffer(op, 'scales', a.scales, { shape: [a.rows], shapeText: `(rows,) = (${a.rows},)`, dtypes: ['f32'] });
  check(a.cols > 0 || a.rows === 0, op, 'cols must be ≥ 1.');
  const BLOCK = Math.min(nextPow2(a.cols), maxVectorBlock(dev.properties, 3));
  return dev.launch(
    quantizeKernel,
    { grid: streamingGrid(dev.properties, Math.max(1, a.rows)), stream: options.stream },
    { x: a.x, q: a.out, s: a.scales, rows: a.rows, cols: a.cols, BLOCK },
  );
}

/**
 * Per-output-channel symmetric int8 quantisation of a weight matrix on the host (done once, offline): w is (K, N)
 * row-major; returns q (K, N) int8 values and scales (N,).
 */
export function quantizeWeightsPerChannel(
  w: ArrayLike<number>,
  K: number,
  N: number,
): { q: Int8Array; scales: Float32Array } {
  const scales = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(w[k * N + n]!));
    scales[n] = m > 0 ? m / 127 : 1;
  }
  const q = new Int8Array(K * N);
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) q[k * N + n] = Math.max(-127, Math.min(127, Math.round(w[k * N + n]! / scales[n]!)));
  }
  return { q, scales };
}
