/**
 * Shared fixtures for the format tests: a tiny GQA config, deterministic tensors for it, temp directories that are
 * removed after the run, and bit-exact tensor comparison.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bf16BitsFromF32, f16BitsFromF32 } from '@tessera/device';
import type { HostTensor, LlamaConfig, TensorMap, WeightDType } from '@tessera/serve';
import { afterAll, expect } from 'vitest';
import { ModelLoadError } from '../../src/errors';
import { canonicalShapes } from '../../src/formats/canonical';

/** vocab 40, hidden 16, 2 layers, 4 heads of 4 dims, 2 KV heads (GQA), FFN 24. */
export function tinyConfig(overrides: Partial<LlamaConfig> = {}): LlamaConfig {
  return {
    vocabSize: 40,
    hiddenSize: 16,
    intermediateSize: 24,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 4,
    maxPositionEmbeddings: 64,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeConvention: 'half',
    tieWordEmbeddings: false,
    dtype: 'f32',
    ...overrides,
  };
}

/** xorshift32 in [-1, 1): reproducible values without a dependency. */
export function rng(seed = 1): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 31 - 1;
  };
}

export function randomTensor(dtype: WeightDType, shape: number[], next: () => number): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const f = Float32Array.from({ length: n }, next);
  if (dtype === 'f32') return { dtype, shape, data: f };
  return { dtype, shape, data: Uint16Array.from(f, dtype === 'bf16' ? bf16BitsFromF32 : f16BitsFromF32) };
}

/** Canonical tensors with the shapes `config` implies, in `config.dtype`. */
export function randomTensors(config: LlamaConfig, seed = 7): TensorMap {
  const next = rng(seed);
  return new Map([...canonicalShapes(config)].map(([name, shape]) => [name, randomTensor(config.dtype, shape, next)]));
}

export function bytesOf(t: HostTensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Same names, dtypes, shapes and bits. */
export function expectSameTensors(actual: ReadonlyMap<string, HostTensor>, expected: ReadonlyMap<string, HostTensor>) {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, e] of expected) {
    const a = actual.get(name)!;
    expect({ name, dtype: a.dtype, shape: a.shape }).toEqual({ name, dtype: e.dtype, shape: e.shape });
    expect(bytesOf(a).equals(bytesOf(e)), `${name} bits`).toBe(true);
  }
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh directory under os.tmpdir(), deleted when the test file finishes. */
export function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-serve-formats-'));
  dirs.push(d);
  return d;
}

/** Runs `fn`, expecting a ModelLoadError; returns it for further checks. */
export function loadError(fn: () => unknown): ModelLoadError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelLoadError);
    return e as ModelLoadError;
  }
  throw new Error('expected a ModelLoadError, but nothing was thrown');
}
