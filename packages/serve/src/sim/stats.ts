/**
 * Summary statistics as `vllm bench serve` reports them (numpy semantics: population std, linearly interpolated
 * percentiles), in milliseconds.
 */

export interface Stats {
  mean: number;
  median: number;
  std: number;
  p99: number;
}

/** numpy.percentile's default (linear interpolation between closest ranks). 0 for an empty list, as vLLM reports. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export function summarize(values: readonly number[]): Stats {
  if (values.length === 0) return { mean: 0, median: 0, std: 0, p99: 0 };
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length;
  return { mean, median: percentile(values, 50), std: Math.sqrt(variance), p99: percentile(values, 99) };
}
