/**
 * The buffers of one rank of each pipeline stage (shape and dtype; timing-only buffers hold no data), and the MoE
 * routing counts of each pass. Sized before anything is allocated, so the capacity check can say what is missing.
 */
import type { DType } from '@tessera/device';
import { isMoe, type Layout, type Pass, routedRows, rowsOf, sampledOf } from './layout';
import { mlaSplit } from './mla';
import { evenSplit } from './types';

export type BufferKind = 'weights' | 'kv' | 'workspace';
export interface BufferPlan {
  name: string;
  kind: BufferKind;
  dtype: DType;
  n: number;
}
const BYTES: Partial<Record<DType, number>> = { f32: 4, i32: 4, bf16: 2, f16: 2, i8: 1, fp8e4m3: 1 };
export const bytesOf = (p: BufferPlan) => p.n * BYTES[p.dtype]!;

/** A layer of the model, or the draft head's one decoder layer. */
export type LayerId = number | 'draft';
export const layerName = (l: LayerId) => `layers.${l}`;
/** Whether a layer's feed-forward is MoE: the draft's is when it is the model's own MTP layer of an MoE model. */
export const layerIsMoe = (L: Layout, l: LayerId) =>
  l === 'draft' ? L.draft === 'mtp' && L.moe !== null : isMoe(L.a, l);

/** MoE routing of one pass over a stage's ranks (index i = group · tp + t), uniform over experts. */
export interface Routing {
  /** Tokens rank i routes. */
  routed: number[];
  /** send[i][j]: (token, expert) rows rank i sends to expert owner j (ep > 1). */
  send: number[][];
  /** Rows rank j's experts compute. */
  recv: number[];
  /**
   * DeepEP's normal mode (prefill passes across scale-up domains): land[i][j] token rows rank i sends over the network
   * to j, the same-index rank of another domain (once per domain its experts touch); fwd[i][j] (token, expert) rows
   * rank i forwards to j inside its domain (its own tokens and those landed on it); the combine runs both backwards.
   */
  hier?: { land: number[][]; fwd: number[][]; landed: number[]; forwarded: number[] };
}

/** A prefill pass (some sequence computes more tokens than a decode verifying its drafts). */
export const isPrefillPass = (L: Layout, pass: Pass) =>
  pass.groups.some((g) => g.some((q) => q.queryLen > 1 + L.draftTokens));

export function routing(L: Layout, pass: Pass): Routing {
  const routed: number[] = [];
  for (let i = 0; i < L.stageRanks; i++) routed.push(routedRows(L, rowsOf(pass.groups[Math.floor(i / L.tp)]!)));
  if (L.ep === 1) return { routed, send: [], recv: routed.map((n) => n * L.k) };
  // Each sender splits its (token, expert) rows evenly over the owners; the rows that do not divide go round-robin
  // from where the previous sender's stopped, so no owner collects every sender's extra row (routing is uniform).
  let at = 0;
  const send = routed.map((n) => {
    const share = evenSplit(n * L.k, L.ep);
    const extra = (n * L.k) % L.ep;
    const rotated = share.map((_, j) => share[(j - at + L.ep) % L.ep]!);
    at = (at + extra) % L.ep;
    return rotated;
  });
  const recv = routed.map((_, j) => send.reduce((s, row) => s + row[j]!, 0));
  const n = L.stageRanks;
  const G = L.domain;
  if (L.prefillDispatch !== 'hierarchical' || G >= n || n % G !== 0 || !isPrefillPass(L, pass))
    return { routed, send, recv };
  const pDomain = 1 - missDomain(L, G);
  const land = routed.map((Ns, i) =>
    Array.from({ length: n }, (_, j) =>
      j % G === i % G && Math.floor(j / G) !== Math.floor(i / G) ? Math.round(Ns * pDomain) : 0,
    ),
  );
  // Inside a domain, each rank's experts get their (token, expert) rows from the domain's G ranks in equal shares.
  const fwd = Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => (Math.floor(j / G) === Math.floor(i / G) ? evenSplit(recv[j]!, G)[i % G]! : 0)),
  );
  const landed = land[0]!.map((_, j) => land.reduce((s, row) => s + row[j]!, 0));
  const forwarded = fwd.map((row) => row.reduce((s, x) => s + x, 0));
  return { routed, send, recv, hier: { land, fwd, landed, forwarded } };
}

