/**
 * POST /v1/completions and POST /v1/chat/completions.
 */
import type { RequestOutput } from '@tessera/serve';
import type { Exchange, ServeContext } from './context';
import { startGenerations } from './generate';
import {
  addSpecialTokensFor,
  chatMaxTokens,
  checkContext,
  checkModel,
  checkRoom,
  engineRequests,
  newId,
} from './requests';
import { type ChoiceFormat, type ChoiceState, respond } from './respond';

const now = () => Math.floor(Date.now() / 1000);

export async function completions(ctx: ServeContext, ex: Exchange): Promise<void> {
  const { engine } = ctx;
  const tokenizer = engine.model.tokenizer;
  const r = ctx.parser.completionRequest(ex.body);
  checkModel(r.model, ctx.modelName);
  checkRoom(engine.waitingRoom, r.prompts.length * r.n);
  const maxTokens = r.maxTokens ?? 16;
  // Text prompts get BOS as the model's tokenizer adds it; token-id prompts are taken as given (vLLM does the same).
  const prompts = r.prompts.map((p) => (typeof p === 'string' ? tokenizer.encode(p) : p));
  for (const ids of prompts) checkContext(engine.maxModelLen, ids.length, maxTokens, 'prompt');
  const id = newId('cmpl');
  const requests = engineRequests(id, prompts, r, maxTokens);
  const gens = await startGenerations(engine, requests, ex.controller, (m, reason) =>
    ctx.metrics.recordFinished(m, reason),
  );

  const echo = r.echo ? r.prompts.map((p) => (typeof p === 'string' ? p : tokenizer.decode(p))) : null;
  const promptOf = (index: number) => Math.floor(index / r.n);
  const tokenIds = (index: number, ids: number[], first: boolean) =>
    r.returnTokenIds ? { ...(first ? { prompt_token_ids: prompts[promptOf(index)] } : {}), token_ids: ids } : {};
  const opened = new Set<number>();
  const format: ChoiceFormat = {
    object: 'text_completion',
    chunkObject: 'text_completion',
    prefix: (index) => (echo ? echo[promptOf(index)]! : ''),
    openingChoice: () => null,
    chunkChoice: (index: number, text: string, output: RequestOutput) => {
      const first = !opened.has(index);
      opened.add(index);
      return {
        index,
        text,
        logprobs: null,
        finish_reason: output.finished ? output.finishReason : null,
        stop_reason: output.finished ? output.stopReason : null,
        ...tokenIds(index, output.tokenIds, first),
      };
    },
    finalChoice: (index: number, s: ChoiceState) => ({
      index,
      text: s.text,
      logprobs: null,
      finish_reason: s.finishReason,
      stop_reason: s.stopReason,
      ...tokenIds(index, s.tokenIds, true),
    }),
  };
  await respond(
    ex.res,
    gens,
    {
      id,
      created: now(),
      model: ctx.modelName,
      hardware: engine.hardware,
      promptTokens: prompts.reduce((s, p) => s + p.length, 0),
      choices: requests.length,
      stream: r.stream,
      includeUsage: r.includeUsage,
    },
    format,
  );
}

export async function chatCompletions(ctx: ServeContext, ex: Exchange): Promise<void> {
  const { engine } = ctx;
  const tokenizer = engine.model.tokenizer;
  const r = ctx.parser.chatRequest(ex.body);
  checkModel(r.model, ctx.modelName);
  checkRoom(engine.waitingRoom, r.n);
  const rendered = tokenizer.applyChatTemplate(r.messages, { addGenerationPrompt: true });
  const prompt = tokenizer.encode(rendered, { addSpecialTokens: addSpecialTokensFor(tokenizer, rendered) });
  const maxTokens = chatMaxTokens(r.maxTokens, engine.maxModelLen, prompt.length);
  checkContext(engine.maxModelLen, prompt.length, maxTokens, 'messages');
  const id = newId('chatcmpl');
  const requests = engineRequests(id, [prompt], r, maxTokens);
  const gens = await startGenerations(engine, requests, ex.controller, (m, reason) =>
    ctx.metrics.recordFinished(m, reason),
  );

  const tokenIds = (ids: number[], first: boolean) =>
    r.returnTokenIds ? { ...(first ? { prompt_token_ids: prompt } : {}), token_ids: ids } : {};
  const format: ChoiceFormat = {
    object: 'chat.completion',
    chunkObject: 'chat.completion.chunk',
    prefix: () => '',
    // vLLM opens each choice with a chunk carrying the role and empty content.
    openingChoice: (index) => ({
      index,
      delta: { role: 'assistant', content: '' },
      logprobs: null,
      finish_reason: null,
      ...tokenIds([], true),
    }),
    chunkChoice: (index: number, text: string, output: RequestOutput) => ({
      index,
      delta: { content: text },
      logprobs: null,
      finish_reason: output.finished ? output.finishReason : null,
      stop_reason: output.finished ? output.stopReason : null,
      ...tokenIds(output.tokenIds, false),
    }),
    finalChoice: (index: number, s: ChoiceState) => ({
      index,
      message: { role: 'assistant', content: s.text },
      logprobs: null,
      finish_reason: s.finishReason,
      stop_reason: s.stopReason,
      ...tokenIds(s.tokenIds, true),
    }),
  };
  await respond(
    ex.res,
    gens,
    {
      id,
      created: now(),
      model: ctx.modelName,
      hardware: engine.hardware,
      promptTokens: prompt.length,
      choices: requests.length,
      stream: r.stream,
      includeUsage: r.includeUsage,
    },
    format,
  );
}
