/**
 * Token sampling for an LLM server: one token per row of logits (rows = sequences, cols = vocab), with per-row
 * temperature, top-k, top-p, seed and step (host data, passed by value and picked by row inside the kernel).
 *
 * Per row:
 * - temperature 0 (or below 3e-39, where 1/T overflows f32): greedy — the index of the largest logit (ties → lowest
 *   index; NaN counts as largest, as argmax); topK and topP are then ignored.
 * - otherwise: p = softmax(logits / T). Tokens are ranked by logit (descending; ties → lower index — the same order
 *   as by probability). Keep the first topK of the ranking (0 or ≥ vocab: off); then, over the kept tokens'
 *   renormalised probabilities, the shortest prefix of the ranking whose mass reaches topP (1: off; the first token
 *   is always kept). Renormalise and draw one token by inverse CDF, walking the kept tokens in vocab order, with
 *   u = (h >>> 8) · 2⁻²⁴ and h = MurmurHash3_x86_32 of the 32-bit word step with the row's seed — a counter-based
 *   generator, so (seed, step) gives the same token on every backend, every run and every batch position.
 *
 * How. The kept set is {x > v} plus the first `ties` tokens (in vocab order) with x = v, v being the logit where the
 * ranking is cut; the draw then walks the row once for the kept mass and once for the CDF.
 * - A row of up to BLOCK logits (BLOCK = 4096 on H100 and 910B) is one tile, loaded once: one descending sort, a
 *   cumsum for top-p, and v read off the sorted tile.
 * - Longer rows (real vocabularies) stream BLOCK-wide chunks, without sorting: v is found on an integer key — the
 *   logit's IEEE bits mapped to an order-preserving integer, read through an integer view of the same buffer (the
 *   tile language has no bitcast) — as the largest key with ≥ topK keys at or above it, then the largest key whose
 *   keys at or above it hold ≥ topP of the top-k mass. Each is built bit by bit, one pass over the row per bit (32
 *   for f32 logits, 16 for f16/bf16): a fixed number of passes, so control flow never depends on data. With both
 *   filters on that is about 70 passes for f32 logits, 37 for 16-bit ones.
 * Masses accumulate in f32 (float64 within a tile), so a draw can differ from an exact computation only where u or
 * the top-p target falls within rounding of a boundary.
 *
 * Rows whose logits are all −∞ or hold +∞/NaN get an unspecified (but in-range) token.
 */
import {
  type Device,
  type DeviceBuffer,
  deviceFunction,
  type LaunchResult,
  type Tile,
  type TileContext,
  tileKernel,
} from '@tessera/device';
import { check, checkBuffer, checkDims, FLOAT_DTYPES, nextPow2, type OpOptions } from './common';
import { maxVectorBlock, streamingGrid } from './config';

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

/**
 * MurmurHash3_x86_32 of the word `step` with `seed`, on (1,) i32 tiles; returns u in [0, 1) as f32. The batch row
 * does not enter: a request's tokens depend on its own seed and step only, not on where it sits in the batch.
 */
export const sampleUniform = deviceFunction(function sampleUniform(t: TileContext, seed: number, step: number): Tile {
  const rotl = (x: Tile, s: number) => t.or(t.shl(x, s), t.shru(x, 32 - s));
  let h = t.full([1], seed | 0, 'i32');
  for (const w of [step]) {
    const k = rotl(t.full([1], w | 0, 'i32').mul(0xcc9e2d51 | 0), 15).mul(0x1b873593 | 0);
    h = rotl(h.xor(k), 13)
      .mul(5)
      .add(0xe6546b64 | 0);
  }
  h = h.xor(4); // length in bytes
  h = h.xor(t.shru(h, 16)).mul(0x85ebca6b | 0);
  h = h.xor(t.shru(h, 13)).mul(0xc2b2ae35 | 0);
  h = h.xor(t.shru(h, 16));
  return t
    .shru(h, 8)
    .cast('f32')
    .mul(2 ** -24);
});

interface Chunk {
  /** Its first column. */
  c: number;
  x?: Tile;
  key?: Tile;
  e?: Tile;
  kept?: Tile;
  w?: Tile;
}

