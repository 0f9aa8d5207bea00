/**
 * The one request schema of the HTTP edge (zod): every field the server reads, with the ranges the engine and its
 * kernels accept and the caps a deployer sets. It runs before anything is allocated for a request — no tokenization,
 * no engine request — so a body that passes holds only values a step can take, and one that fails gets a 400 whose
 * `param` names the field (`messages[0].role`, `stop`, …).
 *
 * Unknown fields are ignored, as vLLM and OpenAI do (clients send `user`, `metadata`, …). `null` counts as absent.
 * Parameters the server cannot honour are refused rather than silently ignored.
 */
import { SAMPLE_PARAM_LIMITS } from '@tessera/kernels';
import { type ZodError, type ZodType, z } from 'zod';
import { badRequest } from './errors';

/** Per-request caps a deployer can change (flags of `tessera-serve`); defaults below. */
export interface RequestLimits {
  /** `n` (choices per prompt) at most. `--max-n`. */
  maxN: number;
  /** Prompts in one /v1/completions request at most (a batch of prompts). `--max-prompts`. */
  maxPrompts: number;
}

export const DEFAULT_REQUEST_LIMITS: RequestLimits = { maxN: 16, maxPrompts: 64 };

/**
 * Fixed caps: each bounds per-token work the engine does for a request (stop strings are searched after every token;
 * stop token ids are checked after every token).
 */
export const FIXED_LIMITS = {
  /** Stop strings per request (OpenAI allows 4; vLLM does not cap). */
  stops: 16,
  /** Characters in one stop string. */
  stopChars: 512,
  /** Entries of stop_token_ids. */
  stopTokenIds: 1024,
} as const;

const { topK: TOP_K, seed: SEED } = SAMPLE_PARAM_LIMITS;

/** `null` or absent → undefined, so every optional field reads the same. */
const opt = <T extends ZodType>(t: T) => t.nullish().transform((v) => v ?? undefined);

const bool = (name: string) => opt(z.boolean({ error: `${name} must be a boolean.` }));

function int(name: string, min: number, max: number, range = `in [${min}, ${max}]`) {
  const msg = (i: { input?: unknown }) => `${name} must be an integer ${range}; got ${JSON.stringify(i.input)}.`;
  return z
    .int({ error: (i) => (typeof i.input === 'number' ? msg(i) : `${name} must be an integer.`) })
    .min(min, { error: msg })
    .max(max, { error: msg });
}

function num(name: string, check: (v: number) => boolean, range: string) {
  return z
    .number({ error: `${name} must be a number.` })
    .refine(Number.isFinite, { error: `${name} must be a finite number.` })
    .refine(check, { error: (i) => `${name} must be ${range}; got ${JSON.stringify(i.input)}.` });
}

/** Accepts a parameter only at the value that leaves sampling unchanged. */
function neutral(name: string, value: number) {
  return opt(
    z
      .number({ error: `${name} must be a number.` })
      .refine((v) => v === value, { error: `${name} is not supported by this server (only ${value} is accepted).` }),
  );
}

function notSupported(
  name: string,
  allowed: (v: unknown) => boolean,
  what = `${name} is not supported by this server.`,
) {
  return opt(z.unknown().refine((v) => v === undefined || v === null || allowed(v), { error: what }));
}

const tokenIds = (name: string, vocabSize: number) =>
  z.array(
    z.int({ error: `${name} must contain integer token ids.` }).refine((id) => id >= 0 && id < vocabSize, {
      error: (i) => `Token id ${i.input} in ${name} is out of vocabulary (0 ≤ id < ${vocabSize}).`,
    }),
    { error: `${name} must be an array of token ids.` },
  );

