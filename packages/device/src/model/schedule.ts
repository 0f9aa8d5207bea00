/**
 * Scheduling programs onto compute units: each unit runs its programs one after another (programs resident on the
 * same unit share its pipes, which is equivalent), and the hardware hands the next program to whichever unit frees
 * up first. Returns the makespan — where wave quantization (a partly filled last wave) comes from.
 */

export interface TimedClass {
  /** Programs of this class. */
  count: number;
  /** Seconds one program occupies its unit. */
  seconds: number;
}

/** Greedy list scheduling of program classes (in order) over `units` identical units; returns seconds. */
export function makespan(classes: readonly TimedClass[], units: number): number {
  if (units < 1) throw new Error(`makespan: units must be ≥ 1, got ${units}`);
  let total = 0;
  for (const c of classes) total += c.count;
  if (total === 0) return 0;
  const u = Math.min(units, total);
  // Unit finish times, kept sorted ascending.
  let slots = new Float64Array(u);
  for (const c of classes) {
    if (c.count === 0) continue;
    const rounds = Math.floor(c.count / u);
    if (rounds > 0) for (let i = 0; i < u; i++) slots[i]! += rounds * c.seconds;
    const rest = c.count - rounds * u;
    // The `rest` earliest-free units take one more program each.
    for (let i = 0; i < rest; i++) slots[i]! += c.seconds;
    if (rest > 0) slots = slots.sort();
  }
  return slots[u - 1]!;
}

/** Number of waves of `programs` over `slots` concurrent places, for reports. */
export function waves(programs: number, slots: number): number {
  return Math.ceil(programs / Math.max(1, slots));
}
