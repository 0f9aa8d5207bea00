/**
 * The launches of one projected step, in the order the served model issues them: for each pass (the target forward,
 * then each draft pass of speculative decoding), per pipeline stage and DP group: the embedding (first stage) or the
 * activations from the stage before (send/recv), the stage's decoder layers, and the output head with sampling (last
 * stage). Buffers are timing-only: every launch is costed by its kernel's or collective's model, nothing computed.
 *
 * Per rank of a DP group (vLLM's layout; N rows of the group this pass):
 *   attention   layer.ts attentionBlock (rmsnorm, q/k/v (+bias), [q/k norms], rope, reshape_and_cache, paged
 *               attention), then o = attn·Wo_r (+ x on the group's rank 0), all-reduce over the group (TP 1: the
 *               residual fused, no collective)
 *   MLA         (DeepSeek, mla.ts) rmsnorm; q_a → rmsnorm → q_b; kv_a → latent (rmsnorm) + RoPE key; rope; the latent
 *               row cached. Decode rows, absorbed: q_nope · W_UK per head; paged attention over the latent (1 KV head
 *               of 576); · W_UV per head. Prefill rows, non-absorbed: kv_b (W_UK, W_UV) decompresses the keys' latent
 *               into k_nope and v; k = [k_nope, k_R]; flash attention (q/k 192, v 128). Then the O projection and
 *               all-reduce as above
 *   dense MLP   layer.ts gatedMlpInput (rmsnorm, gate/up, silu·mul), then down (+ x on rank 0), all-reduce
 *   MoE, ep = 1 (vLLM's default: every expert TP-sharded over the group's intermediate dimension)
 *               rmsnorm; router GEMM (N, E) f32; moeRouter (top-k, softmax, renormalised when norm_topk_prob);
 *               moePermute; row gather (embedding kernel); groupedGemm gate/up over E groups; silu·mul; groupedGemm
 *               down; moeUnpermute (weighted sum) into the partial sum; shared experts add theirs; rank 0 adds x;
 *               all-reduce
 *   MoE, ep = dp·tp (DeepEP-style expert parallelism over every rank of the stage; with dp > 1, SGLang's DP attention)
 *               rmsnorm (the group's N rows, replicated); rank t of a group routes its slice of ⌈N/tp⌉ rows: router
 *               GEMM, moeRouter, moePermute, row gather; dispatch = all-to-all-v of the (token, expert) rows to their
 *               experts' owners on any group; groupedGemm gate/up over its E/ep whole experts; silu·mul; groupedGemm
 *               down; combine = the reverse all-to-all-v; moeUnpermute; x_slice += routed (add); shared experts
 *               (replicated) with the residual fused; all-gather of the slices over the group rebuilds its residual
 * Under W8A8 (int8 or fp8) every projection quantises its input per token first (layer.ts linear), and so do the
 * expert GEMMs (groupedGemm with per-row and per-expert-column scales).
 */
import type { Communicator } from '@tessera/cluster';
import type { Device, DeviceBuffer, Stream } from '@tessera/device';
import { embedding, gemm, rmsnorm, sample, transpose } from '@tessera/kernels';
import {
  type AttentionBuffers,
  attentionBlock,
  gatedMlpInput,
  type Linear,
  linear,
  type QuantScratch,
} from '../model/layer';
import { type LayerId, layerIsMoe, layerName } from './buffers';
import { type Layout, type Pass, rowsOf, sampledOf } from './layout';
import { mlaAttention } from './mla';
import { type MoeContext, moeLayer } from './moe';

export interface RankState {
  dev: Device;
  m: Map<string, DeviceBuffer>;
  b(name: string): DeviceBuffer;
  /** Index within its stage (group · tp + t). */
  i: number;
  /**
   * Whether its kernels are issued. Ranks that would issue the very launches another rank does (TP ranks 2… of a
   * group, which match rank 1; DP groups with the same sequences as an earlier group) issue none: their timeline is
   * the representative's (see step.ts). Every rank still takes part in every collective, so each collective starts
   * when the slowest issuing rank is ready, as it would with all of them issuing.
   */
  active: boolean;
  group: number;
  t: number;
}

