/**
 * An MoE layer on a stage's ranks (forward.ts has the overview): rmsnorm, routing (router GEMM, top-k, permute, row
 * gather), with EP the dispatch all-to-all-v, the experts' grouped GEMMs (W8A8 when quantised), the combine, unpermute,
 * the residual and shared experts, then the group's all-gather (EP) or all-reduce (experts TP-sharded). A generator:
 * it yields after each collective, where two-batch overlap lets the other half take over.
 */
import {
  add,
  embedding,
  gemm,
  groupedGemm,
  moePermute,
  moeRouter,
  moeUnpermute,
  quantizePerToken,
  rmsnorm,
  siluAndMul,
} from '@tessera/kernels';
import { gatedMlpInput, type Linear, linear, type QuantScratch } from '../model/layer';
import { routing } from './buffers';
import type { Comms, RankState } from './forward';
import { type Layout, type Pass, rowsOf } from './layout';
import { evenSplit } from './types';

export interface MoeContext {
  L: Layout;
  stages: RankState[][];
  comms: Comms;
  lin(rk: RankState, name: string): Linear;
  quant(rk: RankState): QuantScratch | undefined;
  live(ranks: readonly RankState[]): RankState[];
  groupRanks(s: number, g: number): RankState[];
  groupLive(s: number, g: number): boolean;
  reduce(s: number, g: number, count: number): void;
  /** Per pass: its routing and the dispatch / combine count matrices (a pass's MoE layers repeat them). */
  routes: Map<Pass, Routes>;
}

/** A pass's routing and its count matrices in elements: dispatch and combine, or DeepEP normal mode's four phases. */
interface Routes {
  route: ReturnType<typeof routing>;
  dispatch: number[][];
  combine: number[][];
  /** land (network, token rows), forward (in-domain, (token, expert) rows), and their way back. */
  hier: { land: number[][]; fwd: number[][]; fwdBack: number[][]; landBack: number[][] } | null;
}

const prefix = (xs: readonly number[]): number[] => {
  const out = [0];
  for (const x of xs) out.push(out[out.length - 1]! + x);
  return out;
};

/** A grouped GEMM over expert groups, W8A8 when the experts are quantised (the input quantised per row first). */
function expertGemm(
  rk: RankState,
  input: string,
  weight: string,
  out: string,
  rows: number,
  offsets: number[],
  N: number,
  K: number,
): void {
  const dev = rk.dev;
  const scale = rk.m.get(`${weight}.scale`);
  if (scale) {
    // Views of the rows used: a kernel is charged for the buffers it is handed, and the scratch is sized for the
    // widest input of the step.
    const qx = rk.b('quant.x').view(0, Math.max(1, rows * K));
    const qs = rk.b('quant.scales').view(0, Math.max(1, rows));
    quantizePerToken(dev, { x: rk.b(input), out: qx, scales: qs, rows, cols: K });
    groupedGemm(dev, { a: qx, b: rk.b(weight), c: rk.b(out), offsets, N, K, scales: { a: qs, b: scale } });
  } else groupedGemm(dev, { a: rk.b(input), b: rk.b(weight), c: rk.b(out), offsets, N, K });
}

/**
 * Elements of one dispatched row. Under W8A8 the rows travel quantised, one byte per element plus their f32 scale
 * (DeepEP's FP8 dispatch, CloudMatrix384's INT8 FusedDispatch; the combine stays bf16, as both do); else in the
 * activation dtype.
 */
export const dispatchRowElements = (L: Layout) => (L.Q && L.ep > 1 ? L.D + 4 : L.D);

