/**
 * fp8 KV cache (vLLM's --kv-cache-dtype fp8 / fp8_e5m2): reshapeAndCache stores x / scale as saturating
 * round-to-nearest-even fp8 (one f32 scale per tensor for K and one for V), and pagedAttention dequantises K and V
 * tiles on load (× scale) to the query's dtype. Checked against float64 references, the cost record's KV bytes, the
 * argument errors, and the Unsupported error on Ascend (no fp8).
 */
import { createAscendSimBackend } from '@tessera/backend-ascend-sim';
import { castScalar, createRuntime, type Device, DTYPE_INFO, type DType, isTesseraError } from '@tessera/device';
import { randomArray, relativeError, rng, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { pagedAttention, reshapeAndCache } from '../src/paged-attention';
import { decodeStep } from './helpers';
import { NUMERIC_TARGETS, openDevice } from './setup';

type Fp8 = 'fp8e4m3' | 'fp8e5m2';
const FP8: readonly Fp8[] = ['fp8e4m3', 'fp8e5m2'];
/** Unit roundoff of each format's normal range: 2^-(mantissa bits + 1). */
const UNIT_ROUNDOFF: Record<Fp8, number> = { fp8e4m3: 2 ** -4, fp8e5m2: 2 ** -3 };

const nvidia = NUMERIC_TARGETS.find((t) => t.backend === 'nvidia-sim')!;
const ascend = NUMERIC_TARGETS.find((t) => t.backend === 'ascend-sim')!;

/** What an fp8 cache holds for x: the saturating round-to-nearest-even conversion of x / scale, computed in f32. */
function quantised(x: number, scale: number, dtype: Fp8): number {
  return castScalar(Math.fround(Math.fround(x) / Math.fround(scale)), dtype);
}

/** x as the attention kernel sees it after dequantisation: stored value × scale (before rounding to the query dtype). */
function dequantised(xs: ArrayLike<number>, scale: number, dtype: Fp8): Float64Array {
  return Float64Array.from(xs as ArrayLike<number>, (x) => quantised(x, scale, dtype) * Math.fround(scale));
}

/**
 * float64 causal attention of packed query tokens over each sequence's keys and values: k/v (tokens, KH, D) with
 * every sequence's context in order; query token i of sequence s sits at position ctx − qLen + i.
 */
function refPaged(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  queryLens: readonly number[],
  ctxLens: readonly number[],
  H: number,
  KH: number,
  D: number,
): Float64Array {
  const out = new Float64Array(queryLens.reduce((a, b) => a + b, 0) * H * D);
  const scale = 1 / Math.sqrt(D);
  let [qStart, kStart] = [0, 0];
  ctxLens.forEach((ctx, s) => {
    const qLen = queryLens[s]!;
    for (let i = 0; i < qLen; i++) {
      const pos = ctx - qLen + i;
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / KH));
        const sc: number[] = [];
        for (let j = 0; j <= pos; j++) {
          let d = 0;
          for (let x = 0; x < D; x++) d += q[((qStart + i) * H + h) * D + x]! * k[((kStart + j) * KH + g) * D + x]!;
          sc.push(d * scale);
        }
        const m = Math.max(...sc);
        const e = sc.map((x) => Math.exp(x - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let x = 0; x < D; x++) {
          let acc = 0;
          for (let j = 0; j <= pos; j++) acc += e[j]! * v[((kStart + j) * KH + g) * D + x]!;
          out[((qStart + i) * H + h) * D + x] = acc / z;
        }
      }
    }
    qStart += qLen;
    kStart += ctx;
  });
  return out;
}

interface CacheSetup {
  cacheDtype: DType;
  inDtype: DType;
  ctxLens: readonly number[];
  KH: number;
  D: number;
  BS: number;
  maxBlocks: number;
  numBlocks: number;
  seed: number;
  kScale?: number;
  vScale?: number;
}

