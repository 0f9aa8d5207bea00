/**
 * Attention over a paged KV cache (vLLM's PagedAttention): the cache is an array of fixed-size blocks,
 * key/value cache (numBlocks, blockSize, kvHeads, headDim), and each sequence owns a block table mapping its logical
 * blocks to physical ones. One kernel serves decode (one query token per sequence) and chunked prefill (a chunk of
 * query tokens whose keys and values were written to the cache first): sequence s has `queryLens[s]` query tokens at
 * the end of its `contextLens[s]` tokens, each attending causally to every cached token up to its own position.
 *
 * One program per (sequence, block of query tokens, KV head): the query heads sharing that KV head (GQA) are stacked
 * into the rows of one tile, so a decode step still feeds the matrix unit G rows. K and V pages are gathered through
 * the block table (data-dependent addresses; the loop count comes from the host-side context lengths).
 *
 * fp8 KV cache (vLLM's `--kv-cache-dtype fp8`): the caches may be fp8e4m3 or fp8e5m2 under a float query. They hold
 * x / scale, one f32 scale per tensor for K (`kScale`) and one for V (`vScale`): reshapeAndCache stores the saturating
 * round-to-nearest-even conversion of x / scale (as vLLM's `scaled_convert`), and pagedAttention dequantises each K
 * and V tile as it loads it (fp8 → f32, × scale, → the query's dtype) and then does the same math as for a float
 * cache, accumulating in f32. The cache is then read at 1 byte per element: half of bf16's traffic at decode.
 */
import { type Device, type DeviceBuffer, type DType, isFp8, type LaunchResult, tileKernel } from '@tessera/device';
import { check, checkBuffer, checkDims, checkSameDType, checkSupported, FLOAT_DTYPES, type OpOptions } from './common';
import { accumulatorBudget } from './config';
import { emptyLaunch } from './gemm';

