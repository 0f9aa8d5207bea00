/**
 * float64 reference of `sample` (src/sampling.ts): the same procedure, step for step, in float64 — the hash, the
 * ranking, the top-k and top-p cuts, and the inverse-CDF draw. Used by test/sampling.test.ts.
 */

/** MurmurHash3_x86_32 of the 32-bit words with `seed` (unsigned result); the sampler hashes [step]. */
export function murmur3Words(seed: number, words: readonly number[]): number {
  const rotl = (x: number, s: number) => (x << s) | (x >>> (32 - s));
  let h = seed | 0;
  for (const w of words) {
    let k = Math.imul(w | 0, 0xcc9e2d51);
    k = Math.imul(rotl(k, 15), 0x1b873593);
    h = (Math.imul(rotl(h ^ k, 13), 5) + 0xe6546b64) | 0;
  }
  h ^= words.length * 4;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export interface SampleParams {
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  step: number;
  row: number;
}

/**
 * float64 reference of `sample` for one row: the token, the filtered distribution it draws from, and how close the
 * draw came to a decision boundary (relative to the mass involved) — where f32 rounding may legitimately differ.
 */
export function referenceSample(x: ArrayLike<number>, p: SampleParams) {
  const V = x.length;
  const probs = new Float64Array(V);
  if (!(Math.fround(1 / p.temperature) < Number.POSITIVE_INFINITY)) {
    let best = 0;
    for (let i = 1; i < V; i++) if (x[i]! > x[best]!) best = i;
    probs[best] = 1;
    return { token: best, probs, margin: Number.POSITIVE_INFINITY };
  }
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < V; i++) m = Math.max(m, x[i]!);
  const e = Array.from({ length: V }, (_, i) => Math.exp((x[i]! - m) / p.temperature));
  const ranked = Array.from({ length: V }, (_, i) => i).sort((a, b) => x[b]! - x[a]! || a - b);
  const kc = p.topK > 0 && p.topK < V ? p.topK : V;
  let sk = 0;
  for (let j = 0; j < kc; j++) sk += e[ranked[j]!]!;
  let n = kc;
  let margin = Number.POSITIVE_INFINITY;
  if (p.topP < 1) {
    const target = p.topP * sk;
    let cum = 0;
    for (n = 1; n <= kc; n++) {
      margin = Math.min(margin, Math.abs(cum - target) / sk);
      cum += e[ranked[n - 1]!]!;
      margin = Math.min(margin, Math.abs(cum - target) / sk);
      if (cum >= target) break;
    }
    n = Math.min(n, kc);
  }
  const kept = new Set(ranked.slice(0, n));
  let w = 0;
  for (const i of kept) w += e[i]!;
  const u = (murmur3Words(p.seed, [p.step]) >>> 8) * 2 ** -24 * w;
  let acc = 0;
  let token = -1;
  for (let i = 0; i < V; i++) {
    if (!kept.has(i)) continue;
    probs[i] = e[i]! / w;
    const next = acc + e[i]!;
    if (token < 0) margin = Math.min(margin, Math.abs(next - u) / w, Math.abs(acc - u) / w);
    if (token < 0 && next > u) token = i;
    acc = next;
  }
  if (token < 0) token = Math.max(...kept);
  return { token, probs, margin };
}
