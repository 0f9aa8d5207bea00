/**
 * fast-check mutations for the loader and tokenizer fuzz suites: byte-level edits of a binary file (aimed mostly at
 * its header, where counts and offsets live), and structural edits of a parsed JSON file (any value at any path set
 * to a boundary value, or deleted). Plus the one assertion every suite makes about a thrown value.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { ModelBudgetError, ModelLoadError, TokenizerError } from '../../src/errors';

/** Counts and sizes at the edges: zero, one, powers of two and their neighbours, sign bits, 2^53. */
export const EDGE_INTS = [
  0,
  1,
  2,
  3,
  4,
  7,
  8,
  31,
  32,
  255,
  256,
  511,
  512,
  513,
  65535,
  65536,
  2 ** 24,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 53 - 1,
  -1,
  -2,
  -(2 ** 31),
];

export type ByteMutation =
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'u32' | 'u64'; at: number; value: number }
  | { kind: 'truncate'; at: number };

/** An offset: mostly inside the first `headerBytes` (counts, offsets, lengths), sometimes anywhere in the file. */
function offset(headerBytes: number, fileBytes: number): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.nat(Math.max(0, headerBytes - 1)) },
    { weight: 1, arbitrary: fc.nat(Math.max(0, fileBytes - 1)) },
  );
}

export function byteMutation(headerBytes: number, fileBytes: number): fc.Arbitrary<ByteMutation> {
  const at = offset(headerBytes, fileBytes);
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('byte' as const), at, value: fc.nat(255) }) },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constantFrom('u32' as const, 'u64' as const),
        // Aligned most of the time, as the fields are.
        at: fc.oneof(
          at.map((a) => a - (a % 4)),
          at,
        ),
        value: fc.oneof(fc.constantFrom(...EDGE_INTS), fc.integer()),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at }) },
  );
}

/** A copy of `bytes` with the mutations applied in order (writes past the end are dropped). */
export function applyBytes(bytes: Uint8Array, mutations: readonly ByteMutation[]): Buffer {
  let b = Buffer.from(bytes);
  for (const m of mutations) {
    if (m.kind === 'truncate') {
      b = b.subarray(0, m.at);
      continue;
    }
    const width = m.kind === 'byte' ? 1 : m.kind === 'u32' ? 4 : 8;
    if (m.at + width > b.length) continue;
    if (m.kind === 'byte') b[m.at] = m.value;
    else if (m.kind === 'u32') b.writeUInt32LE(m.value >>> 0, m.at);
    else b.writeBigInt64LE(BigInt.asIntN(64, BigInt(Math.trunc(m.value))), m.at);
  }
  return b;
}

/** JSON values at the edges of what a field may hold. */
export const edgeJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...EDGE_INTS, 1e9, 1e300, 0.5, -0.5) },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(null, true, false, '', ' ', 'a b', '__proto__', 'constructor', [], {}, [0], [1, 2], {
      a: 1,
    }),
  },
);

export interface JsonMutation {
  /** Picks the path: index modulo the number of paths. */
  pick: number;
  op: 'set' | 'delete';
  value: unknown;
}

export const jsonMutation: fc.Arbitrary<JsonMutation> = fc.record({
  pick: fc.nat(),
  op: fc.oneof(
    { weight: 5, arbitrary: fc.constant('set' as const) },
    { weight: 1, arbitrary: fc.constant('delete' as const) },
  ),
  value: edgeJson,
});

type Path = (string | number)[];

/** Every path to a value inside `root` (objects and arrays), root excluded. */
function paths(root: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  const entries: [string | number, unknown][] = Array.isArray(root)
    ? root.map((v, i) => [i, v])
    : root && typeof root === 'object'
      ? Object.entries(root)
      : [];
  for (const [k, v] of entries) {
    out.push([...prefix, k]);
    paths(v, [...prefix, k], out);
  }
  return out;
}

/** A deep copy of `json` with the mutations applied; `focus` (if given) restricts them to paths under it. */
export function applyJson<T>(json: T, mutations: readonly JsonMutation[], focus?: Path): T {
  const copy = structuredClone(json) as unknown;
  for (const m of mutations) {
    const all = paths(copy).filter((p) => !focus || focus.every((f, i) => p[i] === f));
    if (all.length === 0) continue;
    const p = all[m.pick % all.length]!;
    let parent = copy as Record<string | number, unknown>;
    for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
    const key = p[p.length - 1]!;
    if (m.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
    } else {
      parent[key] = structuredClone(m.value);
    }
  }
  return copy as T;
}

/**
 * The property every fuzz case checks: a thrown value is one of the app's typed errors, never anything else. At load:
 * ModelLoadError (ModelFormatError included) or TokenizerError. At request time: TokenizerError (the input), or the
 * model's fault — ModelBudgetError (over budget) or ModelLoadError (its tokenizer failed on this input).
 */
export function expectTyped(err: unknown, allowed: 'load' | 'request'): void {
  // A ModelBudgetError is typed too, also at load: loading runs the model's code under the same deadline, and on a
  // loaded machine even an honest file can run past it (a deadline is wall time) — a typed refusal, never a hang.
  const ok =
    allowed === 'load'
      ? err instanceof ModelLoadError || err instanceof TokenizerError || err instanceof ModelBudgetError
      : err instanceof TokenizerError || err instanceof ModelBudgetError || err instanceof ModelLoadError;
  if (!ok) {
    const e = err as Error;
    expect.fail(`expected a typed ${allowed} error, got ${e?.name}: ${e?.message}\n${e?.stack ?? ''}`);
  }
}
