/**
 * Regression tests for the model's own code at request time: tokenizer.json regexes and chat templates run on a
 * budget (src/tokenizer/budget.ts) and fail with ModelBudgetError instead of blocking the server or eating its memory.
 * No test measures time; the deadline is the code's. The long timeouts only turn the old behaviour into a failure.
 */
import { Template } from '@huggingface/jinja';
import { describe, expect, it } from 'vitest';
import { EMBEDDED_TOKENIZER_CONFIG } from '../../src/embedded/tokenizer';
import { ModelBudgetError, TokenizerError } from '../../src/errors';
import { DEFAULT_MODEL_CODE_BUDGET, resolveBudget, runWithDeadline } from '../../src/tokenizer/budget';
import { renderChatTemplate } from '../../src/tokenizer/chat-template';
import { hfTokenizer } from '../../src/tokenizer/hf';
import { SpmTokenizer } from '../../src/tokenizer/spm';
import { embeddedTokenizerJson } from '../formats/samples';

const SLOW_BEFORE = 60_000;
/** An explicit deadline (the test config raises the default for honest calls elsewhere): catastrophic regexes here run
 * for seconds to minutes unbounded, honest calls for microseconds, so 1 s separates them even on a loaded machine. */
const BUDGET = { tokenizerMs: 1000, chatTemplateMs: 1000 };

function budgetError(fn: () => unknown): ModelBudgetError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelBudgetError);
    return e as ModelBudgetError;
  }
  throw new Error('expected a ModelBudgetError, but nothing was thrown');
}

/** The embedded tokenizer with `regex` split off first by the pre-tokenizer (as Llama 3's tokenizer.json does). */
function withPreTokenizerRegex(regex: string) {
  const json = embeddedTokenizerJson();
  json['pre_tokenizer'] = {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
      json['pre_tokenizer'],
    ],
  };
  return hfTokenizer(json, EMBEDDED_TOKENIZER_CONFIG, { budget: BUDGET });
}

describe('tokenizer regexes run under a deadline', () => {
  it('(a|aa)+$ on a 41-character prompt → ModelBudgetError, and the tokenizer keeps working', {
    timeout: SLOW_BEFORE,
  }, () => {
    const t = withPreTokenizerRegex('(a|aa)+$');
    const err = budgetError(() => t.encode(`${'a'.repeat(40)}!`));
    expect(err.what).toBe('tokenizer');
    expect(err.message).toContain('41-character text');
    expect(err.message).toContain(`${BUDGET.tokenizerMs + 1} ms deadline`);
    // Honest input through the same regex is fine, before and after.
    expect(t.decode(t.encode('hello aa world'))).toBe('hello aa world');
  });

  it('a catastrophic decoder regex is bounded too', { timeout: SLOW_BEFORE }, () => {
    const json = embeddedTokenizerJson();
    json['decoder'] = {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { Regex: '(x|xx)+y' }, content: '' }, json['decoder']],
    };
    // The library applies decoder regexes token by token: a long added token gives the regex something to chew on.
    const long = 'x'.repeat(40);
    json.added_tokens.push({ id: 512, content: long, special: false } as never);
    const t = hfTokenizer(json, EMBEDDED_TOKENIZER_CONFIG, { budget: BUDGET });
    expect(t.encode(long, { addSpecialTokens: false })).toEqual([512]);
    expect(budgetError(() => t.decode([512])).what).toBe('tokenizer');
    expect(t.decode(t.encode('ok', { addSpecialTokens: false }))).toBe('ok');
  });

  it("a vocabulary of many special tokens cannot make SentencePiece's special-token scan unbounded", () => {
    const tokens = ['<unk>', '<s>', '</s>', ...Array.from({ length: 20_000 }, (_, i) => `<ctl_${i}>`)];
    const t = new SpmTokenizer({
      tokens,
      scores: new Array(tokens.length).fill(0),
      tokenTypes: tokens.map(() => 3),
      bosTokenId: 1,
      eosTokenIds: [2],
      unkTokenId: 0,
      budget: { tokenizerMs: 1, usPerChar: 0.001 },
    });
    expect(budgetError(() => t.encode('word '.repeat(50_000))).what).toBe('tokenizer');
  });

  it('runWithDeadline maps engine limits to ModelBudgetError and lets other errors through', () => {
    const recurse = (n: number): number => recurse(n + 1) + 1;
    expect(
      budgetError(() =>
        runWithDeadline(
          'tokenizer',
          1000,
          (w) => w,
          () => recurse(0),
        ),
      ).message,
    ).toContain('engine limit');
    expect(() =>
      runWithDeadline(
        'tokenizer',
        1000,
        (w) => w,
        () => JSON.parse('{'),
      ),
    ).toThrow(SyntaxError);
    expect(
      runWithDeadline(
        'tokenizer',
        1000,
        (w) => w,
        () => 42,
      ),
    ).toBe(42);
  });

  it('budget options are validated', () => {
    expect(resolveBudget({ tokenizerMs: 10 }).tokenizerMs).toBe(10);
    expect(() => resolveBudget({ tokenizerMs: -1 })).toThrow(/positive/);
    expect(() => resolveBudget({ nope: 1 } as never)).toThrow(/unknown/);
  });
});

