/**
 * Prefill attention, FlashAttention-style: for each block of BM query rows of one head, walk the keys in blocks of
 * BN, keeping a running row max m, running sum l and the output accumulator; the score matrix never leaves the chip.
 *
 *   S = scale · Q·Kᵀ (causal-masked)   m' = max(m, rowmax S)   P = exp(S − m')
 *   l' = l·exp(m − m') + rowsum P      O' = O·exp(m − m') + P·V          out = O / l
 *
 * Sequences are packed (varlen, like flash_attn_varlen_func): q (tokens, heads, headDim), k (kvTokens, kvHeads,
 * headDim), v (kvTokens, kvHeads, vHeadDim), `seqLens` (and `kvSeqLens`) on the host. Grouped-query attention maps
 * query head h to KV head ⌊h / (heads / kvHeads)⌋. The value head may be narrower than the query/key head (DeepSeek's
 * MLA prefill: q/k 192 = 128 + 64 RoPE, v 128; FlashAttention 3's separate headdim_v), and a sequence may have more
 * keys than queries (chunked prefill: its cached context, then this chunk): its queries are the last of its keys, and
 * the causal mask is aligned to the bottom right (query i of a sequence with q queries and n keys sees keys ≤ n − q + i,
 * as flash_attn_varlen_func with seqlen_k > seqlen_q).
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
      kvStarts: 'i32[]',
      heads: 'i32',
      kvHeads: 'i32',
      scale: 'f32',
      causal: 'constexpr',
      HD: 'constexpr',
      VD: 'constexpr',
      BM: 'constexpr',
      BN: 'constexpr',
    },
  },
  (t, { q, k, v, o, seqStarts, kvStarts, heads, kvHeads, scale, causal, HD, VD, BM, BN }) => {
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
    const kStart = kvStarts[s]!;
    const kLen = kvStarts[s + 1]! - kStart;
    const past = kLen - len; // keys before the sequence's first query (its cached context)
    const h = t.programId(1);
    const g = Math.floor(h / (heads / kvHeads));
    // Views of this sequence's rows for this head: (len, HD) with row stride heads·HD (kvHeads·HD for K, kvHeads·VD
    // for V), and the output (len, VD).
    const Q = t.tensor(q, [len, HD], [heads * HD, 1], (start * heads + h) * HD);
    const K = t.tensor(k, [kLen, HD], [kvHeads * HD, 1], (kStart * kvHeads + g) * HD);
    const V = t.tensor(v, [kLen, VD], [kvHeads * VD, 1], (kStart * kvHeads + g) * VD);
    const O = t.tensor(o, [len, VD], [heads * VD, 1], (start * heads + h) * VD);
    const m0 = blk * BM;
    const qt = t.loadBlock(Q, [m0, 0], [BM, HD]); // (BM, HD)
    const rows = t.arange(past + m0, past + m0 + BM).expandDims(1); // (BM, 1) query positions among the keys
    let mi = t.full([BM, 1], Number.NEGATIVE_INFINITY);
    let li = t.zeros([BM, 1]);
    let acc = t.zeros([BM, VD]); // (BM, VD) f32
    const end = causal ? Math.min(kLen, past + m0 + BM) : kLen;
    for (let n0 = 0; n0 < end; n0 += BN) {
      const kt = t.loadBlock(K, [n0, 0], [BN, HD]); // (BN, HD)
      let sc = t.dot(qt, kt.trans()).mul(scale); // (BM, BN)
      const cols = t.arange(n0, n0 + BN).expandDims(0); // (1, BN) key positions
      let keep = cols.lt(kLen);
      if (causal) keep = keep.and(cols.le(rows));
      sc = t.where(keep, sc, Number.NEGATIVE_INFINITY);
      const mNew = mi.maximum(sc.max(1, true)); // (BM, 1)
      // Rows with every key masked so far keep m = -inf; use 0 there so exp() stays 0 instead of NaN.
      const mSafe = t.where(mNew.eq(Number.NEGATIVE_INFINITY), 0, mNew);
      const p = sc.sub(mSafe).exp(); // (BM, BN)
      const alpha = mi.sub(mSafe).exp(); // (BM, 1)
      li = li.mul(alpha).add(p.sum(1, true));
      const vt = t.loadBlock(V, [n0, 0], [BN, VD]); // (BN, VD)
      acc = t.dot(p.cast(vt.dtype), vt, acc.mul(alpha));
      mi = mNew;
    }
    t.storeBlock(O, [m0, 0], acc.div(t.where(li.eq(0), 1, li)));
  },
);

export interface FlashAttentionArgs {
  /** (tokens, heads, headDim), the query rows of every sequence packed one after another. */
  q: DeviceBuffer;
  /** (kvTokens, kvHeads, headDim): every sequence's keys packed (kvTokens = tokens unless `kvSeqLens` is given). */
  k: DeviceBuffer;
  /** (kvTokens, kvHeads, vHeadDim). */
  v: DeviceBuffer;
  /** (tokens, heads, vHeadDim). */
  out: DeviceBuffer;
  /** Query tokens of each packed sequence (host). */
  seqLens: readonly number[];
  /**
   * Keys of each packed sequence (host), each ≥ its query tokens: the sequence's queries are its last tokens (a
   * prefill chunk after its cached context). Default `seqLens` (keys = queries).
   */
  kvSeqLens?: readonly number[];
  heads: number;
  kvHeads: number;
  /** The query and key head size. */
  headDim: number;
  /** The value (and output) head size, default headDim; DeepSeek's MLA prefill has q/k 192 and v 128. */
  vHeadDim?: number;
  /** Causal masking (default true), aligned to the bottom right when a sequence has more keys than queries. */
  causal?: boolean;
  /** Softmax scale (default 1/√headDim). */
  scale?: number;
}

