/**
 * Request-body validation for /v1/completions and /v1/chat/completions: the schema (schema.ts) checks every field;
 * this file turns the parsed body into the shapes the handlers use. Every refusal is a 400 whose `param` names the
 * field, so a client can tell what to change.
 */
import type { ChatMessage, SamplingParams } from '@tessera/serve';
import { badRequest } from './errors';
import { chatSchema, completionSchema, parseWith, type RequestLimits } from './schema';

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

/** What the schemas above have in common, after parsing. */
interface ParsedCommon {
  model?: string;
  n?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  seed?: number;
  min_tokens?: number;
  stop?: string[];
  stop_token_ids?: number[];
  ignore_eos?: boolean;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  return_token_ids?: boolean;
}

function common(r: ParsedCommon, maxTokens: number | undefined, maxTokensField: string): CommonRequest {
  const minTokens = r.min_tokens ?? 0;
  if (maxTokens !== undefined && minTokens > maxTokens) {
    throw badRequest(`min_tokens (${minTokens}) must not exceed ${maxTokensField} (${maxTokens}).`, 'min_tokens');
  }
  const stream = r.stream ?? false;
  if (r.stream_options !== undefined && !stream) {
    throw badRequest('stream_options can only be set when stream is true.', 'stream_options');
  }
  return {
    model: r.model ?? null,
    maxTokens: maxTokens ?? null,
    n: r.n ?? 1,
    params: {
      temperature: r.temperature ?? 1,
      topP: r.top_p ?? 1,
      topK: r.top_k ?? -1,
      seed: r.seed ?? null,
      stop: r.stop ?? [],
      stopTokenIds: r.stop_token_ids ?? [],
      ignoreEos: r.ignore_eos ?? false,
      minTokens,
    },
    stream,
    includeUsage: r.stream_options?.include_usage ?? false,
    returnTokenIds: r.return_token_ids ?? false,
  };
}

/** The schemas of one server (its caps and vocabulary are fixed at start-up), built once. */
export class RequestParser {
  private readonly completion;
  private readonly chat;

  constructor(limits: RequestLimits, vocabSize: number) {
    this.completion = completionSchema(limits, vocabSize);
    this.chat = chatSchema(limits, vocabSize);
  }

  completionRequest(body: Body): CompletionRequest {
    const r = parseWith(this.completion, body);
    return { ...common(r, r.max_tokens, 'max_tokens'), prompts: r.prompt, echo: r.echo ?? false };
  }

  chatRequest(body: Body): ChatRequest {
    const r = parseWith(this.chat, body);
    const field = r.max_completion_tokens === undefined ? 'max_tokens' : 'max_completion_tokens';
    return { ...common(r, r.max_completion_tokens ?? r.max_tokens, field), messages: r.messages };
  }
}
