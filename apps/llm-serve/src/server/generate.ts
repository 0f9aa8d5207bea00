/**
 * Runs the engine requests behind one HTTP request (one per prompt × n) and merges their output streams.
 *
 * `startGenerations` waits for every request's first output before returning: refusals (a full waiting queue, a
 * prompt over the context) then surface while the HTTP status can still say so (429 / 400), whether the engine
 * throws from `generate()` itself or from the stream's first step. One shared AbortController cancels all of them
 * when the client goes away or one of them fails.
 */
import type { Engine, FinishReason, GenerateRequest, RequestMetrics, RequestOutput } from '@tessera/serve';

export interface MergedOutput {
  /** Position of the engine request in the list given to startGenerations (the choice index). */
  index: number;
  output: RequestOutput;
}

export interface Generations {
  /** Outputs of all requests in the order they arrive; ends when every request has finished. */
  outputs: AsyncGenerator<MergedOutput>;
}

/** Called once per finished engine request (for /metrics). */
export type FinishedHook = (metrics: RequestMetrics, reason: FinishReason) => void;

export async function startGenerations(
  engine: Engine,
  requests: readonly GenerateRequest[],
  controller: AbortController,
  onFinished: FinishedHook,
): Promise<Generations> {
  const iterators: AsyncIterator<RequestOutput>[] = [];
  let firsts: IteratorResult<RequestOutput>[];
  try {
    for (const r of requests) iterators.push(engine.generate(r, controller.signal)[Symbol.asyncIterator]());
    firsts = await Promise.all(iterators.map((it) => it.next()));
  } catch (err) {
    // The requests already queued must not linger: abort them and drain their streams in the background.
    controller.abort();
    for (const it of iterators) void drain(it);
    throw err;
  }
  return { outputs: merge(iterators, firsts, onFinished, controller) };
}

async function drain(it: AsyncIterator<RequestOutput>): Promise<void> {
  try {
    for (let r = await it.next(); !r.done; r = await it.next());
  } catch {
    // Already failing; nothing more to report.
  }
}

async function* merge(
  iterators: AsyncIterator<RequestOutput>[],
  firsts: IteratorResult<RequestOutput>[],
  onFinished: FinishedHook,
  controller: AbortController,
): AsyncGenerator<MergedOutput> {
  type Step = { index: number; result: IteratorResult<RequestOutput> };
  const pending = new Map<number, Promise<Step>>();
  const pull = (index: number) => {
    const p = iterators[index]!.next().then((result) => ({ index, result }));
    // Observed by the next race; this keeps a failure that arrives after the consumer left from going unhandled.
    p.catch(() => {});
    pending.set(index, p);
  };
  const settle = (step: Step): MergedOutput | null => {
    if (step.result.done) {
      pending.delete(step.index);
      return null;
    }
    const output = step.result.value;
    if (output.finished) {
      pending.delete(step.index);
      if (output.metrics) onFinished(output.metrics, output.finishReason ?? 'abort');
      // Let the engine close the stream; nothing more is expected from it.
      void drain(iterators[step.index]!);
    } else pull(step.index);
    return { index: step.index, output };
  };

  try {
    // The first outputs are already here (startGenerations awaited them); later ones are taken as they arrive.
    const ready = firsts.map((result, index) => settle({ index, result }));
    for (const merged of ready) if (merged) yield merged;
    while (pending.size > 0) {
      const merged = settle(await Promise.race(pending.values()));
      if (merged) yield merged;
    }
  } finally {
    // Reached on normal completion (a no-op then), on a consumer that stopped early, or on an engine error.
    if (pending.size > 0) {
      controller.abort();
      for (const index of pending.keys()) void drain(iterators[index]!);
    }
  }
}
