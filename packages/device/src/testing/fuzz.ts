/**
 * Settings for the property-based (fast-check) fuzz suites, shared by every package so one pair of environment
 * variables drives them all:
 *
 * - `TESSERA_FUZZ_RUNS` — runs per property (default: the suite's own small number, so `pnpm test` stays fast);
 *   `TESSERA_FUZZ_RUNS=2000 pnpm test:only` is the long budget.
 * - `TESSERA_FUZZ_SEED` — replays one seed. fast-check prints the seed and counterexample path of a failing
 *   property; setting this (and `TESSERA_FUZZ_PATH` for the path) reproduces it exactly.
 *
 * Without a seed, every run draws a fresh one and prints it on failure.
 */

export interface FuzzParameters {
  numRuns: number;
  seed?: number;
  path?: string;
  /** fast-check reports the seed and path on failure; `verbose: 1` adds the failing value. */
  verbose: 1;
}

/** fast-check parameters for one property: `defaultRuns` unless `TESSERA_FUZZ_RUNS` says otherwise. */
export function fuzzParameters(defaultRuns: number): FuzzParameters {
  const env = typeof process === 'undefined' ? {} : process.env;
  const runs = env.TESSERA_FUZZ_RUNS === undefined ? defaultRuns : Number(env.TESSERA_FUZZ_RUNS);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(`TESSERA_FUZZ_RUNS must be a positive integer, got '${env.TESSERA_FUZZ_RUNS}'`);
  }
  const params: FuzzParameters = { numRuns: runs, verbose: 1 };
  if (env.TESSERA_FUZZ_SEED !== undefined) {
    const seed = Number(env.TESSERA_FUZZ_SEED);
    if (!Number.isInteger(seed))
      throw new Error(`TESSERA_FUZZ_SEED must be an integer, got '${env.TESSERA_FUZZ_SEED}'`);
    params.seed = seed;
    if (env.TESSERA_FUZZ_PATH !== undefined) params.path = env.TESSERA_FUZZ_PATH;
  }
  return params;
}

/** How many times longer than the default a fuzz suite runs (for scaling per-test timeouts with the budget). */
export function fuzzScale(defaultRuns: number): number {
  return Math.max(1, fuzzParameters(defaultRuns).numRuns / defaultRuns);
}
