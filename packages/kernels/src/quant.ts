/**
 * Quantisation for W8A8 GEMMs: activations per token (row) on the device, weights per output channel on the host,
 * both symmetric. int8 (what Ascend serving uses in place of FP8): scale = max|x| / 127, q = round(x / scale) in
 * [-127, 127]. fp8 (vLLM's `dynamic_per_token_scaled_fp8_quant` and per-channel fp8 weights): scale = max|x| / 448
 * for e4m3 (57344 for e5m2), q = x / scale clamped to ±448 and rounded to the fp8 dtype. Dequantised, x ≈ q · scale;
 * a W8A8 GEMM computes (Σ q_a·q_b) · scale_a[m] · scale_b[n].
 */
import { castScalar, type Device, type DeviceBuffer, DTYPE_INFO, type LaunchResult, tileKernel } from '@tessera/device';
import {
  check,
  checkBuffer,
  checkDims,
  checkSupported,
  FLOAT_DTYPES,
  nextPow2,
  type OpOptions,
  QUANT_DTYPES,
} from './common';
import { maxVectorBlock, streamingGrid } from './config';

/** One kernel for every quantised dtype: `q`'s dtype picks int rounding or the fp8 conversion at the store. */
export const quantizeKernel = tileKernel(
  {
    name: 'quantize_per_token',
    params: { x: 'ptr', q: 'ptr', s: 'ptr<f32>', rows: 'i32', cols: 'i32', QMAX: 'constexpr', BLOCK: 'constexpr' },
  },
  (t, { x, q, s, rows, cols, QMAX, BLOCK }) => {
    const X = t.tensor(x, [rows, cols]);
    const Q = t.tensor(q, [rows, cols]);
    const S = t.tensor(s, [rows, 1]);
    const int = q.dtype === 'i8';
    for (let r = t.programId(0); r < rows; r += t.numPrograms(0)) {
      let amax = t.zeros([1, 1]);
      for (let c = 0; c < cols; c += BLOCK)
        amax = amax.maximum(t.loadBlock(X, [r, c], [1, BLOCK]).cast('f32').abs().max(1, true));
      // All-zero rows (and an amax so small that amax / QMAX underflows) get scale 1: q is 0 either way.
      const scaled = amax.div(QMAX);
      const scale = t.where(scaled.gt(0), scaled, t.full([1, 1], 1)); // (1, 1)
      t.storeBlock(S, [r, 0], scale);
      for (let c = 0; c < cols; c += BLOCK) {
        const v = t.loadBlock(X, [r, c], [1, BLOCK]).cast('f32').div(scale);
        // int8 rounds here (the store would truncate); fp8 rounds to nearest even at the store, after the clamp.
        t.storeBlock(Q, [r, c], (int ? v.round() : v).maximum(-QMAX).minimum(QMAX));
      }
    }
  },
);

export interface QuantizeArgs {
  /** (rows, cols) f32/f16/bf16. */
  x: DeviceBuffer;
  /** (rows, cols) output: i8, or fp8e4m3 / fp8e5m2 where the device has fp8. */
  out: DeviceBuffer;
  /** (rows,) f32 output scales. */
  scales: DeviceBuffer;
  rows: number;
  cols: number;
}

/**
 * Dynamic per-token symmetric quantisation of activations to `out`'s dtype: int8 (scale = max|row| / 127) or fp8
 * (scale = max|row| / 448 for e4m3, / 57344 for e5m2). Scales are f32, one per row; dequantised, x ≈ out · scale.
 */
export function quantizePerToken(dev: Device, a: QuantizeArgs, options: OpOptions = {}): LaunchResult {
  const op = 'quantizePerToken';
  checkDims(op, { rows: a.rows, cols: a.cols });
  const text = `(rows, cols) = (${a.rows}, ${a.cols})`;
  checkBuffer(op, 'x', a.x, { shape: [a.rows, a.cols], shapeText: text, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'out', a.out, { shape: [a.rows, a.cols], shapeText: text, dtypes: QUANT_DTYPES });
  checkBuffer(op, 'scales', a.scales, { shape: [a.rows], shapeText: `(rows,) = (${a.rows},)`, dtypes: ['f32'] });
  check(a.cols > 0 || a.rows === 0, op, 'cols must be ≥ 1.');
  checkSupported(dev, op, { x: a.x, out: a.out });
  const BLOCK = Math.min(nextPow2(a.cols), maxVectorBlock(dev.properties, 3));
  return dev.launch(
    quantizeKernel,
    { grid: streamingGrid(dev.properties, Math.max(1, a.rows)), stream: options.stream },
    { x: a.x, q: a.out, s: a.scales, rows: a.rows, cols: a.cols, QMAX: DTYPE_INFO[a.out.dtype].max, BLOCK },
  );
}

/**
 * Per-output-channel symmetric quantisation of a weight matrix on the host (done once, offline): w is (K, N)
 * row-major; returns q (K, N) and f32 scales (N,), scale = max|column| / QMAX (1 for an all-zero column). int8 (the
 * default): q = round(w / scale) in [-127, 127], an Int8Array. fp8: q = w / scale clamped to ±448 (e4m3) or ±57344
 * (e5m2) and rounded to the dtype, as numbers in a Float32Array (each exactly an fp8 value: uploading them to an fp8
 * buffer stores them unchanged).
 */
export function quantizeWeightsPerChannel(
  w: ArrayLike<number>,
  K: number,
  N: number,
  dtype?: 'i8',
): { q: Int8Array; scales: Float32Array };
export function quantizeWeightsPerChannel(
  w: ArrayLike<number>,
  K: number,
  N: number,
  dtype: 'fp8e4m3' | 'fp8e5m2',
): { q: Float32Array; scales: Float32Array };
export function quantizeWeightsPerChannel(
  w: ArrayLike<number>,
  K: number,
  N: number,
  dtype: 'i8' | 'fp8e4m3' | 'fp8e5m2' = 'i8',
): { q: Int8Array | Float32Array; scales: Float32Array } {
  const op = 'quantizeWeightsPerChannel';
  checkDims(op, { K, N });
  check(QUANT_DTYPES.includes(dtype), op, `dtype '${dtype}' must be one of ${QUANT_DTYPES.join(', ')}.`);
  check(w.length >= K * N, op, `'w' holds ${w.length} values, but (K, N) = (${K}, ${N}) needs ${K * N}.`);
  const qmax = DTYPE_INFO[dtype].max;
  const scales = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(w[k * N + n]!));
    scales[n] = m > 0 ? m / qmax : 1;
    if (scales[n] === 0) scales[n] = 1; // m / qmax underflowed f32: q is 0 either way
  }
  const int = dtype === 'i8';
  const q = int ? new Int8Array(K * N) : new Float32Array(K * N);
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) {
      const v = Math.max(-qmax, Math.min(qmax, w[k * N + n]! / scales[n]!));
      q[k * N + n] = int ? Math.round(v) : castScalar(v, dtype);
    }
  }
  return { q, scales };
}