export const sampleKernel = tileKernel(
  {
    name: 'sample',
    uses: { I32_MIN, I32_MAX, sampleUniform },
    params: {
      logits: 'ptr',
      bits: 'ptr',
      out: 'ptr<i32>',
      rows: 'i32',
      vocab: 'i32',
      temperature: 'f32[]',
      topK: 'i32[]',
      topP: 'f32[]',
      seeds: 'i32[]',
      steps: 'i32[]',
      SIGN: 'constexpr',
      SINGLE: 'constexpr',
      BLOCK: 'constexpr',
    },
  },
  (t, a) => {
    const { rows, vocab, SIGN, SINGLE, BLOCK } = a;
    const X = t.tensor(a.logits, [rows, vocab]);
    const BITS = t.tensor(a.bits, [rows, vocab]);
    const lane = t.arange(0, BLOCK);
    // The last chunk's valid lanes; used only where a chunk runs past the vocab (which needs vocab % BLOCK ≠ 0).
    const tail = lane.add(vocab - (vocab % BLOCK)).lt(vocab);
    /** A bool tile of the chunk at c, restricted to the vocab (itself when the chunk lies inside it). */
    const inVocab = (c: number, m: Tile) => (c + BLOCK > vocab ? m.and(tail) : m);
    const keyBits = SIGN === 0x7fff ? 16 : 32;
    const keyOffset = keyBits === 16 ? -32768 : I32_MIN; // key = unsigned search variable + offset
    for (let r = t.programId(0); r < rows; r += t.numPrograms(0)) {
      /**
       * The row's passes over its chunks. SINGLE (a constexpr: vocab ≤ BLOCK): the one chunk is loaded once per
       * row and what is derived from it is kept; longer rows build each chunk afresh on every pass: the first
       * chunk, then the rest in a runtime loop (their number depends on vocab). Each sampling path makes its own,
       * so nothing a path caches crosses the runtime branch between them.
       */
      const passes = () => {
        let cached: Chunk | null = null;
        const chunk = (c: number): Chunk => (SINGLE ? (cached ??= { c }) : { c });
        const pass = (f: (ch: Chunk) => void) => {
          f(chunk(0)); // every row has a first chunk (vocab ≥ 1)
          if (!SINGLE) for (let c = BLOCK; c < vocab; c += BLOCK) f(chunk(c));
        };
        return { chunk, pass };
      };
      const xOf = (ch: Chunk) =>
        (ch.x ??= t
          .loadBlock(X, [r, ch.c], [1, BLOCK], { padding: Number.NEGATIVE_INFINITY })
          .reshape([BLOCK])
          .cast('f32'));
      const keyOf = (ch: Chunk) => {
        if (ch.key !== undefined) return ch.key;
        const b = t.loadBlock(BITS, [r, ch.c], [1, BLOCK]).reshape([BLOCK]).cast('i32');
        const key = t.where(b.lt(0), b.xor(SIGN).add(1), b); // order-preserving; −0 and +0 both map to 0
        return (ch.key = ch.c + BLOCK > vocab ? t.where(tail, key, I32_MIN) : key);
      };
      const add = (acc: Tile | null, v: Tile) => (acc !== null ? acc.add(v) : v);

      const T = a.temperature[r]!;
      const invT = 1 / T;
      let token: Tile; // (1,) i32
      if (!(Math.fround(invT) < Number.POSITIVE_INFINITY)) {
        // ---- greedy: running (max, argmax) over chunks; NaN wins, then the earlier chunk
        const { pass } = passes();
        let best: Tile | null = null;
        let arg: Tile | null = null;
        pass((ch) => {
          const x = xOf(ch);
          const m = x.max(0, true);
          const i = x.argmax(0, true).add(ch.c);
          const take = best !== null ? m.gt(best).or(t.isnan(m).and(t.isnan(best).not())) : null;
          best = best !== null && take !== null ? t.where(take, m, best) : m;
          arg = arg !== null && take !== null ? t.where(take, i, arg) : i;
        });
        token = arg!;
      } else {
        const { chunk, pass } = passes();
        const K = a.topK[r]!;
        const P = a.topP[r]!;
        const useK = K > 0 && K < vocab;
        let m: Tile | null = null;
        let kmin: Tile | null = null;
        pass((ch) => {
          const cm = xOf(ch).max(0, true);
          m = m !== null ? m.maximum(cm) : cm;
          if (!SINGLE) {
            const key = keyOf(ch);
            const cmin = (ch.c + BLOCK > vocab ? t.where(tail, key, I32_MAX) : key).min(0, true);
            kmin = kmin !== null ? kmin.minimum(cmin) : cmin;
          }
        });
        const mx = m!;
        const eOf = (ch: Chunk) => (ch.e ??= xOf(ch).sub(mx).mul(invT).exp()); // unnormalised probabilities

        // ---- the kept set: gt(ch), plus the first `ties` tokens (vocab order) where eq(ch). Whether top-k and top-p
        // apply is known only at runtime, so every quantity that they change is a (1,) tile on both paths.
        let gt: (ch: Chunk) => Tile;
        let eq: (ch: Chunk) => Tile;
        let ties: Tile; // (1,) i32
        if (SINGLE) {
          // One tile: sort it, cut the ranking at k and at the top-p mass, and find the cut's logit v.
          const ch = chunk(0);
          const sx = t.sort(xOf(ch), { descending: true }); // padding (−∞) sorts after every logit
          const kc = useK ? K : vocab;
          const eK = t.where(lane.lt(kc), sx.sub(mx).mul(invT).exp(), 0);
          let n: Tile; // (1,) i32 tokens kept
          if (P < 1) {
            const target = eK.sum(0, true).mul(P);
            n = lane.lt(kc).and(t.cumsum(eK).lt(target)).sum(0, true).add(1).minimum(kc);
          } else {
            n = t.full([1], kc, 'i32');
          }
          const v = t.where(lane.eq(n.sub(1)), sx, Number.NEGATIVE_INFINITY).max(0, true);
          gt = (c) => xOf(c).gt(v);
          eq = (c) => inVocab(c.c, xOf(c).eq(v));
          ties = n.sub(gt(ch).sum(0, true));
        } else {
          // Streamed: thresholds on the integer key, found bit by bit (largest θ with pred(θ)).
          const largest = (pred: (th: Tile) => Tile): Tile => {
            let u = t.zeros([1], 'i32');
            for (let bit = keyBits - 1; bit >= 0; bit--) {
              const cand = u.or(1 << bit);
              u = t.where(pred(cand.add(keyOffset)), cand, u);
            }
            return u.add(keyOffset);
          };
          const massGe = (th: Tile) => {
            let s: Tile | null = null;
            pass((ch) => (s = add(s, t.where(keyOf(ch).ge(th), eOf(ch), 0).sum(0, true))));
            return s!;
          };
          const stats = (th: Tile) => {
            let cGt: Tile | null = null;
            let mGt: Tile | null = null;
            let cEq: Tile | null = null;
            let eEq: Tile | null = null;
            pass((ch) => {
              const g = keyOf(ch).gt(th);
              const q = keyOf(ch).eq(th);
              cGt = add(cGt, g.sum(0, true));
              mGt = add(mGt, t.where(g, eOf(ch), 0).sum(0, true));
              cEq = add(cEq, q.sum(0, true));
              const ce = t.where(q, eOf(ch), 0).max(0, true);
              eEq = eEq !== null ? eEq.maximum(ce) : ce;
            });
            return { cGt: cGt!, mGt: mGt!, cEq: cEq!, eEq: eEq! };
          };
          let tau = kmin!;
          let topMass: Tile; // mass of the top-k set (all tokens without top-k)
          if (useK) {
            tau = largest((th) => {
              let n: Tile | null = null;
              pass((ch) => (n = add(n, keyOf(ch).ge(th).sum(0, true))));
              return n!.ge(K);
            });
            const s = stats(tau);
            ties = t.full([1], K, 'i32').sub(s.cGt);
            topMass = s.mGt.add(ties.cast('f32').mul(s.eEq));
          } else {
            let s: Tile | null = null;
            pass((ch) => (s = add(s, eOf(ch).sum(0, true))));
            topMass = s!;
            ties = t.full([1], vocab, 'i32'); // every tie is kept
          }
          if (P < 1) {
            const tauK = tau;
            const target = topMass.mul(P);
            tau = largest((th) => massGe(th).ge(target)).maximum(tauK);
            const s = stats(tau);
            const avail = useK ? t.where(tau.eq(tauK), t.full([1], K, 'i32').sub(s.cGt), s.cEq) : s.cEq;
            // Tied tokens to add until the mass is reached (≥ 1; all of them if their probability underflowed).
            const need = target.sub(s.mGt).div(s.eEq).ceil();
            ties = t.where(need.ge(1), need, 1).minimum(avail.cast('f32')).cast('i32');
          }
          const th = tau;
          gt = (ch) => keyOf(ch).gt(th);
          eq = (ch) => keyOf(ch).eq(th);
        }

        // ---- inverse CDF over the kept tokens in vocab order
        const keptPass = (f: (ch: Chunk, kept: Tile, w: Tile) => void) => {
          let seen = t.zeros([1], 'i32'); // tied tokens before this chunk
          pass((ch) => {
            if (!ch.kept) {
              const q = eq(ch);
              ch.kept = gt(ch).or(q.and(t.cumsum(q).add(seen).sub(1).lt(ties)));
              ch.w = t.where(ch.kept, eOf(ch), 0);
              if (!SINGLE) seen = seen.add(q.sum(0, true));
            }
            f(ch, ch.kept, ch.w!);
          });
        };
        let mass: Tile | null = null;
        keptPass((_, __, w) => (mass = add(mass, w.sum(0, true))));
        const u = sampleUniform(t, a.seeds[r]!, a.steps[r]!).mul(mass!);
        let run = t.zeros([1]);
        let below = t.zeros([1], 'i32'); // valid tokens whose cumulative mass is ≤ u: the drawn index
        let last = t.full([1], -1, 'i32'); // last kept index, in case rounding leaves u past the end
        keptPass((ch, kept, w) => {
          const cum = t.cumsum(w).add(run);
          const le = inVocab(ch.c, cum.le(u));
          below = below.add(le.sum(0, true));
          run = run.add(w.sum(0, true));
          last = last.maximum(t.where(kept, lane.add(ch.c), -1).max(0, true));
        });
        token = below.minimum(last).maximum(0);
      }
      t.store(a.out, r, token);
    }
  },
);