export const pagedAttentionKernel = tileKernel(
  {
    name: 'paged_attention',
    params: {
      q: 'ptr',
      kc: 'ptr',
      vc: 'ptr',
      bt: 'ptr<i32>',
      o: 'ptr',
      queryStarts: 'i32[]',
      contextLens: 'i32[]',
      // Per program along axis 0: its sequence and its query block within that sequence (the host's table, so a
      // program finds its sequence in one read instead of a scan over all of them).
      blockSeq: 'i32[]',
      blockIndex: 'i32[]',
      maxBlocks: 'i32',
      // Compile-time: the query tile stacks G = heads / kvHeads heads, and a tile's shape must be known.
      heads: 'constexpr',
      kvHeads: 'constexpr',
      scale: 'f32',
      // Dequantisation scales of an fp8 cache (x = stored · scale); unused (1) for a float cache.
      kScale: 'f32',
      vScale: 'f32',
      HD: 'constexpr',
      BS: 'constexpr',
      BQ: 'constexpr',
      // Query heads per program (a divisor of G): a wide head (MLA's 576) with many heads per KV head splits the
      // group over programs so that the accumulator fits the device (accumulatorBudget).
      GB: 'constexpr',
    },
  },
  (
    t,
    {
      q,
      kc,
      vc,
      bt,
      o,
      queryStarts,
      contextLens,
      blockSeq,
      blockIndex,
      maxBlocks,
      heads,
      kvHeads,
      scale,
      kScale,
      vScale,
      HD,
      BS,
      BQ,
      GB,
    },
  ) => {
    // An fp8 cache is dequantised on load to the query's dtype; a float cache already has it (the host checks).
    const fp8 = kc.dtype === 'fp8e4m3' || kc.dtype === 'fp8e5m2';
    const s = blockSeq[t.programId(0)]!;
    const blk = blockIndex[t.programId(0)]!;
    const qStart = queryStarts[s]!;
    const qLen = queryStarts[s + 1]! - qStart;
    const ctx = contextLens[s]!;
    const G = heads / kvHeads; // query heads per KV head
    const g = Math.floor(t.programId(1) / (G / GB)); // KV head
    const sub = t.programId(1) % (G / GB); // which GB heads of its group
    const R = BQ * GB; // rows of the query tile: (token i, head j) → row i·GB + j
    const r = t.arange(0, R);
    const ti = r.idiv(GB); // query token within the block
    const hj = r.rem(GB).add(g * G + sub * GB); // query head
    const tok = ti.add(blk * BQ); // query token within the sequence
    const rowValid = tok.lt(qLen).expandDims(1); // (R, 1)
    const qpos = tok.add(ctx - qLen).expandDims(1); // (R, 1) absolute position of each query
    const dcol = t.arange(0, HD).expandDims(0); // (1, HD)
    const qOff = tok.add(qStart).mul(heads).add(hj).mul(HD).expandDims(1).add(dcol); // (R, HD)
    const qt = t.load(q, qOff, { mask: rowValid }); // (R, HD)
    let mi = t.full([R, 1], Number.NEGATIVE_INFINITY);
    let li = t.zeros([R, 1]);
    let acc = t.zeros([R, HD]);
    const pages = Math.ceil(Math.min(ctx, ctx - qLen + (blk + 1) * BQ) / BS); // causal: later pages are all masked
    const slot = t.arange(0, BS).expandDims(1); // (BS, 1)
    for (let p = 0; p < pages; p++) {
      const phys = t.load(bt, s * maxBlocks + p); // () the page's physical block number
      const kvOff = phys.mul(BS).add(slot).mul(kvHeads).add(g).mul(HD).add(dcol); // (BS, HD)
      const kpos = t.arange(p * BS, p * BS + BS).expandDims(0); // (1, BS)
      const inCtx = slot.add(p * BS).lt(ctx); // (BS, 1): slots past the context hold stale data; never read them
      const kRaw = t.load(kc, kvOff, { mask: inCtx }); // (BS, HD)
      const kt = fp8 ? kRaw.cast('f32').mul(kScale).cast(q.dtype) : kRaw;
      let sc = t.dot(qt, kt.trans()).mul(scale); // (R, BS)
      sc = t.where(kpos.lt(ctx).and(kpos.le(qpos)), sc, Number.NEGATIVE_INFINITY);
      const mNew = mi.maximum(sc.max(1, true));
      const mSafe = t.where(mNew.eq(Number.NEGATIVE_INFINITY), 0, mNew);
      const pr = sc.sub(mSafe).exp();
      const alpha = mi.sub(mSafe).exp();
      li = li.mul(alpha).add(pr.sum(1, true));
      const vRaw = t.load(vc, kvOff, { mask: inCtx });
      const vt = fp8 ? vRaw.cast('f32').mul(vScale).cast(q.dtype) : vRaw;
      acc = t.dot(pr.cast(vt.dtype), vt, acc.mul(alpha));
      mi = mNew;
    }
    t.store(o, qOff, acc.div(t.where(li.eq(0), 1, li)), { mask: rowValid });
  },
);

export interface PagedAttentionArgs {
  /** (totalQueryTokens, heads, headDim): every sequence's query tokens, packed. */
  q: DeviceBuffer;
  /**
   * (numBlocks, blockSize, kvHeads, headDim): the query's dtype, or fp8e4m3 / fp8e5m2 (an fp8 KV cache, where the
   * device has fp8) holding x / kScale and x / vScale. Both caches have the same dtype.
   */
  keyCache: DeviceBuffer;
  valueCache: DeviceBuffer;
  /** i32 (sequences, maxBlocksPerSeq): physical block of each logical block. */
  blockTables: DeviceBuffer;
  /** (totalQueryTokens, heads, headDim). */
  out: DeviceBuffer;
  /** Query tokens per sequence (1 for decode), host. */
  queryLens: readonly number[];
  /** Tokens in the cache per sequence, including this step's (host). */
  contextLens: readonly number[];
  maxBlocksPerSeq: number;
  blockSize: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Softmax scale; default 1 / √headDim. */
  scale?: number;
  /** f32 dequantisation scale of an fp8 key cache (k ≈ stored · kScale); default 1. Only with an fp8 cache. */
  kScale?: number;
  /** f32 dequantisation scale of an fp8 value cache; default 1. Only with an fp8 cache. */
  vScale?: number;
}

/** KV cache dtypes: a float dtype (the activations'), or fp8 (vLLM's `--kv-cache-dtype fp8` / `fp8_e5m2`). */
export const KV_CACHE_DTYPES: readonly DType[] = [...FLOAT_DTYPES, 'fp8e4m3', 'fp8e5m2'];

