/**
 * What /v1/completions and /v1/chat/completions share once their engine requests run: the streamed (SSE) and the
 * collected (JSON) response, usage, and the `tessera` extension with wall and modelled latency figures. The two
 * endpoints differ only in the shape of a choice, which they pass in as a `ChoiceFormat`.
 */
import type { ServerResponse } from 'node:http';
import type { FinishReason, RequestMetrics, RequestOutput } from '@tessera/serve';
import { toApiError } from './errors';
import type { Generations } from './generate';
import { sendJson } from './http';
import { SseWriter } from './sse';

export interface ChoiceState {
  text: string;
  tokenIds: number[];
  finishReason: FinishReason | null;
  stopReason: string | number | null;
  metrics: RequestMetrics | null;
}

export interface ChoiceFormat {
  /** `text_completion` / `chat.completion`. */
  object: string;
  /** `text_completion` / `chat.completion.chunk`. */
  chunkObject: string;
  /** Text to put before a choice's output (completions' echo); '' for none. */
  prefix(index: number): string;
  /** A choice in a streamed chunk. */
  chunkChoice(index: number, text: string, output: RequestOutput): Record<string, unknown>;
  /** A chunk to send per choice before any output (chat's role chunk), or null. */
  openingChoice(index: number): Record<string, unknown> | null;
  /** A choice of the collected response. */
  finalChoice(index: number, state: ChoiceState): Record<string, unknown>;
}

export interface ResponseInfo {
  id: string;
  created: number;
  model: string;
  hardware: string;
  /** Prompt tokens counted once per prompt (not per n), as OpenAI and vLLM count them. */
  promptTokens: number;
  choices: number;
  stream: boolean;
  includeUsage: boolean;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

function latency(f: RequestMetrics['wall']) {
  return { ttft_ms: round(f.ttftMs), tpot_ms: round(f.tpotMs), e2e_ms: round(f.e2eMs), queue_ms: round(f.queueMs) };
}

/** One engine request's figures, in the response's snake_case. */
export function figuresJson(m: RequestMetrics) {
  return {
    wall: latency(m.wall),
    modelled: latency(m.modelled),
    cached_prompt_tokens: m.cachedPromptTokens,
    preemptions: m.preemptions,
  };
}

/**
 * The response-level `tessera` object. With one engine request it holds that request's figures; with several (n > 1
 * or several prompts) the response as a whole — earliest first token, latest finish, mean TPOT, longest queue wait,
 * summed cache hits and preemptions — and `choices` lists each one.
 */
export function tesseraSummary(hardware: string, metrics: readonly (RequestMetrics | null)[]) {
  const known = metrics.filter((m): m is RequestMetrics => m !== null);
  if (known.length === 0) return { hardware };
  if (known.length === 1 && metrics.length === 1) return { hardware, ...figuresJson(known[0]!) };
  const agg = (key: 'wall' | 'modelled') => {
    const fs = known.map((m) => m[key]);
    return {
      ttft_ms: round(Math.min(...fs.map((f) => f.ttftMs))),
      tpot_ms: round(fs.reduce((s, f) => s + f.tpotMs, 0) / fs.length),
      e2e_ms: round(Math.max(...fs.map((f) => f.e2eMs))),
      queue_ms: round(Math.max(...fs.map((f) => f.queueMs))),
    };
  };
  return {
    hardware,
    wall: agg('wall'),
    modelled: agg('modelled'),
    cached_prompt_tokens: known.reduce((s, m) => s + m.cachedPromptTokens, 0),
    preemptions: known.reduce((s, m) => s + m.preemptions, 0),
    choices: metrics.map((m, index) => (m ? { index, ...figuresJson(m) } : { index })),
  };
}

function usage(info: ResponseInfo, states: readonly ChoiceState[]) {
  const completion = states.reduce((s, c) => s + (c.metrics?.completionTokens ?? c.tokenIds.length), 0);
  return {
    prompt_tokens: info.promptTokens,
    completion_tokens: completion,
    total_tokens: info.promptTokens + completion,
  };
}

function newStates(n: number): ChoiceState[] {
  return Array.from({ length: n }, () => ({
    text: '',
    tokenIds: [],
    finishReason: null,
    stopReason: null,
    metrics: null,
  }));
}

function update(state: ChoiceState, output: RequestOutput): void {
  state.text += output.text;
  state.tokenIds.push(...output.tokenIds);
  if (output.finished) {
    state.finishReason = output.finishReason ?? 'abort';
    state.stopReason = output.stopReason;
    state.metrics = output.metrics ?? null;
  }
}

export async function respond(
  res: ServerResponse,
  gens: Generations,
  info: ResponseInfo,
  format: ChoiceFormat,
): Promise<void> {
  const states = newStates(info.choices);
  if (!info.stream) {
    for await (const { index, output } of gens.outputs) update(states[index]!, output);
    if (res.destroyed) return;
    sendJson(res, 200, {
      id: info.id,
      object: format.object,
      created: info.created,
      model: info.model,
      choices: states.map((s, i) => {
        // A stream that ended without a final output was cut short.
        s.finishReason ??= 'abort';
        return format.finalChoice(i, { ...s, text: format.prefix(i) + s.text });
      }),
      usage: usage(info, states),
      tessera: tesseraSummary(
        info.hardware,
        states.map((s) => s.metrics),
      ),
    });
    return;
  }

  const sse = new SseWriter(res);
  const head = { id: info.id, object: format.chunkObject, created: info.created, model: info.model };
  sse.start();
  try {
    for (let i = 0; i < info.choices; i++) {
      const opening = format.openingChoice(i);
      if (opening) await sse.send({ ...head, choices: [opening] });
    }
    const started = new Set<number>();
    for await (const { index, output } of gens.outputs) {
      update(states[index]!, output);
      // vLLM sends a chunk per step that produced tokens (even if their text is still held back) and the final one.
      if (output.tokenIds.length === 0 && output.text === '' && !output.finished) continue;
      let text = output.text;
      if (!started.has(index)) {
        started.add(index);
        text = format.prefix(index) + text;
      }
      const tessera: Record<string, unknown> = {
        modelled_ms: round(output.modelledMs),
        modelled_clock_ms: round(output.modelledClockMs),
      };
      if (output.finished && output.metrics)
        Object.assign(tessera, { hardware: info.hardware }, figuresJson(output.metrics));
      await sse.send({ ...head, choices: [format.chunkChoice(index, text, output)], tessera });
    }
    if (info.includeUsage) {
      await sse.send({
        ...head,
        choices: [],
        usage: usage(info, states),
        tessera: tesseraSummary(
          info.hardware,
          states.map((s) => s.metrics),
        ),
      });
    }
    sse.done();
  } catch (err) {
    await sse.fail(toApiError(err));
  }
}
