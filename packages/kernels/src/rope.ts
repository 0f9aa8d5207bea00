/**
 * Rotary position embedding (RoPE, Su et al. 2021, "RoFormer"). Each head vector of x (tokens, heads, headDim) has its
 * first `rotaryDim` = R dimensions grouped into R/2 pairs (a_i, b_i), i = 0 … R/2 − 1; pair i of the token at
 * position p is rotated by the angle p·θ^(−2i/R):
 *
 *   inv_freq_i = θ^(−2i/R)            (θ = `theta`, 10 000 in Llama 1/2; 500 000 in Llama 3)
 *   angle      = p · inv_freq_i
 *   a_i' = a_i·cos(angle) − b_i·sin(angle)
 *   b_i' = b_i·cos(angle) + a_i·sin(angle)
 *
 * Dimensions R … headDim − 1 pass through unchanged (partial rotary, as GPT-NeoX, Phi, ChatGLM). The two conventions
 * in use differ only in which elements form a pair:
 *
 *   'interleaved'  (a_i, b_i) = (x[2i], x[2i + 1])      — the RoFormer paper, Meta's original Llama code (complex
 *                  multiplication on adjacent pairs), GPT-J, and GGUF/llama.cpp's `llama` architecture (rope mode 0).
 *   'half'         (a_i, b_i) = (x[i], x[i + R/2])      — Hugging Face transformers' `rotate_half`, GPT-NeoX, and
 *                  llama.cpp's NEOX mode.
 *
 * They give the same result up to a permutation of each head's dimensions: Hugging Face's Llama converter permutes the
 * q/k projection rows from the interleaved to the half layout, and llama.cpp's HF→GGUF converter permutes them back.
 * Picking the wrong convention for a checkpoint gives plausible-looking, wrong attention — so `convention` has no
 * default.
 *
 * Kernels cannot branch on loaded data, so positions are loaded as a tile (one per row, gathered by token) and the
 * angles computed with tile ops: inv_freq = exp(−(2·ln θ / R) · i) from an arange, angle = pos ⊗ inv_freq, and
 * t.cos / t.sin — all in f32, as Hugging Face and vLLM build their cos/sin caches (so at large positions the angle
 * carries f32 rounding, ≈ 6e-8 · angle). x is viewed as (rows, 2, R/2) with strides (headDim, q, s): element [r, 0, i]
 * is a_i and [r, 1, i] is b_i, with (q, s) = (R/2, 1) for 'half' and (1, 2) for 'interleaved' — one kernel, the
 * convention only changes the view.
 */
import { type Device, type DeviceBuffer, type LaunchResult, type Tile, tileKernel } from '@tessera/device';
import { checkAliasing } from './alias';
import { check, checkBuffer, checkDims, FLOAT_DTYPES, nextPow2, type OpOptions } from './common';
import { maxVectorBlock, streamingGrid } from './config';
import { blockOption, blockShape, checkChoice, forEachRowBlock } from './tiling';

export type RopeConvention = 'interleaved' | 'half';

export const ropeKernel = tileKernel(
  {
    name: 'rope',
    uses: { forEachRowBlock },
    params: {
      x: 'ptr',
      out: 'ptr',
      positions: 'ptr<i32>',
      tokens: 'i64',
      heads: 'i64',
      headDim: 'i64',
      rotaryDim: 'i64',
      theta: 'f32',
      INTERLEAVED: 'constexpr',
      COPY_TAIL: 'constexpr',
      BR: 'constexpr',
      HB: 'constexpr',
      TB: 'constexpr',
    },
  },
  (t, { x, out, positions, tokens, heads, headDim, rotaryDim, theta, INTERLEAVED, COPY_TAIL, BR, HB, TB }) => {
    const rows = tokens * heads; // one row per (token, head)
    const half = rotaryDim / 2;
    const [q, s] = INTERLEAVED ? [1, 2] : [half, 1];
    const X = t.tensor(x, [rows, 2, half], [headDim, q, s]);
    const O = t.tensor(out, [rows, 2, half], [headDim, q, s]);
    /** (1, HB) inverse frequencies θ^(−2i/R) = exp(−(2·ln θ / R)·i) of pairs i = c … c + HB − 1. */
    const invFreq = (c: number): Tile =>
      t
        .exp(
          t
            .arange(c, c + HB)
            .cast('f32')
            .mul((-2 * Math.log(theta)) / rotaryDim),
        )
        .expandDims(0);
    // The first HB pairs (every head has at least one pair) are computed once per program; when R/2 > HB, the
    // further blocks are recomputed per row block (how many there are is known only when the kernel runs).
    const invFreq0 = invFreq(0);
    const pair = (D: typeof X, r: number, k: number, c: number) =>
      t.loadBlock(D, [r, k, c], [BR, 1, HB]).reshape([BR, HB]).cast('f32');
    forEachRowBlock(t, rows, BR, (r) => {
      const row = t.arange(r, r + BR);
      const token = row.idiv(heads);
      const pos = t
        .load(positions, token, { mask: row.lt(rows) })
        .cast('f32')
        .expandDims(1); // (BR, 1)
      /** Rotates pairs c … c + HB − 1 of the block's rows, with their (1, HB) inverse frequencies. */
      const rotate = (c: number, freq: Tile) => {
        const angle = pos.mul(freq); // (BR, HB)
        const cos = t.cos(angle);
        const sin = t.sin(angle);
        const a = pair(X, r, 0, c);
        const b = pair(X, r, 1, c);
        t.storeBlock(O, [r, 0, c], a.mul(cos).sub(b.mul(sin)).reshape([BR, 1, HB]));
        t.storeBlock(O, [r, 1, c], b.mul(cos).add(a.mul(sin)).reshape([BR, 1, HB]));
      };
      rotate(0, invFreq0);
      for (let c = HB; c < half; c += HB) rotate(c, invFreq(c));
      if (COPY_TAIL) {
        // Dimensions R … headDim − 1: copied as they are (blocks clip at the end of the row).
        const XF = t.tensor(x, [rows, headDim]);
        const OF = t.tensor(out, [rows, headDim]);
        for (let c = rotaryDim; c < headDim; c += TB) t.storeBlock(OF, [r, c], t.loadBlock(XF, [r, c], [BR, TB]));
      }
    });
  },
);

