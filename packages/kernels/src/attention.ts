/**
 * Prefill attention, FlashAttention-style: for each block of BM query rows of one head, walk the keys in blocks of
 * BN, keeping a running row max m, running sum l and the output accumulator; the score matrix never leaves the chip.
 *
 *   S = scale · Q·Kᵀ (causal-masked)   m' = max(m, rowmax S)   P = exp(S − m')
 *   l' = l·exp(m − m') + rowsum P      O' = O·exp(m − m') + P·V          out = O / l
 *
 * Sequences are packed (varlen, like flash_attn_varlen_func): q (tokens, heads, headDim), k and v (tokens, kvHeads,
 * headDim), `seqLens` on the host. Grouped-query attention maps query head h to KV head ⌊h / (heads / kvHeads)⌋.
 */
import { type Device, type DeviceBuffer, type LaunchResult, tileKernel } from '@tessera/device';
import { check, checkBuffer, checkDims, checkSameDType, FLOAT_DTYPES, nextPow2, type OpOptions } from './common';
import { emptyLaunch } from './gemm';

export const flashAttentionKernel = tileKernel(
  {
    name: 'flash_attention',
    params: {
      q: 'ptr',
      k: 'ptr',
      v: 'ptr',
      o: 'ptr',
      seqStarts: 'i32[]',
      heads: 'i32',
      kvHeads: 'i32',
      scale: 'f32',
      causal: 'constexpr',
      HD: 'constexpr',
      BM: 'constexpr',
      BN: 'constexpr',
    },
  },
  (t, { q, k, v, o, seqStarts, heads, kvHeads, scale, causal, HD, BM, BN }) => {
    // Which sequence and query block: scan the host-given sequence starts.
    let blk = t.programId(0);
    let s = 0;
    for (; s < seqStarts.length - 1; s++) {
      const nb = Math.ceil((seqStarts[s + 1]! - seqStarts[s]!) / BM);
      if (blk < nb) break;
      blk -= nb;
    }
    const start = seqStarts[s]!;
    const len = seqStarts[s + 1]! - start;
    const h = t.programId(1);
    const g = Math.floor(h / (heads / kvHeads));
    // Views of this sequence's rows for this head: (len, HD) with row stride heads·HD (kvHeads·HD for K and V).
    const Q = t.tensor(q, [len, HD], [heads * HD, 1], (start * heads + h) * HD);
    const K = t.tensor(k, [len, HD], [kvHeads * HD, 1], (start * kvHeads + g) * HD);
    const V = t.tensor(v, [len, HD], [kvHeads * HD, 1], (start * kvHeads + g) * HD);
    const O = t.tensor(o, [len, HD], [heads * HD, 1], (start * heads + h) * HD);
    const m0 = blk * BM;
    const qt = t.loadBlock(Q, [m0, 0], [BM, HD]); // (BM, HD)
    const rows = t.arange(m0, m0 + BM).expandDims(1); // (BM, 1) query positions
    let mi = t.full([BM, 1], Number.NEGATIVE_INFINITY);
    let li = t.zeros([BM, 1]);
    let acc = t.zeros([BM, HD]); // (BM, HD) f32
    const end = causal ? Math.min(len, m0 + BM) : len;
    for (let n0 = 0; n0 < end; n0 += BN) {
      const kt = t.loadBlock(K, [n0, 0], [BN, HD]); // (BN, HD)
      let sc = t.dot(qt, kt.trans()).mul(scale); // (BM, BN)
      const cols = t.arange(n0, n0 + BN).expandDims(0); // (1, BN) key positions
      let keep = cols.lt(len);
      if (causal) keep = keep.and(cols.le(rows));
      sc = t.where(keep, sc, Number.NEGATIVE_INFINITY);
      const mNew = mi.maximum(sc.max(1, true)); // (BM, 1)
      // Rows with every key masked so far keep m = -inf; use 0 there so exp() stays 0 instead of NaN.
      const mSafe = t.where(mNew.eq(Number.NEGATIVE_INFINITY), 0, mNew);
      const p = sc.sub(mSafe).exp(); // (BM, BN)
      const alpha = mi.sub(mSafe).exp(); // (BM, 1)
      li = li.mul(alpha).add(p.sum(1, true));
      const vt = t.loadBlock(V, [n0, 0], [BN, HD]); // (BN, HD)
      acc = t.dot(p.cast(vt.dtype), vt, acc.mul(alpha));
      mi = mNew;
    }
    t.storeBlock(O, [m0, 0], acc.div(t.where(li.eq(0), 1, li)));
  },
);

