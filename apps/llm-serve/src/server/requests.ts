/**
 * Turning a validated API request into engine requests: model-name and context-length checks (with vLLM's messages),
 * max_tokens defaults, and n → n engine requests with seeds seed, seed+1, … so the choices differ but reproduce.
 */
import { randomBytes } from 'node:crypto';
import type { GenerateRequest, SamplingParams, Tokenizer } from '@tessera/serve';
import { ApiError, badRequest } from './errors';
import type { CommonRequest } from './validate';

export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(16).toString('hex')}`;
}

/** vLLM answers an unknown model with 404 NotFoundError. A request without `model` gets the served one. */
export function checkModel(requested: string | null, served: string): void {
  if (requested !== null && requested !== served) {
    throw new ApiError(404, `The model \`${requested}\` does not exist.`, 'model');
  }
}

/** Refuses prompt + completion over the context with vLLM's wording (which says "messages" for completions too). */
export function checkContext(maxModelLen: number, promptTokens: number, maxTokens: number, param: string): void {
  if (promptTokens === 0) throw badRequest('The prompt is empty.', param);
  if (promptTokens + maxTokens > maxModelLen) {
    throw badRequest(
      `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${promptTokens + maxTokens} tokens (${promptTokens} in the messages, ${maxTokens} in the completion). Please reduce the length of the messages or completion.`,
      param,
    );
  }
}

/** Chat without max_tokens gets the rest of the context, as in vLLM; a prompt that fills it is refused. */
export function chatMaxTokens(requested: number | null, maxModelLen: number, promptTokens: number): number {
  if (requested !== null) return requested;
  if (promptTokens >= maxModelLen) {
    throw badRequest(
      `This model's maximum context length is ${maxModelLen} tokens. However, your request has ${promptTokens} input tokens. Please reduce the length of the input messages.`,
      'messages',
    );
  }
  return maxModelLen - promptTokens;
}

/**
 * Whether to let the tokenizer add BOS: not when the rendered chat template already starts with the BOS token's
 * string (most templates write `{{ bos_token }}`), which would otherwise give two.
 */
export function addSpecialTokensFor(tokenizer: Tokenizer, rendered: string): boolean {
  const bos = tokenizer.bosTokenId === null ? undefined : tokenizer.idToToken(tokenizer.bosTokenId);
  return !(bos && rendered.startsWith(bos));
}

/**
 * Refuses (429) a request that needs more queue slots than are free, before its prompts are tokenized or any engine
 * request is built: prompts × n is known from the validated body alone.
 */
export function checkRoom(waitingRoom: number, needed: number): void {
  if (needed > waitingRoom) {
    throw new ApiError(
      429,
      `The server is overloaded: this request needs ${needed} queue slots (prompts × n) and ${waitingRoom} are free. Retry later, or send fewer prompts or a smaller n.`,
    );
  }
}

/** The sampling kernel's RNG takes 32-bit seeds: choice i of n uses (seed + i) mod 2³², so n never leaves the range. */
export function choiceSeed(seed: number, i: number): number {
  return (seed + i) | 0;
}

/** One engine request per prompt × n, in choice order (index = prompt · n + i). */
export function engineRequests(
  id: string,
  prompts: readonly (readonly number[])[],
  req: CommonRequest,
  maxTokens: number,
): GenerateRequest[] {
  if (req.params.minTokens > maxTokens) {
    throw badRequest(`min_tokens (${req.params.minTokens}) must not exceed max_tokens (${maxTokens}).`, 'min_tokens');
  }
  const out: GenerateRequest[] = [];
  prompts.forEach((promptTokenIds, p) => {
    for (let i = 0; i < req.n; i++) {
      const seed = req.params.seed === null ? null : choiceSeed(req.params.seed, i);
      const params: SamplingParams = { ...req.params, maxTokens, seed };
      out.push({ requestId: `${id}-${p}-${i}`, promptTokenIds, params });
    }
  });
  return out;
}
