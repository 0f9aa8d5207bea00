import { isTesseraError } from '@tessera/device';
import { randomArray, randomInts, relativeError, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { moePermute, moeRouter, moeUnpermute } from '../src/moe';
import { floatsFor, NUMERIC_TARGETS, openDevice } from './setup';

/** float64 reference router: softmax, top k (ties → lower expert), optional renormalisation. */
function refRouter(x: ArrayLike<number>, tokens: number, experts: number, k: number, renorm: boolean) {
  const weights = new Float64Array(tokens * k);
  const ids = new Int32Array(tokens * k);
  for (let t = 0; t < tokens; t++) {
    const row = Array.from({ length: experts }, (_, e) => x[t * experts + e]!);
    const m = Math.max(...row);
    const ex = row.map((v) => Math.exp(v - m));
    const s = ex.reduce((a, b) => a + b, 0);
    const order = row.map((_, e) => e).sort((a, b) => row[b]! - row[a]! || a - b);
    const chosen = order.slice(0, k).map((e) => ex[e]! / s);
    const norm = renorm ? chosen.reduce((a, b) => a + b, 0) : 1;
    for (let j = 0; j < k; j++) {
      ids[t * k + j] = order[j]!;
      weights[t * k + j] = chosen[j]! / norm;
    }
  }
  return { weights, ids };
}

/** Reference permutation: slots stably sorted by expert; invalid ids dropped. */
function refPermute(ids: ArrayLike<number>, n: number, experts: number) {
  const slots = Array.from({ length: n }, (_, s) => s).filter((s) => ids[s]! >= 0 && ids[s]! < experts);
  slots.sort((a, b) => ids[a]! - ids[b]! || a - b);
  const permuted = new Int32Array(n).fill(-1);
  const positions = new Int32Array(n).fill(-1);
  slots.forEach((s, p) => {
    permuted[p] = s;
    positions[s] = p;
  });
  const offsets = new Int32Array(experts + 1);
  for (const s of slots) offsets[ids[s]! + 1]!++;
  for (let e = 0; e < experts; e++) offsets[e + 1]! += offsets[e]!;
  return { permuted, positions, offsets };
}

function refUnpermute(
  y: ArrayLike<number>,
  positions: ArrayLike<number>,
  w: ArrayLike<number>,
  tokens: number,
  k: number,
  hidden: number,
): Float64Array {
  const out = new Float64Array(tokens * hidden);
  for (let t = 0; t < tokens; t++) {
    for (let j = 0; j < k; j++) {
      const p = positions[t * k + j]!;
      if (p < 0) continue;
      for (let h = 0; h < hidden; h++) out[t * hidden + h]! += w[t * k + j]! * y[p * hidden + h]!;
    }
  }
  return out;
}

const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return isTesseraError(e) ? e.message : String(e);
  }
  return '';
};

