/**
 * The app's typed errors (loading models and tokenizers, running their code). Each says what went wrong and what to
 * do; the server maps them to HTTP statuses, with @tessera/serve's EngineError.
 */

/** A model file that cannot be used: malformed, truncated, inconsistent with its config, or unsupported. */
export class ModelLoadError extends Error {
  override readonly name: string = 'ModelLoadError';
  constructor(
    message: string,
    readonly details: { file?: string; tensor?: string; hint?: string } = {},
  ) {
    super(details.hint ? `${message} ${details.hint}` : message);
  }
}

/**
 * A model or tokenizer file whose contents break the format's rules or the physical limits of the file: a count in a
 * header larger than the bytes that could hold it, an offset past the end, an id out of range. Names the file, the
 * field and the limit, so the user knows which file to fix. Thrown before anything the header claims is allocated.
 */
export class ModelFormatError extends ModelLoadError {
  override readonly name: string = 'ModelFormatError';
  constructor(
    message: string,
    readonly format: { file?: string; field: string; limit?: string; hint?: string },
  ) {
    super(`${format.file ? `${format.file}: ` : ''}${message}${format.limit ? ` (limit: ${format.limit})` : ''}`, {
      file: format.file,
      hint: format.hint,
    });
  }
}

/**
 * Code that ships with a model (a chat template, a pre-tokenizer regex) ran past its budget of steps, time or output.
 * The model is at fault, not the client; the server answers 500 naming the model's template or tokenizer, and keeps
 * serving.
 */
export class ModelBudgetError extends Error {
  override readonly name = 'ModelBudgetError';
  constructor(
    readonly what: 'chat_template' | 'tokenizer',
    message: string,
  ) {
    super(message);
  }
}

/** A tokenizer that cannot be built, or a text/ids it cannot handle (e.g. no chat template). */
export class TokenizerError extends Error {
  override readonly name = 'TokenizerError';
  constructor(
    message: string,
    readonly details: { file?: string; hint?: string } = {},
  ) {
    super(details.hint ? `${message} ${details.hint}` : message);
  }
}
