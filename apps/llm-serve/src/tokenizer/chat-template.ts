/**
 * Chat templates (Jinja, as shipped in tokenizer_config.json or GGUF `tokenizer.chat_template`) rendered with
 * @huggingface/jinja, with the variables transformers' apply_chat_template provides.
 *
 * A template is code from the model file, so every render runs on a budget (budget.ts): a step counter in the
 * interpreter (every expression and statement evaluated, and every item `range()` would make, counted before it makes
 * them), a cap on the length of any string or list it builds (the output included), and a wall-clock deadline. Over
 * budget → ModelBudgetError('chat_template'); `{% for i in range(100000000) %}` fails at the range() call, having
 * allocated nothing.
 */
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import type { ChatMessage } from '@tessera/serve';
import { ModelBudgetError, ModelLoadError, TokenizerError } from '../errors';
import { DEFAULT_MODEL_CODE_BUDGET, deadlineMs, type ModelCodeBudget, runWithDeadline } from './budget';

/** A model's chat template, parsed on first use so that a model with a broken template can still serve completions. */
export class ChatTemplate {
  private parsed: Template | null = null;

  constructor(
    readonly source: string | null,
    private readonly bosToken: string,
    private readonly eosToken: string,
    private readonly budget: ModelCodeBudget = DEFAULT_MODEL_CODE_BUDGET,
  ) {}

  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    return renderChatTemplate(this.source, messages, {
      addGenerationPrompt,
      bosToken: this.bosToken,
      eosToken: this.eosToken,
      parsed: this.compile(),
      budget: this.budget,
    });
  }

  private compile(): Template | undefined {
    if (this.source === null) return undefined;
    this.parsed ??= parseTemplate(this.source, this.budget);
    return this.parsed;
  }
}

function parseTemplate(source: string, budget: ModelCodeBudget): Template {
  const ms = deadlineMs(budget.chatTemplateMs, budget, source.length);
  return runWithDeadline(
    'chat_template',
    ms,
    (why) => `parsing the ${source.length}-character template stopped: ${why}.`,
    () => {
      try {
        return new Template(source);
      } catch (err) {
        if (err instanceof RangeError) throw err;
        // The model's fault, not the client's: a 500 saying so (ModelLoadError), never a 400.
        throw new ModelLoadError(`the model's chat template does not parse: ${(err as Error).message}`);
      }
    },
  );
}

export interface RenderOptions {
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  /** Further template variables (e.g. tools), passed through. */
  variables?: Record<string, unknown>;
  /** A pre-parsed template of `source`, to avoid parsing again. */
  parsed?: Template;
  /** Steps, size and time the render may take (default DEFAULT_MODEL_CODE_BUDGET). */
  budget?: ModelCodeBudget;
}

type Statement = Parameters<Interpreter['evaluate']>[0];
type RuntimeValue = ReturnType<Interpreter['evaluate']>;

/**
 * Widest indent a template may ask of `indent(width)` or `tojson(indent=…)`: one such call with a huge width would
 * allocate the whole padding in one step, before any size check could see it.
 */
export const CHAT_TEMPLATE_MAX_INDENT = 1024;

/** The parts of @huggingface/jinja's AST and interpreter the width check reads (not in its public types). */
interface FilterCall {
  type: string;
  callee?: { type: string; value?: unknown };
  args?: unknown[];
}
type EvaluateArguments = (args: unknown[], env: Environment) => [RuntimeValue[], Map<string, RuntimeValue>];
const evaluateArguments = (Interpreter.prototype as unknown as { evaluateArguments: EvaluateArguments })
  .evaluateArguments;

interface Limits {
  maxSteps: number;
  maxSize: number;
}

/** Counts steps and checks the size of every value against the render's limits. */
class BudgetedInterpreter extends Interpreter {
  private steps = 0;

  constructor(
    env: Environment,
    private readonly limits: Limits,
  ) {
    super(env);
  }

  /** Adds `n` steps (e.g. the items a range() is about to make), failing before they are taken when over budget. */
  charge(n: number): void {
    this.steps += n;
    if (!(this.steps <= this.limits.maxSteps)) {
      throw new ModelBudgetError(
        'chat_template',
        `rendering stopped after ${this.limits.maxSteps} interpreter steps (a loop, range() or recursion too large).`,
      );
    }
  }

  override evaluate(statement: Statement, environment: Environment): RuntimeValue {
    this.charge(1);
    const node = statement as unknown as { type?: string; filter?: FilterCall } | undefined;
    if (node?.filter && (node.type === 'FilterExpression' || node.type === 'FilterStatement')) {
      this.checkWidth(node.filter, environment);
    }
    const value = super.evaluate(statement, environment);
    const v = (value as { value?: unknown }).value;
    const size = typeof v === 'string' || Array.isArray(v) ? v.length : v instanceof Map ? v.size : 0;
    if (size > this.limits.maxSize) {
      throw new ModelBudgetError(
        'chat_template',
        `rendering built a ${value.type} of ${size} characters/items, over the limit of ${this.limits.maxSize}.`,
      );
    }
    return value;
  }

