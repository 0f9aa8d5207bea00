/**
 * Budgets for the code a model ships with and that runs at request time: the regexes of a tokenizer.json
 * (normalizer, pre-tokenizer, decoder), a vocabulary's special-token scan, and the Jinja chat template.
 *
 * A model file is untrusted input, so its code gets a deadline: the call runs inside `vm` with a `timeout`, whose
 * watchdog thread makes V8 terminate the running JavaScript — including a regex stuck backtracking and the library
 * functions called from inside the call — and the call then fails with ModelBudgetError. The deadline is a base plus
 * an allowance per input character, because honest work grows with the input (a 1 MiB prompt legitimately takes about
 * a second to encode); a hostile pattern is stopped after at most that, and the server keeps serving.
 */
import * as vm from 'node:vm';
import { ModelBudgetError } from '../errors';

export interface ModelCodeBudget {
  /** Milliseconds one tokenizer call (encode; decode with a regex decoder) may take, before the per-character part. */
  tokenizerMs: number;
  /** Milliseconds one chat-template render may take, before the per-character part. */
  chatTemplateMs: number;
  /** Microseconds added to either deadline per character of input (the text encoded, the messages rendered). */
  usPerChar: number;
  /** Interpreter steps (expressions and statements evaluated, items `range()` makes) of one render, base. */
  chatTemplateSteps: number;
  /** Steps added per character of the rendered messages. */
  chatTemplateStepsPerChar: number;
  /** Longest string or list (and so the output) a render may build, base, in characters or items. */
  chatTemplateChars: number;
  /** Characters added to that limit per character of the rendered messages. */
  chatTemplateCharsPerChar: number;
}

/**
 * The base deadline, 250 ms, unless `TESSERA_MODEL_CODE_TIMEOUT_MS` sets another default (what `--model-code-timeout`
 * sets per server): a deadline is wall time, and a machine running many things at once — CI running every package's
 * tests in parallel on two cores — can stall an honest call past 250 ms. The test configs set it to 5 s.
 */
function defaultTimeoutMs(): number {
  const raw = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env
    .TESSERA_MODEL_CODE_TIMEOUT_MS;
  const n = raw === undefined ? Number.NaN : Number(raw);
  return Number.isFinite(n) && n > 0 && n <= 3_600_000 ? n : 250;
}

/**
 * The defaults. Honest encodes run at ~1–3 µs per character here and chat templates at a few steps per character, so
 * the per-character allowances leave a 10× margin for loaded machines; the bases cover short inputs.
 */
export const DEFAULT_MODEL_CODE_BUDGET: Readonly<ModelCodeBudget> = Object.freeze({
  tokenizerMs: defaultTimeoutMs(),
  chatTemplateMs: defaultTimeoutMs(),
  usPerChar: 20,
  chatTemplateSteps: 1_000_000,
  chatTemplateStepsPerChar: 100,
  chatTemplateChars: 4 << 20,
  chatTemplateCharsPerChar: 16,
});

/** The defaults with `overrides` applied (each must be a positive finite number). */
export function resolveBudget(overrides: Partial<ModelCodeBudget> = {}): ModelCodeBudget {
  const out = { ...DEFAULT_MODEL_CODE_BUDGET };
  for (const [key, value] of Object.entries(overrides) as [keyof ModelCodeBudget, number | undefined][]) {
    if (value === undefined) continue;
    if (!(key in out)) throw new TypeError(`unknown model code budget option '${key}'`);
    if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
      throw new TypeError(`model code budget option '${key}' must be a positive number, got ${String(value)}`);
    }
    out[key] = value;
  }
  return out;
}

/** The deadline of a call over `chars` characters of input. */
export function deadlineMs(baseMs: number, budget: ModelCodeBudget, chars: number): number {
  return Math.ceil(baseMs + (budget.usPerChar * chars) / 1000);
}

/** The callee of the current runWithDeadline; a stack in effect (saved and restored around each call). */
let current: (() => unknown) | null = null;
const sandbox = vm.createContext({ call: () => current!() });
const script = new vm.Script('call()', { filename: 'tessera-model-code-budget' });

function isTimeout(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT';
}

/**
 * Runs `fn` (synchronously) with a deadline of `ms` milliseconds. Past it, or when `fn` exhausts an engine limit
 * (RangeError: call stack, string or array length), it throws ModelBudgetError(`what`, `explain(reason)`). Other
 * errors pass through. The event loop is blocked for at most the deadline.
 */
export function runWithDeadline<T>(
  what: 'chat_template' | 'tokenizer',
  ms: number,
  explain: (reason: string) => string,
  fn: () => T,
): T {
  const saved = current;
  current = fn;
  try {
    return script.runInContext(sandbox, { timeout: Math.max(1, Math.ceil(ms)) }) as T;
  } catch (err) {
    if (err instanceof ModelBudgetError) throw err;
    if (isTimeout(err)) throw new ModelBudgetError(what, explain(`it ran past its ${Math.ceil(ms)} ms deadline`));
    if (err instanceof RangeError) throw new ModelBudgetError(what, explain(`it hit an engine limit (${err.message})`));
    throw err;
  } finally {
    current = saved;
  }
}
