/**
 * projectDisaggregated: prefill/decode disaggregation (DistServe, Mooncake, vLLM's and Dynamo's P/D split): prefill
 * instances compute prompts and hand each sequence's KV cache over the cluster's links to decode instances, which
 * only decode. Each side is a projectStep of its own parallelism on its own ranks; the KV hand-over is costed by the
 * communicator as point-to-point transfers between the two instances' ranks, placed where the topology puts them
 * (the prefill instance on the first ranks, the decode instance right after: on dgx-h100x2 with TP 8 each, across the
 * network; on one NVL72 or CloudMatrix384, over the scale-up fabric).
 *
 * Figures: TTFT = one prefill step of `prefill.batch` prompts + their KV transfer; TPOT = the decode step (per emitted
 * token under speculative decoding). Rates: a prefill instance finishes prefill.batch prompts per prefill step (the
 * transfer overlaps the next prefill: RDMA from a copy engine, as Mooncake and NIXL do); a decode instance finishes
 * decode.batch sequences per outputLen × TPOT. With x prefill and y decode instances the system serves min(x·rP, y·rD)
 * requests/s; `ratio` picks x:y (default: the best tokens/s per chip with x, y ≤ 16).
 */
import { createCluster, type TopologySpec } from '@tessera/cluster';
import { kvCacheBytesPerToken, type ModelArchitecture } from '@tessera/models';
import { projectStep } from './step';
import {
  type ProjectedKvDtype,
  type ProjectedWeightDtype,
  ProjectionError,
  type SpeculativeOptions,
  type StepProjection,
} from './types';

export interface InstanceOptions {
  tp: number;
  dp?: number;
  pp?: number;
  ep?: number;
  /** Prefill: prompts per step; decode: sequences in flight. */
  batch: number;
}

export interface DisaggregatedOptions {
  arch: ModelArchitecture;
  topology: string | TopologySpec;
  prefill: InstanceOptions;
  decode: InstanceOptions;
  /** Prompt tokens per request, and generated tokens. */
  inputLen: number;
  outputLen: number;
  weightDtype?: ProjectedWeightDtype;
  kvDtype?: ProjectedKvDtype;
  speculative?: SpeculativeOptions;
  /** Prefill : decode instances; default the best tokens/s per chip with each at most 16. */
  ratio?: { prefill: number; decode: number };
}

export interface DisaggregatedProjection {
  prefill: StepProjection;
  decode: StepProjection;
  /** The KV hand-over of one prefill step's prompts: bytes and modelled time. */
  kvTransfer: { bytes: number; ms: number; flows: number };
  ttftMs: number;
  tpotMs: number;
  /** Requests per second one instance of each side sustains. */
  prefillRequestsPerSecond: number;
  decodeRequestsPerSecond: number;
  ratio: { prefill: number; decode: number };
  devices: number;
  /** The system's output tokens/s (decode side) at that ratio, and per chip. */
  tokensPerSecond: number;
  tokensPerSecondPerChip: number;
  assumptions: string[];
}

const devicesOf = (i: InstanceOptions) => i.tp * (i.dp ?? 1) * (i.pp ?? 1);

/**
 * The KV hand-over of `bytes` from a prefill instance on ranks [0, P) to a decode instance on [P, P + D) of `topology`:
 * max(P, D) point-to-point flows at once (prefill rank f mod P → decode rank f mod D, the bytes split evenly), costed
 * by the communicator as one group.
 */
export async function kvHandOver(
  topology: string | TopologySpec,
  P: number,
  D: number,
  bytes: number,
): Promise<{ ms: number; flows: number }> {
  const cluster = await createCluster({ topology, ranks: P + D, mode: 'timing' }).catch((e: Error) => {
    throw new ProjectionError(
      'topology',
      `prefill (${P} devices) and decode (${D}) instances side by side need ${P + D} devices: ${e.message}`,
    );
  });
  const flows = Math.max(P, D);
  const per = Math.max(1, Math.ceil(bytes / flows));
  const comm = cluster.communicator(Array.from({ length: P + D }, (_, r) => r));
  const send = Array.from({ length: P }, (_, r) => cluster.devices[r]!.alloc('i8', per));
  const recv = Array.from({ length: D }, (_, r) => cluster.devices[P + r]!.alloc('i8', per));
  const t = comm.group(() => {
    for (let f = 0; f < flows; f++) {
      comm.send(f % P, P + (f % D), send[f % P]!, per);
      comm.recv(P + (f % D), f % P, recv[f % D]!, per);
    }
  });
  return { ms: t.us / 1000, flows };
}

