/**
 * The modelled makespan replay the HTTP benchmark falls back on when a server reports per-request modelled latencies
 * but not its modelled clock.
 */
import { describe, expect, it } from 'vitest';
import { modelledMakespanMs } from '../../src/bench/bench';

describe('modelledMakespanMs', () => {
  it('replays the modelled makespan with arrivals and a concurrency limit', () => {
    // All at once, no limit: the longest request.
    expect(modelledMakespanMs([0, 0, 0], [5, 9, 7], null)).toBe(9);
    // One at a time: the sum.
    expect(modelledMakespanMs([0, 0, 0], [5, 9, 7], 1)).toBe(21);
    // Spread-out arrivals: the last arrival plus its latency.
    expect(modelledMakespanMs([0, 1, 2], [5, 5, 5], null)).toBe(2005);
  });
});
