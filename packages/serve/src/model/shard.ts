/**
 * Tensor-parallel sharding of a Llama decoder, Megatron-style as vLLM does it: Q/K/V and gate/up are column-parallel
 * (each rank owns a slice of the output features: whole heads, a slice of the MLP), O and down are row-parallel (each
 * rank owns the matching slice of the input features and produces a partial sum that an all-reduce completes). When
 * the TP degree exceeds the number of KV heads, each rank keeps the one KV head its query heads use (replicated
 * across tp / kvHeads ranks), as vLLM does. The output head is vocab-parallel: rank r owns rows [r·Vs, (r+1)·Vs) of
 * the (vocab, hidden) matrix, zero-padded at the end when tp does not divide the vocabulary.
 */
import { EngineError } from '../errors';
import type { HostTensor, LlamaConfig } from '../types';

export interface ShardPlan {
  tp: number;
  /** Query heads per rank. */
  heads: number;
  /** KV heads per rank (≥ 1). */
  kvHeads: number;
  /** First KV head of each rank. */
  kvHeadStart: number[];
  /** MLP inner width per rank. */
  intermediate: number;
  /** Vocabulary rows of the output head per rank (the last rank's are zero-padded past vocabSize). */
  vocabShard: number;
}

/** Checks that `tp` divides the model, and says which degrees would. */
export function shardPlan(c: LlamaConfig, tp: number): ShardPlan {
  const valid = [1, 2, 4, 8, 16, 32, 64].filter(
    (t) =>
      c.numHeads % t === 0 &&
      c.intermediateSize % t === 0 &&
      (c.numKvHeads % t === 0 || t % c.numKvHeads === 0) &&
      t <= c.numHeads,
  );
  const why =
    c.numHeads % tp !== 0
      ? `num_attention_heads (${c.numHeads}) is not divisible by it`
      : c.intermediateSize % tp !== 0
        ? `intermediate_size (${c.intermediateSize}) is not divisible by it`
        : c.numKvHeads % tp !== 0 && tp % c.numKvHeads !== 0
          ? `num_key_value_heads (${c.numKvHeads}) neither divides nor is divisible by it`
          : null;
  if (!Number.isInteger(tp) || tp < 1 || why) {
    throw new EngineError(
      'invalid_request',
      `Tensor-parallel degree ${tp} does not fit this model: ${why ?? 'it must be an integer ≥ 1'}. ` +
        `Degrees that fit: ${valid.join(', ')}.`,
      'tp',
    );
  }
  const kvHeads = Math.max(1, c.numKvHeads / tp);
  const kvHeadStart = Array.from({ length: tp }, (_, r) =>
    c.numKvHeads >= tp ? r * kvHeads : Math.floor((r * c.numKvHeads) / tp),
  );
  return {
    tp,
    heads: c.numHeads / tp,
    kvHeads,
    kvHeadStart,
    intermediate: c.intermediateSize / tp,
    vocabShard: Math.ceil(c.vocabSize / tp),
  };
}

type Data = Float32Array | Uint16Array;

function alloc(t: HostTensor, n: number): Data {
  return t.data instanceof Float32Array ? new Float32Array(n) : new Uint16Array(n);
}

/** Rows [start, start + count) of a (rows, cols) matrix; rows past the end are zero (padding). */
export function rowSlice(t: HostTensor, start: number, count: number): HostTensor {
  const [rows, cols] = t.shape as [number, number];
  const out = alloc(t, count * cols);
  const have = Math.max(0, Math.min(count, rows - start));
  out.set(t.data.subarray(start * cols, (start + have) * cols));
  return { dtype: t.dtype, shape: [count, cols], data: out };
}

/** Columns [start, start + count) of a (rows, cols) matrix. */
export function colSlice(t: HostTensor, start: number, count: number): HostTensor {
  const [rows, cols] = t.shape as [number, number];
  const out = alloc(t, rows * count);
  for (let r = 0; r < rows; r++) out.set(t.data.subarray(r * cols + start, r * cols + start + count), r * count);
  return { dtype: t.dtype, shape: [rows, count], data: out };
}

/** Stacks (a, cols) and (b, cols) into (a + b, cols). */
export function concatRows(a: HostTensor, b: HostTensor): HostTensor {
  const out = alloc(a, a.data.length + b.data.length);
  out.set(a.data);
  out.set(b.data, a.data.length);
  return { dtype: a.dtype, shape: [a.shape[0]! + b.shape[0]!, a.shape[1]!], data: out };
}

/** (rows, cols) → (cols, rows). */
export function transposed(t: HostTensor): HostTensor {
  const [rows, cols] = t.shape as [number, number];
  const out = alloc(t, rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c]!;
  return { dtype: t.dtype, shape: [cols, rows], data: out };
}
