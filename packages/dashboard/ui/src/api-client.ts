/**
 * Talking to the server: JSON requests with the API key when one is set, and errors turned into one readable line
 * (the server's OpenAI-shaped `{error: {message}}`, or what went wrong on the way).
 */
import type { ApiErrorBody } from '../../src/api';

const KEY_STORAGE = 'tessera.apiKey';
/** The key when session storage is refused (private mode): it lasts for this page only. */
let memoryKey = '';

export function apiKey(): string {
  try {
    return sessionStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

export function setApiKey(key: string): void {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage refused: memoryKey below keeps it.
  }
  memoryKey = key;
}

export function authHeaders(): Record<string, string> {
  const key = apiKey() || memoryKey;
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export class ApiRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

/** The server's error message, or a description of the failed response. */
export async function errorFrom(res: Response): Promise<ApiRequestError> {
  let message = `${res.status} ${res.statusText}`;
  let param: string | null = null;
  try {
    const body = (await res.json()) as Partial<ApiErrorBody>;
    if (body.error?.message) {
      message = body.error.message;
      param = body.error.param ?? null;
    }
  } catch {
    // Not JSON: keep the status line.
  }
  if (res.status === 401) message = `${message} Enter the server's API key at the top of the page.`;
  return new ApiRequestError(message, res.status, param);
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { headers: authHeaders(), signal });
  if (!res.ok) throw await errorFrom(res);
  return (await res.json()) as T;
}

export async function postJson<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...authHeaders() },
    body: JSON.stringify(body),
    signal,
  });
  if (!res.ok) throw await errorFrom(res);
  return (await res.json()) as T;
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.name === 'AbortError' ? 'Stopped.' : err.message;
  return String(err);
}

/** Saves text or a blob as a download. */
export function download(name: string, data: Blob | string, type = 'text/plain'): void {
  const blob = typeof data === 'string' ? new Blob([data], { type }) : data;
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
