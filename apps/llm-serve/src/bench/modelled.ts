/**
 * `runModelledBench`: the serving benchmark in modelled time only (`tessera-serve bench --modelled-time`). The same
 * workload as the HTTP benchmark for the same flags and seed (`randomWorkload`), served in-process by
 * @tessera/serve's discrete-event driver (`simulateServing`): arrivals, steps and completions all happen on the
 * engine's modelled clock and nothing reads the wall clock, so the results depend on the workload, the model and the
 * simulated hardware, not on the speed of this machine. No HTTP server runs; the table has the modelled column only.
 * Batch 1 is one more request alone after the load, as over HTTP.
 */
import {
  type LLMEngine,
  randomPrompt,
  randomWorkload,
  type SimulationOptions,
  seededRandom,
  simulateServing,
} from '@tessera/serve';
import { type Batch1Result, BENCH_DEFAULTS, type BenchOptions, type BenchResult } from './bench';

/** The HTTP benchmark's options, less what only a server has. */
export type ModelledBenchOptions = Omit<BenchOptions, 'baseUrl' | 'model' | 'apiKey' | 'vocabSize'> & {
  /** The model name the report shows (default: the engine's model id). */
  model?: string;
  /** Passed to the driver (e.g. a test's per-step hook). */
  onStep?: SimulationOptions['onStep'];
};

export async function runModelledBench(
  engine: LLMEngine,
  options: Partial<ModelledBenchOptions> = {},
): Promise<BenchResult> {
  const o = { ...BENCH_DEFAULTS, ...options };
  const vocabSize = engine.model.config.vocabSize;
  const rand = seededRandom(o.seed);
  const workload = randomWorkload({ ...o, vocabSize }, rand);
  const sim = await simulateServing(engine, workload, { onProgress: o.onProgress, onStep: o.onStep });
  let batch1: Batch1Result | null = null;
  if (o.batch1) {
    const outputLen = Math.max(2, o.outputLen);
    const prompt = randomPrompt(o.inputLen, vocabSize, rand);
    const one = await simulateServing(
      engine,
      { requests: [{ arrivalMs: 0, promptTokenIds: prompt, outputLen }], maxConcurrency: null },
      { idPrefix: 'sim-batch1-', onStep: o.onStep },
    );
    const r = one.requests[0]!;
    batch1 = r.ok
      ? {
          inputLen: o.inputLen,
          outputLen: r.outputLen,
          wall: null,
          modelled: {
            ttftMs: r.timings.ttftMs,
            tpotMs: r.outputLen > 1 ? (r.timings.e2eMs - r.timings.ttftMs) / (r.outputLen - 1) : 0,
          },
          error: null,
        }
      : { inputLen: o.inputLen, outputLen, wall: null, modelled: null, error: r.error ?? 'failed' };
  }
  return {
    mode: 'modelled-time',
    baseUrl: null,
    model: o.model ?? engine.model.id,
    hardware: engine.hardware,
    numPrompts: o.numPrompts,
    requestRate: Number.isFinite(o.requestRate) ? o.requestRate : 'inf',
    burstiness: o.burstiness,
    maxConcurrency: o.maxConcurrency,
    completed: sim.completed,
    failed: sim.failed,
    totalInputTokens: sim.totalInputTokens,
    totalOutputTokens: sim.totalOutputTokens,
    wall: null,
    modelled: sim.summary,
    inputLens: workload.requests.map((r) => r.promptTokenIds.length),
    outputLens: sim.requests.map((r) => r.outputLen),
    errors: sim.errors,
    batch1,
  };
}