export interface RopeArgs {
  /** (tokens, heads, headDim), e.g. the query or key projections. */
  x: DeviceBuffer;
  /** (tokens, heads, headDim); may be x itself (in place, as vLLM applies RoPE). */
  out: DeviceBuffer;
  /** (tokens,) i32 position of each token (its index in its sequence, or any offset). */
  positions: DeviceBuffer;
  tokens: number;
  heads: number;
  headDim: number;
  /** Leading dimensions of each head that rotate (even, ≤ headDim; default headDim). */
  rotaryDim?: number;
  /** Frequency base θ (default 10 000). */
  theta?: number;
  /** Which elements pair up: 'interleaved' (2i, 2i+1) or 'half' (i, i + rotaryDim/2). See the file comment. */
  convention: RopeConvention;
}

/** Applies rotary position embedding to x, writing out. */
export function rope(
  dev: Device,
  a: RopeArgs,
  options: OpOptions & { config?: { BLOCK?: number } } = {},
): LaunchResult {
  const op = 'rope';
  const rotaryDim = a.rotaryDim ?? a.headDim;
  const theta = a.theta ?? 10000;
  checkChoice(op, 'convention', a.convention, ['interleaved', 'half']);
  checkDims(op, { tokens: a.tokens, heads: a.heads, headDim: a.headDim });
  checkDims(op, { rotaryDim }, 2);
  check(
    rotaryDim % 2 === 0 && rotaryDim <= a.headDim,
    op,
    `rotaryDim = ${rotaryDim} must be even and at most headDim = ${a.headDim}.`,
  );
  check(Number.isFinite(theta) && theta > 0, op, `theta = ${theta} must be a finite number > 0.`);
  const n = a.tokens * a.heads * a.headDim;
  const text = `(tokens, heads, headDim) = (${a.tokens}, ${a.heads}, ${a.headDim})`;
  checkBuffer(op, 'x', a.x, { shape: [a.tokens, a.heads, a.headDim], shapeText: text, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'out', a.out, { shape: [a.tokens, a.heads, a.headDim], shapeText: text, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'positions', a.positions, {
    shape: [a.tokens],
    shapeText: `(tokens,) = (${a.tokens},)`,
    dtypes: ['i32'],
  });
  checkAliasing(op, ['out', a.out, n], ['x', a.x, n], true);
  checkAliasing(op, ['out', a.out, n], ['positions', a.positions, a.tokens], false);
  const BLOCK = blockOption(op, options.config?.BLOCK, maxVectorBlock(dev.properties, 3));
  const rows = a.tokens * a.heads;
  const { BR, BC: HB } = blockShape(rows, rotaryDim / 2, BLOCK);
  const tail = a.headDim - rotaryDim;
  const TB = Math.max(1, Math.min(nextPow2(tail), Math.floor(BLOCK / BR)));
  return dev.launch(
    ropeKernel,
    { grid: streamingGrid(dev.properties, Math.max(1, Math.ceil(rows / BR))), stream: options.stream },
    {
      x: a.x,
      out: a.out,
      positions: a.positions,
      tokens: a.tokens,
      heads: a.heads,
      headDim: a.headDim,
      rotaryDim,
      theta,
      INTERLEAVED: a.convention === 'interleaved' ? 1 : 0,
      // In place, the pass-through dimensions are already where they belong.
      COPY_TAIL: tail > 0 && a.out !== a.x ? 1 : 0,
      BR,
      HB,
      TB,
    },
  );
}