/** The fields /v1/completions and /v1/chat/completions share. */
function commonShape(limits: RequestLimits, vocabSize: number) {
  const stopString = z
    .string({ error: 'stop must be a string or an array of strings.' })
    .min(1, { error: 'stop strings must not be empty.' })
    .max(FIXED_LIMITS.stopChars, { error: `stop strings must be at most ${FIXED_LIMITS.stopChars} characters.` });
  return {
    model: opt(z.string({ error: 'model must be a string.' })),
    n: opt(int('n', 1, limits.maxN, `between 1 and ${limits.maxN} (this server's --max-n)`)),
    best_of: opt(
      int('best_of', 1, limits.maxN).refine((v) => v === 1, { error: 'best_of is not supported by this server.' }),
    ),
    temperature: opt(num('temperature', (v) => v >= 0 && v <= 2, 'between 0 and 2')),
    top_p: opt(num('top_p', (v) => v > 0 && v <= 1, 'in (0, 1]')),
    // −1 and 0 turn it off; values ≥ the vocabulary keep everything; the kernel takes a 32-bit count.
    top_k: opt(
      z.union([z.literal(-1), int('top_k', TOP_K.min, TOP_K.max)], {
        error: (i) =>
          `top_k must be -1 (off), 0 (off) or a positive integer below 2³¹; got ${JSON.stringify(i.input)}.`,
      }),
    ),
    // The sampling kernel's RNG takes a 32-bit word; choice i of n uses (seed + i) mod 2³², so n cannot leave it.
    seed: opt(int('seed', SEED.min, SEED.max, 'in [-2³¹, 2³²)')),
    min_tokens: opt(int('min_tokens', 0, Number.MAX_SAFE_INTEGER, '≥ 0')),
    stop: opt(
      z.preprocess(
        (v) => (typeof v === 'string' ? [v] : v),
        z
          .array(stopString, { error: 'stop must be a string or an array of strings.' })
          .max(FIXED_LIMITS.stops, { error: `stop holds at most ${FIXED_LIMITS.stops} strings.` }),
      ),
    ),
    stop_token_ids: opt(
      tokenIds('stop_token_ids', vocabSize).max(FIXED_LIMITS.stopTokenIds, {
        error: `stop_token_ids holds at most ${FIXED_LIMITS.stopTokenIds} ids.`,
      }),
    ),
    ignore_eos: bool('ignore_eos'),
    stream: bool('stream'),
    stream_options: opt(
      z.object({ include_usage: bool('include_usage') }, { error: 'stream_options must be an object.' }),
    ),
    presence_penalty: neutral('presence_penalty', 0),
    frequency_penalty: neutral('frequency_penalty', 0),
    repetition_penalty: neutral('repetition_penalty', 1),
    min_p: neutral('min_p', 0),
    logit_bias: notSupported(
      'logit_bias',
      (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0,
    ),
    user: opt(z.string({ error: 'user must be a string.' })),
    return_token_ids: bool('return_token_ids'),
  };
}

const PROMPT_SHAPES =
  'prompt must be a string, an array of strings, an array of token ids or an array of token-id arrays (not empty).';

function promptSchema(limits: RequestLimits, vocabSize: number) {
  const many = `a request holds at most ${limits.maxPrompts} prompts (this server's --max-prompts).`;
  return z.unknown().transform((p, ctx): Array<string | number[]> => {
    const fail = (message: string) => {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    };
    if (p === undefined || p === null) return fail('prompt is required.');
    if (typeof p === 'string') return [p];
    if (!Array.isArray(p) || p.length === 0) return fail(PROMPT_SHAPES);
    const parse = (schema: ZodType, value: unknown) => {
      const r = schema.safeParse(value);
      return r.success ? r.data : fail(r.error.issues[0]!.message);
    };
    if (p.every((x) => typeof x === 'string')) {
      return p.length > limits.maxPrompts ? fail(many) : (p as string[]);
    }
    if (p.every((x) => typeof x === 'number')) return [parse(tokenIds('prompt', vocabSize), p) as number[]];
    if (p.every(Array.isArray)) {
      if (p.length > limits.maxPrompts) return fail(many);
      return p.map((ids) => parse(tokenIds('prompt', vocabSize), ids) as number[]);
    }
    return fail(PROMPT_SHAPES);
  });
}

const contentPart = z.object(
  {
    type: z.unknown().refine((t) => t === 'text', {
      error: (i) => `content type ${JSON.stringify(i.input)} is not supported (text only).`,
    }),
    text: z.string({ error: 'text must be a string.' }),
  },
  { error: 'a content part must be an object.' },
);

const message = z.object(
  {
    role: z.string({ error: 'role must be a non-empty string.' }).min(1, { error: 'role must be a non-empty string.' }),
    // vLLM joins text parts with newlines for templates that take string content.
    content: opt(
      z.union([z.string(), z.array(contentPart)], {
        error: (i) => (Array.isArray(i.input) ? undefined : 'content must be a string or an array of content parts.'),
      }),
    ).transform((c) => (c === undefined ? '' : typeof c === 'string' ? c : c.map((part) => part.text).join('\n'))),
  },
  { error: 'each message must be an object {role, content}.' },
);

export const messagesSchema = z
  .array(message, { error: 'messages must be a non-empty array of {role, content}.' })
  .min(1, { error: 'messages must be a non-empty array of {role, content}.' });

export function completionSchema(limits: RequestLimits, vocabSize: number) {
  return z.object({
    ...commonShape(limits, vocabSize),
    prompt: promptSchema(limits, vocabSize),
    max_tokens: opt(int('max_tokens', 1, Number.MAX_SAFE_INTEGER, '≥ 1')),
    echo: bool('echo'),
    logprobs: notSupported('logprobs', (v) => v === false),
    suffix: notSupported('suffix', () => false),
  });
}

export function chatSchema(limits: RequestLimits, vocabSize: number) {
  return z.object({
    ...commonShape(limits, vocabSize),
    messages: messagesSchema,
    max_tokens: opt(int('max_tokens', 1, Number.MAX_SAFE_INTEGER, '≥ 1')),
    max_completion_tokens: opt(int('max_completion_tokens', 1, Number.MAX_SAFE_INTEGER, '≥ 1')),
    logprobs: notSupported('logprobs', (v) => v === false),
    top_logprobs: notSupported('top_logprobs', () => false),
    tools: notSupported('tools', (v) => Array.isArray(v) && v.length === 0, 'tools are not supported by this server.'),
    response_format: notSupported(
      'response_format',
      (v) => typeof v === 'object' && (v as { type?: unknown }).type === 'text',
      'response_format other than {"type": "text"} is not supported.',
    ),
  });
}

export function tokenizeSchema() {
  return z.object({
    model: opt(z.string({ error: 'model must be a string.' })),
    prompt: opt(z.string({ error: 'prompt must be a string.' })),
    messages: opt(messagesSchema),
    add_special_tokens: bool('add_special_tokens'),
    add_generation_prompt: bool('add_generation_prompt'),
    return_token_strs: bool('return_token_strs'),
  });
}

export function detokenizeSchema(vocabSize: number) {
  return z.object({
    model: opt(z.string({ error: 'model must be a string.' })),
    tokens: tokenIds('tokens', vocabSize),
  });
}

/** `messages[0].content` from ['messages', 0, 'content']; a trailing index names its array (`stop[3]` → `stop`). */
function paramOf(path: readonly PropertyKey[]): string | null {
  const keys = [...path];
  while (keys.length > 0 && typeof keys[keys.length - 1] === 'number') keys.pop();
  if (keys.length === 0) return null;
  return keys.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('');
}

/** Parses `body` with `schema`; the first issue becomes a 400 naming its field. */
export function parseWith<T>(schema: ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = (r.error as ZodError).issues[0]!;
  const param = paramOf(issue.path);
  // Nested fields name themselves in the message's prefix (top-level messages already start with the field's name).
  const prefixed = param && /[.[]/.test(param) ? `${param}: ` : '';
  throw badRequest(`${prefixed}${issue.message}`, param);
}
