/**
 * Request-body validation for /v1/completions and /v1/chat/completions. Every refusal is a 400 whose `param` names
 * the field, so a client can tell what to change. Parameters this server cannot honour are refused rather than
 * silently ignored (a caller asking for a repetition penalty should know it did not get one).
 */
import type { ChatMessage, SamplingParams } from '../types';
import { badRequest } from './errors';

type Body = Record<string, unknown>;

export interface CommonRequest {
  model: string | null;
  /** null: the endpoint's default (16 for completions, the rest of the context for chat). */
  maxTokens: number | null;
  n: number;
  params: Omit<SamplingParams, 'maxTokens'>;
  stream: boolean;
  includeUsage: boolean;
  /** vLLM extension: return prompt and output token ids with each choice. */
  returnTokenIds: boolean;
}

export interface CompletionRequest extends CommonRequest {
  /** Each prompt is text (to encode) or token ids. */
  prompts: Array<string | number[]>;
  echo: boolean;
}

export interface ChatRequest extends CommonRequest {
  messages: ChatMessage[];
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const absent = (v: unknown) => v === undefined || v === null;

function num(body: Body, name: string, def: number, check: (v: number) => boolean, range: string): number {
  const v = body[name];
  if (absent(v)) return def;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(`${name} must be a number.`, name);
  if (!check(v)) throw badRequest(`${name} must be ${range}; got ${v}.`, name);
  return v;
}

function int(body: Body, name: string, def: number, min: number): number {
  const v = body[name];
  if (absent(v)) return def;
  if (!isInt(v)) throw badRequest(`${name} must be an integer.`, name);
  if (v < min) throw badRequest(`${name} must be at least ${min}; got ${v}.`, name);
  return v;
}

function bool(body: Body, name: string, def = false): boolean {
  const v = body[name];
  if (absent(v)) return def;
  if (typeof v !== 'boolean') throw badRequest(`${name} must be a boolean.`, name);
  return v;
}

/** Accepts a parameter only at the value that leaves sampling unchanged. */
function neutral(body: Body, name: string, value: number): void {
  const v = body[name];
  if (absent(v)) return;
  if (typeof v !== 'number') throw badRequest(`${name} must be a number.`, name);
  if (v !== value) throw badRequest(`${name} is not supported by this server (only ${value} is accepted).`, name);
}

function tokenIds(v: unknown, name: string, vocabSize: number): number[] {
  if (!Array.isArray(v)) throw badRequest(`${name} must be an array of token ids.`, name);
  for (const id of v) {
    if (!isInt(id)) throw badRequest(`${name} must contain integer token ids.`, name);
    if (id < 0 || id >= vocabSize) {
      throw badRequest(`Token id ${id} in ${name} is out of vocabulary (0 ≤ id < ${vocabSize}).`, name);
    }
  }
  return v as number[];
}

function common(body: Body, vocabSize: number, maxTokensField: string | null): CommonRequest {
  const model = body['model'];
  if (!absent(model) && typeof model !== 'string') throw badRequest('model must be a string.', 'model');

  const stop = body['stop'];
  let stops: string[] = [];
  if (typeof stop === 'string') stops = [stop];
  else if (Array.isArray(stop) && stop.every((s) => typeof s === 'string')) stops = stop as string[];
  else if (!absent(stop)) throw badRequest('stop must be a string or an array of strings.', 'stop');
  if (stops.some((s) => s.length === 0)) throw badRequest('stop strings must not be empty.', 'stop');

  const topK = num(body, 'top_k', -1, (v) => Number.isInteger(v) && v >= -1, '-1 (off), 0 (off) or a positive integer');
  const maxTokens = maxTokensField === null ? null : body[maxTokensField];
  if (!absent(maxTokens) && (!isInt(maxTokens) || maxTokens < 1)) {
    throw badRequest(`${maxTokensField} must be a positive integer.`, maxTokensField);
  }
  const minTokens = int(body, 'min_tokens', 0, 0);
  if (isInt(maxTokens) && minTokens > maxTokens) {
    throw badRequest(`min_tokens (${minTokens}) must not exceed ${maxTokensField} (${maxTokens}).`, 'min_tokens');
  }
  const seed = body['seed'];
  if (!absent(seed) && !isInt(seed)) throw badRequest('seed must be an integer.', 'seed');

  const stream = bool(body, 'stream');
  const streamOptions = body['stream_options'];
  let includeUsage = false;
  if (!absent(streamOptions)) {
    if (!stream) throw badRequest('stream_options can only be set when stream is true.', 'stream_options');
    if (typeof streamOptions !== 'object' || Array.isArray(streamOptions)) {
      throw badRequest('stream_options must be an object.', 'stream_options');
    }
    includeUsage = bool(streamOptions as Body, 'include_usage');
  }

  neutral(body, 'presence_penalty', 0);
  neutral(body, 'frequency_penalty', 0);
  neutral(body, 'repetition_penalty', 1);
  neutral(body, 'min_p', 0);
  const bestOf = body['best_of'];
  if (!absent(bestOf) && bestOf !== 1) throw badRequest('best_of is not supported by this server.', 'best_of');
  const logitBias = body['logit_bias'];
  if (!absent(logitBias) && (typeof logitBias !== 'object' || Object.keys(logitBias as object).length > 0)) {
    throw badRequest('logit_bias is not supported by this server.', 'logit_bias');
  }
  const user = body['user'];
  if (!absent(user) && typeof user !== 'string') throw badRequest('user must be a string.', 'user');

  return {
    model: (model as string | undefined) ?? null,
    maxTokens: (maxTokens as number | undefined) ?? null,
    n: int(body, 'n', 1, 1),
    params: {
      temperature: num(body, 'temperature', 1, (v) => v >= 0 && v <= 2, 'between 0 and 2'),
      topP: num(body, 'top_p', 1, (v) => v > 0 && v <= 1, 'in (0, 1]'),
      topK,
      seed: (seed as number | undefined) ?? null,
      stop: stops,
      stopTokenIds: absent(body['stop_token_ids']) ? [] : tokenIds(body['stop_token_ids'], 'stop_token_ids', vocabSize),
      ignoreEos: bool(body, 'ignore_eos'),
      minTokens,
    },
    stream,
    includeUsage,
    returnTokenIds: bool(body, 'return_token_ids'),
  };
}

export function parseCompletionRequest(body: Body, vocabSize: number): CompletionRequest {
  const prompt = body['prompt'];
  let prompts: Array<string | number[]>;
  if (typeof prompt === 'string') prompts = [prompt];
  else if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((p) => typeof p === 'string')) {
    prompts = prompt as string[];
  } else if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((p) => typeof p === 'number')) {
    prompts = [tokenIds(prompt, 'prompt', vocabSize)];
  } else if (Array.isArray(prompt) && prompt.length > 0 && prompt.every(Array.isArray)) {
    prompts = prompt.map((p) => tokenIds(p, 'prompt', vocabSize));
  } else if (absent(prompt)) {
    throw badRequest('prompt is required.', 'prompt');
  } else {
    throw badRequest(
      'prompt must be a string, an array of strings, an array of token ids or an array of token-id arrays (not empty).',
      'prompt',
    );
  }
  const logprobs = body['logprobs'];
  if (!absent(logprobs) && logprobs !== false)
    throw badRequest('logprobs is not supported by this server.', 'logprobs');
  const suffix = body['suffix'];
  if (!absent(suffix)) throw badRequest('suffix is not supported by this server.', 'suffix');
  return { ...common(body, vocabSize, 'max_tokens'), prompts, echo: bool(body, 'echo') };
}

