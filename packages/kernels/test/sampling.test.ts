import { isTesseraError } from '@tessera/device';
import { randomArray, randomInts, rng } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { SAMPLE_PARAM_LIMITS, sample } from '../src/sampling';
import { referenceSample } from './sampling-reference';
import { floatsFor, NUMERIC_TARGETS, openDevice } from './setup';

const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return isTesseraError(e) ? e.message : String(e);
  }
  return '';
};

/** Per-row parameters mixing every path: greedy, top-k (1, k, ≥ vocab), top-p, both, neither. */
function mixedParams(rows: number, vocab: number, seed: number) {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const temperature = Array.from({ length: rows }, () => pick([0, 0.5, 1, 1.7]));
  const topK = Array.from({ length: rows }, () => pick([0, 1, 3, 20, vocab, vocab + 5]));
  const topP = Array.from({ length: rows }, () => pick([1, 0.95, 0.6, 0.1]));
  const seeds = Array.from({ length: rows }, () => Math.floor(r() * 2 ** 32));
  const steps = Array.from({ length: rows }, () => Math.floor(r() * 5000));
  return { temperature, topK, topP, seeds, steps };
}

async function runSample(
  target: (typeof NUMERIC_TARGETS)[number],
  dtype: 'f32' | 'f16' | 'bf16',
  rows: number,
  vocab: number,
  logitsHost: ArrayLike<number>,
  params: ReturnType<typeof mixedParams>,
  BLOCK?: number,
) {
  const dev = await openDevice(target);
  const logits = dev.alloc(dtype, rows * vocab);
  dev.upload(logits, logitsHost);
  const out = dev.alloc('i32', Math.max(1, rows));
  dev.fill(out, -1);
  sample(dev, { logits, out, rows, vocab, ...params }, { config: BLOCK ? { BLOCK } : {} });
  return { tokens: Array.from(dev.download(out)).slice(0, rows), logits: dev.download(logits) };
}

function referenceTokens(x: ArrayLike<number>, rows: number, vocab: number, params: ReturnType<typeof mixedParams>) {
  return Array.from({ length: rows }, (_, row) =>
    referenceSample(
      Array.from({ length: vocab }, (_, i) => x[row * vocab + i]!),
      {
        temperature: params.temperature[row]!,
        topK: params.topK[row]!,
        topP: params.topP[row]!,
        seed: params.seeds[row]!,
        step: params.steps[row]!,
        row,
      },
    ),
  );
}