/**
 * The per-row parameter ranges `sample` accepts — what an API edge (the LLM server's request schema) must enforce
 * before a request reaches a step. Seeds and steps are 32-bit words: any integer in [−2³¹, 2³²) (taken mod 2³²).
 */
export const SAMPLE_PARAM_LIMITS = {
  topK: { min: 0, max: I32_MAX },
  seed: { min: I32_MIN, max: 2 ** 32 - 1 },
  step: { min: I32_MIN, max: 2 ** 32 - 1 },
} as const;

export interface SampleArgs {
  /** (rows, vocab) logits, f32, f16 or bf16. */
  logits: DeviceBuffer;
  /** (rows,) i32 output: the sampled token of each row. */
  out: DeviceBuffer;
  rows: number;
  vocab: number;
  /** Per row: 0 = greedy, else the softmax temperature (> 0). */
  temperature: ArrayLike<number>;
  /** Per row: keep the k most likely tokens; 0 = off. */
  topK: ArrayLike<number>;
  /** Per row: nucleus mass in (0, 1]; 1 = off. */
  topP: ArrayLike<number>;
  /** Per row: RNG seed, an integer in [−2³¹, 2³²). */
  seeds: ArrayLike<number>;
  /** Per row: RNG counter (e.g. the decode step), an integer in [−2³¹, 2³²). */
  steps: ArrayLike<number>;
}