/**
 * Allocates NaN-poisoned caches (unused blocks and slots must never be read), gives each sequence random physical
 * blocks from a shuffled pool, and writes every context token's K/V through reshapeAndCache — followed by one
 * padding token (slot −1, NaN keys and values) that must be skipped. Returns the buffers and the host K/V as the
 * input dtype holds them.
 */
function buildCache(dev: Device, c: CacheSetup) {
  const r = rng(c.seed);
  const pool = Array.from({ length: c.numBlocks }, (_, i) => i).sort(() => r() - 0.5);
  const tables = new Int32Array(c.ctxLens.length * c.maxBlocks);
  let next = 0;
  c.ctxLens.forEach((l, s) => {
    for (let b = 0; b < Math.ceil(l / c.BS); b++) tables[s * c.maxBlocks + b] = pool[next++]!;
  });
  const T = c.ctxLens.reduce((a, b) => a + b, 0);
  const W = c.KH * c.D;
  const slots = new Int32Array(T + 1).fill(-1);
  let t = 0;
  c.ctxLens.forEach((l, s) => {
    for (let p = 0; p < l; p++) slots[t++] = tables[s * c.maxBlocks + Math.floor(p / c.BS)]! * c.BS + (p % c.BS);
  });
  const input = (seed: number, lo: number, hi: number) => {
    const b = dev.alloc(c.inDtype, (T + 1) * W);
    const x = new Float32Array((T + 1) * W).fill(Number.NaN);
    x.set(randomArray(T * W, seed, lo, hi));
    dev.upload(b, x);
    return b;
  };
  const [key, value] = [input(c.seed + 1, -2, 2), input(c.seed + 2, -3, 3)];
  const keyCache = dev.alloc(c.cacheDtype, c.numBlocks * c.BS * W);
  const valueCache = dev.alloc(c.cacheDtype, c.numBlocks * c.BS * W);
  dev.fill(keyCache, Number.NaN);
  dev.fill(valueCache, Number.NaN);
  const slotMapping = dev.alloc('i32', T + 1);
  dev.upload(slotMapping, slots);
  const scales = { kScale: c.kScale, vScale: c.vScale };
  reshapeAndCache(dev, {
    key,
    value,
    keyCache,
    valueCache,
    slotMapping,
    tokens: T + 1,
    kvHeads: c.KH,
    headDim: c.D,
    ...scales,
  });
  const blockTables = dev.alloc('i32', tables.length);
  dev.upload(blockTables, tables);
  const host = (b: typeof key) => dev.download(b).subarray(0, T * W);
  return { keyCache, valueCache, blockTables, slots, k: host(key), v: host(value), scales };
}