for (const target of NUMERIC_TARGETS) {
  describe(`sample on ${target.device}`, () => {
    for (const dtype of floatsFor(target, ['f32', 'bf16', 'f16'] as const)) {
      it(`draws the reference's tokens (${dtype}; greedy, top-k, top-p, one tile and streamed chunks)`, async () => {
        for (const [rows, vocab, BLOCK, ties] of [
          [3, 1, undefined, false],
          [32, 7, undefined, true],
          [32, 331, undefined, false],
          [32, 333, 64, true], // 6 chunks, many equal logits
          [12, 1000, 128, false],
        ] as const) {
          const x = ties ? randomInts(rows * vocab, vocab, -3, 3) : randomArray(rows * vocab, rows + vocab, -4, 4);
          const params = mixedParams(rows, vocab, vocab + rows);
          const got = await runSample(target, dtype, rows, vocab, x, params, BLOCK);
          const ref = referenceTokens(got.logits, rows, vocab, params);
          const what = `${rows}×${vocab}, BLOCK ${BLOCK ?? 'auto'}`;
          // Exact, except where u or the top-p cut lands within f32 rounding of a boundary (the reference reports how
          // close; integer logits tie often, and then the top-p mass can hit its target exactly).
          const near = ref.filter((r) => r.margin < 1e-5).length;
          expect(near, what).toBeLessThanOrEqual(rows / 8);
          got.tokens.forEach((tok, i) => {
            if (ref[i]!.margin >= 1e-5) expect(tok, `${what}, row ${i}`).toBe(ref[i]!.token);
          });
        }
      });
    }

    it('greedy is argmax (lowest index on ties), and top-k = 1 is greedy at any temperature', async () => {
      for (const [vocab, BLOCK] of [
        [50, undefined],
        [300, 32],
      ] as const) {
        const rows = 24;
        const x = randomInts(rows * vocab, vocab, -5, 5); // many tied maxima
        const base = mixedParams(rows, vocab, 7);
        const greedy = await runSample(
          target,
          'f32',
          rows,
          vocab,
          x,
          { ...base, temperature: Array(rows).fill(0) },
          BLOCK,
        );
        const argmax = Array.from({ length: rows }, (_, r) => {
          const row = Array.from(x.slice(r * vocab, (r + 1) * vocab));
          return row.indexOf(Math.max(...row));
        });
        expect(greedy.tokens).toEqual(argmax);
        const k1 = await runSample(
          target,
          'f32',
          rows,
          vocab,
          x,
          { ...base, temperature: Array(rows).fill(1.3), topK: Array(rows).fill(1) },
          BLOCK,
        );
        expect(k1.tokens).toEqual(argmax);
        // A temperature so small that 1/T overflows f32 is greedy too.
        const tiny = await runSample(
          target,
          'f32',
          rows,
          vocab,
          x,
          { ...base, temperature: Array(rows).fill(1e-40) },
          BLOCK,
        );
        expect(tiny.tokens).toEqual(argmax);
      }
    });

    it('empirical frequencies over many steps match the filtered distribution', async () => {
      const [rows, vocab] = [1000, 40];
      const row = Array.from(randomArray(vocab, 99, -2, 2));
      const x = Float64Array.from({ length: rows * vocab }, (_, i) => row[i % vocab]!);
      const all = <T>(v: T) => Array(rows).fill(v) as T[];
      for (const [T, K, P] of [
        [0.8, 12, 0.8],
        [1, 0, 1],
        [1.5, 0, 0.7],
      ] as const) {
        const steps = Array.from({ length: rows }, (_, i) => i);
        const params = { temperature: all(T), topK: all(K), topP: all(P), seeds: all(1234), steps };
        const got = await runSample(target, 'f32', rows, vocab, x, params);
        // Same logits and settings in every row; only the step (the hash counter) differs.
        const probs = referenceSample(got.logits.slice(0, vocab), {
          temperature: T,
          topK: K,
          topP: P,
          seed: 0,
          step: 0,
          row: 0,
        }).probs;
        const counts = new Float64Array(vocab);
        for (const tok of got.tokens) counts[tok]!++;
        let chi2 = 0;
        let df = -1;
        for (let i = 0; i < vocab; i++) {
          if (probs[i] === 0) {
            expect(counts[i], `token ${i} is filtered out`).toBe(0);
            continue;
          }
          const expected = probs[i]! * rows;
          chi2 += (counts[i]! - expected) ** 2 / expected;
          df++;
        }
        // χ² with df degrees of freedom has mean df and sd √(2 df): allow 5 sd (a fixed seed, so no flakiness).
        expect(chi2, `T ${T}, top-k ${K}, top-p ${P}: χ² ${chi2.toFixed(1)} on ${df} df`).toBeLessThan(
          df + 5 * Math.sqrt(2 * df),
        );
        // And the kernel's draws are the reference procedure's.
        const ref = referenceTokens(got.logits, rows, vocab, params);
        const agree = got.tokens.filter((tok, i) => tok === ref[i]!.token).length;
        expect(agree).toBeGreaterThanOrEqual(rows - 1);
      }
    });

    it('validates operands and per-row parameters, and runs in timing-only mode', async () => {
      const dev = await openDevice(target);
      const logits = dev.alloc('f32', 64);
      const out = dev.alloc('i32', 4);
      const ok = {
        logits,
        out,
        rows: 4,
        vocab: 16,
        temperature: [1, 1, 0, 1],
        topK: [0, 0, 0, 5],
        topP: [1, 0.9, 1, 1],
        seeds: [1, 2, 3, 4],
        steps: [0, 0, 0, 0],
      };
      sample(dev, { ...ok, rows: 0, temperature: [], topK: [], topP: [], seeds: [], steps: [] });
      expect(message(() => sample(dev, { ...ok, vocab: 17 }))).toMatch(
        /^sample: 'logits' holds 64 elements, but \(rows, vocab\) = \(4, 17\) needs 68/,
      );
      expect(message(() => sample(dev, { ...ok, out: logits }))).toMatch(/^sample: 'out' is f32; expected i32/);
      expect(message(() => sample(dev, { ...ok, topP: [1, 0, 1, 1] }))).toMatch(
        /^sample: topP\[1\] = 0 must be in \(0, 1\]/,
      );
      expect(message(() => sample(dev, { ...ok, temperature: [1, -1, 1, 1] }))).toMatch(
        /^sample: temperature\[1\] = -1 must be a finite number ≥ 0/,
      );
      expect(message(() => sample(dev, { ...ok, topK: [0, 1.5, 0, 0] }))).toMatch(
        /^sample: topK\[1\] = 1.5 must be an integer in \[0, 2³¹\)/,
      );
      // The ranges the kernel takes are exported (the LLM server's request schema uses them): the edges hold.
      const { topK, seed } = SAMPLE_PARAM_LIMITS;
      sample(dev, { ...ok, topK: [topK.max, 0, 0, 0], seeds: [seed.min, seed.max, 0, 0] });
      expect(message(() => sample(dev, { ...ok, topK: [topK.max + 1, 0, 0, 0] }))).toMatch(/topK\[0\] = 2147483648/);
      expect(message(() => sample(dev, { ...ok, seeds: [seed.max + 1, 0, 0, 0] }))).toMatch(/seeds\[0\] = 4294967296/);
      expect(message(() => sample(dev, { ...ok, seeds: [seed.min - 1, 0, 0, 0] }))).toMatch(/seeds\[0\]/);
      expect(message(() => sample(dev, { ...ok, seeds: [1, 2] }))).toMatch(
        /^sample: 'seeds' has 2 values, but rows = 4 needs one per row/,
      );

      const td = await openDevice(target, 'timing');
      const [rows, vocab] = [64, 128000];
      const params = mixedParams(rows, vocab, 3);
      const r = sample(td, {
        logits: td.alloc('bf16', rows * vocab),
        out: td.alloc('i32', rows),
        rows,
        vocab,
        ...params,
      });
      expect(r.ms).toBeGreaterThan(0);
    });
  });
}

it('the same seeds give the same tokens on h100 and 910b2', async () => {
  const [rows, vocab] = [24, 500];
  const x = randomArray(rows * vocab, 5, -3, 3);
  const params = mixedParams(rows, vocab, 11);
  const [a, b] = await Promise.all(NUMERIC_TARGETS.map((t) => runSample(t, 'bf16', rows, vocab, x, params)));
  expect(a!.tokens).toEqual(b!.tokens);
  const [c, d] = await Promise.all(NUMERIC_TARGETS.map((t) => runSample(t, 'f32', rows, vocab, x, params, 128)));
  expect(c!.tokens).toEqual(d!.tokens);
});
