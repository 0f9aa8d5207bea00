/**
 * Small node:http helpers: a size-capped JSON body reader and JSON / error responses.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, badRequest, errorBody } from './errors';

/**
 * Reads the request body, refusing with 413 as soon as it passes `limit` bytes (a declared Content-Length over the
 * limit is refused before reading anything), so an oversized upload is never buffered whole.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new ApiError(413, `Request body exceeds the limit of ${limit} bytes.`);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    // A client that disconnects mid-upload: nobody is left to answer, but the handler must stop waiting.
    const onCutShort = () => {
      cleanup();
      reject(badRequest('The request body was cut short.'));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onCutShort);
      req.off('close', onCutShort);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onCutShort);
    req.on('close', onCutShort);
  });
}

/** Parses a JSON object body; anything else is a 400. */
export function parseJsonObject(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw badRequest(`Invalid JSON in request body: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badRequest('The request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

export function sendError(res: ServerResponse, err: ApiError, headers: Record<string, string> = {}): void {
  sendJson(res, err.status, errorBody(err), headers);
}