/** vLLM's static per-tensor calibration: scale = max|x| / the format's largest finite value. */
function calibrated(x: ArrayLike<number>, dtype: Fp8): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m / DTYPE_INFO[dtype].max;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe(`fp8 KV cache on ${nvidia.device}`, () => {
  for (const dtype of FP8) {
    it(`reshapeAndCache stores x / scale as saturating round-to-nearest-even ${dtype}, exactly, in the mapped slots only`, async () => {
      const dev = await openDevice(nvidia);
      for (const inDtype of ['bf16', 'f32'] as const) {
        const [KH, D, BS, numBlocks] = [2, 8, 4, 10];
        const qmax = DTYPE_INFO[dtype].max;
        // Scales that put |x| = 2 (keys) and 3 (values) at 2/3 of the range: the outliers below saturate.
        const [kScale, vScale] = [2 / ((2 / 3) * qmax), 3 / ((2 / 3) * qmax)];
        const ctxLens = [5, 9, 1];
        const c = buildCache(dev, {
          cacheDtype: dtype,
          inDtype,
          ctxLens,
          KH,
          D,
          BS,
          maxBlocks: 3,
          numBlocks,
          seed: 7,
          kScale,
          vScale,
        });
        const W = KH * D;
        // Outliers: rewrite token 0 of the first sequence with ±4 (keys) and ±5 (values), past the largest finite
        // value after scaling — stored as ±max, not NaN or infinity (SATFINITE).
        const outlier = dev.alloc(inDtype, W);
        dev.upload(
          outlier,
          Float32Array.from({ length: W }, (_, i) => (i % 2 ? 4 : -4)),
        );
        const outlierV = dev.alloc(inDtype, W);
        dev.upload(
          outlierV,
          Float32Array.from({ length: W }, (_, i) => (i % 2 ? -5 : 5)),
        );
        const slot0 = dev.alloc('i32', 1);
        dev.upload(slot0, [c.slots[0]!]);
        reshapeAndCache(dev, {
          key: outlier,
          value: outlierV,
          keyCache: c.keyCache,
          valueCache: c.valueCache,
          slotMapping: slot0,
          tokens: 1,
          kvHeads: KH,
          headDim: D,
          kScale,
          vScale,
        });
        const k = Float32Array.from(c.k);
        const v = Float32Array.from(c.v);
        for (let i = 0; i < W; i++) [k[i], v[i]] = [i % 2 ? 4 : -4, i % 2 ? -5 : 5];
        const [kc, vc] = [dev.download(c.keyCache), dev.download(c.valueCache)];
        const written = new Set<number>();
        c.slots.forEach((slot, t) => {
          if (slot < 0) return;
          written.add(slot);
          for (let i = 0; i < W; i++) {
            const where = `${inDtype} token ${t} element ${i}`;
            expect(kc[slot * W + i], where).toBe(quantised(k[t * W + i]!, kScale, dtype));
            expect(vc[slot * W + i], where).toBe(quantised(v[t * W + i]!, vScale, dtype));
          }
        });
        for (let i = 0; i < W; i++) {
          expect(Math.abs(kc[c.slots[0]! * W + i]!)).toBe(qmax);
          expect(Math.abs(vc[c.slots[0]! * W + i]!)).toBe(qmax);
        }
        // Slots no token maps to (including the padding token's −1) still hold the poison.
        for (let slot = 0; slot < numBlocks * BS; slot++) {
          if (written.has(slot)) continue;
          for (let i = 0; i < W; i++) {
            expect(kc[slot * W + i], `slot ${slot}`).toBeNaN();
            expect(vc[slot * W + i], `slot ${slot}`).toBeNaN();
          }
        }
      }
    });

    it(`pagedAttention over a ${dtype} cache (GQA, decode and chunked prefill) matches the float64 reference`, async () => {
      const dev = await openDevice(nvidia);
      const [H, KH, D, BS, maxBlocks, numBlocks] = [8, 2, 32, 4, 12, 40];
      const ctxLens = [1, 9, 23, 40];
      for (const qDtype of ['bf16', 'f32'] as const) {
        const c = buildCache(dev, {
          cacheDtype: dtype,
          inDtype: qDtype,
          ctxLens,
          KH,
          D,
          BS,
          maxBlocks,
          numBlocks,
          seed: 31,
          // Per-tensor scales that cover the data (keys in [-2, 2), values in [-3, 3)), as calibration gives.
          kScale: 2 / DTYPE_INFO[dtype].max,
          vScale: 3 / DTYPE_INFO[dtype].max,
        });
        // Nothing saturates: the scales are at least vLLM's calibration, max|x| / the largest finite value.
        expect(c.scales.kScale).toBeGreaterThanOrEqual(calibrated(c.k, dtype));
        expect(c.scales.vScale).toBeGreaterThanOrEqual(calibrated(c.v, dtype));
        const [kq, vq] = [dequantised(c.k, c.scales.kScale!, dtype), dequantised(c.v, c.scales.vScale!, dtype)];
        // A decode step; then a mix: decode, a chunk after cached context, a whole prompt, decode.
        for (const queryLens of [
          [1, 1, 1, 1],
          [1, 4, 23, 1],
        ]) {
          const Q = queryLens.reduce((a, b) => a + b, 0);
          const q = dev.alloc(qDtype, Q * H * D);
          dev.upload(q, randomArray(Q * H * D, 41, -2, 2));
          const o = dev.alloc(qDtype, Q * H * D);
          dev.fill(o, Number.NaN);
          pagedAttention(dev, {
            q,
            keyCache: c.keyCache,
            valueCache: c.valueCache,
            blockTables: c.blockTables,
            out: o,
            queryLens,
            contextLens: ctxLens,
            maxBlocksPerSeq: maxBlocks,
            blockSize: BS,
            heads: H,
            kvHeads: KH,
            headDim: D,
            ...c.scales,
          });
          const [qh, out] = [dev.download(q), dev.download(o)];
          const where = `${qDtype} query, queryLens ${queryLens}`;
          // Same quantisation in the reference: what remains is the query dtype's compute error.
          const errQuantised = relativeError(out, refPaged(qh, kq, vq, queryLens, ctxLens, H, KH, D));
          expect(errQuantised, where).toBeLessThan(TOLERANCE[qDtype]);
          // Against unquantised K/V: each element of K and V is off by at most the format's unit roundoff u
          // relative (no subnormals at these scales; RMS about u/√3). The V part of the output error is a convex
          // combination of those errors, the K part perturbs each score by about rms(q)·rms(k)·u/√3 (scores are
          // scaled by 1/√D): each below u, together about u/2 here (0.03 for e4m3, 0.06 for e5m2), so 2u bounds it
          // with margin. And the quantisation must show: more error than against the quantised reference.
          const errExact = relativeError(out, refPaged(qh, c.k, c.v, queryLens, ctxLens, H, KH, D));
          expect(errExact, where).toBeLessThan(2 * UNIT_ROUNDOFF[dtype]);
          expect(errExact, where).toBeGreaterThan(errQuantised);
        }
      }
    });
  }

  it('keeps the head-group split (GB) exact over an fp8 cache: one KV head for 8 query heads', async () => {
    const dev = await openDevice(nvidia);
    const [H, KH, D, BS, maxBlocks, numBlocks] = [8, 1, 16, 4, 3, 8];
    const ctxLens = [6, 11];
    const dtype = 'fp8e4m3';
    const c = buildCache(dev, {
      cacheDtype: dtype,
      inDtype: 'f32',
      ctxLens,
      KH,
      D,
      BS,
      maxBlocks,
      numBlocks,
      seed: 51,
      kScale: 0.01,
      vScale: 0.02,
    });
    const queryLens = [1, 3];
    const q = dev.alloc('f32', 4 * H * D);
    dev.upload(q, randomArray(4 * H * D, 52, -2, 2));
    const kq = dequantised(c.k, 0.01, dtype);
    const vq = dequantised(c.v, 0.02, dtype);
    const ref = refPaged(dev.download(q), kq, vq, queryLens, ctxLens, H, KH, D);
    for (const GB of [8, 4, 2, 1]) {
      const o = dev.alloc('f32', 4 * H * D);
      dev.fill(o, Number.NaN);
      const args = {
        q,
        keyCache: c.keyCache,
        valueCache: c.valueCache,
        blockTables: c.blockTables,
        out: o,
        queryLens,
        contextLens: ctxLens,
        maxBlocksPerSeq: maxBlocks,
        blockSize: BS,
        heads: H,
        kvHeads: KH,
        headDim: D,
        ...c.scales,
      };
      pagedAttention(dev, args, { config: { GB } });
      expect(relativeError(dev.download(o), ref), `GB ${GB}`).toBeLessThan(TOLERANCE.f32);
    }
  });

  it('reads the cache at 1 byte per element: an fp8 decode at long context reads half the KV bytes of bf16 and models correspondingly faster (timing-only)', async () => {
    const dev = await openDevice(nvidia, 'timing');
    const [KH, D, seqs, ctx] = [8, 128, 64, 4096];
    const run = (cacheDtype: DType) => {
      const shape = { seqs, ctx, heads: 32, kvHeads: KH, headDim: D, blockSize: 16 };
      const r = pagedAttention(dev, decodeStep(dev, shape, cacheDtype, true));
      // The KV pages every program gathers: K and V, every context token, at the cache dtype's size.
      const kvBytes = 2 * seqs * ctx * KH * D * DTYPE_INFO[cacheDtype].bytes;
      return { r, kvBytes, other: r.cost.total.bytesRead - kvBytes };
    };
    const bf16 = run('bf16');
    for (const dtype of FP8) {
      const fp8 = run(dtype);
      expect(fp8.kvBytes * 2).toBe(bf16.kvBytes);
      // Everything beyond the KV pages (queries, block tables) is read alike: the difference is exactly the KV halved.
      expect(fp8.other).toBeGreaterThanOrEqual(0);
      expect(fp8.other).toBe(bf16.other);
      expect(fp8.r.cost.total.bytesWritten).toBe(bf16.r.cost.total.bytesWritten);
      expect(fp8.r.cost.total.bytesRead / bf16.r.cost.total.bytesRead).toBeLessThan(0.51);
      // Memory-bound both ways (the dequantisation's vector work does not become the limit), so the modelled time
      // follows the bytes moved; the fixed launch latency and cache hits keep the ratio from being exact.
      expect(bf16.r.timing.bound).toBe('memory');
      expect(fp8.r.timing.bound).toBe('memory');
      const moved = (x: typeof bf16) => x.r.cost.total.bytesRead + x.r.cost.total.bytesWritten;
      const byteRatio = moved(fp8) / moved(bf16);
      expect(fp8.r.ms / bf16.r.ms).toBeGreaterThan(byteRatio * 0.9);
      expect(fp8.r.ms / bf16.r.ms).toBeLessThan(byteRatio * 1.1);
    }
  });

  it('rejects mismatched caches, fp8 queries, and scales that are not finite positive f32 or not for an fp8 cache', async () => {
    const dev = await openDevice(nvidia);
    const [KH, D, BS] = [1, 8, 4];
    const n = 4 * BS * KH * D;
    const [e4, e5, b16] = [dev.alloc('fp8e4m3', n), dev.alloc('fp8e5m2', n), dev.alloc('bf16', n)];
    const q = dev.alloc('bf16', 2 * D);
    const paged = {
      q,
      blockTables: dev.alloc('i32', 4),
      out: q,
      queryLens: [1],
      contextLens: [3],
      maxBlocksPerSeq: 4,
      blockSize: BS,
      heads: 2,
      kvHeads: KH,
      headDim: D,
    };
    const write = {
      key: dev.alloc('bf16', 3 * D),
      value: dev.alloc('bf16', 3 * D),
      slotMapping: dev.alloc('i32', 3),
      tokens: 3,
      kvHeads: KH,
      headDim: D,
    };
    const cases: [string, () => unknown, RegExp][] = [
      [
        'fp8 keys, bf16 values',
        () => pagedAttention(dev, { ...paged, keyCache: e4, valueCache: b16 }),
        /^pagedAttention: 'keyCache' is fp8e4m3 but 'valueCache' is bf16; the key and value caches must have one dtype/,
      ],
      [
        'e4m3 keys, e5m2 values',
        () => reshapeAndCache(dev, { ...write, keyCache: e4, valueCache: e5 }),
        /^reshapeAndCache: 'keyCache' is fp8e4m3 but 'valueCache' is fp8e5m2/,
      ],
      [
        'an fp8 query',
        () => pagedAttention(dev, { ...paged, q: e4, out: e4, keyCache: e4, valueCache: e4 }),
        /^pagedAttention: 'q' is fp8e4m3; expected f32 or f16 or bf16/,
      ],
      [
        'fp8 keys to write',
        () => reshapeAndCache(dev, { ...write, key: e4, keyCache: e4, valueCache: e4 }),
        /^reshapeAndCache: 'key' is fp8e4m3; expected f32 or f16 or bf16/,
      ],
      [
        'a bf16 query over an f32 cache',
        () => pagedAttention(dev, { ...paged, keyCache: dev.alloc('f32', n), valueCache: dev.alloc('f32', n) }),
        /^pagedAttention: 'q' is bf16 but 'keyCache' is f32/,
      ],
      [
        'an i8 cache',
        () => pagedAttention(dev, { ...paged, keyCache: dev.alloc('i8', n), valueCache: dev.alloc('i8', n) }),
        /'keyCache' is i8; expected f32 or f16 or bf16 or fp8e4m3 or fp8e5m2/,
      ],
      [
        'kScale with a bf16 cache',
        () => pagedAttention(dev, { ...paged, keyCache: b16, valueCache: b16, kScale: 0.5 }),
        /kScale = 0.5 is for an fp8 KV cache, but the caches are bf16/,
      ],
      [
        'vScale with a bf16 cache',
        () => reshapeAndCache(dev, { ...write, keyCache: b16, valueCache: b16, vScale: 2 }),
        /^reshapeAndCache: vScale = 2 is for an fp8 KV cache/,
      ],
    ];
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 1e-50, 1e39]) {
      cases.push(
        [
          `kScale ${bad}`,
          () => pagedAttention(dev, { ...paged, keyCache: e4, valueCache: e4, kScale: bad }),
          new RegExp(`^pagedAttention: kScale = ${String(bad).replace('+', '\\+')} must be a finite positive f32`),
        ],
        [
          `vScale ${bad}`,
          () => reshapeAndCache(dev, { ...write, keyCache: e5, valueCache: e5, vScale: bad }),
          new RegExp(`^reshapeAndCache: vScale = ${String(bad).replace('+', '\\+')} must be a finite positive f32`),
        ],
      );
    }
    for (const [what, fn, message] of cases) {
      const e = thrown(fn);
      expect(isTesseraError(e, 'InvalidValue'), `${what}: ${e}`).toBe(true);
      expect((e as Error).message, what).toMatch(message);
    }
    // A scale of exactly 1 with a float cache is the default, and accepted.
    expect(() => pagedAttention(dev, { ...paged, keyCache: b16, valueCache: b16, kScale: 1, vScale: 1 })).not.toThrow();
  });
});