/** The pass's routing and the dispatch / combine count matrices (elements), computed once per pass. */
function routeOf(c: MoeContext, pass: Pass): Routes {
  const { L } = c;
  const D = L.D;
  let r = c.routes.get(pass);
  if (!r) {
    const route = routing(L, pass);
    const n = L.stageRanks;
    const row = dispatchRowElements(L);
    const dispatch = L.ep > 1 ? Array.from({ length: n }, (_, i) => route.send[i]!.map((c) => c * row)) : [];
    const combine = L.ep > 1 ? Array.from({ length: n }, (_, i) => route.send.map((row) => row[i]! * D)) : [];
    const times = (m: number[][], e: number) => m.map((rowOf) => rowOf.map((x) => x * e));
    const transpose = (m: number[][]) => m.map((_, i) => m.map((rowOf) => rowOf[i]!));
    const h = route.hier;
    const hier = h
      ? {
          land: times(h.land, row),
          fwd: times(h.fwd, row),
          fwdBack: times(transpose(h.fwd), D),
          landBack: times(transpose(h.land), D),
        }
      : null;
    r = { route, dispatch, combine, hier };
    c.routes.set(pass, r);
  }
  return r;
}

export function* moeLayer(c: MoeContext, s: number, p: string, pass: Pass): Generator<void, void, void> {
  const { L, stages, comms, lin, quant, live, groupRanks, groupLive, reduce } = c;
  const D = L.D;
  const eps = L.a.rmsNormEps;
  const ranks = stages[s]!;
  const ep = L.ep;
  const { E, El, k, eInter, shInter } = L;
  const { route, dispatch, combine, hier } = routeOf(c, pass);
  // With ep > 1, rank t of a group routes rows [t·Ns, (t+1)·Ns) of the group's normed tokens (a view: no launch).
  const slice = (rk: RankState, name: string) =>
    ep > 1 ? rk.b(name).view(rk.t * route.routed[rk.i]! * D, route.routed[rk.i]! * D) : rk.b(name);
  for (const rk of live(ranks)) {
    const dev = rk.dev;
    const N = rowsOf(pass.groups[rk.group]!);
    const Ns = route.routed[rk.i]!;
    rmsnorm(dev, { x: rk.b('x'), weight: rk.b(`${p}.ffnNorm`), out: rk.b('h'), rows: N, cols: D, eps });
    rk.m.set('moe.h', slice(rk, 'h'));
    gemm(dev, { a: rk.b('moe.h'), b: rk.b(`${p}.router`), c: rk.b('moe.logits'), M: Ns, N: E, K: D });
    moeRouter(dev, {
      logits: rk.b('moe.logits'),
      weights: rk.b('moe.weights'),
      ids: rk.b('moe.ids'),
      tokens: Ns,
      experts: E,
      k,
      renormalize: L.moe!.normTopkProb,
    });
    moePermute(dev, {
      ids: rk.b('moe.ids'),
      tokens: Ns,
      k,
      experts: E,
      permuted: rk.b('moe.permuted'),
      expertOffsets: rk.b('moe.offsets'),
      positions: rk.b('moe.positions'),
    });
    embedding(dev, {
      table: rk.b('moe.h'),
      ids: rk.b('moe.permuted'),
      out: rk.b(ep > 1 ? 'moe.rows' : 'moe.recv'),
      tokens: Ns * k,
      vocab: Ns,
      dim: D,
    });
  }
  // W8A8 with EP: the gathered rows are quantised before they travel (their scales go with them, 4 bytes a row).
  const quantisedDispatch = L.Q !== null && ep > 1;
  if (quantisedDispatch)
    for (const rk of live(ranks)) {
      const rows = route.routed[rk.i]! * k;
      quantizePerToken(rk.dev, {
        x: rk.b('moe.rows'),
        out: rk.b('moe.rowsQ').view(0, Math.max(1, rows * D)),
        scales: rk.b('moe.rowsS').view(0, Math.max(1, rows)),
        rows,
        cols: D,
      });
    }
  // Dispatch: rank i sends send[i][j] rows to j; combine: j sends them back (the transpose). One token row per write.
  const row = dispatchRowElements(L);
  const a2a = (from: string, to: string, back: boolean, counts = back ? combine : dispatch) =>
    comms.ep[s]!.allToAllv(
      ranks.map((r) => r.b(from)),
      ranks.map((r) => r.b(to)),
      { sendCounts: counts, messageBytes: back ? D * 2 : row * (quantisedDispatch ? 1 : 2) },
    );
  const rowsOut = quantisedDispatch ? 'moe.rowsQ' : 'moe.rows';
  if (hier) {
    // DeepEP normal mode: over the network to the same-index rank of each domain a token's experts touch, then over
    // NVLink / UB to the experts' ranks (two all-to-all-v phases; the second carries (token, expert) rows).
    a2a(rowsOut, 'moe.land', false, hier.land);
    yield;
    a2a('moe.land', 'moe.recv', false, hier.fwd);
    yield;
  } else if (ep > 1) {
    a2a(rowsOut, 'moe.recv', false);
    yield;
  }
  for (const rk of live(ranks)) {
    const rows = route.recv[rk.i]!;
    const offsets = prefix(evenSplit(rows, ep > 1 ? El : E));
    if (quantisedDispatch) {
      // The received rows are already quantised: the gate/up GEMM reads them and their scales as they came.
      groupedGemm(rk.dev, {
        a: rk.b('moe.recv').view(0, Math.max(1, rows * D)),
        b: rk.b(`${p}.experts.gateUp`),
        c: rk.b('moe.gu'),
        offsets,
        N: 2 * eInter,
        K: D,
        scales: { a: rk.b('moe.recvS').view(0, Math.max(1, rows)), b: rk.b(`${p}.experts.gateUp.scale`) },
      });
    } else expertGemm(rk, 'moe.recv', `${p}.experts.gateUp`, 'moe.gu', rows, offsets, 2 * eInter, D);
    siluAndMul(rk.dev, { x: rk.b('moe.gu'), out: rk.b('moe.act'), rows, d: eInter });
    expertGemm(rk, 'moe.act', `${p}.experts.down`, 'moe.y', rows, offsets, D, eInter);
  }
  if (hier) {
    // The combine backwards: expert outputs to the landing rank inside the domain (which reduces a token's rows), then
    // one row per token and domain back over the network.
    a2a('moe.y', 'moe.landBack', true, hier.fwdBack);
    yield;
    a2a('moe.landBack', 'moe.back', true, hier.landBack);
    yield;
  } else if (ep > 1) {
    a2a('moe.y', 'moe.back', true);
    yield;
  }
  for (const rk of live(ranks)) {
    const dev = rk.dev;
    const Ns = route.routed[rk.i]!;
    const out = ep > 1 ? 'moe.out' : 'part';
    moeUnpermute(dev, {
      y: rk.b(ep > 1 ? 'moe.back' : 'moe.y'),
      positions: rk.b('moe.positions'),
      weights: rk.b('moe.weights'),
      out: rk.b(out),
      tokens: Ns,
      k,
      hidden: D,
    });
    // The residual: the group's rank 0 adds x before the all-reduce (ep = 1); each rank adds its slice (ep > 1).
    const resid = ep > 1 ? 'moe.xs' : 'part';
    if (ep > 1 || rk.t === 0) add(dev, { a: rk.b(out), b: slice(rk, 'x'), out: rk.b(resid), rows: Ns, cols: D });
    if (shInter > 0) {
      gatedMlpInput(
        dev,
        null,
        lin(rk, `${p}.shared.gateUp`),
        { x: rk.b('x'), h: rk.b('moe.h'), gu: rk.b('gu'), act: rk.b('act'), quant: quant(rk) },
        { N: Ns, D, intermediate: shInter, eps },
      );
      linear(dev, rk.b('act'), lin(rk, `${p}.shared.down`), rk.b(resid), Ns, D, shInter, {
        residual: rk.b(resid),
        quant: quant(rk),
      });
    }
  }
  for (let g = 0; g < L.dp; g++) {
    if (!groupLive(s, g)) continue;
    const group = groupRanks(s, g);
    if (ep === 1) {
      reduce(s, g, rowsOf(pass.groups[g]!) * D);
      continue;
    }
    const comm = comms.tp[s]![g];
    if (comm) {
      comm.allGather(
        group.map((r) => r.b('moe.xs')),
        group.map((r) => r.b('x')),
        { count: route.routed[group[0]!.i]! * D },
      );
    } else {
      for (const rk of group) {
        const x = rk.b('x');
        rk.m.set('x', rk.b('moe.xs'));
        rk.m.set('moe.xs', x);
      }
    }
  }
  yield;
}