export function sample(
  dev: Device,
  a: SampleArgs,
  options: OpOptions & { config?: { BLOCK?: number } } = {},
): LaunchResult {
  const op = 'sample';
  checkDims(op, { rows: a.rows });
  checkDims(op, { vocab: a.vocab }, 1);
  checkBuffer(op, 'logits', a.logits, {
    shape: [a.rows, a.vocab],
    shapeText: `(rows, vocab) = (${a.rows}, ${a.vocab})`,
    dtypes: FLOAT_DTYPES,
  });
  checkBuffer(op, 'out', a.out, { shape: [a.rows], shapeText: `(rows,) = (${a.rows},)`, dtypes: ['i32'] });
  const perRow = (name: string, v: ArrayLike<number> | undefined, ok: (x: number) => boolean, what: string) => {
    check(
      v !== undefined && v !== null && typeof v.length === 'number',
      op,
      `'${name}' is missing: pass one value per row.`,
    );
    check(v.length >= a.rows, op, `'${name}' has ${v.length} values, but rows = ${a.rows} needs one per row.`);
    const out = Array.from({ length: a.rows }, (_, i) => Number(v[i]));
    const bad = out.findIndex((x) => !ok(x));
    check(bad < 0, op, `${name}[${bad}] = ${out[bad]} must be ${what}.`);
    return out;
  };
  const L = SAMPLE_PARAM_LIMITS;
  const int32 = (x: number) => Number.isInteger(x) && x >= L.seed.min && x <= L.seed.max;
  const temperature = perRow('temperature', a.temperature, (x) => Number.isFinite(x) && x >= 0, 'a finite number ≥ 0');
  const topK = perRow(
    'topK',
    a.topK,
    (x) => Number.isInteger(x) && x >= L.topK.min && x <= L.topK.max,
    'an integer in [0, 2³¹)',
  );
  const topP = perRow('topP', a.topP, (x) => x > 0 && x <= 1, 'in (0, 1]');
  const seeds = perRow('seeds', a.seeds, int32, 'an integer in [−2³¹, 2³²)').map((x) => x | 0);
  const steps = perRow('steps', a.steps, int32, 'an integer in [−2³¹, 2³²)').map((x) => x | 0);
  const max = options.config?.BLOCK ?? maxVectorBlock(dev.properties, 8);
  check(Number.isInteger(Math.log2(max)) && max >= 1, op, `config.BLOCK = ${max} must be a power of two.`);
  const wide = a.logits.dtype === 'f32';
  const BLOCK = Math.min(nextPow2(a.vocab), max);
  return dev.launch(
    sampleKernel,
    { grid: streamingGrid(dev.properties, Math.max(1, a.rows)), stream: options.stream },
    {
      logits: a.logits,
      bits: a.logits.as(wide ? 'i32' : 'i16'),
      out: a.out,
      rows: a.rows,
      vocab: a.vocab,
      temperature,
      topK,
      topP,
      seeds,
      steps,
      SIGN: wide ? 0x7fffffff : 0x7fff,
      SINGLE: a.vocab <= BLOCK ? 1 : 0, // the row is one tile
      BLOCK,
    },
  );
}
