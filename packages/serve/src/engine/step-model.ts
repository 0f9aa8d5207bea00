/**
 * What the engine asks of a model, per step: the narrow seam between the engine (scheduler, paged KV cache, request
 * lifecycle, clocks) and whatever runs the step. Two implementations:
 *
 * - `llamaStepModel`: the LlamaModel on a functional cluster — every token computed by the kernels, the step's time
 *   read off the runtime's modelled host clock (the HTTP server and simulateServing).
 * - `ProjectedStepModel` (model/projected-model.ts): computes nothing — deterministic pseudo-random tokens and a step
 *   time predicted from projected steps (simulateProjected), so the same engine serves any @tessera/models
 *   architecture on any simulated system in modelled time.
 *
 * The step's time is read as the advance of the model's modelled clock (`clockMs`) across `forward`, rather than
 * returned by it: a step that throws partway (fault isolation re-runs it one request at a time) has still spent
 * modelled time on the devices it reached, and the engine counts it.
 */
import type { Cluster } from '@tessera/cluster';
import type { Runtime } from '@tessera/device';
import type { BatchEntry, LlamaModel } from '../model/llama';
import type { LoadedModel, Tokenizer } from '../types';

export interface StepModel {
  /** Token ids a prompt may hold: 0 … vocabSize − 1. */
  readonly vocabSize: number;
  /** Token ids that end generation (unless a request ignores EOS). */
  readonly eosTokenIds: readonly number[];
  /** Decodes the outputs (incremental text, stop strings). */
  readonly tokenizer: Tokenizer;
  /** Bytes of KV cache one block takes on one rank (all layers). */
  readonly blockBytes: number;
  /** The modelled hardware clock, ms: every step (finished or not) moves it forward by its modelled duration. */
  readonly clockMs: number;
  /** Runs one step; returns the sampled token of each entry with `sample` set, in order. */
  forward(entries: readonly BatchEntry[]): ArrayLike<number>;
  /** Which device can no longer run steps (a sticky fault, a failed rank), or null while every one is usable. */
  brokenDevice(): string | null;
  /**
   * The simulated devices the step runs on, for the engine's step feed (feed.ts: per-rank ops from the runtime's
   * profiler, link bytes from the cluster); absent for a model that runs on none (the projected one).
   */
  readonly devices?: StepDevices;
}

export interface StepDevices {
  readonly runtime: Runtime;
  readonly cluster: Cluster;
  /** Ranks the model uses: cluster devices 0 … ranks − 1. */
  readonly ranks: number;
}

/**
 * The LlamaModel as a StepModel: its forward, its KV block size, the runtime's modelled host clock, and the loaded
 * model's vocabulary, EOS ids and tokenizer. `llama.forward` is looked up at every call (tests wrap it).
 */
export function llamaStepModel(model: LoadedModel, llama: LlamaModel, runtime: Runtime): StepModel {
  return {
    vocabSize: model.config.vocabSize,
    eosTokenIds: model.eosTokenIds,
    tokenizer: model.tokenizer,
    get blockBytes() {
      return llama.blockBytes;
    },
    get clockMs() {
      return runtime.hostTimeMs;
    },
    forward: (entries) => llama.forward(entries),
    brokenDevice() {
      const dead = llama.ranks.findIndex((rank) => rank.dev.failed);
      return dead < 0 ? null : `rank ${dead} (${llama.ranks[dead]!.dev.label}) is unusable`;
    },
    devices: { runtime, cluster: llama.options.cluster, ranks: llama.ranks.length },
  };
}
