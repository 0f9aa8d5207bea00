/** Sampling parameters for engine tests: greedy, no stops, EOS ignored, unless overridden. */
import type { SamplingParams } from '../../src/types';

export function samplingParams(p: Partial<SamplingParams> = {}): SamplingParams {
  return {
    maxTokens: 12,
    temperature: 0,
    topP: 1,
    topK: 0,
    seed: null,
    stop: [],
    stopTokenIds: [],
    ignoreEos: true,
    minTokens: 0,
    ...p,
  };
}
