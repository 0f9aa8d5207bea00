/**
 * Mixture-of-experts routing, the steps around a grouped GEMM:
 *
 * - `moeRouter`: per token, softmax over the experts' logits, the top k experts (largest first; ties → lower expert
 *   index; NaN ranks as +∞, as in topk) and their probabilities as weights — renormalised to sum to 1 over the k
 *   chosen experts when `renormalize` (default true: Mixtral, Qwen-MoE with norm_topk_prob, DeepSeek-V3), or the
 *   plain softmax probabilities when false (DeepSeek-V2, Switch). One tile of BT tokens × all experts, one argsort.
 * - `moePermute`: groups the tokens·k slots by expert, stably (within an expert, in flat slot order t·k + j):
 *   `permuted[p]` is the slot that lands at row p of the expert-sorted order, `expertOffsets` the exclusive prefix sum
 *   of the per-expert counts (expert e owns rows offsets[e] .. offsets[e+1]−1 — one GEMM per expert over contiguous
 *   rows), and optionally `positions`, the inverse (the row each slot landed at), which `moeUnpermute` needs.
 *   One program per expert (grid-stride): it counts the slots routed to lower experts (its offset), then walks the
 *   slots again and places its own with a cumsum. Deterministic and atomic-free; reads the ids twice per expert
 *   (once per program when they fit one tile), which is small next to the expert GEMMs for the usual ≤ 256 experts.
 *   (Timing-only mode cannot evaluate masks that depend on the ids, so it counts every lane of the placement stores:
 *   an overestimate of the written bytes.) Ids outside [0, experts) are
 *   dropped: they get no row, offsets[experts] counts only the valid slots, the tail of `permuted` is −1 and so are
 *   their `positions` — the same robustness rule as `embedding`.
 * - `moeUnpermute`: combines the experts' outputs back per token: out[t] = Σ_j weights[t, j] · y[positions[t·k + j]]
 *   (dropped slots contribute nothing), accumulating in f32 over j in order.
 */
import { cdiv, type Device, type DeviceBuffer, type LaunchResult, type Tile, tileKernel } from '@tessera/device';
import { check, checkBuffer, checkDims, FLOAT_DTYPES, nextPow2, type OpOptions } from './common';
import { maxVectorBlock, streamingGrid } from './config';

const I32_MAX = 2 ** 31 - 1;

export const moeRouterKernel = tileKernel(
  {
    name: 'moe_router',
    params: {
      logits: 'ptr',
      weights: 'ptr',
      ids: 'ptr<i32>',
      tokens: 'i32',
      experts: 'i32',
      k: 'i32',
      RENORM: 'constexpr',
      BT: 'constexpr',
      EP: 'constexpr',
    },
  },
  (t, { logits, weights, ids, tokens, experts, k, RENORM, BT, EP }) => {
    const lane = t.arange(0, BT).expandDims(1); // (BT, 1)
    const e = t.arange(0, EP).expandDims(0); // (1, EP)
    const inExperts = e.lt(experts);
    const blocks = Math.ceil(tokens / BT);
    for (let b = t.programId(0); b < blocks; b += t.numPrograms(0)) {
      const tok = lane.add(b * BT);
      const live = tok.lt(tokens);
      const valid = live.and(inExperts); // (BT, EP)
      const rowOff = tok.mul(experts);
      const x = t.load(logits, rowOff.add(e), { mask: valid, other: Number.NEGATIVE_INFINITY }).cast('f32');
      const m = x.max(1, true); // (BT, 1)
      const denom = t.where(valid, x.sub(m).exp(), 0).sum(1, true);
      const key = t.where(valid, t.where(t.isnan(x), Number.POSITIVE_INFINITY, x), Number.NaN);
      const order = t.argsort(key, { axis: 1, descending: true }); // (BT, EP) expert ids, best first
      const sel = live.and(e.lt(k)); // the first k lanes of each row
      const xs = t.load(logits, rowOff.add(order), { mask: sel }).cast('f32');
      let w = t.where(sel, xs.sub(m).exp().div(denom), 0);
      if (RENORM) w = w.div(w.sum(1, true));
      const out = tok.mul(k).add(e);
      t.store(ids, out, order, { mask: sel });
      t.store(weights, out, w, { mask: sel });
    }
  },
);