function messageContent(content: unknown, i: number): string {
  const param = `messages[${i}].content`;
  if (typeof content === 'string') return content;
  if (absent(content)) return '';
  if (!Array.isArray(content)) throw badRequest(`${param} must be a string or an array of content parts.`, param);
  const texts = content.map((part, j) => {
    const p = part as { type?: unknown; text?: unknown } | null;
    if (typeof p !== 'object' || p === null) throw badRequest(`${param}[${j}] must be an object.`, param);
    if (p.type !== 'text') {
      throw badRequest(`${param}[${j}]: content type ${JSON.stringify(p.type)} is not supported (text only).`, param);
    }
    if (typeof p.text !== 'string') throw badRequest(`${param}[${j}].text must be a string.`, param);
    return p.text;
  });
  // vLLM joins text parts with newlines for templates that take string content.
  return texts.join('\n');
}

export function parseMessages(value: unknown): ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw badRequest('messages must be a non-empty array of {role, content}.', 'messages');
  }
  return value.map((m, i) => {
    const msg = m as { role?: unknown; content?: unknown } | null;
    if (typeof msg !== 'object' || msg === null) throw badRequest(`messages[${i}] must be an object.`, 'messages');
    if (typeof msg.role !== 'string' || msg.role.length === 0) {
      throw badRequest(`messages[${i}].role must be a non-empty string.`, `messages[${i}].role`);
    }
    return { role: msg.role, content: messageContent(msg.content, i) };
  });
}

export function parseChatRequest(body: Body, vocabSize: number): ChatRequest {
  const messages = parseMessages(body['messages']);
  const field = absent(body['max_completion_tokens']) ? 'max_tokens' : 'max_completion_tokens';
  const logprobs = body['logprobs'];
  if (!absent(logprobs) && logprobs !== false)
    throw badRequest('logprobs is not supported by this server.', 'logprobs');
  if (!absent(body['top_logprobs'])) throw badRequest('top_logprobs is not supported by this server.', 'top_logprobs');
  const tools = body['tools'];
  if (Array.isArray(tools) && tools.length > 0) throw badRequest('tools are not supported by this server.', 'tools');
  const format = body['response_format'] as { type?: unknown } | null | undefined;
  if (!absent(format) && format?.type !== 'text') {
    throw badRequest('response_format other than {"type": "text"} is not supported.', 'response_format');
  }
  return { ...common(body, vocabSize, field), messages };
}
