/**
 * The engine's typed error. It says what went wrong and what to do; the HTTP server of apps/llm-serve maps its codes to
 * statuses.
 */

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
