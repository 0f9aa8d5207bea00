/**
 * The Q/K row permutation of convert_hf_to_gguf.py, checked numerically: llama.cpp's adjacent-pair RoPE applied to
 * the permuted projections must equal HF's half-rotation RoPE applied to the original ones (up to the same within-head
 * reordering), so attention scores q·k are identical. The RoPE references here are plain float64.
 */

import type { HostTensor } from '@tessera/serve';
import { describe, expect, it } from 'vitest';
import { permuteForInterleavedRope, unpermuteFromInterleavedRope } from '../../src/formats/gguf-llama';
import { bytesOf, randomTensor, rng } from './helpers';

const THETA = 10000;

/** HF rotate_half RoPE on one head: pairs (i, i + d/2) rotated by pos · θ^(−2i/d). */
function ropeHalf(v: Float64Array, pos: number): Float64Array {
  const d = v.length;
  const out = new Float64Array(d);
  for (let i = 0; i < d / 2; i++) {
    const a = pos * THETA ** ((-2 * i) / d);
    const [x, y] = [v[i]!, v[i + d / 2]!];
    out[i] = x * Math.cos(a) - y * Math.sin(a);
    out[i + d / 2] = y * Math.cos(a) + x * Math.sin(a);
  }
  return out;
}

/** llama.cpp / llama2.c RoPE on one head: pairs (2i, 2i + 1) rotated by pos · θ^(−2i/d). */
function ropeInterleaved(v: Float64Array, pos: number): Float64Array {
  const d = v.length;
  const out = new Float64Array(d);
  for (let i = 0; i < d / 2; i++) {
    const a = pos * THETA ** ((-2 * i) / d);
    const [x, y] = [v[2 * i]!, v[2 * i + 1]!];
    out[2 * i] = x * Math.cos(a) - y * Math.sin(a);
    out[2 * i + 1] = x * Math.sin(a) + y * Math.cos(a);
  }
  return out;
}

/** W x in float64, split into heads of `hd`. */
function project(w: HostTensor, x: Float64Array, hd: number): Float64Array[] {
  const [rows, cols] = w.shape as [number, number];
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) y[r]! += w.data[r * cols + c]! * x[c]!;
  return Array.from({ length: rows / hd }, (_, h) => y.subarray(h * hd, (h + 1) * hd));
}

const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);

describe('permuteForInterleavedRope', () => {
  it('reorders each head as reshape(heads, 2, d/2).swapaxes(1, 2)', () => {
    // 2 heads of 4 dims, one column holding the row index: HF rows (0 1 | 2 3) pair as (0, 2), (1, 3).
    const w: HostTensor = { dtype: 'f32', shape: [8, 1], data: Float32Array.from({ length: 8 }, (_, i) => i) };
    expect(Array.from(permuteForInterleavedRope(w, 2).data)).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    expect(Array.from(unpermuteFromInterleavedRope(permuteForInterleavedRope(w, 2), 2).data)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7,
    ]);
  });

  it('round-trips bit-exactly and keeps the dtype (bf16 rows move as raw bits)', () => {
    const w = randomTensor('bf16', [3 * 8, 5], rng(9));
    const p = permuteForInterleavedRope(w, 3);
    expect(p.dtype).toBe('bf16');
    expect(p.data).toBeInstanceOf(Uint16Array);
    expect(bytesOf(p).equals(bytesOf(w))).toBe(false);
    expect(bytesOf(unpermuteFromInterleavedRope(p, 3)).equals(bytesOf(w))).toBe(true);
    expect(() => permuteForInterleavedRope(w, 5)).toThrow(/heads/);
  });

  it('makes interleaved RoPE on permuted rows equal half RoPE on the original rows', () => {
    const heads = 3;
    const hd = 8;
    const next = rng(11);
    const w = randomTensor('f32', [heads * hd, 5], next);
    const x = Float64Array.from({ length: 5 }, next);
    const original = project(w, x, hd);
    const permuted = project(permuteForInterleavedRope(w, heads), x, hd);
    for (const pos of [0, 1, 7, 1000]) {
      for (let h = 0; h < heads; h++) {
        const half = ropeHalf(original[h]!, pos);
        const inter = ropeInterleaved(permuted[h]!, pos);
        // Interleaved slot 2j + i holds what half layout keeps in slot i·d/2 + j.
        for (let j = 0; j < hd / 2; j++) {
          for (let i = 0; i < 2; i++) expect(inter[2 * j + i]).toBeCloseTo(half[i * (hd / 2) + j]!, 12);
        }
      }
    }
  });

  it('leaves attention scores unchanged, with GQA (q permuted per query head, k per KV head)', () => {
    const [heads, kvHeads, hd, inDim] = [4, 2, 8, 6];
    const next = rng(13);
    const wq = randomTensor('f32', [heads * hd, inDim], next);
    const wk = randomTensor('f32', [kvHeads * hd, inDim], next);
    const xq = Float64Array.from({ length: inDim }, next);
    const xk = Float64Array.from({ length: inDim }, next);
    const q = project(wq, xq, hd);
    const k = project(wk, xk, hd);
    const qp = project(permuteForInterleavedRope(wq, heads), xq, hd);
    const kp = project(permuteForInterleavedRope(wk, kvHeads), xk, hd);
    for (const [m, n] of [
      [5, 2],
      [40, 39],
      [0, 0],
    ] as const) {
      for (let h = 0; h < heads; h++) {
        const g = Math.floor(h / (heads / kvHeads));
        const hf = dot(ropeHalf(q[h]!, m), ropeHalf(k[g]!, n));
        const gguf = dot(ropeInterleaved(qp[h]!, m), ropeInterleaved(kp[g]!, n));
        expect(gguf).toBeCloseTo(hf, 12);
      }
    }
    // Without the permutation the conventions disagree (the test would catch a missing permute).
    const wrong = dot(ropeInterleaved(q[0]!, 5), ropeInterleaved(k[0]!, 2));
    expect(Math.abs(wrong - dot(ropeHalf(q[0]!, 5), ropeHalf(k[0]!, 2)))).toBeGreaterThan(1e-6);
  });
});
