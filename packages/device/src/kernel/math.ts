/** Scalar math the tile language needs beyond `Math`: erf (for exact GELU) and round-half-to-even. */

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;

/**
 * Error function to double precision: Maclaurin series for |x| < 2.5 (terms fall below 1e-17 of the sum), and
 * erfc by its continued fraction (evaluated with the modified Lentz method) beyond.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // erf(x) = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 80; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return TWO_OVER_SQRT_PI * sum;
  }
  if (ax > 6) return x > 0 ? 1 : -1;
  // erfc(x) = exp(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + 2/(x + …)))))
  const tiny = 1e-300;
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = ax + an * d;
    d = d === 0 ? tiny : d;
    c = ax + an / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = (Math.exp(-ax * ax) * ONE_OVER_SQRT_PI) / f;
  return x > 0 ? 1 - erfc : erfc - 1;
}

/** Round to nearest integer, ties to even (IEEE `roundeven`, CUDA `rintf`). */
export function rint(a: number): number {
  const f = Math.floor(a);
  const d = a - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}