/**
 * Checks a pair of KV caches and their scales: the same dtype, fp8 only where the device has it (Unsupported
 * otherwise, pointing at a bf16 cache), and scales that are positive finite f32 values, given only for an fp8 cache.
 * Returns whether the cache is fp8 and the scales to pass (1 for a float cache).
 */
function checkKvCache(
  dev: Device,
  op: string,
  keyCache: DeviceBuffer,
  valueCache: DeviceBuffer,
  scales: { kScale?: number; vScale?: number },
): { fp8: boolean; kScale: number; vScale: number } {
  check(
    keyCache.dtype === valueCache.dtype,
    op,
    `'keyCache' is ${keyCache.dtype} but 'valueCache' is ${valueCache.dtype}; the key and value caches must have one dtype.`,
    'Allocate both caches with the KV-cache dtype (bf16, or fp8e4m3 for an fp8 KV cache).',
  );
  const fp8 = isFp8(keyCache.dtype);
  if (fp8) checkSupported(dev, op, { keyCache, valueCache }, 'Use a bf16 (or f16) KV cache instead');
  for (const name of ['kScale', 'vScale'] as const) {
    const v = scales[name];
    if (v === undefined) continue;
    const f = Math.fround(v);
    check(
      typeof v === 'number' && Number.isFinite(f) && f > 0,
      op,
      `${name} = ${v} must be a finite positive f32 (the cache holds x / ${name}).`,
    );
    check(
      fp8 || v === 1,
      op,
      `${name} = ${v} is for an fp8 KV cache, but the caches are ${keyCache.dtype}.`,
      'Drop the scale, or allocate the caches as fp8e4m3 / fp8e5m2.',
    );
  }
  return { fp8, kScale: scales.kScale ?? 1, vScale: scales.vScale ?? 1 };
}