/** Most prefill:decode instances per ratio searched. */
export const MAX_PD_RATIO = 16;

/**
 * The prefill:decode ratio x:y (each ≤ MAX_PD_RATIO) with the most output tokens/s per chip, and that figure:
 * min(x · rPrefill, y · rDecode) × outputLen ÷ (x · P + y · D), for instances of P and D devices serving rPrefill and
 * rDecode requests/s.
 */
export function bestRatio(
  rPrefill: number,
  P: number,
  rDecode: number,
  D: number,
  outputLen: number,
): { ratio: { prefill: number; decode: number }; perChip: number } {
  let best = { ratio: { prefill: 1, decode: 1 }, perChip: -1 };
  for (let x = 1; x <= MAX_PD_RATIO; x++)
    for (let y = 1; y <= MAX_PD_RATIO; y++) {
      const perChip = (Math.min(x * rPrefill, y * rDecode) * outputLen) / (x * P + y * D);
      if (perChip > best.perChip * (1 + 1e-12)) best = { ratio: { prefill: x, decode: y }, perChip };
    }
  return best;
}

export async function projectDisaggregated(o: DisaggregatedOptions): Promise<DisaggregatedProjection> {
  for (const [k, v] of [
    ['inputLen', o.inputLen],
    ['outputLen', o.outputLen],
  ] as const)
    if (!Number.isInteger(v) || v < 1) throw new ProjectionError(k, `${k} = ${v} must be an integer ≥ 1.`);
  const P = devicesOf(o.prefill);
  const D = devicesOf(o.decode);
  // What the decode side needs: every layer's KV of every prompt (MLA: the one latent, replicated on the prefill side,
  // is sent once).
  const bytes = o.prefill.batch * o.inputLen * kvCacheBytesPerToken(o.arch, o.kvDtype ?? 'bf16');
  const handOver = await kvHandOver(o.topology, P, D, bytes);
  const common = { arch: o.arch, topology: o.topology, weightDtype: o.weightDtype, kvDtype: o.kvDtype };
  const prefill = await projectStep({
    ...common,
    ...o.prefill,
    phase: 'prefill',
    contextLen: o.inputLen,
  });
  // A decode step at the mean context over the generation.
  const decode = await projectStep({
    ...common,
    ...o.decode,
    phase: 'decode',
    contextLen: o.inputLen + Math.max(1, Math.round(o.outputLen / 2)),
    speculative: o.speculative,
  });
  const { flows, ms: kvMs } = handOver;
  const ttftMs = prefill.ms + kvMs;
  const tpotMs = decode.ms / decode.tokensPerSequenceStep;
  const rP = o.prefill.batch / (prefill.ms / 1e3);
  const rD = o.decode.batch / ((o.outputLen * tpotMs) / 1e3);
  const ratio = o.ratio ?? bestRatio(rP, P, rD, D, o.outputLen).ratio;
  for (const [k, v] of Object.entries(ratio))
    if (!Number.isInteger(v) || v < 1) throw new ProjectionError('ratio', `ratio.${k} = ${v} must be an integer ≥ 1.`);
  const devices = ratio.prefill * P + ratio.decode * D;
  const tokensPerSecond = Math.min(ratio.prefill * rP, ratio.decode * rD) * o.outputLen;
  return {
    prefill,
    decode,
    kvTransfer: { bytes, ms: kvMs, flows },
    ttftMs,
    tpotMs,
    prefillRequestsPerSecond: rP,
    decodeRequestsPerSecond: rD,
    ratio,
    devices,
    tokensPerSecond,
    tokensPerSecondPerChip: tokensPerSecond / devices,
    assumptions: [
      `prefill instance: ${P} devices on ranks 0–${P - 1}; decode instance: ${D} devices on ranks ${P}–${P + D - 1} of the topology (the KV crosses the links between them)`,
      `KV hand-over: ${flows} point-to-point flows at once, overlapped with the next prefill; TTFT counts it once`,
      'the decode step is costed at the mean context over the generation (input + output / 2)',
      'no queueing: TTFT is one prefill step plus its transfer (a simulated window adds the waits)',
    ],
  };
}
