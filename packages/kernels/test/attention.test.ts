import { randomArray, relativeError, rng, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { flashAttention } from '../src/attention';
import { pagedAttention, reshapeAndCache } from '../src/paged-attention';
import { decodeStep } from './helpers';
import { floatsFor, isSimulator, NUMERIC_TARGETS, openDevice } from './setup';

/**
 * float64 reference: for each sequence, query token i (absolute position ctx − qLen + i) attends to keys
 * 0..position (or every key when not causal). q (qTokens, H, D); k (kvTokens, KH, D), v (kvTokens, KH, VD) per
 * sequence; out (qTokens, H, VD).
 */
function refAttention(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  seqs: Array<{ qStart: number; qLen: number; kStart: number; ctx: number }>,
  H: number,
  KH: number,
  D: number,
  causal: boolean,
  VD = D,
): Float64Array {
  const total = seqs.reduce((n, s) => n + s.qLen, 0);
  const out = new Float64Array(total * H * VD);
  const scale = 1 / Math.sqrt(D);
  for (const s of seqs) {
    for (let i = 0; i < s.qLen; i++) {
      const pos = s.ctx - s.qLen + i;
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / KH));
        const last = causal ? pos : s.ctx - 1;
        const sc: number[] = [];
        for (let j = 0; j <= last; j++) {
          let d = 0;
          for (let x = 0; x < D; x++) d += q[((s.qStart + i) * H + h) * D + x]! * k[((s.kStart + j) * KH + g) * D + x]!;
          sc.push(d * scale);
        }
        const m = Math.max(...sc);
        const e = sc.map((x) => Math.exp(x - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let x = 0; x < VD; x++) {
          let acc = 0;
          for (let j = 0; j <= last; j++) acc += e[j]! * v[((s.kStart + j) * KH + g) * VD + x]!;
          out[((s.qStart + i) * H + h) * VD + x] = acc / z;
        }
      }
    }
  }
  return out;
}

