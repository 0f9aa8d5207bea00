/**
 * Errors. A config.json is untrusted input: every problem with one is a ModelConfigError naming the field (dotted
 * path, e.g. `rope_scaling.factor`) and saying what was expected. Misuse of the API (an unknown dtype, a negative
 * context length) is a ModelArgumentError naming the argument.
 */

export type ModelConfigErrorCode =
  /** The text is not JSON, or its root is not an object. */
  | 'invalid_json'
  /** The text is longer than the limit (CONFIG_LIMITS.maxTextLength). */
  | 'too_large'
  /** A required field is absent or null. */
  | 'missing'
  /** A field has the wrong JSON type (a string where a number belongs, a fraction where an integer belongs). */
  | 'type'
  /** A field is outside the range that makes physical sense (see CONFIG_LIMITS). */
  | 'range'
  /** Fields contradict each other (heads not dividing hidden_size, top-k above the expert count). */
  | 'inconsistent'
  /** A well-formed value this package does not model (another model_type, a quantisation method). */
  | 'unsupported';

export class ModelConfigError extends Error {
  override readonly name = 'ModelConfigError';
  readonly code: ModelConfigErrorCode;
  /** The config.json field, as a dotted path (`quantization_config.weight_block_size`); `(root)` for the document. */
  readonly field: string;
  /** Where the config came from, when the caller said (a file name, a model id). */
  readonly source: string | undefined;

  constructor(code: ModelConfigErrorCode, field: string, message: string, source?: string) {
    super(`${source === undefined ? '' : `${source}: `}${field}: ${message}`);
    this.code = code;
    this.field = field;
    this.source = source;
  }
}

export class ModelArgumentError extends Error {
  override readonly name = 'ModelArgumentError';
  /** The offending argument of the API call (`kvDtype`, `contextLength`). */
  readonly argument: string;

  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.argument = argument;
  }
}

/**
 * A value for an error message, never longer than about 60 characters: a hostile config can put megabytes in one
 * field, and a nested value is described, not serialised.
 */
export function showValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  switch (typeof value) {
    case 'string':
      return value.length > 40
        ? `${JSON.stringify(value.slice(0, 40))}… (${value.length} characters)`
        : JSON.stringify(value);
    case 'number':
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}
