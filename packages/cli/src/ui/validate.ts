/**
 * Checks for the dashboard API's untrusted input (JSON bodies, query strings): each names the field, says what it
 * must be and what it got, and runs before any work is done.
 */
import { UiApiError } from './errors';

/** What a value looked like, for messages: short, never the whole of a large value. */
export function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return v.length > 40 ? `'${v.slice(0, 40)}…'` : `'${v}'`;
  return String(v);
}

export const bad = (param: string, message: string) => new UiApiError(400, message, param);

/** The body as a JSON object whose keys are all among `fields` (a misspelt field is an error, not a default). */
export function objectBody(body: unknown, fields: readonly string[]): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw bad('body', `The request body must be a JSON object, got ${shown(body)}.`);
  for (const k of Object.keys(body)) {
    if (!fields.includes(k)) throw bad(k, `Unknown field '${k}'; the fields are ${fields.join(', ')}.`);
  }
  return body as Record<string, unknown>;
}

/** One of `valid` (exact), or a 400 listing them. */
export function oneOf<T extends string>(v: unknown, param: string, valid: readonly T[], what: string): T {
  if (typeof v !== 'string' || !(valid as readonly string[]).includes(v))
    throw bad(param, `Unknown ${what} ${shown(v)}; one of: ${valid.join(', ')}.`);
  return v as T;
}

/** An integer in [min, max]. */
export function integer(v: unknown, param: string, min: number, max: number, hint = ''): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw bad(param, `'${param}' must be an integer from ${min} to ${max}${hint}, got ${shown(v)}.`);
  return v;
}

/** A finite number > 0 (and at most `max`). */
export function positive(v: unknown, param: string, unit: string, max = Number.MAX_VALUE): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > max) {
    const range = max < Number.MAX_VALUE ? ` up to ${max}` : '';
    throw bad(param, `'${param}' must be a positive number of ${unit}${range}, got ${shown(v)}.`);
  }
  return v;
}

/** An array of at most `max` items, each checked by `item` (given its param, e.g. "failRanks[2]"); no repeats. */
export function list<T>(v: unknown, param: string, max: number, item: (x: unknown, p: string) => T): T[] {
  if (!Array.isArray(v)) throw bad(param, `'${param}' must be an array, got ${shown(v)}.`);
  if (v.length > max) throw bad(param, `'${param}' may hold at most ${max} items, got ${v.length}.`);
  const out = v.map((x, i) => item(x, `${param}[${i}]`));
  const seen = new Set<T>();
  out.forEach((x, i) => {
    if (seen.has(x)) throw bad(`${param}[${i}]`, `'${param}' lists ${shown(x)} twice.`);
    seen.add(x);
  });
  return out;
}