const messages = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi' },
];

describe('chat templates run with a step, size and time budget', () => {
  it('{% for i in range(100000000) %} → ModelBudgetError at the range() call, without allocating', {
    timeout: SLOW_BEFORE,
  }, () => {
    const err = budgetError(() => renderChatTemplate('{% for i in range(100000000) %}x{% endfor %}', messages));
    expect(err.what).toBe('chat_template');
    expect(err.message).toContain('interpreter steps');
  });

  it('nested loops, recursion and doubling strings are stopped too', { timeout: SLOW_BEFORE }, () => {
    const nested = '{% for i in range(5000) %}{% for j in range(5000) %}{{ j }}{% endfor %}{% endfor %}';
    expect(budgetError(() => renderChatTemplate(nested, messages)).message).toMatch(/interpreter steps|deadline/);
    const recursive = '{% macro f(g, n) %}{{ g(g, n + 1) }}{% endmacro %}{{ f(f, 0) }}';
    expect(budgetError(() => renderChatTemplate(recursive, messages)).what).toBe('chat_template');
    const doubling =
      '{% set ns = namespace(s="ab") %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}';
    expect(budgetError(() => renderChatTemplate(doubling, messages)).message).toMatch(/StringValue of \d+/);
  });

  it('the deadline stops a template the step count alone would allow', () => {
    const slow = '{% for i in range(200000) %}{{ i }}{% endfor %}';
    const budget = { ...DEFAULT_MODEL_CODE_BUDGET, chatTemplateMs: 1, usPerChar: 0.001 };
    expect(budgetError(() => renderChatTemplate(slow, messages, { budget })).message).toMatch(/deadline|steps/);
  });

  it('renders what @huggingface/jinja renders (same globals), and template errors stay TokenizerErrors', () => {
    const source =
      String(EMBEDDED_TOKENIZER_CONFIG['chat_template']) +
      '{% for i in range(3) %}{{ i }}{% endfor %}{{ range(5, 0, -2) | join(",") }}{{ True }}{{ None is none }}' +
      '{{ strftime_now("%Y") | length }}';
    const vars = { messages, add_generation_prompt: true, bos_token: '<s>', eos_token: '</s>' };
    expect(renderChatTemplate(source, messages, { addGenerationPrompt: true, bosToken: '<s>', eosToken: '</s>' })).toBe(
      new Template(source).render(vars),
    );
    expect(() => renderChatTemplate('{{ raise_exception("no tools") }}', messages)).toThrow(/no tools/);
    expect(() => renderChatTemplate('{{ raise_exception("no tools") }}', messages)).toThrow(TokenizerError);
    expect(() => renderChatTemplate('{{ x }}', messages, { variables: { range: 1 } })).toThrow(TokenizerError);
  });
});

describe('range() is bounded by its length, whatever its arguments', () => {
  it('huge, infinite, float-stuck and empty ranges', () => {
    const r = (args: string) => renderChatTemplate(`{{ range(${args}) | join(",") }}`, messages);
    expect(r('5')).toBe('0,1,2,3,4');
    expect(r('5, 0, -2')).toBe('5,3,1');
    expect(r('3, 3')).toBe('');
    // 2^53 + 1 === 2^53: stepping until `stop` would never end; counting does.
    expect(r('9007199254740992, 9007199254740994')).toBe('9007199254740992,9007199254740992');
    expect(budgetError(() => r('0, 2 ** 60')).what).toBe('chat_template');
    expect(() => r('1, 2, 0')).toThrow(/step must not be zero/);
  });
});
