/**
 * Serves the built browser app (Vite's output in dist/ui) to node:http servers: apps/llm-serve at `/` and
 * `tessera ui`. Only GET/HEAD of files that exist under that folder are answered; everything else is left to the
 * caller (it answers 404 in its own error format). Hashed files under /assets/ are cached for a year, index.html is
 * revalidated each time so a rebuilt dashboard shows at once. Files are read once and kept in memory (the whole app is
 * a few hundred KB).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page runs kernels the visitor writes: the kernel compiler generates JavaScript and the playground evaluates the
 * visitor's program, both with `new Function` — hence 'unsafe-eval'. Everything else comes from this origin only.
 */
const CSP =
  "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** Where the built app is: dist/ui beside src/ (running from source) or ui/ beside dist/index.js (built). */
export function dashboardDir(): string {
  const candidates = [new URL('../dist/ui/', import.meta.url), new URL('./ui/', import.meta.url)];
  for (const c of candidates) {
    const dir = fileURLToPath(c);
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return fileURLToPath(candidates[0]!);
}

/** True when `pnpm build` (or `pnpm --filter @tessera/dashboard build`) has produced the app. */
export function dashboardBuilt(): boolean {
  return existsSync(join(dashboardDir(), 'index.html'));
}

const cache = new Map<string, Buffer>();

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Tessera dashboard not built</title>
<p>The dashboard has not been built. Run <code>pnpm build</code> (or <code>pnpm start</code>, which builds it) and
reload this page. The OpenAI API under <code>/v1</code> works without it.</p>`;

/** The file a URL path names inside `root`, or null for anything outside it or malformed. */
export function resolveAssetPath(root: string, urlPath: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (path.includes('\0') || !path.startsWith('/')) return null;
  if (path === '/' || path === '') path = '/index.html';
  const file = normalize(join(root, path));
  const base = root.endsWith(sep) ? root : root + sep;
  return file.startsWith(base) ? file : null;
}

/**
 * Answers a GET/HEAD for a file of the built app; returns false (without touching `res`) when the request is not for
 * one, so the caller's own routing answers it.
 */
export async function serveDashboardAsset(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  let urlPath: string;
  try {
    urlPath = new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return false; // a target such as `//` that is no URL path: not a file of the app
  }
  const root = dashboardDir();
  const file = resolveAssetPath(root, urlPath);
  if (file === null) return false;
  const isIndex = file === join(root, 'index.html');
  let body = cache.get(file);
  if (!body) {
    try {
      body = await readFile(file);
    } catch {
      if (!isIndex) return false;
      res.writeHead(503, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : NOT_BUILT);
      return true;
    }
    // index.html is re-read on every request (a rebuild changes it); hashed assets never change.
    if (!isIndex) cache.set(file, body);
  }
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'Content-Length': body.length,
    'Cache-Control': urlPath.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': CSP,
    'Referrer-Policy': 'no-referrer',
    // Cross-origin isolation: the device runtime keeps device memory in SharedArrayBuffers (as in Node), which a
    // browser only provides to isolated pages. Everything the app loads is same-origin, so nothing else changes.
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
