import type { Device } from '@tessera/device';
import { randomInts, relativeError, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { type RopeConvention, rope } from '../src/rope';
import { errorOf, FLOATS, poisoned, randomBuffer, read } from './helpers';
import { floatsFor, isSimulator, NUMERIC_TARGETS, openDevice } from './setup';

interface Shape {
  tokens: number;
  heads: number;
  headDim: number;
  rotaryDim: number;
  theta: number;
}

/**
 * float64 reference RoPE: pair i of each head — (x[2i], x[2i+1]) interleaved, (x[i], x[i + R/2]) half — rotated by
 * pos · θ^(−2i/R); dimensions ≥ R copied. With `f32Angles`, the angles are first rounded as an f32 computation rounds
 * them; everything else stays float64.
 */
function refRope(
  x: ArrayLike<number>,
  pos: ArrayLike<number>,
  s: Shape,
  convention: RopeConvention,
  f32Angles = false,
): Float64Array {
  const { tokens, heads, headDim: D, rotaryDim: R, theta } = s;
  const f = Math.fround;
  const y = Float64Array.from(x);
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * D;
      for (let i = 0; i < R / 2; i++) {
        // f32Angles: inv_freq and the angle rounded to f32 at each step, as the kernel (and an f32 cache) computes them.
        const angle = f32Angles
          ? f(f(pos[t]!) * f(Math.exp(f(i * f((-2 * Math.log(theta)) / R)))))
          : pos[t]! * theta ** ((-2 * i) / R);
        const [ia, ib] = convention === 'half' ? [i, i + R / 2] : [2 * i, 2 * i + 1];
        const a = x[base + ia]!;
        const b = x[base + ib]!;
        y[base + ia] = a * Math.cos(angle) - b * Math.sin(angle);
        y[base + ib] = b * Math.cos(angle) + a * Math.sin(angle);
      }
    }
  }
  return y;
}

/** Index in the interleaved layout of dimension j of the half layout: a_i at i ↦ 2i, b_i at R/2 + i ↦ 2i + 1. */
function toInterleaved(j: number, R: number): number {
  return j >= R ? j : j < R / 2 ? 2 * j : 2 * (j - R / 2) + 1;
}

/** Permutes every head vector from the half layout to the interleaved one (what llama.cpp's HF converter does). */
function permuteHeads(x: ArrayLike<number>, rows: number, D: number, R: number): Float64Array {
  const y = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) for (let j = 0; j < D; j++) y[r * D + toInterleaved(j, R)] = x[r * D + j]!;
  return y;
}

function positionsBuffer(dev: Device, tokens: number, seed: number, max: number) {
  const p = dev.alloc('i32', Math.max(1, tokens));
  const v = randomInts(tokens, seed, 0, max);
  dev.upload(p, v);
  return [p, v] as const;
}

/** Shapes and BLOCK overrides: minimal, full rotary, partial rotary (odd tail), chunked pairs and tails, Llama-3 θ. */
const CASES: readonly (Shape & { BLOCK?: number })[] = [
  { tokens: 1, heads: 1, headDim: 2, rotaryDim: 2, theta: 10000 },
  { tokens: 7, heads: 3, headDim: 64, rotaryDim: 64, theta: 10000 },
  { tokens: 5, heads: 2, headDim: 80, rotaryDim: 32, theta: 10000 },
  { tokens: 3, heads: 5, headDim: 128, rotaryDim: 96, theta: 500000, BLOCK: 16 },
  { tokens: 13, heads: 1, headDim: 10, rotaryDim: 6, theta: 10000 },
  { tokens: 0, heads: 4, headDim: 16, rotaryDim: 16, theta: 10000 },
];

