/**
 * The OpenAI-compatible HTTP server: routing, API-key check, body limits, error mapping and client-disconnect
 * handling around the route handlers. `createServer` returns a plain node:http Server; the caller listens and closes.
 *
 * Behaviour follows vLLM's OpenAI server: every error is `{"error": {message, type, param, code}}`; a client that
 * disconnects aborts its engine requests (freeing their KV blocks) whether or not the response was streaming. Unlike
 * vLLM, the API key also guards /tokenize and /detokenize (they run the tokenizer: CPU an anonymous client could
 * spend) and, with `protectMetrics`, /metrics; /health stays open for load balancers.
 *
 * Untrusted clients are bounded before anything reaches a handler: headers must arrive within `headersTimeoutMs` and
 * the whole request (with its body) within `requestTimeoutMs` (Node answers 408 and closes), the body is capped at
 * `maxBodyBytes` (413), and at most `maxConnections` sockets are open at once (further ones are closed at once).
 *
 * The browser dashboard lives on the same server: its API under /api/ (dashboard.ts: the engine's live steps, trace
 * and cluster, and @tessera/cli's topology, collective and projection routes), and its built files at every other
 * GET path (`/`, `/assets/…`), served by @tessera/dashboard.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { serveDashboardAsset } from '@tessera/dashboard';
import type { Engine } from '@tessera/serve';
import { chatCompletions, completions } from './completions';
import type { Handler, ServeContext } from './context';
import { dashboardRoutes } from './dashboard';
import { ApiError, toApiError } from './errors';
import { parseJsonObject, readBody, sendError } from './http';
import { ServerMetrics } from './metrics';
import { detokenize, health, metrics, models, tokenize } from './routes';
import { DEFAULT_REQUEST_LIMITS, type RequestLimits } from './schema';
import { RequestParser } from './validate';

export interface Logger {
  info(message: string): void;
  error(message: string): void;
}

export interface ServerOptions {
  engine: Engine;
  /** The model id shown in /v1/models and required in requests (default: the loaded model's id). */
  servedModelName?: string;
  /** When set, /v1/* requests need `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Also require the API key on /metrics (default false: scrapers usually hold no key, as in vLLM). */
  protectMetrics?: boolean;
  /** Largest accepted request body (default 1 MiB); larger ones get 413. */
  maxBodyBytes?: number;
  /** Per-request caps: n (--max-n) and prompts per completion request (--max-prompts). */
  limits?: Partial<RequestLimits>;
  /** Time for a client to send its request headers (default 10 s; Node's own default is 60 s). */
  headersTimeoutMs?: number;
  /** Time for a client to send its whole request, body included (default 30 s; Node's own default is 300 s). */
  requestTimeoutMs?: number;
  /** Open connections at most (default 1024); further ones are closed as they arrive. */
  maxConnections?: number;
  /** Access log and server errors; silent by default. */
  logger?: Logger;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_CONNECTIONS = 1024;

/**
 * Requests that need the API key when one is set: /v1/*, /tokenize, /detokenize, and the dashboard API's POST routes
 * (collectives and projections spend CPU); /metrics and the dashboard API's GET routes only with `protectMetrics`
 * (they show what /metrics shows, in more detail). The dashboard's static files are open: they hold no data.
 */
function guarded(method: string, path: string, protectMetrics: boolean): boolean {
  if (path.startsWith('/v1') || path === '/tokenize' || path === '/detokenize') return true;
  if (path.startsWith('/api/')) return protectMetrics || (method !== 'GET' && method !== 'HEAD');
  return protectMetrics && path === '/metrics';
}

/** Paths that are API routes (unknown ones answer 404 JSON); every other GET may be a file of the dashboard. */
const isApiPath = (path: string) =>
  path.startsWith('/v1') || path.startsWith('/api/') || path === '/api' || path === '/metrics' || path === '/health';