/** C(n, r) as a double (small arguments: expert groups). */
function choose(n: number, r: number): number {
  if (r < 0 || r > n) return 0;
  let c = 1;
  for (let i = 0; i < r; i++) c = (c * (n - i)) / (i + 1);
  return c;
}

/** The chance that none of k experts drawn uniformly without replacement from `pool` falls among `among` of them. */
function missAll(pool: number, among: number, k: number): number {
  let miss = 1;
  for (let t = 0; t < k; t++) miss *= Math.max(0, pool - among - t) / (pool - t);
  return miss;
}

/**
 * The chance that a token's k experts miss a given domain of G ranks (the experts placed in order, El per rank).
 * Uniform routing picks k of the E experts. Group-limited routing (DeepSeek's `n_group` / `topk_group`, node-limited
 * in the V3 report: a token picks topk_group of the n_group expert groups, then its k experts among theirs) applies
 * where a domain holds whole groups and no expert is replicated: the domain is missed when none of its groups is
 * picked, or when none of the k experts falls in the picked groups it holds.
 */
export function missDomain(L: Layout, G: number): number {
  // A domain holds E·G/n experts — with redundant slots El·G, at most all E.
  const perDomain = Math.min(L.E, L.El * G);
  const groups = L.moe?.numExpertGroups ?? null;
  const picked = L.moe?.topkGroups ?? null;
  if (groups !== null && picked !== null && picked < groups && L.redundantExperts === 0 && L.E % groups === 0) {
    const perGroup = L.E / groups;
    const held = perDomain / perGroup;
    if (Number.isInteger(held) && picked * perGroup >= L.k) {
      let miss = 0;
      for (let j = 0; j <= Math.min(held, picked); j++) {
        const pJ = (choose(held, j) * choose(groups - held, picked - j)) / choose(groups, picked);
        miss += pJ * missAll(picked * perGroup, j * perGroup, L.k);
      }
      return miss;
    }
  }
  return missAll(L.E, perDomain, L.k);
}