for (const target of NUMERIC_TARGETS) {
  describe(`rope on ${target.device}`, () => {
    for (const dtype of floatsFor(target, FLOATS)) {
      it(`matches the float64 reference in both conventions (${dtype}; full and partial rotary, edge shapes)`, async () => {
        const dev = await openDevice(target);
        for (const { BLOCK, ...s } of CASES) {
          const n = s.tokens * s.heads * s.headDim;
          const [x, xv] = randomBuffer(dev, dtype, n, n + s.rotaryDim, -2, 2);
          // Positions up to 256 keep f32 angle rounding (see the long-context test) below the f32 tolerance.
          const [p, pv] = positionsBuffer(dev, s.tokens, s.tokens + 1, 256);
          for (const convention of ['interleaved', 'half'] as const) {
            const out = poisoned(dev, dtype, n);
            rope(dev, { x, out, positions: p, ...s, convention }, { config: BLOCK ? { BLOCK } : {} });
            const ref = refRope(xv, pv, s, convention);
            const what = `${convention} ${s.tokens}×${s.heads}×${s.headDim} R=${s.rotaryDim}`;
            expect(relativeError(read(dev, out, n), ref), what).toBeLessThan(TOLERANCE[dtype]);
          }
        }
      });
    }

    it('at long context, carries only the f32 angle rounding of Hugging Face / vLLM cos-sin caches', async () => {
      const dev = await openDevice(target);
      const s = { tokens: 64, heads: 2, headDim: 128, rotaryDim: 128, theta: 500000 };
      const n = s.tokens * s.heads * s.headDim;
      const [x, xv] = randomBuffer(dev, 'f32', n, 11, -2, 2);
      const [p, pv] = positionsBuffer(dev, s.tokens, 12, 131071);
      for (const convention of ['interleaved', 'half'] as const) {
        const out = poisoned(dev, 'f32', n);
        rope(dev, { x, out, positions: p, ...s, convention });
        const got = read(dev, out, n);
        // Against exact angles: off by f32 rounding of angles up to 1.3e5 rad (ulp 0.008), nothing more.
        const exact = relativeError(got, refRope(xv, pv, s, convention));
        expect(exact).toBeLessThan(2e-3);
        // Against angles rounded as an f32 cache builds them: within the f32 tolerance. On webgpu the kernel's scalar
        // frequencies (θ^(−2i/d), through exp and log) are computed in f32 by the GPU's builtins, not in float64 as
        // JavaScript does: a 1-ulp frequency error is ~8e-3 rad at angle 1.3e5, so only the exact-angle bound holds.
        const f32Angles = refRope(xv, pv, s, convention, true);
        if (isSimulator(target)) expect(relativeError(got, f32Angles)).toBeLessThan(TOLERANCE.f32);
      }
    });

    it('gives different results per convention, identical after permuting each head (interleaved ↔ half)', async () => {
      const dev = await openDevice(target);
      for (const s of [CASES[1]!, CASES[2]!, CASES[3]!]) {
        const rows = s.tokens * s.heads;
        const n = rows * s.headDim;
        const [x, xv] = randomBuffer(dev, 'f32', n, 42, -2, 2);
        const [p] = positionsBuffer(dev, s.tokens, 7, 2048);
        const xi = dev.alloc('f32', n);
        dev.upload(xi, permuteHeads(xv, rows, s.headDim, s.rotaryDim));
        const [half, inter, interOfPermuted] = [0, 1, 2].map(() => poisoned(dev, 'f32', n)) as [never, never, never];
        rope(dev, { x, out: half, positions: p, ...s, convention: 'half' });
        rope(dev, { x, out: inter, positions: p, ...s, convention: 'interleaved' });
        rope(dev, { x: xi, out: interOfPermuted, positions: p, ...s, convention: 'interleaved' });
        const h = read(dev, half, n);
        // The conventions rotate different pairs: on the same input the results are far apart …
        expect(relativeError(read(dev, inter, n), h)).toBeGreaterThan(0.1);
        // … but the interleaved rotation of the permuted input is the permuted half rotation, bit for bit.
        expect(Array.from(read(dev, interOfPermuted, n))).toEqual(
          Array.from(permuteHeads(h, rows, s.headDim, s.rotaryDim)),
        );
      }
    });

    it('runs in place, leaves pass-through dimensions alone, and validates operands', async () => {
      const dev = await openDevice(target);
      const s = CASES[2]!;
      const n = s.tokens * s.heads * s.headDim;
      const [x, xv] = randomBuffer(dev, 'bf16', n, 3, -2, 2);
      const [p, pv] = positionsBuffer(dev, s.tokens, 4, 100);
      rope(dev, { x, out: x, positions: p, ...s, convention: 'half' });
      const got = read(dev, x, n);
      expect(relativeError(got, refRope(xv, pv, s, 'half'))).toBeLessThan(TOLERANCE.bf16);
      for (let r = 0; r < s.tokens * s.heads; r++)
        for (let j = s.rotaryDim; j < s.headDim; j++) expect(got[r * s.headDim + j]).toBe(xv[r * s.headDim + j]);
      const base = { out: x, positions: p, tokens: 2, heads: 2, headDim: 8, convention: 'half' } as const;
      const small = dev.alloc('f32', 16);
      expect(errorOf(() => rope(dev, { ...base, x: small, out: small, tokens: 3 }))).toMatch(
        /^rope: 'x' holds 16 elements, but \(tokens, heads, headDim\) = \(3, 2, 8\) needs 48/,
      );
      expect(errorOf(() => rope(dev, { ...base, x, convention: 'neox' as 'half' }))).toMatch(
        /^rope: convention = "neox" must be 'interleaved' or 'half'/,
      );
      expect(errorOf(() => rope(dev, { ...base, x, rotaryDim: 5 }))).toMatch(
        /^rope: rotaryDim = 5 must be even and at most headDim = 8/,
      );
      expect(errorOf(() => rope(dev, { ...base, x, rotaryDim: 10 }))).toMatch(/^rope: rotaryDim = 10 must be even/);
      expect(errorOf(() => rope(dev, { ...base, x, theta: 0 }))).toMatch(
        /^rope: theta = 0 must be a finite number > 0/,
      );
      expect(errorOf(() => rope(dev, { ...base, x, positions: dev.alloc('f32', 2) }))).toMatch(
        /^rope: 'positions' is f32; expected i32/,
      );
      expect(errorOf(() => rope(dev, { ...base, x, positions: dev.alloc('i32', 1) }))).toMatch(
        /^rope: 'positions' holds 1 elements, but \(tokens,\) = \(2,\) needs 2/,
      );
      expect(errorOf(() => rope(dev, { ...base, x, out: x.view(1, 32) }))).toMatch(/^rope: 'out' partly overlaps 'x'/);
    });

    it.runIf(isSimulator(target))('is memory-bound on a large shape in timing-only mode', async () => {
      const td = await openDevice(target, 'timing');
      const [tokens, heads, headDim] = [16384, 32, 128];
      const x = td.alloc('bf16', tokens * heads * headDim);
      const positions = td.alloc('i32', tokens);
      for (const convention of ['interleaved', 'half'] as const) {
        for (const rotaryDim of [headDim, 64]) {
          const r = rope(td, { x, out: x, positions, tokens, heads, headDim, rotaryDim, convention });
          expect(r.timing.bound, `${convention} R=${rotaryDim}`).toBe('memory');
          expect(r.cost.programs).toBeLessThanOrEqual(65535);
        }
      }
    });
  });
}