/** The path without the query string; a target that is not a valid URL path is taken as is (and will 404). */
function pathOf(target: string): string {
  try {
    return new URL(target, 'http://localhost').pathname;
  } catch {
    return target;
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export function createServer(options: ServerOptions): http.Server {
  const { engine, apiKey, logger } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const modelName = options.servedModelName ?? engine.model.id;
  const limits: RequestLimits = { ...DEFAULT_REQUEST_LIMITS, ...options.limits };
  const ctx: ServeContext = {
    engine,
    modelName,
    metrics: new ServerMetrics(engine, modelName),
    limits,
    parser: new RequestParser(limits, engine.model.config.vocabSize),
  };
  const created = Math.floor(Date.now() / 1000);
  const expectedKey = apiKey ? digest(apiKey) : null;

  const routes: Record<string, Record<string, Handler>> = {
    ...dashboardRoutes({ apiKeyRequired: expectedKey !== null }),
    '/v1/models': { GET: (c, ex) => models(c, ex, created) },
    '/v1/completions': { POST: completions },
    '/v1/chat/completions': { POST: chatCompletions },
    '/health': { GET: health },
    '/metrics': { GET: metrics },
    '/tokenize': { POST: tokenize },
    '/detokenize': { POST: detokenize },
  };

  const authorized = (req: IncomingMessage): boolean => {
    if (!expectedKey) return true;
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    // Compare digests so the comparison takes the same time whatever the key's length.
    return !!match && timingSafeEqual(digest(match[1]!.trim()), expectedKey);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const controller = new AbortController();
    const path = pathOf(req.url ?? '/');
    res.on('close', () => {
      // 'close' before the response finished means the client went away: cancel its engine requests.
      if (!res.writableFinished) controller.abort();
      const ms = (performance.now() - started).toFixed(1);
      logger?.info(`${req.method} ${path} ${res.writableFinished ? res.statusCode : 'disconnected'} ${ms} ms`);
    });

    try {
      if (guarded(req.method ?? '', path, options.protectMetrics ?? false) && !authorized(req)) {
        throw new ApiError(401, 'Unauthorized: send the API key as "Authorization: Bearer <key>".', null, {
          'WWW-Authenticate': 'Bearer',
        });
      }
      const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
      // Not a route: the dashboard's files (/, /assets/…, /favicon.svg), or 404 in the API's error format.
      if (!route && !isApiPath(path) && (await serveDashboardAsset(req, res))) return;
      if (!route) throw new ApiError(404, `Not found: ${path}`);
      const handler = Object.hasOwn(route, req.method ?? '') ? route[req.method ?? ''] : undefined;
      if (!handler) {
        throw new ApiError(405, `Method ${req.method} not allowed on ${path}.`, null, {
          Allow: Object.keys(route).join(', '),
        });
      }
      const body = req.method === 'POST' ? parseJsonObject(await readBody(req, maxBodyBytes)) : {};
      await handler(ctx, { req, res, controller, body });
    } catch (err) {
      const e = toApiError(err);
      if (e.status >= 500) logger?.error(`${req.method} ${path}: ${err instanceof Error ? err.stack : String(err)}`);
      if (res.headersSent) {
        // Only non-streaming responses get here mid-way (streams report errors in-band); nothing valid can follow.
        res.destroy();
        return;
      }
      const headers = { ...e.headers };
      if (e.status === 413) {
        // Stop reading the upload: answer, then close the connection instead of draining the rest of the body.
        headers['Connection'] = 'close';
        res.on('finish', () => req.socket.destroySoon());
      }
      if (!res.destroyed) sendError(res, e, headers);
    }
  }

  const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const headersTimeout = Math.min(options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS, requestTimeout);
  const server = http.createServer(
    {
      headersTimeout,
      requestTimeout,
      // Node checks both deadlines on this interval (default 30 s): check often enough that they mean what they say.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeout / 4))),
    },
    (req, res) => {
      void handle(req, res);
    },
  );
  server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  return server;
}