/** The buffers of one rank of stage `s`. */
export function planStage(L: Layout, s: number): BufferPlan[] {
  const { a, gqa, mla, moe, D, V, A, W, C, Cw, Q, heads, kvHeads, hd, vd, qk, inter, Vs, E, El, k, eInter, shInter } =
    L;
  const last = s === L.pp - 1;
  const plans: BufferPlan[] = [];
  const plan = (name: string, kind: BufferKind, dtype: DType, n: number) =>
    plans.push({ name, kind, dtype, n: Math.max(1, n) });
  const wlin = (name: string, K: number, Nout: number, bias: boolean) => {
    plan(name, 'weights', W, K * Nout);
    if (Q) plan(`${name}.scale`, 'weights', 'f32', Nout);
    if (bias) plan(`${name}.bias`, 'weights', A, Nout);
  };
  const blocks = L.kvSequences.reduce((n, q) => n + Math.ceil(q.contextLen / L.blockSize), 0);
  const maxBlocksPerSeq = Math.max(...L.kvSequences.map((q) => Math.ceil(q.contextLen / L.blockSize)));
  // The embedding on the first stage (and on the last when a draft head embeds its tokens, sharing the table).
  if (s === 0 || (last && L.draft)) plan('embed', 'weights', A, V * D); // replicated, as LlamaModel keeps it
  if (last) {
    plan('finalNorm', 'weights', 'f32', D);
    plan('head', 'weights', A, Vs * D);
  }
  const layer = (l: LayerId) => {
    const p = layerName(l);
    plan(`${p}.attnNorm`, 'weights', 'f32', D);
    if (gqa) {
      wlin(`${p}.q`, D, heads * hd, gqa.qkvBias);
      wlin(`${p}.k`, D, kvHeads * hd, gqa.qkvBias);
      wlin(`${p}.v`, D, kvHeads * hd, gqa.qkvBias);
      if (gqa.qkNorm) {
        plan(`${p}.qNorm`, 'weights', 'f32', hd);
        plan(`${p}.kNorm`, 'weights', 'f32', hd);
      }
      wlin(`${p}.o`, heads * hd, D, gqa.outputBias);
    } else {
      const m = mla!;
      if (m.qLoraRank !== null) {
        wlin(`${p}.qa`, D, m.qLoraRank, m.bias); // replicated, as vLLM's ReplicatedLinear
        plan(`${p}.qaNorm`, 'weights', 'f32', m.qLoraRank);
        wlin(`${p}.qb`, m.qLoraRank, heads * qk, false);
      } else wlin(`${p}.qb`, D, heads * qk, false);
      wlin(`${p}.kva`, D, hd, m.bias); // replicated: the latent and the shared RoPE key
      plan(`${p}.kvaNorm`, 'weights', 'f32', m.kvLoraRank);
      // kv_b_proj, absorbed: W_UK (heads, nope, latent) into the query, W_UV (heads, latent, v) after attention —
      // kept in the activation dtype under W8A8, as vLLM dequantises them for the absorbed path.
      plan(`${p}.wuk`, 'weights', A, heads * m.qkNopeHeadDim * m.kvLoraRank);
      plan(`${p}.wuv`, 'weights', A, heads * m.kvLoraRank * vd);
      wlin(`${p}.o`, heads * vd, D, m.bias);
    }
    plan(`${p}.ffnNorm`, 'weights', 'f32', D);
    if (layerIsMoe(L, l)) {
      const local = L.ep > 1 ? El : E;
      plan(`${p}.router`, 'weights', A, D * E);
      plan(`${p}.experts.gateUp`, 'weights', W, local * D * 2 * eInter);
      plan(`${p}.experts.down`, 'weights', W, local * eInter * D);
      if (Q) {
        plan(`${p}.experts.gateUp.scale`, 'weights', 'f32', local * 2 * eInter);
        plan(`${p}.experts.down.scale`, 'weights', 'f32', local * D);
      }
      if (shInter > 0) {
        wlin(`${p}.shared.gateUp`, D, 2 * shInter, false);
        wlin(`${p}.shared.down`, shInter, D, false);
      }
    } else {
      wlin(`${p}.gateUp`, D, 2 * inter, a.mlp.bias);
      wlin(`${p}.down`, inter, D, a.mlp.bias);
    }
    plan(`${p}.kCache`, 'kv', C, blocks * L.blockSize * kvHeads * hd);
    if (gqa) plan(`${p}.vCache`, 'kv', C, blocks * L.blockSize * kvHeads * hd); // MLA: values are the latent itself
  };
  for (const l of L.stages[s]!) layer(l);
  if (last && L.draft) {
    layer('draft');
    plan('draft.enorm', 'weights', 'f32', D);
    plan('draft.hnorm', 'weights', 'f32', D);
    // eh_proj (2D → D) as two halves: [e; h] · W = e · W_e + h · W_h (the same FLOPs and bytes, no concatenation).
    wlin('draft.fcE', D, D, false);
    wlin('draft.fcH', D, D, false);
  }

  // ---- Workspace: sized for the largest pass (or half pass). ----
  const ws = (name: string, dtype: DType, n: number) => plan(name, 'workspace', dtype, n);
  let T = 1;
  let R = 1;
  let S = 1;
  let routedMax = 1;
  let recvMax = 1;
  let landMax = 0;
  // Under two-batch overlap each lane holds one half's workspace (step.ts allocates two).
  const sized = L.halves ? L.passes.flatMap((p) => L.halves!.get(p)!) : L.passes;
  for (const pass of sized) {
    for (let g = 0; g < L.dp; g++) {
      const rows = rowsOf(pass.groups[g]!);
      T = Math.max(T, L.ep > 1 ? routedRows(L, rows) * L.tp : rows); // EP pads the replicated residual to tp slices
      R = Math.max(R, sampledOf(pass, g));
      S = Math.max(S, pass.groups[g]!.length);
    }
    if (moe) {
      const r = routing(L, pass);
      routedMax = Math.max(routedMax, ...r.routed);
      recvMax = Math.max(recvMax, ...r.recv);
      if (r.hier) landMax = Math.max(landMax, ...r.hier.landed, ...r.hier.forwarded);
    }
  }
  // MLA (mla.ts): rows on the absorbed path, and the keys the non-absorbed prefill path decompresses (Cp of them
  // gathered from the cache).
  let [mlaNd, mlaKp, mlaCp] = [0, 0, 0];
  if (mla) {
    for (const pass of sized) {
      for (const g of pass.groups) {
        const sp = mlaSplit(L, g);
        [mlaNd, mlaKp, mlaCp] = [Math.max(mlaNd, sp.Nd), Math.max(mlaKp, sp.Kp), Math.max(mlaCp, sp.Cp)];
      }
    }
  }
  const Imax = Math.max(inter, shInter, 1);
  ws('ids', 'i32', T);
  ws('positions', 'i32', T);
  ws('slots', 'i32', T);
  ws('tables', 'i32', S * maxBlocksPerSeq);
  ws('lastRows', 'i32', R);
  ws('x', 'f32', T * D);
  ws('part', 'f32', T * D);
  ws('h', A, T * D);
  if (gqa) {
    ws('q', A, T * heads * hd);
    ws('k', A, T * kvHeads * hd);
    ws('v', Cw, T * kvHeads * hd); // the GEMM writes v straight in the cache dtype (fp8 caches: quantised on caching)
    if (Cw !== A) {
      ws('qRot', Cw, T * heads * hd);
      ws('kRot', Cw, T * kvHeads * hd);
    }
  }
  ws('attn', A, T * heads * vd); // the O projection's input
  if (mla) {
    ws('mla.qa', A, T * (mla.qLoraRank ?? 1));
    ws('mla.qaN', A, T * (mla.qLoraRank ?? 1));
    ws('mla.q', A, T * heads * qk);
    ws('mla.kv', Cw, T * hd);
    ws('mla.ckv', A, T * mla.kvLoraRank);
    ws('mla.qPe', Cw, T * heads * mla.qkRopeHeadDim);
    ws('mla.kPe', Cw, T * mla.qkRopeHeadDim);
    ws('mla.qAtt', Cw, mlaNd * heads * hd);
    ws('mla.out', A, mlaNd * heads * hd);
    if (mlaKp > 0) {
      ws('mla.kvNope', A, mlaKp * heads * (mla.qkNopeHeadDim + vd)); // kv_b's output: k_nope, then v
      ws('mla.k', A, mlaKp * heads * qk); // [k_nope, k_rope] per head
    }
    if (mlaCp > 0) {
      ws('mla.ctxIds', 'i32', mlaCp);
      ws('mla.ctx', A, mlaCp * hd); // the cached context's latent rows, gathered
    }
  }
  ws('gu', A, T * 2 * Imax);
  ws('act', A, T * Imax);
  if (Q) {
    ws('quant.x', Q, Math.max(T, recvMax) * Math.max(D, heads * vd, mla?.qLoraRank ?? 0, Imax, eInter));
    ws('quant.scales', 'f32', Math.max(T, recvMax));
  }
  if (moe) {
    ws('moe.logits', 'f32', routedMax * E);
    ws('moe.weights', 'f32', routedMax * k);
    ws('moe.ids', 'i32', routedMax * k);
    ws('moe.permuted', 'i32', routedMax * k);
    ws('moe.offsets', 'i32', E + 1);
    ws('moe.positions', 'i32', routedMax * k);
    ws('moe.rows', A, routedMax * k * D); // gathered (token, expert) rows, in expert order
    if (Q && L.ep > 1) {
      // W8A8 dispatch: the rows quantised, each followed by its f32 scale on the wire (moe.ts dispatchRowElements).
      ws('moe.rowsQ', Q, routedMax * k * (D + 4));
      ws('moe.rowsS', 'f32', routedMax * k);
      ws('moe.recv', Q, recvMax * (D + 4));
      ws('moe.recvS', 'f32', recvMax);
    } else ws('moe.recv', A, recvMax * D);
    ws('moe.gu', A, recvMax * 2 * eInter);
    ws('moe.act', A, recvMax * eInter);
    if (landMax > 0) {
      // DeepEP normal mode: the rows landed from other domains (and forwarded on), and the combine's way back.
      ws('moe.land', Q && L.ep > 1 ? Q : A, landMax * (Q ? D + 4 : D));
      ws('moe.landBack', A, landMax * D);
    }
    ws('moe.y', L.ep > 1 ? A : 'f32', recvMax * D);
    ws('moe.back', L.ep > 1 ? A : 'f32', routedMax * k * D);
    ws('moe.out', 'f32', routedMax * D);
    ws('moe.xs', 'f32', routedMax * D);
  }
  if (L.draft) {
    ws('draft.e', A, T * D);
    ws('draft.hn', A, T * D);
  }
  ws('xLast', 'f32', R * D);
  ws('hLast', A, R * D);
  ws('logitsT', 'f32', Vs * R);
  ws('gathered', 'f32', L.tp > 1 ? L.tp * Vs * R : 1);
  ws('logits', 'f32', R * V);
  ws('sampled', 'i32', R);
  return plans;
}
