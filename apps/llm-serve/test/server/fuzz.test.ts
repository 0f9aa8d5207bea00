/**
 * Property: no request body, however malformed, gets a 5xx or leaves the engine unhealthy. fast-check draws bodies
 * from every field the server reads (valid values, edge numbers around the kernels' 32-bit ranges, wrong types,
 * nulls, nested junk) plus unknown fields and non-JSON, and posts them to the running server over real HTTP.
 *
 * Seeded and bounded: TESSERA_FUZZ_RUNS sets the number of bodies (default 60), TESSERA_FUZZ_SEED replays a seed
 * fast-check printed. The server runs a small context and n cap so that a body asking for the most work still
 * finishes in a few steps.
 */
import { fuzzParameters, fuzzScale } from '@tessera/device/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server';

const RUNS = 60;
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ maxModelLen: 40, limits: { maxN: 2, maxPrompts: 3 }, maxWaiting: 16 });
});
afterAll(() => s.close());

const edgeInts = [0, 1, -1, 2, 16, 39, 40, 41, 511, 512, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32 - 1];
const edgeNumber = fc.oneof(
  fc.constantFrom(...edgeInts, 2 ** 32, 2 ** 53, -(2 ** 53), 1e308, -1e308, 0.5, -0, 1.5, 2.0000001),
  fc.integer({ min: -100, max: 100 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const junk: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: 'small' },
  edgeNumber,
  fc.string({ maxLength: 20 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(edgeNumber, fc.string({ maxLength: 8 })), { maxLength: 5 }),
  fc.jsonValue({ maxDepth: 3 }),
);
const smallTokens = fc.array(fc.integer({ min: 0, max: 511 }), { minLength: 1, maxLength: 8 });
/** Each field the server reads: values it should take (valid or borderline). Any field may also get `junk`. */
const valid: Record<string, fc.Arbitrary<unknown>> = {
  model: fc.constantFrom('embedded', null),
  prompt: fc.oneof(
    fc.string({ minLength: 1, maxLength: 40 }),
    fc.array(fc.string({ minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 3 }),
    smallTokens,
    fc.array(smallTokens, { minLength: 1, maxLength: 3 }),
  ),
  messages: fc.array(
    fc.record({
      role: fc.constantFrom('user', 'assistant', 'system'),
      content: fc.oneof(
        fc.string({ maxLength: 30 }),
        fc.array(fc.record({ type: fc.constant('text'), text: fc.string({ maxLength: 10 }) }), { maxLength: 2 }),
      ),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  max_tokens: fc.integer({ min: 1, max: 6 }),
  max_completion_tokens: fc.integer({ min: 1, max: 6 }),
  n: fc.constantFrom(1, 2, 2, 3),
  best_of: fc.constant(1),
  temperature: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 2, noNaN: true })),
  top_p: fc.double({ min: 0.01, max: 1, noNaN: true }),
  // Around the sampling kernel's 32-bit limits, on both sides.
  top_k: fc.constantFrom(-2, -1, 0, 1, 5, 511, 512, 2 ** 31 - 1, 2 ** 31, 2 ** 32),
  seed: fc.constantFrom(0, 1, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32 - 1, 2 ** 32),
  min_tokens: fc.integer({ min: 0, max: 1 }),
  stop: fc.oneof(
    fc.string({ minLength: 1, maxLength: 4 }),
    fc.array(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 3 }),
  ),
  stop_token_ids: fc.array(fc.integer({ min: 0, max: 511 }), { maxLength: 4 }),
  ignore_eos: fc.boolean(),
  stream: fc.boolean(),
  echo: fc.boolean(),
  logprobs: fc.constantFrom(false, null),
  logit_bias: fc.constant({}),
  presence_penalty: fc.constant(0),
  repetition_penalty: fc.constant(1),
  response_format: fc.constant({ type: 'text' }),
  tools: fc.constant([]),
  return_token_ids: fc.boolean(),
  add_special_tokens: fc.boolean(),
  add_generation_prompt: fc.boolean(),
  return_token_strs: fc.boolean(),
  tokens: smallTokens,
};

const SAMPLING = ['model', 'max_tokens', 'n', 'best_of', 'temperature', 'top_p', 'top_k', 'seed', 'min_tokens', 'stop'];
const MORE = [
  'stop_token_ids',
  'ignore_eos',
  'stream',
  'logprobs',
  'logit_bias',
  'presence_penalty',
  'return_token_ids',
];
/** Per endpoint: the fields it needs, and those it may take. */
const ENDPOINTS: Record<string, { required: string[]; optional: string[] }> = {
  '/v1/completions': { required: ['prompt'], optional: [...SAMPLING, ...MORE, 'echo'] },
  '/v1/chat/completions': {
    required: ['messages'],
    optional: [...SAMPLING, ...MORE, 'max_completion_tokens', 'response_format', 'tools'],
  },
  '/tokenize': {
    required: [],
    optional: ['model', 'prompt', 'messages', 'add_special_tokens', 'add_generation_prompt', 'return_token_strs'],
  },
  '/detokenize': { required: ['tokens'], optional: ['model'] },
};

/** A body that is valid but for 0–2 fields replaced by junk (or dropped), plus unknown fields now and then. */
function bodyFor(path: string): fc.Arbitrary<string> {
  const { required, optional } = ENDPOINTS[path]!;
  const all = [...required, ...optional];
  return fc
    .tuple(
      fc.subarray(optional),
      fc.subarray(all, { maxLength: 2 }),
      fc.dictionary(fc.string({ maxLength: 6 }), junk, { maxKeys: 2 }),
      fc.boolean(),
    )
    .chain(([chosen, broken, extra, withExtra]) => {
      const keys = [...required, ...chosen];
      const arbs: Record<string, fc.Arbitrary<unknown>> = {};
      for (const k of keys) arbs[k] = broken.includes(k) ? fc.oneof(junk, fc.constant(undefined)) : valid[k]!;
      for (const k of broken) arbs[k] ??= junk;
      return fc.record(arbs).map((b) => JSON.stringify(withExtra ? { ...extra, ...b } : b));
    });
}

const request = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.constantFrom(...Object.keys(ENDPOINTS)).chain((p) => bodyFor(p).map((b) => [p, b] as const)),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.constantFrom(...Object.keys(ENDPOINTS)),
      fc.oneof(
        fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
        fc.string({ maxLength: 40 }),
      ),
    ),
  },
);

describe('HTTP request fuzz', () => {
  it(
    'never answers 5xx and never leaves the engine unhealthy',
    async () => {
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(request, async ([p, b]) => {
          const res = await fetch(`${s.baseUrl}${p}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: b,
          });
          const text = await res.text();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          expect([200, 400, 404, 429], `${p} ${b} → ${res.status} ${text.slice(0, 300)}`).toContain(res.status);
          if (res.status !== 200) expect(JSON.parse(text).error.code).toBe(res.status);
          // A stream that started carries errors in-band: none may appear.
          else if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
            expect(text, `${p} ${b}`).not.toMatch(/^data: \{"error"/m);
            expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
          }
          expect(s.engine.healthy).toBe(true);
        }),
        fuzzParameters(RUNS),
      );
      // The bodies reach the engine, not just the schema: most runs generate, many are refused.
      expect(statuses.get(200) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(0);
      expect(statuses.get(400) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(0);
      // Nothing is left running or holding KV blocks.
      await expect.poll(() => s.engine.stats()).toMatchObject({ running: 0, waiting: 0, kvCacheUsage: 0 });
    },
    120_000 * fuzzScale(RUNS),
  );
});
