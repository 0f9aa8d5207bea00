/**
 * HTTP errors in the OpenAI / vLLM shape: `{"error": {"message", "type", "param", "code"}}`. `type` names follow vLLM
 * (BadRequestError, NotFoundError, …) and `code` is the HTTP status, as vLLM sends it; the openai client reads
 * `message` and the status either way.
 */
import { UiApiError } from '@tessera/cli/ui';
import { EngineError } from '@tessera/serve';
import { ModelBudgetError, ModelLoadError, TokenizerError } from '../errors';

const TYPES: Record<number, string> = {
  400: 'BadRequestError',
  401: 'AuthenticationError',
  404: 'NotFoundError',
  405: 'MethodNotAllowedError',
  413: 'RequestEntityTooLargeError',
  429: 'RateLimitError',
  500: 'InternalServerError',
  503: 'ServiceUnavailableError',
};

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    /** Extra response headers (Allow on 405, WWW-Authenticate on 401). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  get type(): string {
    return TYPES[this.status] ?? 'Error';
  }
}

/** A 400 naming the offending field. */
export function badRequest(message: string, param: string | null = null): ApiError {
  return new ApiError(400, message, param);
}

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: number };
}

/** Maps anything thrown while serving a request to a status and a message the client can act on. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  // The dashboard API's handlers (@tessera/cli/ui) refuse bad input with their own status.
  if (err instanceof UiApiError) return new ApiError(err.status, err.message, err.param);
  if (err instanceof EngineError) {
    switch (err.code) {
      case 'invalid_request':
        return new ApiError(400, err.message, err.param);
      case 'overloaded':
        return new ApiError(429, err.message, err.param);
      case 'shutdown':
        return new ApiError(503, err.message, err.param);
      default:
        return new ApiError(500, err.message, err.param);
    }
  }
  // Tokenizer errors come from what the client sent (e.g. chat on a model without a chat template).
  if (err instanceof TokenizerError) return new ApiError(400, err.message);
  // The model's own code (chat template, pre-tokenizer) ran past its budget: the model is at fault, not the client.
  if (err instanceof ModelBudgetError) {
    const what = err.what === 'chat_template' ? "The model's chat template" : "The model's tokenizer";
    return new ApiError(500, `${what} exceeded its budget: ${err.message}`);
  }
  if (err instanceof ModelLoadError) return new ApiError(500, `The model's files are unusable: ${err.message}`);
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError(500, `Internal server error: ${message}`);
}

export function errorBody(err: ApiError): ErrorBody {
  return { error: { message: err.message, type: err.type, param: err.param, code: err.status } };
}