export interface MoeRouterArgs {
  /** (tokens, experts) router logits, f32, f16 or bf16. */
  logits: DeviceBuffer;
  /** (tokens, k) output routing weights (f32, f16 or bf16), best expert first. */
  weights: DeviceBuffer;
  /** (tokens, k) i32 output expert ids, best first. */
  ids: DeviceBuffer;
  tokens: number;
  experts: number;
  k: number;
  /** Renormalise the k weights to sum to 1 (default true). */
  renormalize?: boolean;
}

export function moeRouter(
  dev: Device,
  a: MoeRouterArgs,
  options: OpOptions & { config?: { BT?: number } } = {},
): LaunchResult {
  const op = 'moeRouter';
  checkDims(op, { tokens: a.tokens });
  checkDims(op, { experts: a.experts, k: a.k }, 1);
  check(a.k <= a.experts, op, `k = ${a.k} must be at most experts = ${a.experts}.`);
  checkBuffer(op, 'logits', a.logits, {
    shape: [a.tokens, a.experts],
    shapeText: `(tokens, experts) = (${a.tokens}, ${a.experts})`,
    dtypes: FLOAT_DTYPES,
  });
  const outText = `(tokens, k) = (${a.tokens}, ${a.k})`;
  checkBuffer(op, 'weights', a.weights, { shape: [a.tokens, a.k], shapeText: outText, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'ids', a.ids, { shape: [a.tokens, a.k], shapeText: outText, dtypes: ['i32'] });
  check(a.tokens * a.experts <= I32_MAX, op, `tokens · experts = ${a.tokens * a.experts} must stay below 2³¹.`);
  const budget = maxVectorBlock(dev.properties, 6);
  const EP = nextPow2(a.experts);
  check(EP <= budget, op, `experts = ${a.experts} is above the ${budget} one tile holds on ${dev.properties.name}.`);
  const BT = options.config?.BT ?? Math.max(1, Math.min(nextPow2(a.tokens), Math.floor(budget / EP)));
  return dev.launch(
    moeRouterKernel,
    { grid: streamingGrid(dev.properties, cdiv(Math.max(1, a.tokens), BT)), stream: options.stream },
    {
      logits: a.logits,
      weights: a.weights,
      ids: a.ids,
      tokens: a.tokens,
      experts: a.experts,
      k: a.k,
      RENORM: (a.renormalize ?? true) ? 1 : 0,
      BT,
      EP,
    },
  );
}

export const moePermuteKernel = tileKernel(
  {
    name: 'moe_permute',
    params: {
      ids: 'ptr<i32>',
      permuted: 'ptr<i32>',
      offsets: 'ptr<i32>',
      positions: 'ptr<i32>',
      n: 'i32',
      experts: 'i32',
      WRITE_POS: 'constexpr',
      BS: 'constexpr',
    },
  },
  (t, { ids, permuted, offsets, positions, n, experts, WRITE_POS, BS }) => {
    const lane = t.arange(0, BS);
    /**
     * The slot chunk starting at slot c: flat slot indices (BS,), their in-range mask, and the ids (−1 past n). The
     * slot indices are clamped to n − 1: the stores below are masked by data, and timing-only mode, which cannot
     * evaluate such masks, bounds-checks every lane.
     */
    const load = (c: number) => {
      const raw = lane.add(c);
      const live = raw.lt(n);
      const slot = t.minimum(raw, n - 1);
      return { slot, live, id: t.load(ids, slot, { mask: live, other: -1 }) };
    };
    // The first chunk is loaded once per program and stays on chip, so with a single chunk (n ≤ BS, the usual case)
    // the ids are read once per program; further chunks (how many is known only at runtime) are reloaded on every
    // pass. With n = 0 the first chunk has no live lane, so walking it changes nothing.
    const first = load(0);
    const pass = (f: (ch: { slot: Tile; live: Tile; id: Tile }) => void) => {
      f(first);
      for (let c = BS; c < n; c += BS) f(load(c));
    };
    // Programs take experts e = pid, pid + P, …; the extra "expert" e = experts writes the tail.
    for (let e = t.programId(0); e <= experts; e += t.numPrograms(0)) {
      let base = t.zeros([1], 'i32'); // slots routed to experts < e: this expert's first row
      pass(({ id }) => {
        base = base.add(id.ge(0).and(id.lt(e)).sum(0, true));
      });
      t.store(offsets, e, base);
      if (e < experts) {
        let row = base;
        pass(({ slot, id }) => {
          const mine = id.eq(e);
          const pos = t.cumsum(mine).add(row).sub(1); // stable: slot order within the expert
          t.store(permuted, pos, slot, { mask: mine });
          if (WRITE_POS) t.store(positions, slot, pos, { mask: mine });
          row = row.add(mine.sum(0, true));
        });
      } else {
        pass(({ slot, live, id }) => {
          const tail = slot.ge(base);
          const bad = id.lt(0).or(id.ge(experts));
          t.store(permuted, slot, -1, { mask: live.and(tail) });
          if (WRITE_POS) t.store(positions, slot, -1, { mask: live.and(bad) });
        });
      }
    }
  },
);

export interface MoePermuteArgs {
  /** (tokens, k) i32 expert ids, e.g. from moeRouter. */
  ids: DeviceBuffer;
  tokens: number;
  k: number;
  experts: number;
  /**
   * (tokens·k,) i32 output: for each row of the expert-sorted order, the flat slot t·k + j it came from; −1 past the
   * valid slots.
   */
  permuted: DeviceBuffer;
  /** (experts + 1,) i32 output: exclusive prefix sum of the per-expert counts. */
  expertOffsets: DeviceBuffer;
  /** Optional (tokens·k,) i32 output: the inverse of `permuted` (−1 for dropped slots); moeUnpermute takes it. */
  positions?: DeviceBuffer;
}

export function moePermute(
  dev: Device,
  a: MoePermuteArgs,
  options: OpOptions & { config?: { BS?: number } } = {},
): LaunchResult {
  const op = 'moePermute';
  checkDims(op, { tokens: a.tokens, k: a.k });
  checkDims(op, { experts: a.experts }, 1);
  const n = a.tokens * a.k;
  check(n <= I32_MAX && a.experts < I32_MAX, op, `tokens · k = ${n} must stay below 2³¹.`);
  const slots = `(tokens · k,) = (${n},)`;
  checkBuffer(op, 'ids', a.ids, {
    shape: [a.tokens, a.k],
    shapeText: `(tokens, k) = (${a.tokens}, ${a.k})`,
    dtypes: ['i32'],
  });
  checkBuffer(op, 'permuted', a.permuted, { shape: [n], shapeText: slots, dtypes: ['i32'] });
  checkBuffer(op, 'expertOffsets', a.expertOffsets, {
    shape: [a.experts + 1],
    shapeText: `(experts + 1,) = (${a.experts + 1},)`,
    dtypes: ['i32'],
  });
  if (a.positions !== undefined)
    checkBuffer(op, 'positions', a.positions, { shape: [n], shapeText: slots, dtypes: ['i32'] });
  const BS = options.config?.BS ?? Math.min(nextPow2(n), maxVectorBlock(dev.properties, 4));
  return dev.launch(
    moePermuteKernel,
    { grid: streamingGrid(dev.properties, a.experts + 1), stream: options.stream },
    {
      ids: a.ids,
      permuted: a.permuted,
      offsets: a.expertOffsets,
      positions: a.positions ?? a.permuted,
      n,
      experts: a.experts,
      WRITE_POS: a.positions ? 1 : 0,
      BS,
    },
  );
}

export const moeUnpermuteKernel = tileKernel(
  {
    name: 'moe_unpermute',
    params: {
      y: 'ptr',
      positions: 'ptr<i32>',
      weights: 'ptr',
      out: 'ptr',
      tokens: 'i32',
      k: 'i32',
      hidden: 'i32',
      BT: 'constexpr',
      BH: 'constexpr',
    },
  },
  (t, { y, positions, weights, out, tokens, k, hidden, BT, BH }) => {
    const POS = t.tensor(positions, [tokens, k]);
    const W = t.tensor(weights, [tokens, k]);
    const OUT = t.tensor(out, [tokens, hidden]);
    const rowsY = tokens * k;
    const colLane = t.arange(0, BH);
    /** The (1, BH) column indices c … c + BH − 1 and their in-range mask. */
    const columns = (c: number) => {
      const col = colLane.add(c).expandDims(0);
      return { col, inCols: col.lt(hidden) };
    };
    // The first column block is built once per program: it is the only one when hidden ≤ BH (the usual case); how
    // many more there are is known only at runtime.
    const first = columns(0);
    const blocks = Math.ceil(tokens / BT);
    for (let b = t.programId(0); b < blocks; b += t.numPrograms(0)) {
      /** out[b·BT …, c …] (BT, BH) = Σ_j weights[t, j] · y[positions[t, j]], in f32, j ascending. */
      const combine = (c: number, { col, inCols }: { col: Tile; inCols: Tile }) => {
        let acc = t.zeros([BT, BH]);
        // k is a runtime value: a runtime loop, reading each j's (BT, 1) positions and weights as it goes.
        for (let j = 0; j < k; j++) {
          const p = t.loadBlock(POS, [b * BT, j], [BT, 1], { padding: -1 }); // (BT, 1) rows of y; −1 = none
          const w = t.loadBlock(W, [b * BT, j], [BT, 1]).cast('f32');
          const ok = p.ge(0).and(p.lt(rowsY));
          const v = t.load(y, p.mul(hidden).add(col), { mask: ok.and(inCols) }).cast('f32');
          acc = acc.add(v.mul(w));
        }
        t.storeBlock(OUT, [b * BT, c], acc);
      };
      combine(0, first);
      for (let c = BH; c < hidden; c += BH) combine(c, columns(c));
    }
  },
);

export interface MoeUnpermuteArgs {
  /** (tokens·k, hidden) expert outputs in the expert-sorted order of moePermute, f32, f16 or bf16. */
  y: DeviceBuffer;
  /** (tokens·k,) i32 `positions` from moePermute. */
  positions: DeviceBuffer;
  /** (tokens, k) routing weights, f32, f16 or bf16. */
  weights: DeviceBuffer;
  /** (tokens, hidden) output, f32, f16 or bf16. */
  out: DeviceBuffer;
  tokens: number;
  k: number;
  hidden: number;
}

export function moeUnpermute(
  dev: Device,
  a: MoeUnpermuteArgs,
  options: OpOptions & { config?: { BT?: number; BH?: number } } = {},
): LaunchResult {
  const op = 'moeUnpermute';
  checkDims(op, { tokens: a.tokens, k: a.k, hidden: a.hidden });
  const n = a.tokens * a.k;
  check(n * a.hidden <= I32_MAX, op, `tokens · k · hidden = ${n * a.hidden} must stay below 2³¹ (i32 offsets).`);
  checkBuffer(op, 'y', a.y, {
    shape: [n, a.hidden],
    shapeText: `(tokens · k, hidden) = (${n}, ${a.hidden})`,
    dtypes: FLOAT_DTYPES,
  });
  checkBuffer(op, 'positions', a.positions, { shape: [n], shapeText: `(tokens · k,) = (${n},)`, dtypes: ['i32'] });
  checkBuffer(op, 'weights', a.weights, {
    shape: [a.tokens, a.k],
    shapeText: `(tokens, k) = (${a.tokens}, ${a.k})`,
    dtypes: FLOAT_DTYPES,
  });
  checkBuffer(op, 'out', a.out, {
    shape: [a.tokens, a.hidden],
    shapeText: `(tokens, hidden) = (${a.tokens}, ${a.hidden})`,
    dtypes: FLOAT_DTYPES,
  });
  const budget = maxVectorBlock(dev.properties, 4);
  const BH = options.config?.BH ?? Math.min(nextPow2(a.hidden), budget);
  const BT = options.config?.BT ?? Math.max(1, Math.min(nextPow2(a.tokens), Math.floor(budget / BH)));
  return dev.launch(
    moeUnpermuteKernel,
    { grid: streamingGrid(dev.properties, cdiv(Math.max(1, a.tokens), BT)), stream: options.stream },
    {
      y: a.y,
      positions: a.positions,
      weights: a.weights,
      out: a.out,
      tokens: a.tokens,
      k: a.k,
      hidden: a.hidden,
      BT,
      BH,
    },
  );
}
