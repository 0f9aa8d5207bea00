/**
 * Helpers every numerics test uses: a seeded PRNG, random inputs (never all zeros), NaN poisoning, and the relative
 * error ‖out − ref‖ / ‖ref‖ against a float64 reference. The seeded generators live in `../random` (importable by
 * production code as `@tessera/device/random`, without vitest) and are re-exported here.
 */

export { randomArray, randomInts, rng } from '../random';

/** ‖out − ref‖₂ / ‖ref‖₂ (absolute norm when ref is all zeros). NaN anywhere in `out` gives Infinity. */
export function relativeError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (out.length !== ref.length) throw new Error(`relativeError: lengths differ (${out.length} vs ${ref.length})`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const o = out[i]!;
    if (Number.isNaN(o)) return Number.POSITIVE_INFINITY;
    num += (o - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** Tolerances of the conformance suite, by dtype: f32 < 1e-5, f16/bf16 < 1e-2. */
export const TOLERANCE = { f32: 1e-5, f16: 1e-2, bf16: 1e-2 } as const;

/** float64 reference GEMM: C = A(M,K) · B(K,N). */
export function referenceMatmul(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      const av = a[i * K + k]!;
      for (let j = 0; j < N; j++) c[i * N + j]! += av * b[k * N + j]!;
    }
  }
  return c;
}

/** float64 reference row softmax over the last axis of a (rows, cols) matrix. */
export function referenceSoftmax(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let m = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[r * cols + c]!);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[r * cols + c]! - m);
    for (let c = 0; c < cols; c++) y[r * cols + c] = Math.exp(x[r * cols + c]! - m) / s;
  }
  return y;
}
