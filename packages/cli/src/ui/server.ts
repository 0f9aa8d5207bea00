/**
 * `tessera ui`'s HTTP server (node:http): /api/info, the dashboard API's routes (routes.ts), and the built dashboard's
 * files (@tessera/dashboard's serveDashboardAsset). Errors are OpenAI-shaped, as llm-serve's:
 * `{error: {message, type, param, code}}` with vLLM's type names and the status as code.
 *
 * POST bodies are JSON (Content-Type: application/json, at most 1 MiB, refused with 413 before being buffered whole).
 * Requiring the JSON content type also keeps other web pages from driving the server: a cross-origin page can only
 * send it after a CORS preflight, which this server never grants.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiErrorBody, InfoResponse } from '@tessera/dashboard';
import { serveDashboardAsset } from '@tessera/dashboard';
import { UiApiError } from './errors';
import { UI_API_ROUTES } from './routes';

export const MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_UI_HOST = '127.0.0.1';
export const DEFAULT_UI_PORT = 8100;

const ERROR_TYPES: Record<number, string> = {
  400: 'BadRequestError',
  404: 'NotFoundError',
  405: 'MethodNotAllowedError',
  413: 'RequestEntityTooLargeError',
  500: 'InternalServerError',
  503: 'ServiceUnavailableError',
};

const INFO: InfoResponse = { mode: 'ui', model: null, apiKeyRequired: false };

export interface UiServerOptions {
  host?: string;
  /** 0: any free port (tests). */
  port?: number;
  /** Where server faults (500s) are reported; default stderr. */
  log?: (line: string) => void;
}

export interface UiServer {
  /** "http://127.0.0.1:8100/". */
  url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string, param: string | null, headers = {}): void {
  const body: ApiErrorBody = { error: { message, type: ERROR_TYPES[status] ?? 'Error', param, code: status } };
  send(res, status, body, headers);
}

/** The body, refused with 413 as soon as it passes the cap (a declared Content-Length over it: before reading). */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new UiApiError(413, `The request body exceeds the limit of ${MAX_BODY_BYTES} bytes.`);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return reject(tooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onCut);
      req.off('close', onCut);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        cleanup();
        reject(tooLarge());
      } else chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onCut = () => {
      cleanup();
      reject(new UiApiError(400, 'The request body was cut short.'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onCut);
    req.on('close', onCut);
  });
}

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json')
    throw new UiApiError(400, `POST bodies are JSON: send Content-Type: application/json (got '${type || 'none'}').`);
  const text = (await readBody(req)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UiApiError(400, `The request body is not valid JSON: ${(e as Error).message}`, 'body');
  }
}

/** The request target as a URL, or a 400: Node passes on targets (`//`, `http://[`) that `new URL` rejects. */
function targetOf(req: IncomingMessage): URL {
  try {
    return new URL(req.url ?? '/', 'http://localhost');
  } catch {
    throw new UiApiError(400, `The request target ${JSON.stringify(req.url)} is not a valid URL path; send '/…'.`);
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, log: (line: string) => void): Promise<void> {
  const method = req.method ?? 'GET';
  let path = req.url ?? '/';
  try {
    const url = targetOf(req);
    path = url.pathname;
    if (path === '/api/info') {
      if (method !== 'GET') throw methodNotAllowed(path, ['GET']);
      return send(res, 200, INFO);
    }
    const route = UI_API_ROUTES[path];
    if (route) {
      if (method === 'GET' && route.GET) return send(res, 200, await route.GET(url.searchParams));
      if (method === 'POST' && route.POST) return send(res, 200, await route.POST(await jsonBody(req)));
      throw methodNotAllowed(path, Object.keys(route));
    }
    if (!path.startsWith('/api/') && (await serveDashboardAsset(req, res))) return;
    throw new UiApiError(404, `No route ${method} ${path}.`);
  } catch (e) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (e instanceof MethodNotAllowed) return sendError(res, 405, e.message, null, { Allow: e.allow.join(', ') });
    if (e instanceof UiApiError) {
      // After a 413 the rest of the upload is not read: close the connection rather than drain it.
      return sendError(res, e.status, e.message, e.param, e.status === 413 ? { Connection: 'close' } : {});
    }
    log(`tessera ui: ${method} ${path} failed: ${(e as Error).stack ?? String(e)}`);
    sendError(res, 500, `Internal server error: ${(e as Error).message ?? String(e)}`, null);
  }
}

class MethodNotAllowed extends UiApiError {
  constructor(
    path: string,
    readonly allow: string[],
  ) {
    super(405, `${path} answers ${allow.join(' and ')} only.`);
  }
}
const methodNotAllowed = (path: string, allow: string[]) => new MethodNotAllowed(path, allow);

/** Starts the server; resolves once it listens (its URL names the port it got). */
export function startUiServer(options: UiServerOptions = {}): Promise<UiServer> {
  const host = options.host ?? DEFAULT_UI_HOST;
  const port = options.port ?? DEFAULT_UI_PORT;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const server = createServer((req, res) => {
    // handle answers its own errors; this only keeps a fault in that answer from becoming an unhandled rejection.
    handle(req, res, log).catch((e: unknown) => {
      log(`tessera ui: ${req.method} ${req.url} failed: ${(e as Error)?.stack ?? String(e)}`);
      res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      resolve({
        url: `http://${shownHost}:${addr.port}/`,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((e) => (e ? fail(e) : done()));
            server.closeAllConnections();
          }),
      });
    });
  });
}
