/**
 * The small routes: /v1/models, /health, /metrics, /tokenize, /detokenize.
 */
import type { Exchange, ServeContext } from './context';
import { badRequest } from './errors';
import { sendJson } from './http';
import { addSpecialTokensFor, checkModel } from './requests';
import { detokenizeSchema, parseWith, tokenizeSchema } from './schema';

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
  // vLLM answers 200 with an empty body; 503 says the engine cannot serve, and here the body says why.
  const failure = ctx.engine.failure;
  if (failure === null) {
    ex.res.writeHead(200, { 'Content-Length': 0 });
    ex.res.end();
    return;
  }
  sendJson(ex.res, 503, { status: 'unhealthy', reason: failure });
}

export async function metrics(ctx: ServeContext, ex: Exchange): Promise<void> {
  const text = await ctx.metrics.text();
  ex.res.writeHead(200, { 'Content-Type': ctx.metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
  ex.res.end(text);
}

/** vLLM's /tokenize: `{prompt}` (add_special_tokens default true) or `{messages}` (rendered as for chat). */
export function tokenize(ctx: ServeContext, ex: Exchange): void {
  const { engine } = ctx;
  const tokenizer = engine.model.tokenizer;
  const body = parseWith(tokenizeSchema(), ex.body);
  checkModel(body.model ?? null, ctx.modelName);
  const addSpecial = body.add_special_tokens;
  let tokens: number[];
  if (body.messages !== undefined) {
    const rendered = tokenizer.applyChatTemplate(body.messages, {
      addGenerationPrompt: body.add_generation_prompt ?? true,
    });
    // Same BOS rule as /v1/chat/completions by default, so the count matches what chat would send.
    tokens = tokenizer.encode(rendered, { addSpecialTokens: addSpecial ?? addSpecialTokensFor(tokenizer, rendered) });
  } else if (body.prompt !== undefined) {
    tokens = tokenizer.encode(body.prompt, { addSpecialTokens: addSpecial ?? true });
  } else {
    throw badRequest('Send either prompt (a string) or messages.', 'prompt');
  }
  const out: Record<string, unknown> = { count: tokens.length, max_model_len: engine.maxModelLen, tokens };
  if (body.return_token_strs) out['token_strs'] = tokens.map((t) => tokenizer.idToToken(t) ?? null);
  sendJson(ex.res, 200, out);
}

export function detokenize(ctx: ServeContext, ex: Exchange): void {
  const body = parseWith(detokenizeSchema(ctx.engine.model.config.vocabSize), ex.body);
  checkModel(body.model ?? null, ctx.modelName);
  sendJson(ex.res, 200, { prompt: ctx.engine.model.tokenizer.decode(body.tokens) });
}
