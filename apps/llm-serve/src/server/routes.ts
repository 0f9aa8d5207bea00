/**
 * The small routes: /v1/models, /health, /metrics, /tokenize, /detokenize.
 */
import type { Exchange, ServeContext } from './context';
import { badRequest } from './errors';
import { sendJson } from './http';
import { addSpecialTokensFor, checkModel } from './requests';
import { parseMessages } from './validate';

export function models(ctx: ServeContext, ex: Exchange, created: number): void {
  const { engine } = ctx;
  const { model } = engine;
  sendJson(ex.res, 200, {
    object: 'list',
    data: [
      {
        id: ctx.modelName,
        object: 'model',
        created,
        owned_by: 'tessera',
        root: model.source,
        parent: null,
        max_model_len: engine.maxModelLen,
        // Not part of the OpenAI schema; clients ignore it. The bench client reads vocab_size from here.
        tessera: {
          description: model.description,
          hardware: engine.hardware,
          format: model.format,
          source: model.source,
          vocab_size: model.config.vocabSize,
          dtype: model.config.dtype,
          layers: model.config.numLayers,
          hidden_size: model.config.hiddenSize,
        },
      },
    ],
  });
}

export function health(ctx: ServeContext, ex: Exchange): void {
  // vLLM answers 200 with an empty body; 503 says the engine died.
  const status = ctx.engine.healthy ? 200 : 503;
  ex.res.writeHead(status, { 'Content-Length': 0 });
  ex.res.end();
}

export async function metrics(ctx: ServeContext, ex: Exchange): Promise<void> {
  const text = await ctx.metrics.text();
  ex.res.writeHead(200, { 'Content-Type': ctx.metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
  ex.res.end(text);
}

function optionalBool(body: Record<string, unknown>, name: string): boolean | null {
  const v = body[name];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'boolean') throw badRequest(`${name} must be a boolean.`, name);
  return v;
}

function checkIds(value: unknown, vocabSize: number): number[] {
  if (!Array.isArray(value)) throw badRequest('tokens must be an array of token ids.', 'tokens');
  for (const id of value) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id >= vocabSize) {
      throw badRequest(`tokens must hold integer ids in [0, ${vocabSize}); got ${JSON.stringify(id)}.`, 'tokens');
    }
  }
  return value as number[];
}

/** vLLM's /tokenize: `{prompt}` (add_special_tokens default true) or `{messages}` (rendered as for chat). */
export function tokenize(ctx: ServeContext, ex: Exchange): void {
  const { body } = ex;
  const { engine } = ctx;
  const tokenizer = engine.model.tokenizer;
  checkModel(typeof body['model'] === 'string' ? body['model'] : null, ctx.modelName);
  const addSpecial = optionalBool(body, 'add_special_tokens');
  let tokens: number[];
  if (body['messages'] !== undefined) {
    const messages = parseMessages(body['messages']);
    const addGenerationPrompt = optionalBool(body, 'add_generation_prompt') ?? true;
    const rendered = tokenizer.applyChatTemplate(messages, { addGenerationPrompt });
    // Same BOS rule as /v1/chat/completions by default, so the count matches what chat would send.
    tokens = tokenizer.encode(rendered, { addSpecialTokens: addSpecial ?? addSpecialTokensFor(tokenizer, rendered) });
  } else if (typeof body['prompt'] === 'string') {
    tokens = tokenizer.encode(body['prompt'], { addSpecialTokens: addSpecial ?? true });
  } else {
    throw badRequest('Send either prompt (a string) or messages.', 'prompt');
  }
  const out: Record<string, unknown> = { count: tokens.length, max_model_len: engine.maxModelLen, tokens };
  if (optionalBool(body, 'return_token_strs')) out['token_strs'] = tokens.map((t) => tokenizer.idToToken(t) ?? null);
  sendJson(ex.res, 200, out);
}

export function detokenize(ctx: ServeContext, ex: Exchange): void {
  const { body } = ex;
  checkModel(typeof body['model'] === 'string' ? body['model'] : null, ctx.modelName);
  const tokens = checkIds(body['tokens'], ctx.engine.model.config.vocabSize);
  sendJson(ex.res, 200, { prompt: ctx.engine.model.tokenizer.decode(tokens) });
}