export function pagedAttention(
  dev: Device,
  a: PagedAttentionArgs,
  options: OpOptions & { config?: { BQ?: number; GB?: number } } = {},
): LaunchResult {
  const op = 'pagedAttention';
  checkDims(
    op,
    {
      heads: a.heads,
      kvHeads: a.kvHeads,
      headDim: a.headDim,
      blockSize: a.blockSize,
      maxBlocksPerSeq: a.maxBlocksPerSeq,
    },
    1,
  );
  check(a.heads % a.kvHeads === 0, op, `heads (${a.heads}) must be a multiple of kvHeads (${a.kvHeads}).`);
  const seqs = a.contextLens.length;
  check(
    a.queryLens.length === seqs,
    op,
    `queryLens has ${a.queryLens.length} entries but contextLens has ${seqs}; give one per sequence.`,
  );
  for (let s = 0; s < seqs; s++) {
    const [ql, cl] = [a.queryLens[s]!, a.contextLens[s]!];
    check(
      Number.isInteger(ql) && ql >= 0 && Number.isInteger(cl) && cl >= ql,
      op,
      `sequence ${s}: queryLen ${ql} and contextLen ${cl} must be integers with 0 ≤ queryLen ≤ contextLen.`,
    );
    check(
      cl <= a.maxBlocksPerSeq * a.blockSize,
      op,
      `sequence ${s}: contextLen ${cl} needs more than maxBlocksPerSeq (${a.maxBlocksPerSeq}) blocks of ${a.blockSize}.`,
    );
  }
  const tokens = a.queryLens.reduce((x, y) => x + y, 0);
  const qText = `(tokens, heads, headDim) = (${tokens}, ${a.heads}, ${a.headDim})`;
  checkBuffer(op, 'q', a.q, { shape: [tokens, a.heads, a.headDim], shapeText: qText, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'out', a.out, { shape: [tokens, a.heads, a.headDim], shapeText: qText, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'keyCache', a.keyCache, {
    shape: [1, a.blockSize, a.kvHeads, a.headDim],
    shapeText: `(numBlocks, ${a.blockSize}, ${a.kvHeads}, ${a.headDim})`,
    dtypes: KV_CACHE_DTYPES,
  });
  checkBuffer(op, 'valueCache', a.valueCache, {
    shape: [1, a.blockSize, a.kvHeads, a.headDim],
    shapeText: `(numBlocks, ${a.blockSize}, ${a.kvHeads}, ${a.headDim})`,
    dtypes: KV_CACHE_DTYPES,
  });
  checkBuffer(op, 'blockTables', a.blockTables, {
    shape: [seqs, a.maxBlocksPerSeq],
    shapeText: `(sequences, maxBlocksPerSeq) = (${seqs}, ${a.maxBlocksPerSeq})`,
    dtypes: ['i32'],
  });
  const kv = checkKvCache(dev, op, a.keyCache, a.valueCache, a);
  if (!kv.fp8) checkSameDType(op, ['q', a.q], ['keyCache', a.keyCache]);
  const scale = a.scale ?? 1 / Math.sqrt(a.headDim);
  const G = a.heads / a.kvHeads;
  // Enough query tokens per program to give the matrix unit ~16+ rows, but no more than the longest chunk needs.
  const maxQ = Math.max(1, ...a.queryLens);
  // The heads of a group per program: all of them unless the (BQ·GB, headDim) f32 accumulator would not fit; then
  // the largest divisor of G that fits (each program re-reads the group's KV pages: the price of the split).
  const budget = accumulatorBudget(dev.properties);
  let GB = options.config?.GB ?? G;
  while (options.config?.GB === undefined && GB > 1 && GB * a.headDim * 4 > budget) {
    GB--;
    while (G % GB !== 0) GB--;
  }
  check(G % GB === 0, op, `config.GB (${GB}) must divide the ${G} query heads per KV head.`);
  const BQ =
    options.config?.BQ ??
    Math.max(
      1,
      Math.min(Math.ceil(16 / GB), 2 ** Math.ceil(Math.log2(maxQ)), 64, Math.floor(budget / (GB * a.headDim * 4))),
    );
  const queryStarts = [0];
  const blockSeq: number[] = [];
  const blockIndex: number[] = [];
  a.queryLens.forEach((ql, s) => {
    queryStarts.push(queryStarts[queryStarts.length - 1]! + ql);
    for (let b = 0; b < Math.ceil(ql / BQ); b++) {
      blockSeq.push(s);
      blockIndex.push(b);
    }
  });
  const blocks = blockSeq.length;
  if (blocks === 0) return emptyLaunch(dev, 'paged_attention', options.stream);
  return dev.launch(
    pagedAttentionKernel,
    { grid: [blocks, a.kvHeads * (G / GB)], stream: options.stream },
    {
      q: a.q,
      kc: a.keyCache,
      vc: a.valueCache,
      bt: a.blockTables,
      o: a.out,
      queryStarts,
      contextLens: [...a.contextLens],
      blockSeq,
      blockIndex,
      maxBlocks: a.maxBlocksPerSeq,
      heads: a.heads,
      kvHeads: a.kvHeads,
      scale,
      kScale: kv.kScale,
      vScale: kv.vScale,
      HD: a.headDim,
      BS: a.blockSize,
      BQ,
      GB,
    },
  );
}

export const reshapeAndCacheKernel = tileKernel(
  {
    name: 'reshape_and_cache',
    params: {
      k: 'ptr',
      v: 'ptr',
      kc: 'ptr',
      vc: 'ptr',
      slots: 'ptr<i32>',
      tokens: 'i32',
      // Quantisation scales of an fp8 cache (stored = x / scale); unused (1) for a float cache.
      kScale: 'f32',
      vScale: 'f32',
      W: 'constexpr',
      BT: 'constexpr',
    },
  },
  (t, { k, v, kc, vc, slots, tokens, kScale, vScale, W, BT }) => {
    const fp8 = kc.dtype === 'fp8e4m3' || kc.dtype === 'fp8e5m2';
    for (let t0 = t.programId(0) * BT; t0 < tokens; t0 += t.numPrograms(0) * BT) {
      const tok = t.arange(t0, t0 + BT).expandDims(1); // (BT, 1)
      const valid = tok.lt(tokens);
      const slot = t.load(slots, tok, { mask: valid }); // (BT, 1) flat cache slot = block · blockSize + offset
      const col = t.arange(0, W).expandDims(0); // (1, W) with W = kvHeads · headDim
      const src = tok.mul(W).add(col);
      const dst = slot.mul(W).add(col);
      const keep = valid.and(slot.ge(0)); // slot −1 marks padding tokens (as in vLLM)
      const kx = t.load(k, src, { mask: valid });
      const vx = t.load(v, src, { mask: valid });
      // fp8: x / scale in f32, then the saturating round-to-nearest-even conversion (vLLM's scaled_convert).
      t.store(kc, dst, fp8 ? kx.cast('f32').div(kScale).cast(kc.dtype) : kx, { mask: keep });
      t.store(vc, dst, fp8 ? vx.cast('f32').div(vScale).cast(vc.dtype) : vx, { mask: keep });
    }
  },
);

export interface ReshapeAndCacheArgs {
  /** (tokens, kvHeads, headDim) f32/f16/bf16: this step's keys. */
  key: DeviceBuffer;
  /** (tokens, kvHeads, headDim) f32/f16/bf16: this step's values. */
  value: DeviceBuffer;
  /**
   * (numBlocks, blockSize, kvHeads, headDim): key's dtype, or fp8e4m3 / fp8e5m2 (an fp8 KV cache, where the device
   * has fp8). Both caches have the same dtype.
   */
  keyCache: DeviceBuffer;
  /** Like keyCache, with value's dtype when not fp8. */
  valueCache: DeviceBuffer;
  /** i32 (tokens,): flat cache slot of each token, −1 to skip it. */
  slotMapping: DeviceBuffer;
  tokens: number;
  kvHeads: number;
  headDim: number;
  /** f32 quantisation scale of an fp8 key cache (stored = k / kScale); default 1. Only with an fp8 cache. */
  kScale?: number;
  /** f32 quantisation scale of an fp8 value cache (stored = v / vScale); default 1. Only with an fp8 cache. */
  vScale?: number;
}

/**
 * Writes this step's keys and values (tokens, kvHeads, headDim) into their cache slots (vLLM's reshape_and_cache):
 * token i goes to slot slotMapping[i] = physicalBlock · blockSize + offset; slot −1 skips the token. With an fp8
 * cache each value is stored as the saturating round-to-nearest-even fp8 conversion of x / kScale (v / vScale).
 */
export function reshapeAndCache(dev: Device, a: ReshapeAndCacheArgs, options: OpOptions = {}): LaunchResult {
  const op = 'reshapeAndCache';
  checkDims(op, { tokens: a.tokens });
  checkDims(op, { kvHeads: a.kvHeads, headDim: a.headDim }, 1);
  const W = a.kvHeads * a.headDim;
  const text = `(tokens, kvHeads, headDim) = (${a.tokens}, ${a.kvHeads}, ${a.headDim})`;
  checkBuffer(op, 'key', a.key, { shape: [a.tokens, W], shapeText: text, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'value', a.value, { shape: [a.tokens, W], shapeText: text, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'slotMapping', a.slotMapping, {
    shape: [a.tokens],
    shapeText: `(tokens,) = (${a.tokens},)`,
    dtypes: ['i32'],
  });
  checkBuffer(op, 'keyCache', a.keyCache, { dtypes: KV_CACHE_DTYPES });
  checkBuffer(op, 'valueCache', a.valueCache, { dtypes: KV_CACHE_DTYPES });
  const kv = checkKvCache(dev, op, a.keyCache, a.valueCache, a);
  if (!kv.fp8) {
    checkSameDType(op, ['key', a.key], ['keyCache', a.keyCache]);
    checkSameDType(op, ['value', a.value], ['valueCache', a.valueCache]);
  }
  check(
    a.keyCache.length % W === 0,
    op,
    `keyCache holds ${a.keyCache.length} elements, not a whole number of slots of kvHeads·headDim = ${W}.`,
  );
  if (a.tokens === 0) return emptyLaunch(dev, 'reshape_and_cache', options.stream);
  const BT = Math.max(1, Math.min(64, Math.floor(4096 / W)));
  const blocks = Math.ceil(a.tokens / BT);
  const grid = Math.min(
    blocks,
    dev.properties.vendor === 'huawei' ? 2 * dev.properties.computeUnits : 4 * dev.properties.computeUnits,
  );
  return dev.launch(
    reshapeAndCacheKernel,
    { grid, stream: options.stream },
    {
      k: a.key,
      v: a.value,
      kc: a.keyCache,
      vc: a.valueCache,
      slots: a.slotMapping,
      tokens: a.tokens,
      kScale: kv.kScale,
      vScale: kv.vScale,
      W,
      BT,
    },
  );
}