export interface Comms {
  /** tp[stage][group]: the group's TP communicator (null at TP 1). */
  tp: (Communicator | null)[][];
  /** ep[stage]: every rank of the stage, for dispatch and combine (null without EP). */
  ep: (Communicator | null)[];
  /** pp[stage]: stage s and s + 1, for the activations' send/recv (null on the last stage). */
  pp: (Communicator | null)[];
}

/** What one lane of launches can issue (the whole step, or one half under two-batch overlap). */
interface Issuer {
  embed(pass: Pass): void;
  /** One decoder layer; yields after each of its collectives, where the other lane may take over. */
  layer(s: number, l: LayerId, pass: Pass): Generator<void, void, void>;
  sendOn(s: number, pass: Pass): void;
  head(pass: Pass): void;
  draftInput(pass: Pass): void;
}

const drain = (g: Generator<void, void, void>) => {
  for (let r = g.next(); !r.done; r = g.next());
};

/**
 * Issues every launch of one step on `stages[s]` = the ranks of stage s. With `overlap` (SGLang's two-batch overlap,
 * DeepSeek's dual micro-batch), each pass is split into two halves issued on two streams per rank, layer by layer,
 * taking turns at every collective: one half's dispatch and combine run on the communication engine while the other
 * half's kernels run on the compute engine. Kernels of both halves still share the compute engine in issue order.
 */
export function issueStep(
  L: Layout,
  stages: RankState[][],
  comms: Comms,
  overlap?: { stagesB: RankState[][]; streams: [Stream, Stream][][] },
): void {
  const A = issuer(L, stages, comms);
  if (!overlap) {
    for (const pass of L.passes) {
      if (pass.kind === 'draft') {
        A.draftInput(pass);
        drain(A.layer(L.pp - 1, 'draft', pass));
        A.head(pass);
        continue;
      }
      for (let s = 0; s < L.pp; s++) {
        if (s === 0) A.embed(pass);
        else A.sendOn(s - 1, pass);
        for (const l of L.stages[s]!) drain(A.layer(s, l, pass));
      }
      A.head(pass);
    }
    return;
  }
  const B = issuer(L, overlap.stagesB, comms);
  // Every device of the stage on lane k's stream while `fn` issues (collectives included: they use the current stream).
  const pairs = (k: 0 | 1) => stages[0]!.map((rk, i): [RankState, Stream] => [rk, overlap.streams[0]![i]![k]]);
  const onLane = (k: 0 | 1, fn: () => void) => {
    const ps = pairs(k);
    const run = (i: number): void => (i === ps.length ? fn() : ps[i]![0].dev.withStream(ps[i]![1], () => run(i + 1)));
    run(0);
  };
  const lanes = [A, B] as const;
  for (const pass of L.passes) {
    const halves = L.halves!.get(pass)!;
    for (const k of [0, 1] as const)
      onLane(k, () => (pass.kind === 'draft' ? lanes[k].draftInput(halves[k]) : lanes[k].embed(halves[k])));
    const layers: LayerId[] = pass.kind === 'draft' ? ['draft'] : L.stages[0]!;
    for (const l of layers) {
      const gens = [A.layer(0, l, halves[0]), B.layer(0, l, halves[1])];
      const done = [false, false];
      while (!done[0] || !done[1])
        for (const k of [0, 1] as const) if (!done[k]) onLane(k, () => (done[k] = gens[k]!.next().done === true));
    }
    for (const k of [0, 1] as const) onLane(k, () => lanes[k].head(halves[k]));
  }
}

