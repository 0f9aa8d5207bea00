/**
 * What every route handler gets: the server-wide state and the one HTTP exchange it serves.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine } from '@tessera/serve';
import type { ServerMetrics } from './metrics';
import type { RequestLimits } from './schema';
import type { RequestParser } from './validate';

export interface ServeContext {
  engine: Engine;
  /** The model id clients see and must send (`--served-model-name`, else the model's id). */
  modelName: string;
  metrics: ServerMetrics;
  /** Per-request caps (--max-n, --max-prompts) and the request schemas built from them. */
  limits: RequestLimits;
  parser: RequestParser;
}

export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  /** Aborted when the client disconnects before the response is complete; cancels the engine requests. */
  controller: AbortController;
  /** The parsed JSON body (POST routes). */
  body: Record<string, unknown>;
}

/** A route's handler: it answers `ex.res` (or throws, and the server answers with the error). */
export type Handler = (ctx: ServeContext, ex: Exchange) => void | Promise<void>;