/**
 * Block sizes: BM query rows × BN keys (× head-size columns). FlashAttention-2's choice on Hopper/Ampere for head dims
 * up to 128 — 128 × 64 — keeps the matrix unit busy per byte of K and V loaded, and fits shared memory / L1 / L0C and
 * the register file / Unified Buffer of every simulated device. FlashAttention 3 keeps 128-row blocks up to head size
 * 192 (MLA prefill's q/k; its v is 128): the (128, 192) Q tile, a (64, 192) K and a (64, 128) V tile still fit; larger
 * heads halve both.
 */
function attentionBlocks(headDim: number, maxLen: number, maxKvLen: number): { BM: number; BN: number } {
  const [bm, bn] = headDim > 192 ? [64, 32] : [128, 64];
  const clampTo = (b: number, len: number) => Math.min(b, Math.max(16, nextPow2(len)));
  return { BM: clampTo(bm, maxLen), BN: clampTo(bn, maxKvLen) };
}

export function flashAttention(
  dev: Device,
  a: FlashAttentionArgs,
  options: OpOptions & { config?: { BM?: number; BN?: number } } = {},
): LaunchResult {
  const op = 'flashAttention';
  const vHeadDim = a.vHeadDim ?? a.headDim;
  checkDims(op, { heads: a.heads, kvHeads: a.kvHeads, headDim: a.headDim, vHeadDim }, 1);
  check(a.heads % a.kvHeads === 0, op, `heads (${a.heads}) must be a multiple of kvHeads (${a.kvHeads}).`);
  check(Array.isArray(a.seqLens), op, 'seqLens must be an array of sequence lengths.');
  for (const l of a.seqLens) check(Number.isInteger(l) && l >= 0, op, `sequence length ${l} must be an integer ≥ 0.`);
  const kvSeqLens = a.kvSeqLens ?? a.seqLens;
  check(
    Array.isArray(kvSeqLens) && kvSeqLens.length === a.seqLens.length,
    op,
    `kvSeqLens has ${kvSeqLens.length} entries but seqLens has ${a.seqLens.length}; give one per sequence.`,
  );
  for (const [s, n] of kvSeqLens.entries()) {
    check(
      Number.isInteger(n) && n >= a.seqLens[s]!,
      op,
      `sequence ${s}: kvSeqLens ${n} must be an integer ≥ its ${a.seqLens[s]} query tokens (the queries are its last keys).`,
    );
  }
  const tokens = a.seqLens.reduce((x, y) => x + y, 0);
  const kvTokens = kvSeqLens.reduce((x, y) => x + y, 0);
  const qText = `(tokens, heads, headDim) = (${tokens}, ${a.heads}, ${a.headDim})`;
  const kText = `(kvTokens, kvHeads, headDim) = (${kvTokens}, ${a.kvHeads}, ${a.headDim})`;
  const vText = `(kvTokens, kvHeads, vHeadDim) = (${kvTokens}, ${a.kvHeads}, ${vHeadDim})`;
  const oText = `(tokens, heads, vHeadDim) = (${tokens}, ${a.heads}, ${vHeadDim})`;
  checkBuffer(op, 'q', a.q, { shape: [tokens, a.heads, a.headDim], shapeText: qText, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'k', a.k, { shape: [kvTokens, a.kvHeads, a.headDim], shapeText: kText, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'v', a.v, { shape: [kvTokens, a.kvHeads, vHeadDim], shapeText: vText, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'out', a.out, { shape: [tokens, a.heads, vHeadDim], shapeText: oText, dtypes: FLOAT_DTYPES });
  checkSameDType(op, ['q', a.q], ['k', a.k]);
  checkSameDType(op, ['k', a.k], ['v', a.v]);
  const scale = a.scale ?? 1 / Math.sqrt(a.headDim);
  check(Number.isFinite(scale), op, `scale = ${scale} must be finite.`);
  const maxLen = Math.max(0, ...a.seqLens);
  const maxKvLen = Math.max(0, ...kvSeqLens);
  const { BM, BN } = { ...attentionBlocks(Math.max(a.headDim, vHeadDim), maxLen, maxKvLen), ...options.config };
  const seqStarts = [0];
  const kvStarts = [0];
  let qBlocks = 0;
  a.seqLens.forEach((l, s) => {
    seqStarts.push(seqStarts[seqStarts.length - 1]! + l);
    kvStarts.push(kvStarts[kvStarts.length - 1]! + kvSeqLens[s]!);
    qBlocks += Math.ceil(l / BM);
  });
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
      kvStarts,
      heads: a.heads,
      kvHeads: a.kvHeads,
      scale,
      causal: a.causal === false ? 0 : 1,
      HD: a.headDim,
      VD: vHeadDim,
      BM,
      BN,
    },
  );
}