function issuer(L: Layout, stages: RankState[][], comms: Comms): Issuer {
  const { a, mla, D, V } = L;
  const eps = a.rmsNormEps;
  const maxBlocksPerSeq = Math.max(...L.kvSequences.map((q) => Math.ceil(q.contextLen / L.blockSize)));
  const lin = (rk: RankState, name: string): Linear => ({
    w: rk.b(name),
    scale: rk.m.get(`${name}.scale`),
    bias: rk.m.get(`${name}.bias`),
  });
  const quant = (rk: RankState): QuantScratch | undefined =>
    L.Q ? { x: rk.b('quant.x'), scales: rk.b('quant.scales') } : undefined;
  const groupRanks = (s: number, g: number) => stages[s]!.slice(g * L.tp, (g + 1) * L.tp);
  const live = (ranks: readonly RankState[]) => ranks.filter((r) => r.active);
  const groupLive = (s: number, g: number) => groupRanks(s, g).some((r) => r.active);

  /** x ← x + the group's partial sums (residual fused at TP 1; the group's rank 0 added it before the all-reduce). */
  const reduce = (s: number, g: number, count: number) => {
    if (!groupLive(s, g)) return;
    const comm = comms.tp[s]![g]!;
    const ranks = groupRanks(s, g);
    if (comm) {
      comm.allReduce(
        ranks.map((r) => r.b('part')),
        ranks.map((r) => r.b('x')),
        { count },
      );
    } else {
      for (const rk of ranks) {
        const x = rk.b('x');
        rk.m.set('x', rk.b('part'));
        rk.m.set('part', x);
      }
    }
  };

  const moeCtx: MoeContext = { L, stages, comms, lin, quant, live, groupRanks, groupLive, reduce, routes: new Map() };

  function* layer(s: number, l: LayerId, pass: Pass): Generator<void, void, void> {
    const p = layerName(l);
    const ranks = stages[s]!;
    const rowsOfRank = (rk: RankState) => rowsOf(pass.groups[rk.group]!);
    for (const rk of live(ranks)) {
      const N = rowsOfRank(rk);
      if (mla) {
        mlaAttention({ L, lin, quant, maxBlocksPerSeq }, rk, p, N, pass.groups[rk.group]!);
        continue;
      }
      const seqs = pass.groups[rk.group]!;
      const bufs: AttentionBuffers = {
        x: rk.b('x'),
        h: rk.b('h'),
        q: rk.b('q'),
        k: rk.b('k'),
        v: rk.b('v'),
        qRot: rk.m.get('qRot') ?? rk.b('q'),
        kRot: rk.m.get('kRot') ?? rk.b('k'),
        vKv: rk.b('v'),
        attn: rk.b('attn'),
        positions: rk.b('positions'),
        slots: rk.b('slots'),
        tables: rk.b('tables'),
        kCache: rk.b(`${p}.kCache`),
        vCache: rk.b(`${p}.vCache`),
        quant: quant(rk),
      };
      attentionBlock(
        rk.dev,
        {
          norm: rk.b(`${p}.attnNorm`),
          q: lin(rk, `${p}.q`),
          k: lin(rk, `${p}.k`),
          v: lin(rk, `${p}.v`),
          qNorm: rk.m.get(`${p}.qNorm`),
          kNorm: rk.m.get(`${p}.kNorm`),
        },
        bufs,
        {
          N,
          D,
          heads: L.heads,
          kvHeads: L.kvHeads,
          headDim: L.hd,
          rotaryDim: a.rope.rotaryDim,
          eps,
          theta: a.rope.theta,
          convention: 'half',
          queryLens: seqs.map((q) => q.queryLen),
          contextLens: seqs.map((q) => q.contextLen),
          maxBlocksPerSeq,
          blockSize: L.blockSize,
        },
      );
    }
    const rowParallel = (input: string, weight: string, K: number) => {
      for (const rk of live(ranks)) {
        linear(rk.dev, rk.b(input), lin(rk, weight), rk.b('part'), rowsOfRank(rk), D, K, {
          residual: rk.t === 0 ? rk.b('x') : undefined,
          quant: quant(rk),
        });
      }
      for (let g = 0; g < L.dp; g++) reduce(s, g, rowsOf(pass.groups[g]!) * D);
    };
    rowParallel('attn', `${p}.o`, L.heads * L.vd);
    yield;
    if (!layerIsMoe(L, l)) {
      for (const rk of live(ranks)) {
        gatedMlpInput(
          rk.dev,
          rk.b(`${p}.ffnNorm`),
          lin(rk, `${p}.gateUp`),
          { x: rk.b('x'), h: rk.b('h'), gu: rk.b('gu'), act: rk.b('act'), quant: quant(rk) },
          { N: rowsOfRank(rk), D, intermediate: L.inter, eps },
        );
      }
      rowParallel('act', `${p}.down`, L.inter);
      yield;
      return;
    }
    yield* moeLayer(moeCtx, s, p, pass);
  }

  /** Stage s → s + 1: every rank sends its group's activations to the same rank of the next stage. */
  const sendOn = (s: number, pass: Pass) => {
    const comm = comms.pp[s]!;
    const n = L.stageRanks;
    comm.group(() => {
      for (const rk of stages[s]!) {
        const count = rowsOf(pass.groups[rk.group]!) * D;
        comm.send(rk.i, n + rk.i, rk.b('x'), count);
        comm.recv(n + rk.i, rk.i, stages[s + 1]![rk.i]!.b('x'), count);
      }
    });
  };

  /** The output head on the rows that sample, as LlamaModel: gather, norm, vocab-parallel GEMM, all-gather, sample. */
  const head = (pass: Pass) => {
    const s = L.pp - 1;
    for (let g = 0; g < L.dp; g++) {
      if (!groupLive(s, g)) continue;
      const N = rowsOf(pass.groups[g]!);
      const R = sampledOf(pass, g);
      const group = groupRanks(s, g);
      for (const rk of live(group)) {
        const dev = rk.dev;
        embedding(dev, { table: rk.b('x'), ids: rk.b('lastRows'), out: rk.b('xLast'), tokens: R, vocab: N, dim: D });
        rmsnorm(dev, { x: rk.b('xLast'), weight: rk.b('finalNorm'), out: rk.b('hLast'), rows: R, cols: D, eps });
        gemm(dev, { a: rk.b('head'), b: rk.b('hLast'), c: rk.b('logitsT'), M: L.Vs, N: R, K: D, transB: true });
      }
      const comm = comms.tp[s]![g];
      if (comm) {
        comm.allGather(
          group.map((r) => r.b('logitsT')),
          group.map((r) => r.b('gathered')),
          { count: L.Vs * R },
        );
      }
      const r0 = group[0]!;
      if (!r0.active) continue;
      transpose(r0.dev, { x: r0.b(comm ? 'gathered' : 'logitsT'), out: r0.b('logits'), rows: V, cols: R });
      const zeros = Array.from({ length: R }, () => 0);
      sample(r0.dev, {
        logits: r0.b('logits'),
        out: r0.b('sampled'),
        rows: R,
        vocab: V,
        temperature: zeros,
        topK: zeros,
        topP: zeros.map(() => 1),
        seeds: zeros,
        steps: zeros,
      });
    }
  };

  /**
   * A draft pass (DeepSeek's MTP module; EAGLE's head has the same shape): e = rmsnorm(embed(token)); h =
   * rmsnorm(hidden); x = [e; h]·W_eh (as e·W_e + h·W_h); one decoder layer; the shared output head.
   */
  const draftInput = (pass: Pass) => {
    for (const rk of live(stages[L.pp - 1]!)) {
      const dev = rk.dev;
      const N = rowsOf(pass.groups[rk.group]!);
      embedding(dev, { table: rk.b('embed'), ids: rk.b('ids'), out: rk.b('draft.e'), tokens: N, vocab: V, dim: D });
      rmsnorm(dev, { x: rk.b('draft.e'), weight: rk.b('draft.enorm'), out: rk.b('h'), rows: N, cols: D, eps });
      rmsnorm(dev, { x: rk.b('x'), weight: rk.b('draft.hnorm'), out: rk.b('draft.hn'), rows: N, cols: D, eps });
      linear(dev, rk.b('h'), lin(rk, 'draft.fcE'), rk.b('part'), N, D, D, { quant: quant(rk) });
      linear(dev, rk.b('draft.hn'), lin(rk, 'draft.fcH'), rk.b('x'), N, D, D, {
        residual: rk.b('part'),
        quant: quant(rk),
      });
    }
  };

  const embed = (pass: Pass) => {
    for (const rk of live(stages[0]!)) {
      const N = rowsOf(pass.groups[rk.group]!);
      embedding(rk.dev, { table: rk.b('embed'), ids: rk.b('ids'), out: rk.b('x'), tokens: N, vocab: V, dim: D });
    }
  };
  return { embed, layer, sendOn, head, draftInput };
}
