/**
 * Property-based fuzzing of the tokenizers and chat templates (fast-check). The embedded tokenizer.json (its
 * vocabulary, merges, added tokens, normalizer, pre-tokenizer, decoder and post-processor), a GGUF vocabulary's
 * metadata and random chat templates assembled from Jinja fragments are mutated; each must load (or fail with
 * ModelLoadError / TokenizerError) and then encode, decode and render with TokenizerError / ModelBudgetError as the
 * only failures, ids inside the vocabulary, and output within the template's size budget. Small budgets keep
 * pathological regexes and templates quick; no assertion is about time.
 *
 * Budget: TESSERA_FUZZ_RUNS (default RUNS below, per property). A failure prints fast-check's `{ seed, path }`;
 * replay it with TESSERA_FUZZ_SEED=<seed> TESSERA_FUZZ_PATH=<path> npx vitest run test/tokenizer/fuzz.test.ts
 */
import { fuzzParameters, fuzzScale } from '@tessera/device/testing';
import type { Tokenizer } from '@tessera/serve';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EMBEDDED_TOKENIZER_CONFIG } from '../../src/embedded/tokenizer';
import { ggufTokenizerMetadata } from '../../src/formats/gguf-tokenizer-export';
import { DEFAULT_MODEL_CODE_BUDGET, type ModelCodeBudget } from '../../src/tokenizer/budget';
import { renderChatTemplate } from '../../src/tokenizer/chat-template';
import { ggufTokenizer } from '../../src/tokenizer/gguf';
import { hfTokenizer } from '../../src/tokenizer/hf';
import { applyJson, EDGE_INTS, edgeJson, expectTyped, jsonMutation } from '../formats/mutate';
import { EMBEDDED_VOCAB, embeddedTokenizerJson } from '../formats/samples';

const RUNS = 60;
const TIMEOUT = 60_000 * fuzzScale(RUNS);
const BUDGET: ModelCodeBudget = {
  ...DEFAULT_MODEL_CODE_BUDGET,
  tokenizerMs: 25,
  chatTemplateMs: 25,
  usPerChar: 5,
  chatTemplateSteps: 20_000,
  chatTemplateChars: 100_000,
};
const TEXTS = ['Hello world', `${'a'.repeat(40)}!`, ' <|begin_of_text|>x<|eot_id|> é日本 🙂 ', '', '\n\n\t '];
const MESSAGES = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi <|eot_id|>' },
];

/** Encode, decode and render must succeed or fail typed; ids stay inside the vocabulary. */
function use(t: Tokenizer): void {
  for (const text of TEXTS) {
    try {
      const ids = t.encode(text);
      for (const id of ids) expect(Number.isInteger(id) && id >= 0 && id < t.vocabSize, `id ${id}`).toBe(true);
      t.decode(ids, { skipSpecialTokens: false });
    } catch (err) {
      expectTyped(err, 'request');
    }
  }
  try {
    t.applyChatTemplate(MESSAGES, { addGenerationPrompt: true });
  } catch (err) {
    expectTyped(err, 'request');
  }
}

function build(fn: () => Tokenizer): Tokenizer | null {
  try {
    return fn();
  } catch (err) {
    expectTyped(err, 'load');
    return null;
  }
}

/** Regexes for normalizer/pre-tokenizer/decoder patterns: real ones, pathological ones, and random text. */
const regex = fc.oneof(
  fc.constantFrom('(a|aa)+$', '(x+x+)+y', '\\s+(?!\\S)|\\s+', '\\p{L}+', '[', '(?<=a)b', '.*.*.*=.*', '^', '', '\\'),
  fc.string({ maxLength: 10 }),
);
const component = fc.oneof(
  fc.record({
    type: fc.constant('Split'),
    pattern: fc.record({ Regex: regex }),
    behavior: fc.constantFrom('Isolated', 'Removed', 'MergedWithPrevious', 'Contiguous', 'Nope'),
    invert: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('Replace'),
    pattern: fc.oneof(fc.record({ Regex: regex }), fc.record({ String: fc.string({ maxLength: 3 }) })),
    content: fc.string({ maxLength: 3 }),
  }),
  fc.record({
    type: fc.constantFrom('ByteLevel', 'Whitespace', 'Digits', 'Metaspace', 'Strip', 'NFC', 'Lowercase', 'Nope'),
    add_prefix_space: fc.boolean(),
  }),
  edgeJson,
);
const FOCUS = [['model', 'vocab'], ['model', 'merges'], ['model'], ['added_tokens'], []] as const;