describe(`fp8 KV cache on Ascend (${ascend.device}, 910c): no fp8`, () => {
  it('refuses fp8 caches in reshapeAndCache and pagedAttention with Unsupported, pointing at a bf16 cache', async () => {
    for (const device of [ascend.device, '910c']) {
      const dev = (await createRuntime({ backend: createAscendSimBackend(), devices: device })).device(0);
      expect(dev.properties.dtypes.includes('fp8e4m3')).toBe(false);
      const [KH, D, BS] = [1, 8, 4];
      for (const dtype of FP8) {
        const cache = () => dev.alloc(dtype, 4 * BS * KH * D);
        const [keyCache, valueCache] = [cache(), cache()];
        const q = dev.alloc('bf16', 2 * D);
        const calls: [string, () => unknown][] = [
          [
            'pagedAttention',
            () =>
              pagedAttention(dev, {
                q,
                keyCache,
                valueCache,
                blockTables: dev.alloc('i32', 4),
                out: q,
                queryLens: [1],
                contextLens: [3],
                maxBlocksPerSeq: 4,
                blockSize: BS,
                heads: 2,
                kvHeads: KH,
                headDim: D,
              }),
          ],
          [
            'reshapeAndCache',
            () =>
              reshapeAndCache(dev, {
                key: dev.alloc('bf16', 3 * D),
                value: dev.alloc('bf16', 3 * D),
                keyCache,
                valueCache,
                slotMapping: dev.alloc('i32', 3),
                tokens: 3,
                kvHeads: KH,
                headDim: D,
                kScale: 0.1,
              }),
          ],
        ];
        for (const [op, fn] of calls) {
          const e = thrown(fn);
          expect(isTesseraError(e, 'Unsupported'), `${device} ${op} ${dtype}: ${e}`).toBe(true);
          const message = (e as Error).message;
          const label = DTYPE_INFO[dtype].label;
          const start = `${op}: 'keyCache' is ${dtype} (${label}), which ${dev.properties.name} does not support.`;
          expect(message.startsWith(start), message).toBe(true);
          expect(message).toMatch(/Use a bf16 \(or f16\) KV cache instead/);
          expect(message).not.toMatch(/W8A8/);
        }
      }
    }
  });
});
