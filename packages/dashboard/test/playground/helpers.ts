/** Shared by the playground's tests. */
import { expect } from 'vitest';
import { PlaygroundError, type PlaygroundIssue } from '../../ui/src/playground/index';

/** 1-based line of the first occurrence of `needle` in `source` (the test fails if it is absent). */
export function lineOf(source: string, needle: string): number {
  const at = source.indexOf(needle);
  expect(at, `'${needle}' in the source`).toBeGreaterThanOrEqual(0);
  return source.slice(0, at).split('\n').length;
}

/** `source` with `from` replaced by `to` (the test fails if `from` is absent: a template changed under the test). */
export function edit(source: string, from: string, to: string): string {
  expect(source.includes(from), `'${from}' in the source`).toBe(true);
  return source.replace(from, to);
}

/** The PlaygroundError `fn` throws (or rejects with), as its issue; fails the test when it throws something else. */
export async function issueOf(fn: () => unknown): Promise<PlaygroundIssue> {
  try {
    await fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PlaygroundError);
    return (e as PlaygroundError).issue;
  }
  throw new Error('expected a PlaygroundError, but nothing was thrown');
}
