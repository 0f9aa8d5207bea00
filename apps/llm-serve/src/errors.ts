/**
 * The app's typed errors. Each says what went wrong and what to do; the server maps them to HTTP statuses.
 */

/** A model file that cannot be used: malformed, truncated, inconsistent with its config, or unsupported. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
  constructor(
    message: string,
    readonly details: { file?: string; tensor?: string; hint?: string } = {},
  ) {
    super(details.hint ? `${message} ${details.hint}` : message);
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

export type EngineErrorCode = 'invalid_request' | 'overloaded' | 'shutdown' | 'internal';

/** The engine refused or failed a request. `invalid_request` → HTTP 400, `overloaded` → 429, others → 500/503. */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}