describe('tokenizer fuzz', () => {
  it(
    'tokenizer.json: mutated ids, merges, added tokens and components load or fail typed',
    () => {
      const json = embeddedTokenizerJson();
      fc.assert(
        fc.property(
          fc.constantFrom(...FOCUS.keys()),
          fc.array(jsonMutation, { minLength: 1, maxLength: 4 }),
          fc.option(
            fc.record({
              slot: fc.constantFrom('normalizer', 'pre_tokenizer', 'decoder', 'post_processor'),
              parts: fc.array(component, { maxLength: 3 }),
            }),
          ),
          fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, fc.constantFrom(EMBEDDED_VOCAB, 600, 100)),
          (focus, mutations, swap, maxVocabSize) => {
            const mutated = applyJson(json, mutations, [...FOCUS[focus]!]) as Record<string, unknown>;
            if (swap) {
              const seq = {
                normalizer: 'normalizers',
                pre_tokenizer: 'pretokenizers',
                decoder: 'decoders',
                post_processor: 'processors',
              }[swap.slot];
              mutated[swap.slot] = { type: 'Sequence', [seq]: [...swap.parts, mutated[swap.slot]] };
            }
            const t = build(() =>
              hfTokenizer(mutated, EMBEDDED_TOKENIZER_CONFIG, {
                budget: BUDGET,
                ...(maxVocabSize ? { maxVocabSize } : {}),
              }),
            );
            if (t) use(t);
          },
        ),
        fuzzParameters(RUNS),
      );
    },
    TIMEOUT,
  );

  it(
    'GGUF tokenizer metadata: mutated values load or fail typed',
    () => {
      const base = new Map(
        ggufTokenizerMetadata(embeddedTokenizerJson(), EMBEDDED_TOKENIZER_CONFIG, {
          vocabSize: EMBEDDED_VOCAB,
        }).metadata.map(([k, v]) => [k, v.value as unknown]),
      );
      const keys = [
        ...base.keys(),
        'tokenizer.ggml.scores',
        'tokenizer.ggml.unknown_token_id',
        'tokenizer.ggml.eot_token_id',
      ];
      const value = fc.oneof(
        edgeJson,
        fc.constantFrom(...EDGE_INTS).map(BigInt),
        fc.constantFrom('llama', 'gpt2', 'llama3', 'qwen2', 'default', 'nope'),
        fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), { maxLength: 6 }),
      );
      fc.assert(
        fc.property(
          fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 2 }),
          fc.array(fc.record({ at: fc.nat(EMBEDDED_VOCAB - 1), text: fc.string({ maxLength: 4 }) }), { maxLength: 4 }),
          (patch, tokenEdits) => {
            const meta = new Map(base);
            const tokens = [...(base.get('tokenizer.ggml.tokens') as string[])];
            for (const e of tokenEdits) tokens[e.at] = e.text;
            meta.set('tokenizer.ggml.tokens', tokens);
            for (const [k, v] of Object.entries(patch)) meta.set(k, v);
            const t = build(() => ggufTokenizer(meta, { budget: BUDGET }));
            if (t) use(t);
          },
        ),
        fuzzParameters(RUNS),
      );
    },
    TIMEOUT,
  );

  // Well-formed templates (balanced blocks) from a small grammar, so that most of them parse and run.
  const expr = fc.constantFrom(
    'bos_token',
    'm.content',
    'm.role',
    'messages | length',
    'ns.s',
    'ns.s | length',
    'ns.s | replace("a", ns.s) | length',
    'messages | tojson(indent=N)',
    'm.content | indent(N)',
    'range(N) | join(",")',
    'f(f, 0)',
    'raise_exception("no")',
    'strftime_now("%Y")',
    'messages[N].content',
    'N * N',
    'loop.index',
  );
  const { block } = fc.letrec<{ block: string; node: string }>((tie) => ({
    block: fc.array(tie('node'), { maxLength: 4 }).map((a) => a.join('')),
    node: fc.oneof(
      { depthSize: 'small' },
      fc.string({ maxLength: 4 }),
      expr.map((e) => `{{ ${e} }}`),
      fc.constantFrom('{% set ns.s = ns.s + ns.s %}', '{% set x = N %}', '{% generation %}', '{{'),
      tie('block').map((b) => `{% for m in messages %}${b}{% endfor %}`),
      tie('block').map((b) => `{% for i in range(N) %}${b}{% endfor %}`),
      fc
        .tuple(tie('block'), tie('block'))
        .map(([a, b]) => `{% if m is defined and m.role == "user" %}${a}{% else %}${b}{% endif %}`),
    ),
  }));
  const PRELUDE = '{% set ns = namespace(s="ab") %}{% macro f(g, n) %}{{ g(g, n + 1) }}{% endmacro %}';
  it(
    'random chat templates render within their budget or fail typed',
    () => {
      fc.assert(
        fc.property(block, fc.constantFrom(...EDGE_INTS, 100), (body, n) => {
          const source = PRELUDE + body.replaceAll('N', String(n));
          try {
            const out = renderChatTemplate(source, MESSAGES, { budget: BUDGET, addGenerationPrompt: true });
            expect(out.length).toBeLessThanOrEqual(BUDGET.chatTemplateChars + BUDGET.chatTemplateCharsPerChar * 200);
          } catch (err) {
            expectTyped(err, 'request');
          }
        }),
        fuzzParameters(RUNS * 3),
      );
    },
    TIMEOUT,
  );
});
