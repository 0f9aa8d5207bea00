/** What every example returns: whether its result matched a float64 reference, and what the hardware would take. */
export interface ExampleResult {
  name: string;
  ok: boolean;
  /** ‖out − ref‖ / ‖ref‖ against a float64 reference. */
  relError: number;
  /** Modelled kernel time on the device, ms. */
  modelledMs: number;
  detail: string;
}

export function relError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
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

/** Deterministic inputs in [-1, 1): never all zeros. */
export function inputs(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32) * 2 - 1;
  }
  return a;
}