for (const target of NUMERIC_TARGETS) {
  describe(`MoE routing on ${target.device}`, () => {
    for (const dtype of floatsFor(target, ['f32', 'bf16', 'f16'] as const)) {
      it(`moeRouter matches the float64 reference (${dtype} logits; k = 1, k = experts, ties, no renormalisation)`, async () => {
        const dev = await openDevice(target);
        for (const [tokens, experts, k, renorm, ties, BT] of [
          [1, 1, 1, true, false, undefined],
          [7, 8, 2, true, false, undefined],
          [33, 64, 6, true, false, undefined],
          [5, 13, 13, false, false, undefined],
          [37, 60, 8, false, false, 4],
          [9, 16, 4, true, true, undefined],
          [3, 257, 1, true, false, undefined],
        ] as const) {
          const logits = dev.alloc(dtype, tokens * experts);
          const weights = dev.alloc('f32', tokens * k);
          const ids = dev.alloc('i32', tokens * k);
          dev.upload(
            logits,
            ties
              ? randomInts(tokens * experts, experts, -2, 2)
              : randomArray(tokens * experts, tokens + experts, -4, 4),
          );
          dev.fill(weights, Number.NaN);
          dev.fill(ids, -1);
          moeRouter(
            dev,
            { logits, weights, ids, tokens, experts, k, renormalize: renorm },
            { config: BT ? { BT } : {} },
          );
          const ref = refRouter(dev.download(logits), tokens, experts, k, renorm);
          const what = `${tokens}×${experts}, k = ${k}`;
          expect(Array.from(dev.download(ids)), what).toEqual(Array.from(ref.ids));
          expect(relativeError(dev.download(weights), ref.weights), what).toBeLessThan(TOLERANCE.f32);
        }
      });
    }

    it('moePermute groups slots by expert, stably, in one tile and across chunks', async () => {
      const dev = await openDevice(target);
      for (const [tokens, k, experts, BS] of [
        [1, 1, 1, undefined],
        [0, 2, 4, undefined],
        [7, 2, 8, undefined],
        [61, 6, 64, undefined],
        [61, 6, 64, 16],
        [200, 8, 13, 128],
        [5, 3, 1000, undefined], // most experts empty
      ] as const) {
        const n = tokens * k;
        const ids = dev.alloc('i32', Math.max(1, n));
        const idv = randomInts(n, n + experts, 0, experts - 1);
        if (n > 0) dev.upload(ids, idv);
        const permuted = dev.alloc('i32', Math.max(1, n));
        const positions = dev.alloc('i32', Math.max(1, n));
        const expertOffsets = dev.alloc('i32', experts + 1);
        for (const b of [permuted, positions, expertOffsets]) dev.fill(b, -7);
        moePermute(dev, { ids, tokens, k, experts, permuted, expertOffsets, positions }, { config: BS ? { BS } : {} });
        const ref = refPermute(idv, n, experts);
        const what = `${tokens}×${k} over ${experts} experts`;
        expect(Array.from(dev.download(expertOffsets)), what).toEqual(Array.from(ref.offsets));
        expect(Array.from(dev.download(permuted)).slice(0, n), what).toEqual(Array.from(ref.permuted));
        expect(Array.from(dev.download(positions)).slice(0, n), what).toEqual(Array.from(ref.positions));
      }
    });

    it('moePermute drops out-of-range expert ids without faulting', async () => {
      const dev = await openDevice(target);
      const [tokens, k, experts] = [6, 2, 4];
      const idv = Int32Array.of(0, 3, 4, -1, 2, 2, 1, 99, 3, 0, -(2 ** 31), 1);
      const ids = dev.alloc('i32', 12);
      dev.upload(ids, idv);
      const [permuted, positions] = [dev.alloc('i32', 12), dev.alloc('i32', 12)];
      const expertOffsets = dev.alloc('i32', experts + 1);
      moePermute(dev, { ids, tokens, k, experts, permuted, expertOffsets, positions });
      const ref = refPermute(idv, 12, experts);
      expect(Array.from(dev.download(expertOffsets))).toEqual([0, 2, 4, 6, 8]);
      expect(Array.from(dev.download(permuted))).toEqual(Array.from(ref.permuted));
      expect(Array.from(dev.download(positions))).toEqual(Array.from(ref.positions));
      expect(dev.getLastError()).toBeFalsy();
    });

    for (const dtype of floatsFor(target, ['f32', 'bf16'] as const)) {
      it(`router → permute → unpermute combines expert outputs per token (${dtype})`, async () => {
        const dev = await openDevice(target);
        for (const [tokens, experts, k, hidden, config] of [
          [1, 4, 1, 1, {}],
          [19, 16, 4, 97, {}],
          [40, 8, 2, 300, { BT: 4, BH: 32 }],
        ] as const) {
          const n = tokens * k;
          const logits = dev.alloc('f32', tokens * experts);
          dev.upload(logits, randomArray(tokens * experts, tokens, -2, 2));
          const [weights, ids] = [dev.alloc(dtype, n), dev.alloc('i32', n)];
          moeRouter(dev, { logits, weights, ids, tokens, experts, k });
          const [permuted, positions, expertOffsets] = [
            dev.alloc('i32', n),
            dev.alloc('i32', n),
            dev.alloc('i32', experts + 1),
          ];
          moePermute(dev, { ids, tokens, k, experts, permuted, expertOffsets, positions });
          const y = dev.alloc(dtype, n * hidden); // stands in for the grouped GEMM's output rows
          dev.upload(y, randomArray(n * hidden, hidden, -3, 3));
          const out = dev.alloc(dtype, tokens * hidden);
          dev.fill(out, Number.NaN);
          moeUnpermute(dev, { y, positions, weights, out, tokens, k, hidden }, { config });
          const ref = refUnpermute(dev.download(y), dev.download(positions), dev.download(weights), tokens, k, hidden);
          expect(relativeError(dev.download(out), ref), `${tokens}×${k}×${hidden}`).toBeLessThan(TOLERANCE[dtype]);
        }
      });
    }

    it('validates operands and runs in timing-only mode', async () => {
      const dev = await openDevice(target);
      const f = dev.alloc('f32', 64);
      const i = dev.alloc('i32', 64);
      moeRouter(dev, { logits: f, weights: f, ids: i, tokens: 0, experts: 8, k: 2 });
      expect(message(() => moeRouter(dev, { logits: f, weights: f, ids: i, tokens: 9, experts: 8, k: 2 }))).toMatch(
        /^moeRouter: 'logits' holds 64 elements, but \(tokens, experts\) = \(9, 8\) needs 72/,
      );
      expect(message(() => moeRouter(dev, { logits: f, weights: f, ids: f, tokens: 2, experts: 8, k: 2 }))).toMatch(
        /^moeRouter: 'ids' is f32; expected i32/,
      );
      expect(message(() => moeRouter(dev, { logits: f, weights: f, ids: i, tokens: 2, experts: 8, k: 9 }))).toMatch(
        /^moeRouter: k = 9 must be at most experts = 8/,
      );
      const perm = { ids: i, tokens: 8, k: 2, experts: 8, permuted: i, expertOffsets: i };
      expect(message(() => moePermute(dev, { ...perm, expertOffsets: dev.alloc('i32', 8) }))).toMatch(
        /^moePermute: 'expertOffsets' holds 8 elements, but \(experts \+ 1,\) = \(9,\) needs 9/,
      );
      expect(message(() => moePermute(dev, { ...perm, permuted: f }))).toMatch(
        /^moePermute: 'permuted' is f32; expected i32/,
      );
      expect(message(() => moePermute(dev, { ...perm, experts: 0 }))).toMatch(
        /^moePermute: experts = 0 must be an integer ≥ 1/,
      );
      expect(
        message(() => moeUnpermute(dev, { y: f, positions: i, weights: f, out: f, tokens: 4, k: 2, hidden: 16 })),
      ).toMatch(/^moeUnpermute: 'y' holds 64 elements, but \(tokens · k, hidden\) = \(8, 16\) needs 128/);

      const td = await openDevice(target, 'timing');
      const [tokens, experts, k, hidden] = [8192, 256, 8, 4096];
      const n = tokens * k;
      const [weights, ids] = [td.alloc('f32', n), td.alloc('i32', n)];
      const r1 = moeRouter(td, { logits: td.alloc('bf16', tokens * experts), weights, ids, tokens, experts, k });
      const [permuted, positions] = [td.alloc('i32', n), td.alloc('i32', n)];
      const r2 = moePermute(td, {
        ids,
        tokens,
        k,
        experts,
        permuted,
        expertOffsets: td.alloc('i32', experts + 1),
        positions,
      });
      const y = td.alloc('bf16', n * hidden);
      const out = td.alloc('bf16', tokens * hidden);
      const r3 = moeUnpermute(td, { y, positions, weights, out, tokens, k, hidden });
      for (const r of [r1, r2, r3]) expect(r.ms).toBeGreaterThan(0);
    });
  });
}