export interface FlashAttentionArgs {
  /** (tokens, heads, headDim), the query rows of every sequence packed one after another. */
  q: DeviceBuffer;
  /** (tokens, kvHeads, headDim). */
  k: DeviceBuffer;
  v: DeviceBuffer;
  /** (tokens, heads, headDim). */
  out: DeviceBuffer;
  /** Length of each packed sequence (host). */
  seqLens: readonly number[];
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Causal masking (default true). */
  causal?: boolean;
  /** Softmax scale (default 1/√headDim). */
  scale?: number;
}

/**
 * Block sizes: BM query rows × BN keys (× headDim columns). FlashAttention-2's choice on Hopper/Ampere for head dims up
 * to 128 — 128 × 64 — keeps the matrix unit busy per byte of K and V loaded, and fits shared memory / L1 / L0C and
 * the register file / Unified Buffer of every simulated device; larger heads halve both.
 */
function attentionBlocks(headDim: number, maxLen: number): { BM: number; BN: number } {
  const [bm, bn] = headDim > 128 ? [64, 32] : [128, 64];
  const clampToLen = (b: number) => Math.min(b, Math.max(16, nextPow2(maxLen)));
  return { BM: clampToLen(bm), BN: clampToLen(bn) };
}

export function flashAttention(
  dev: Device,
  a: FlashAttentionArgs,
  options: OpOptions & { config?: { BM?: number; BN?: number } } = {},
): LaunchResult {
  const op = 'flashAttention';
  checkDims(op, { heads: a.heads, kvHeads: a.kvHeads, headDim: a.headDim }, 1);
  check(a.heads % a.kvHeads === 0, op, `heads (${a.heads}) must be a multiple of kvHeads (${a.kvHeads}).`);
  check(Array.isArray(a.seqLens), op, 'seqLens must be an array of sequence lengths.');
  for (const l of a.seqLens) check(Number.isInteger(l) && l >= 0, op, `sequence length ${l} must be an integer ≥ 0.`);
  const tokens = a.seqLens.reduce((x, y) => x + y, 0);
  const qText = `(tokens, heads, headDim) = (${tokens}, ${a.heads}, ${a.headDim})`;
  const kvText = `(tokens, kvHeads, headDim) = (${tokens}, ${a.kvHeads}, ${a.headDim})`;
  checkBuffer(op, 'q', a.q, { shape: [tokens, a.heads, a.headDim], shapeText: qText, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'k', a.k, { shape: [tokens, a.kvHeads, a.headDim], shapeText: kvText, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'v', a.v, { shape: [tokens, a.kvHeads, a.headDim], shapeText: kvText, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'out', a.out, { shape: [tokens, a.heads, a.headDim], shapeText: qText, dtypes: FLOAT_DTYPES });
  checkSameDType(op, ['q', a.q], ['k', a.k]);
  checkSameDType(op, ['k', a.k], ['v', a.v]);
  const scale = a.scale ?? 1 / Math.sqrt(a.headDim);
  check(Number.isFinite(scale), op, `scale = ${scale} must be finite.`);
  const maxLen = Math.max(0, ...a.seqLens);
  const { BM, BN } = { ...attentionBlocks(a.headDim, maxLen), ...options.config };
  const seqStarts = [0];
  let qBlocks = 0;
  for (const l of a.seqLens) {
    seqStarts.push(seqStarts[seqStarts.length - 1]! + l);
    qBlocks += Math.ceil(l / BM);
  }
  if (qBlocks === 0) return emptyLaunch(dev, 'flash_attention', options.stream);
  return dev.launch(
    flashAttentionKernel,
    { grid: [qBlocks, a.heads], stream: options.stream },
    {
      q: a.q,
      k: a.k,
      v: a.v,
      o: a.out,
      seqStarts,
      heads: a.heads,
      kvHeads: a.kvHeads,
      scale,
      causal: a.causal === false ? 0 : 1,
      HD: a.headDim,
      BM,
      BN,
    },
  );
}
