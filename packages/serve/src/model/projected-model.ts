/**
 * ProjectedStepModel: a StepModel that computes nothing. Each step's time is the StepCostPredictor's (projected grid
 * points, interpolated) for the step's sequences — their query and context lengths, and the rows that sample — and
 * each sampled token is a deterministic pseudo-random id: a hash of the model's seed, the request's seed and the
 * token's index, so a run repeats exactly for a seed. There is no vocabulary text and no EOS: a request ends at its
 * max_tokens (or the context limit), as the simulation's requests do anyway (they ignore EOS).
 *
 * The engine over it (EngineCore) is the real one — its scheduler, paged KV cache with prefix caching, preemption and
 * request lifecycle — so a simulation on it serves a workload exactly as the engine would, with modelled time from
 * the projection of the model on the chosen system.
 */
import type { StepModel } from '../engine/step-model';
import type { Tokenizer } from '../types';
import type { BatchEntry } from './llama';
import type { StepCostPredictor, StepSequence } from './step-cost';

/** One placeholder character per token: the projected model has ids but no vocabulary text. */
export const PROJECTED_TOKEN_TEXT = '·';

/** A tokenizer for a model without a vocabulary: decodes each id to one placeholder character; cannot encode. */
export function placeholderTokenizer(vocabSize: number): Tokenizer {
  const none = (what: string) => () => {
    throw new Error(`The projected model has no tokenizer: it cannot ${what}. Give prompts as token ids.`);
  };
  return {
    vocabSize,
    bosTokenId: null,
    eosTokenIds: [],
    chatTemplate: null,
    encode: none('encode text'),
    decode: (ids) => PROJECTED_TOKEN_TEXT.repeat(ids.length),
    idToToken: (id) => (Number.isInteger(id) && id >= 0 && id < vocabSize ? `<${id}>` : undefined),
    applyChatTemplate: none('render a chat template'),
  };
}

/** murmur3's 32-bit finaliser: a well-mixed hash of a 32-bit integer. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The pseudo-random token of a request (its seed) at output index `step`, for a model seeded with `seed`. */
export function projectedToken(seed: number, requestSeed: number, step: number, vocabSize: number): number {
  const h = mix32(mix32(mix32(seed ^ 0x9e3779b9) ^ (requestSeed >>> 0)) ^ step);
  return h % vocabSize;
}

export class ProjectedStepModel implements StepModel {
  readonly vocabSize: number;
  readonly eosTokenIds: readonly number[] = [];
  readonly tokenizer: Tokenizer;
  readonly blockBytes: number;
  /** The modelled clock: the sum of every step's predicted time, ms. */
  clockMs = 0;
  /** Steps run, and tokens computed. */
  steps = 0;
  tokens = 0;

  constructor(
    readonly predictor: StepCostPredictor,
    /** Seeds every sampled token (default 0). */
    readonly seed = 0,
  ) {
    this.vocabSize = predictor.arch.vocabSize;
    this.tokenizer = placeholderTokenizer(this.vocabSize);
    this.blockBytes = predictor.memory.blockBytes;
  }

  forward(entries: readonly BatchEntry[]): number[] {
    const sequences: StepSequence[] = [];
    const sampled: number[] = [];
    for (const e of entries) {
      sequences.push({ queryLen: e.tokens.length, contextLen: e.start + e.tokens.length });
      this.tokens += e.tokens.length;
      if (e.sample) sampled.push(projectedToken(this.seed, e.seed, e.step, this.vocabSize));
    }
    this.clockMs += this.predictor.predict(sequences, sampled.length);
    this.steps++;
    return sampled;
  }

  brokenDevice(): string | null {
    return null;
  }
}