for (const target of NUMERIC_TARGETS) {
  describe(`flash attention (prefill) on ${target.device}`, () => {
    for (const dtype of floatsFor(target, ['f32', 'bf16', 'f16'] as const)) {
      it(`matches the reference on packed sequences with GQA (${dtype})`, async () => {
        const dev = await openDevice(target);
        const [H, KH, D] = [4, 2, 32];
        const seqLens = [1, 37, 70];
        const T = seqLens.reduce((a, b) => a + b, 0);
        for (const causal of [true, false]) {
          const q = dev.alloc(dtype, T * H * D);
          const k = dev.alloc(dtype, T * KH * D);
          const v = dev.alloc(dtype, T * KH * D);
          const o = dev.alloc(dtype, T * H * D);
          dev.upload(q, randomArray(T * H * D, 1, -2, 2));
          dev.upload(k, randomArray(T * KH * D, 2, -2, 2));
          dev.upload(v, randomArray(T * KH * D, 3));
          dev.fill(o, Number.NaN);
          flashAttention(
            dev,
            { q, k, v, out: o, seqLens, heads: H, kvHeads: KH, headDim: D, causal },
            { config: { BM: 16, BN: 32 } },
          );
          let start = 0;
          const seqs = seqLens.map((l) => {
            const s = { qStart: start, qLen: l, kStart: start, ctx: l };
            start += l;
            return s;
          });
          const ref = refAttention(dev.download(q), dev.download(k), dev.download(v), seqs, H, KH, D, causal);
          expect(relativeError(dev.download(o), ref), `causal=${causal}`).toBeLessThan(TOLERANCE[dtype]);
        }
      });
    }

    for (const dtype of floatsFor(target, ['f32', 'bf16'] as const)) {
      it(`matches the reference with a narrower value head and more keys than queries (${dtype})`, async () => {
        // DeepSeek's MLA prefill in miniature: q/k heads of 24 (nope + rope), v heads of 16; chunks of new queries at
        // the end of longer key sequences (their cached context first), one sequence without queries, GQA 4 → 2.
        const dev = await openDevice(target);
        const [H, KH, D, VD] = [4, 2, 24, 16];
        const seqLens = [1, 20, 0, 33, 9];
        const kvSeqLens = [1, 45, 7, 33, 70];
        const T = seqLens.reduce((a, b) => a + b, 0);
        const KT = kvSeqLens.reduce((a, b) => a + b, 0);
        for (const causal of [true, false]) {
          const q = dev.alloc(dtype, T * H * D);
          const k = dev.alloc(dtype, KT * KH * D);
          const v = dev.alloc(dtype, KT * KH * VD);
          const o = dev.alloc(dtype, T * H * VD);
          dev.upload(q, randomArray(T * H * D, 31, -2, 2));
          dev.upload(k, randomArray(KT * KH * D, 32, -2, 2));
          dev.upload(v, randomArray(KT * KH * VD, 33));
          dev.fill(o, Number.NaN);
          const args = { q, k, v, out: o, seqLens, kvSeqLens, heads: H, kvHeads: KH, headDim: D, vHeadDim: VD, causal };
          let [qs, ks] = [0, 0];
          const seqs = seqLens.map((l, i) => {
            const s = { qStart: qs, qLen: l, kStart: ks, ctx: kvSeqLens[i]! };
            [qs, ks] = [qs + l, ks + kvSeqLens[i]!];
            return s;
          });
          const ref = refAttention(dev.download(q), dev.download(k), dev.download(v), seqs, H, KH, D, causal, VD);
          for (const config of [undefined, { BM: 16, BN: 16 }]) {
            dev.fill(o, Number.NaN);
            flashAttention(dev, args, config ? { config } : {});
            const got = dev.download(o);
            expect(got.every(Number.isFinite), `causal=${causal} ${JSON.stringify(config)}`).toBe(true);
            expect(relativeError(got, ref), `causal=${causal} ${JSON.stringify(config)}`).toBeLessThan(
              TOLERANCE[dtype],
            );
          }
        }
      });
    }

    it('costs the MLA prefill shape (q/k 192, v 128): causal ≈ half of 2·N²·heads·(192 + 128) (timing-only)', async () => {
      const dev = await openDevice(target, 'timing');
      const [N, H, D, VD] = [2048, 16, 192, 128];
      const q = dev.alloc('bf16', N * H * D);
      const v = dev.alloc('bf16', N * H * VD);
      const args = { q, k: q, v, out: v, seqLens: [N], heads: H, kvHeads: H, headDim: D, vHeadDim: VD };
      const r = flashAttention(dev, args);
      // 128-row query blocks walk the keys up to their last row: N·(N + 128)·H·(D + VD) — the causal half plus the
      // diagonal blocks, computed whole and masked.
      expect(r.cost.total.totalMatrixFlops).toBe(N * (N + 128) * H * (D + VD));
      expect(r.cost.total.bytesWritten).toBe(N * H * VD * 2); // the output only, at the value head size
      // A chunk of 512 queries after 1536 cached keys: every query sees the context, then the chunk causally.
      const chunk = flashAttention(dev, { ...args, seqLens: [512], kvSeqLens: [N] });
      expect(chunk.cost.total.totalMatrixFlops).toBe(512 * (1536 + (512 + 128) / 2) * 2 * H * (D + VD));
      expect(chunk.cost.total.totalMatrixFlops).toBeLessThan(r.cost.total.totalMatrixFlops / 2);
    });

    it('keeps the score matrix on chip and is compute-bound at long sequences (timing-only)', async () => {
      const dev = await openDevice(target, 'timing');
      const [T, H, D] = [4096, 32, 128];
      const q = dev.alloc('bf16', T * H * D);
      const k = dev.alloc('bf16', T * 8 * D);
      const r = flashAttention(dev, { q, k, v: k, out: q, seqLens: [T], heads: H, kvHeads: 8, headDim: D });
      expect(r.cost.total.bytesWritten).toBe(T * H * D * 2); // only the output: no T×T score matrix in memory
      expect(r.timing.bound).not.toBe('memory');
      const flops = ((4 * (T * T)) / 2) * H * D; // causal: half of QKᵀ and PV
      expect(r.cost.total.totalMatrixFlops).toBeGreaterThan(flops * 0.9);
    });
  });

  describe(`paged attention on ${target.device}`, () => {
    it('decodes and prefills in chunks over a shuffled block table, matching contiguous attention', async () => {
      const dev = await openDevice(target);
      const [H, KH, D, BS] = [8, 2, 16, 4];
      const ctxLens = [1, 9, 23];
      const maxBlocks = 8;
      const numBlocks = 24;
      const r = rng(5);
      // Each sequence gets random physical blocks from a shuffled pool.
      const pool = Array.from({ length: numBlocks }, (_, i) => i).sort(() => r() - 0.5);
      const tables = new Int32Array(ctxLens.length * maxBlocks).fill(0);
      let next = 0;
      ctxLens.forEach((l, s) => {
        for (let b = 0; b < Math.ceil(l / BS); b++) tables[s * maxBlocks + b] = pool[next++]!;
      });
      const T = ctxLens.reduce((a, b) => a + b, 0);
      const kAll = randomArray(T * KH * D, 11, -2, 2);
      const vAll = randomArray(T * KH * D, 12);
      const keyCache = dev.alloc('f32', numBlocks * BS * KH * D);
      const valueCache = dev.alloc('f32', numBlocks * BS * KH * D);
      dev.fill(keyCache, Number.NaN); // unused slots must never be read
      dev.fill(valueCache, Number.NaN);
      // Write every token's K/V through reshapeAndCache with the slot mapping of its sequence.
      const slots = new Int32Array(T);
      let tIdx = 0;
      ctxLens.forEach((l, s) => {
        for (let p = 0; p < l; p++) slots[tIdx++] = tables[s * maxBlocks + Math.floor(p / BS)]! * BS + (p % BS);
      });
      const [kd, vd, sd] = [dev.alloc('f32', T * KH * D), dev.alloc('f32', T * KH * D), dev.alloc('i32', T)];
      dev.upload(kd, kAll);
      dev.upload(vd, vAll);
      dev.upload(sd, slots);
      reshapeAndCache(dev, {
        key: kd,
        value: vd,
        keyCache,
        valueCache,
        slotMapping: sd,
        tokens: T,
        kvHeads: KH,
        headDim: D,
      });
      const bt = dev.alloc('i32', tables.length);
      dev.upload(bt, tables);
      for (const queryLens of [
        [1, 1, 1],
        [1, 5, 23],
      ]) {
        const Q = queryLens.reduce((a, b) => a + b, 0);
        const q = dev.alloc('f32', Q * H * D);
        const o = dev.alloc('f32', Q * H * D);
        dev.upload(q, randomArray(Q * H * D, 13, -2, 2));
        dev.fill(o, Number.NaN);
        pagedAttention(dev, {
          q,
          keyCache,
          valueCache,
          blockTables: bt,
          out: o,
          queryLens,
          contextLens: ctxLens,
          maxBlocksPerSeq: maxBlocks,
          blockSize: BS,
          heads: H,
          kvHeads: KH,
          headDim: D,
        });
        let qs = 0;
        let ks = 0;
        const seqs = ctxLens.map((ctx, s) => {
          const x = { qStart: qs, qLen: queryLens[s]!, kStart: ks, ctx };
          qs += queryLens[s]!;
          ks += ctx;
          return x;
        });
        const ref = refAttention(dev.download(q), kAll, vAll, seqs, H, KH, D, true);
        expect(relativeError(dev.download(o), ref), `queryLens ${queryLens}`).toBeLessThan(TOLERANCE.f32);
      }
    });

    it('splits a wide query-head group over programs (MLA: one KV head for many heads), matching the reference', async () => {
      const dev = await openDevice(target);
      const [H, KH, D, BS] = [8, 1, 16, 4];
      const ctxLens = [6, 11];
      const maxBlocks = 3;
      const T = ctxLens.reduce((a, b) => a + b, 0);
      const kAll = randomArray(T * KH * D, 21, -2, 2);
      const vAll = randomArray(T * KH * D, 22);
      // Contiguous blocks: sequence 0 in blocks 0–1, sequence 1 in blocks 2–4.
      const tables = new Int32Array([0, 1, 0, 2, 3, 4]);
      const slots = new Int32Array(T);
      let tIdx = 0;
      ctxLens.forEach((l, s) => {
        for (let p = 0; p < l; p++) slots[tIdx++] = tables[s * maxBlocks + Math.floor(p / BS)]! * BS + (p % BS);
      });
      const cache = (x: ReturnType<typeof randomArray>) => {
        const c = dev.alloc('f32', 5 * BS * KH * D);
        dev.fill(c, Number.NaN);
        const src = dev.alloc('f32', T * KH * D);
        dev.upload(src, x);
        return { c, src };
      };
      const k = cache(kAll);
      const v = cache(vAll);
      const sd = dev.alloc('i32', T);
      dev.upload(sd, slots);
      reshapeAndCache(dev, {
        key: k.src,
        value: v.src,
        keyCache: k.c,
        valueCache: v.c,
        slotMapping: sd,
        tokens: T,
        kvHeads: KH,
        headDim: D,
      });
      const bt = dev.alloc('i32', tables.length);
      dev.upload(bt, tables);
      const queryLens = [1, 3];
      const Q = 4;
      const q = dev.alloc('f32', Q * H * D);
      dev.upload(q, randomArray(Q * H * D, 23, -2, 2));
      const seqs = [
        { qStart: 0, qLen: 1, kStart: 0, ctx: 6 },
        { qStart: 1, qLen: 3, kStart: 6, ctx: 11 },
      ];
      const ref = refAttention(dev.download(q), kAll, vAll, seqs, H, KH, D, true);
      for (const GB of [8, 4, 2, 1]) {
        const o = dev.alloc('f32', Q * H * D);
        dev.fill(o, Number.NaN);
        pagedAttention(
          dev,
          {
            q,
            keyCache: k.c,
            valueCache: v.c,
            blockTables: bt,
            out: o,
            queryLens,
            contextLens: ctxLens,
            maxBlocksPerSeq: maxBlocks,
            blockSize: BS,
            heads: H,
            kvHeads: KH,
            headDim: D,
          },
          { config: { GB } },
        );
        expect(relativeError(dev.download(o), ref), `GB ${GB}`).toBeLessThan(TOLERANCE.f32);
      }
      expect(() =>
        pagedAttention(
          dev,
          {
            q,
            keyCache: k.c,
            valueCache: v.c,
            blockTables: bt,
            out: q,
            queryLens,
            contextLens: ctxLens,
            maxBlocksPerSeq: maxBlocks,
            blockSize: BS,
            heads: H,
            kvHeads: KH,
            headDim: D,
          },
          { config: { GB: 3 } },
        ),
      ).toThrow(/must divide the 8 query heads/);
    });

    it.runIf(isSimulator(target))(
      "fits DeepSeek's absorbed decode (128 heads over one 576-wide latent head) by splitting the heads, and pays for the split in KV reads",
      async () => {
        const dev = await openDevice(target, 'timing');
        const args = decodeStep(dev, { seqs: 4, ctx: 1024, heads: 128, kvHeads: 1, headDim: 576, blockSize: 16 });
        // A whole group (128 × 576 f32 = 288 KiB) exceeds the accumulator of either vendor: the default splits it.
        expect(() => pagedAttention(dev, args, { config: { GB: 128 } })).toThrow();
        const split = pagedAttention(dev, args);
        const finer = pagedAttention(dev, args, { config: { GB: 8 } });
        expect(finer.cost.total.bytesRead).toBeGreaterThan(split.cost.total.bytesRead);
      },
    );

    it.runIf(isSimulator(target))('is memory-bound at decode (timing-only, long contexts)', async () => {
      const dev = await openDevice(target, 'timing');
      const [KH, D, seqs, ctx] = [8, 128, 64, 4096];
      const r = pagedAttention(dev, decodeStep(dev, { seqs, ctx, heads: 32, kvHeads: KH, headDim: D, blockSize: 16 }));
      expect(r.timing.bound).toBe('memory');
      const kvBytes = 2 * seqs * ctx * KH * D * 2;
      expect(r.cost.total.bytesRead).toBeGreaterThanOrEqual(kvBytes);
    });

    it('rejects inconsistent lengths with the numbers', async () => {
      const dev = await openDevice(target);
      const x = dev.alloc('f32', 1024);
      const bt = dev.alloc('i32', 4);
      expect(() =>
        pagedAttention(dev, {
          q: x,
          keyCache: x,
          valueCache: x,
          blockTables: bt,
          out: x,
          queryLens: [2],
          contextLens: [1],
          maxBlocksPerSeq: 4,
          blockSize: 4,
          heads: 2,
          kvHeads: 1,
          headDim: 4,
        }),
      ).toThrow(/queryLen 2 and contextLen 1/);
      expect(() =>
        flashAttention(dev, { q: x, k: x, v: x, out: x, seqLens: [4], heads: 3, kvHeads: 2, headDim: 4 }),
      ).toThrow(/multiple of kvHeads/);
      const fa = { q: x, k: x, v: x, out: x, seqLens: [4, 2], heads: 2, kvHeads: 1, headDim: 4 };
      expect(() => flashAttention(dev, { ...fa, kvSeqLens: [4, 1] })).toThrow(/sequence 1: kvSeqLens 1 .* 2 query/);
      expect(() => flashAttention(dev, { ...fa, kvSeqLens: [4] })).toThrow(/kvSeqLens has 1 entries/);
      expect(() => flashAttention(dev, { ...fa, kvSeqLens: [300, 2], vHeadDim: 2 })).toThrow(/'k'.*302/s);
    });
  });
}
