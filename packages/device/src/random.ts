/**
 * Seeded random numbers for anything that must be reproducible from a seed: benchmark workloads, the CLI's checks,
 * test inputs. Pure functions with no dependencies, so production code may import them (`@tessera/device/random`);
 * `@tessera/device/testing` re-exports them for tests.
 */

/** mulberry32: a small, fast, seeded 32-bit generator (public domain); returns floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` uniform values in [lo, hi) from `seed`; guaranteed not all zero. */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const r = rng(seed);
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  if (n > 0 && a.every((v) => v === 0)) a[0] = hi > 0 ? Math.min(1, hi / 2) || hi : lo;
  return a;
}

/** `n` integers in [lo, hi] from `seed`. */
export function randomInts(n: number, seed: number, lo: number, hi: number): Int32Array {
  const r = rng(seed);
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor(r() * (hi - lo + 1));
  if (n > 0 && a.every((v) => v === 0)) a[0] = hi !== 0 ? hi : lo;
  return a;
}