  /**
   * Refuses indent(width) / tojson(indent=width) over CHAT_TEMPLATE_MAX_INDENT before the filter runs. The arguments
   * are evaluated here and again by the filter: harmless for the literals and variables templates pass as widths.
   */
  private checkWidth(filter: FilterCall, env: Environment): void {
    const name = filter.type === 'CallExpression' && filter.callee?.type === 'Identifier' ? filter.callee.value : null;
    if (name !== 'indent' && name !== 'tojson') return;
    const [args, kwargs] = evaluateArguments.call(this, filter.args ?? [], env);
    const width = name === 'indent' ? (args[0] ?? kwargs.get('width')) : kwargs.get('indent');
    const w = (width as { value?: unknown } | undefined)?.value;
    if (typeof w === 'number' && Math.abs(w) > CHAT_TEMPLATE_MAX_INDENT) {
      throw new ModelBudgetError(
        'chat_template',
        `${name}() was asked for an indent of ${w}, over the limit of ${CHAT_TEMPLATE_MAX_INDENT}.`,
      );
    }
  }
}

/** Python's range(), as @huggingface/jinja defines it, charging its length in steps before building it. */
// (For integer arguments — all Python's range takes — the values are the library's exactly.)
function budgetedRange(interpreter: () => BudgetedInterpreter) {
  return (start: number, stop?: number, step = 1): number[] => {
    if (stop === undefined) [start, stop] = [0, start];
    if (step === 0) throw new Error('range() step must not be zero');
    const span = (stop - start) / step;
    const length = Number.isNaN(span) ? 0 : Math.max(0, Math.ceil(span));
    interpreter().charge(length);
    // By count, not by stepping until `stop`: start + step can equal start past 2^53, and the loop must end.
    return Array.from({ length }, (_, k) => start + k * step);
  };
}

/** strftime_now's formats (%Y %m %d %b %B %H %M %%), as @huggingface/jinja implements them. */
function strftimeNow(format: string): string {
  const date = new Date();
  const pad2 = (n: number) => (n < 10 ? '0' : '') + n;
  return String(format).replace(/%[YmdbBHM%]/g, (token) => {
    switch (token) {
      case '%Y':
        return String(date.getFullYear());
      case '%m':
        return pad2(date.getMonth() + 1);
      case '%d':
        return pad2(date.getDate());
      case '%b':
        return new Intl.DateTimeFormat(undefined, { month: 'short' }).format(date);
      case '%B':
        return new Intl.DateTimeFormat(undefined, { month: 'long' }).format(date);
      case '%H':
        return pad2(date.getHours());
      case '%M':
        return pad2(date.getMinutes());
      default:
        return '%';
    }
  });
}

/**
 * Template.render with a budget: the same globals as @huggingface/jinja's setupGlobals (which it does not export),
 * range() replaced by the budgeted one, and the BudgetedInterpreter.
 */
function renderBudgeted(template: Template, items: Record<string, unknown>, limits: Limits): string {
  const env = new Environment();
  let interpreter: BudgetedInterpreter | null = null;
  const globals: Record<string, unknown> = {
    false: false,
    true: true,
    none: null,
    raise_exception: (message: unknown) => {
      throw new Error(String(message));
    },
    range: budgetedRange(() => interpreter!),
    strftime_now: strftimeNow,
    True: true,
    False: false,
    None: null,
  };
  for (const [key, value] of Object.entries(globals)) env.set(key, value);
  for (const [key, value] of Object.entries(items)) {
    // Like Template.render, a caller's variable cannot replace a built-in (raise_exception, range, …).
    if (env.variables.has(key)) throw new TokenizerError(`the template variable '${key}' is reserved.`);
    env.set(key, value);
  }
  interpreter = new BudgetedInterpreter(env, limits);
  const result = interpreter.run(template.parsed);
  return String((result as { value: unknown }).value);
}

function inputChars(messages: readonly ChatMessage[], variables: Record<string, unknown> | undefined): number {
  try {
    return JSON.stringify(messages).length + (variables ? JSON.stringify(variables).length : 0);
  } catch {
    return 0;
  }
}

/**
 * Renders `messages` with a Jinja chat template. No template → TokenizerError telling the client to use
 * /v1/completions; a template that fails (including its own raise_exception('…')) → TokenizerError with the reason;
 * a template over its budget → ModelBudgetError('chat_template').
 */
export function renderChatTemplate(
  source: string | null,
  messages: readonly ChatMessage[],
  options: RenderOptions = {},
): string {
  if (source === null) {
    throw new TokenizerError(
      'this model has no chat template; use /v1/completions with a plain prompt, or serve a model whose tokenizer defines chat_template.',
    );
  }
  const budget = options.budget ?? DEFAULT_MODEL_CODE_BUDGET;
  const template = options.parsed ?? parseTemplate(source, budget);
  const chars = inputChars(messages, options.variables);
  const limits: Limits = {
    maxSteps: budget.chatTemplateSteps + budget.chatTemplateStepsPerChar * chars,
    maxSize: budget.chatTemplateChars + budget.chatTemplateCharsPerChar * chars,
  };
  const items = {
    ...options.variables,
    // Plain copies: the template runtime must not see (or mutate) the caller's objects.
    messages: messages.map((m) => ({ ...m })),
    add_generation_prompt: options.addGenerationPrompt ?? false,
    bos_token: options.bosToken ?? '',
    eos_token: options.eosToken ?? '',
  };
  return runWithDeadline(
    'chat_template',
    deadlineMs(budget.chatTemplateMs, budget, chars),
    (why) => `rendering ${messages.length} messages stopped: ${why}.`,
    () => {
      try {
        return renderBudgeted(template, items, limits);
      } catch (err) {
        if (err instanceof ModelBudgetError || err instanceof RangeError) throw err;
        throw new TokenizerError(`the chat template failed for these messages: ${(err as Error).message}`);
      }
    },
  );
}
