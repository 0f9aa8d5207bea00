/**
 * `tessera project --slo-tpot <ms> --rate <req/s> | --concurrency <n>`: the search under a workload, in modelled time.
 *
 * Where the step search (project-search.ts) projects single decode and prefill steps, this one serves a workload —
 * vLLM's random dataset as `tessera-serve bench` draws it (@tessera/serve randomWorkload: --requests prompts of
 * --input tokens, --output tokens each, lengths uniform in [L(1−r), L(1+r)] with --range-ratio r, arrivals at --rate
 * (Gamma gaps of shape --burstiness; 1 = Poisson) and/or at most --concurrency in flight, all from --seed) — on every
 * deployment the simulator models, with @tessera/serve's simulateProjected: the real engine (scheduler, chunked
 * prefill, paged KV cache, preemption) over step times predicted from projected steps, on the modelled clock. So TTFT
 * includes queueing and the prefills that interleave with decodes, TPOT the prefills of later arrivals.
 *
 * The space (each dimension fixed when its option is given):
 *   parallelism   the step search's layouts (searchLayouts) with DP = PP = 1: TP ∈ {1, 2, 4, …} (MoE: EP as --ep,
 *                 default TP). Layouts with DP > 1 or PP > 1 are left out and listed: the simulated engine is one TP
 *                 group (no attention DP, no pipeline), as it has no speculative decoding and no two-batch overlap.
 *   weights       --weights, or bf16, int8 and fp8 with --search-weights
 *   batch limit   max_num_seqs ∈ {8, 16, 32, …, --max-batch (at most 512)}; max_num_batched_tokens max(2048, it)
 * For each: p99 and mean TTFT and TPOT (vLLM's definitions), output tokens/s per chip (output tokens over the run's
 * modelled duration, first send to last token, over the TP group's devices) and per kW (systemPower of those devices,
 * as projectResult divides), and whether the SLOs hold: every request served, p99 TPOT ≤ --slo-tpot and p99 TTFT ≤
 * --slo-ttft when given. Best = the most tokens/s per chip meeting them; the Pareto frontier is over (p99 TPOT,
 * tokens/s per chip) among the runs that served every request.
 *
 * Each deployment's step-time predictor is built at the first batch limit; its grid points are cached per process
 * (keyed by deployment and shape), so each larger limit projects only its memory probes and its new decode batch size.
 * A deployment whose weights, workspace and one KV block do not fit is skipped (CapacityError at the smallest limit);
 * once a limit's workspace does not fit, the larger ones are skipped too. Runs are in this thread (no worker pool) and
 * deterministic: the same flags give the same figures on any host.
 */
import { type SystemPowerReport, systemPower } from '@tessera/cluster';
import { TesseraError } from '@tessera/device';
import { loadShippedModel } from '@tessera/models';
import {
  CapacityError,
  type ProjectedWeightDtype,
  ProjectionError,
  randomWorkload,
  seededRandom,
  simulateProjected,
  type Workload,
} from '@tessera/serve';
import { table } from '../format';
import type { ProjectOptions } from './project';
import { searchLayouts } from './project-search';

/** The workload, as `tessera-serve bench` names its knobs (RandomWorkloadOptions). */
export interface WorkloadArgs {
  /** Requests in the run (--requests, `--num-prompts` there). */
  requests: number;
  /** Requests per second; Infinity sends all at once (closed loop when `concurrency` is set). */
  rate: number;
  /** At most this many in flight; null = open loop. */
  concurrency: number | null;
  inputLen: number;
  outputLen: number;
  /** Lengths uniform in [L(1−r), L(1+r)]. */
  rangeRatio: number;
  /** Gamma shape of the inter-arrival times (1 = Poisson). */
  burstiness: number;
  seed: number;
}

export interface WorkloadSpace {
  sloTpotMs: number;
  sloTtftMs?: number;
  /** The largest max_num_seqs (powers of two from 8; at most 512). */
  maxBatch: number;
  searchWeights?: boolean;
  workload: WorkloadArgs;
}

/** One simulated run: a deployment at a batch limit, serving the workload. Latencies are the modelled ones, ms. */
export interface WorkloadPoint {
  tp: number;
  ep: number;
  weights: ProjectedWeightDtype;
  /** max_num_seqs. */
  maxNumSeqs: number;
  devices: number;
  completed: number;
  failed: number;
  ttftMs: { mean: number; p99: number };
  tpotMs: { mean: number; p99: number };
  /** First send → last token, modelled. */
  durationS: number;
  /** Output tokens over durationS. */
  outputTokensPerSecond: number;
  tokensPerSecondPerChip: number;
  /** Output tokens/s over the deployment's power (systemPower of its devices, as `tessera project`). */
  tokensPerSecondPerKW: number;
  /** Engine steps of the run. */
  steps: number;
  /** Every request served, p99 TPOT ≤ the SLO and p99 TTFT ≤ its SLO when given. */
  meetsSlos: boolean;
}

/** A layout the step search covers that the simulated engine does not model. */
export interface LeftOutLayout {
  tp: number;
  dp: number;
  pp: number;
  weights: ProjectedWeightDtype;
}

/** A deployment (from a batch limit on) that was not simulated. */
export interface SkippedDeployment {
  tp: number;
  weights: ProjectedWeightDtype;
  /** The smallest batch limit that was skipped; larger ones were skipped with it. */
  fromMaxNumSeqs: number;
  kind: 'capacity' | 'projection';
  reason: string;
}

export interface WorkloadSearchResult {
  mode: 'workload';
  model: string;
  system: string;
  /** The workload as run; rate 'inf' when every request is sent at once. */
  workload: Omit<WorkloadArgs, 'rate'> & { rate: number | 'inf' };
  sloTpotMs: number;
  sloTtftMs: number | null;
  batchLimits: number[];
  /** Deployments (TP × weights) the simulator models, and runs simulated. */
  deployments: number;
  simulated: number;
  /** Deployments that do not fit at all (CapacityError at the smallest batch limit). */
  notFitting: number;
  skipped: SkippedDeployment[];
  leftOut: LeftOutLayout[];
  /** Every run, in search order (weights, TP, batch limit). */
  points: WorkloadPoint[];
  /** Those meeting the SLOs, best first. */
  meeting: WorkloadPoint[];
  best: WorkloadPoint | null;
  /** Over the runs that served every request, by p99 TPOT ascending; tokens/s per chip strictly increasing. */
  frontier: WorkloadPoint[];
}

const SMALLEST_LIMIT = 8;
const MAX_LIMIT = 512;
const DEFAULT_BATCHED_TOKENS = 2048;

/** max_num_seqs ∈ {8, 16, …, maxBatch} (at most 512); maxBatch itself when below 8. */
export function batchLimits(maxBatch: number): number[] {
  const top = Math.min(maxBatch, MAX_LIMIT);
  const out: number[] = [];
  for (let s = SMALLEST_LIMIT; s <= top; s *= 2) out.push(s);
  return out.length ? out : [top];
}

/** The Pareto frontier of (low p99 TPOT, high tokens/s per chip). */
export function workloadFrontier(points: readonly WorkloadPoint[]): WorkloadPoint[] {
  const sorted = [...points].sort(
    (a, b) => a.tpotMs.p99 - b.tpotMs.p99 || b.tokensPerSecondPerChip - a.tokensPerSecondPerChip,
  );
  const out: WorkloadPoint[] = [];
  for (const p of sorted)
    if (!out.length || p.tokensPerSecondPerChip > out[out.length - 1]!.tokensPerSecondPerChip) out.push(p);
  return out;
}

/** The workload every configuration serves: drawn once from the seed (the same requests for all). */
export function buildWorkload(w: WorkloadArgs, vocabSize: number): Workload {
  return randomWorkload(
    {
      numPrompts: w.requests,
      requestRate: w.rate,
      burstiness: w.burstiness,
      maxConcurrency: w.concurrency,
      inputLen: w.inputLen,
      outputLen: w.outputLen,
      rangeRatio: w.rangeRatio,
      vocabSize,
    },
    seededRandom(w.seed),
  );
}

export async function searchWorkload(
  o: ProjectOptions,
  system: string,
  space: WorkloadSpace,
  size: number,
): Promise<WorkloadSearchResult> {
  const notModelled = [o.speculative ? '--spec' : '', o.twoBatchOverlap ? '--tbo' : ''].filter(Boolean);
  if (notModelled.length)
    throw new TesseraError(
      'InvalidValue',
      `${notModelled.join(' and ')}: the workload search (--rate/--concurrency) simulates the engine, which has no speculative decoding or two-batch overlap; drop ${notModelled.length > 1 ? 'them' : 'it'}, or search steps without --rate/--concurrency.`,
    );
  const arch = loadShippedModel(o.model);
  const w = space.workload;
  const workload = buildWorkload(w, arch.vocabSize);
  const all = searchLayouts(o, arch.moe !== null, size, space.searchWeights ?? false);
  const layouts = all.filter((l) => l.dp === 1 && l.pp === 1);
  const leftOut = all.filter((l) => l.dp !== 1 || l.pp !== 1);
  const limits = batchLimits(space.maxBatch);
  const sloTtft = space.sloTtftMs;
  const power = new Map<number, SystemPowerReport>();
  const points: WorkloadPoint[] = [];
  const skipped: SkippedDeployment[] = [];
  let notFitting = 0;
  for (const l of layouts) {
    const ep = arch.moe ? (o.ep ?? l.tp) : 1;
    for (const maxNumSeqs of limits) {
      let sim: Awaited<ReturnType<typeof simulateProjected>>;
      try {
        sim = await simulateProjected({
          arch,
          topology: system,
          tp: l.tp,
          ep: o.ep,
          weightDtype: l.weights,
          kvDtype: o.kvDtype,
          maxNumSeqs,
          maxNumBatchedTokens: Math.max(DEFAULT_BATCHED_TOKENS, maxNumSeqs),
          seed: w.seed,
          workload,
        });
      } catch (e) {
        if (!(e instanceof CapacityError || e instanceof ProjectionError)) throw e;
        const kind = e instanceof CapacityError ? 'capacity' : 'projection';
        if (kind === 'capacity' && maxNumSeqs === limits[0]) notFitting++;
        skipped.push({ tp: l.tp, weights: l.weights, fromMaxNumSeqs: maxNumSeqs, kind, reason: e.message });
        // Past the memory, a larger limit's workspace does not fit either; what cannot be projected stays so.
        break;
      }
      const devices = l.tp;
      if (!power.has(devices)) power.set(devices, await systemPower(system, devices));
      const s = sim.summary;
      const outputTokensPerSecond = sim.durationMs > 0 ? sim.totalOutputTokens / (sim.durationMs / 1e3) : 0;
      const served = sim.failed === 0 && sim.completed === workload.requests.length;
      points.push({
        tp: l.tp,
        ep,
        weights: l.weights,
        maxNumSeqs,
        devices,
        completed: sim.completed,
        failed: sim.failed,
        ttftMs: { mean: s.ttftMs.mean, p99: s.ttftMs.p99 },
        tpotMs: { mean: s.tpotMs.mean, p99: s.tpotMs.p99 },
        durationS: sim.durationMs / 1e3,
        outputTokensPerSecond,
        tokensPerSecondPerChip: outputTokensPerSecond / devices,
        tokensPerSecondPerKW: outputTokensPerSecond / power.get(devices)!.totalKW,
        steps: sim.steps,
        meetsSlos: served && s.tpotMs.p99 <= space.sloTpotMs && (sloTtft === undefined || s.ttftMs.p99 <= sloTtft),
      });
    }
  }
  const meeting = points
    .filter((p) => p.meetsSlos)
    .sort((a, b) => b.tokensPerSecondPerChip - a.tokensPerSecondPerChip || a.tpotMs.p99 - b.tpotMs.p99);
  return {
    mode: 'workload',
    model: o.model,
    system,
    workload: { ...w, rate: Number.isFinite(w.rate) ? w.rate : 'inf' },
    sloTpotMs: space.sloTpotMs,
    sloTtftMs: sloTtft ?? null,
    batchLimits: limits,
    deployments: layouts.length,
    simulated: points.length,
    notFitting,
    skipped,
    leftOut,
    points,
    meeting,
    best: meeting[0] ?? null,
    frontier: workloadFrontier(points.filter((p) => p.failed === 0 && p.completed === workload.requests.length)),
  };
}

const layout = (p: { tp: number; ep: number }) => `TP ${p.tp}${p.ep > 1 ? ` · EP ${p.ep}` : ''}`;
const f1 = (x: number) => x.toFixed(1);
const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** A sentence for the workload: what was simulated. */
export function describeWorkload(w: WorkloadSearchResult['workload']): string {
  const spread = w.rangeRatio > 0 ? ` (each ±${Math.round(w.rangeRatio * 100)} %, uniform)` : '';
  const arrivals =
    w.rate === 'inf'
      ? 'all sent at once'
      : `at ${w.rate} req/s (${w.burstiness === 1 ? 'Poisson' : `Gamma arrivals, burstiness ${w.burstiness}`})`;
  const loop = w.concurrency !== null ? `, at most ${w.concurrency} in flight` : '';
  return `a simulated run of ${w.requests} requests ${arrivals}${loop}, ${w.inputLen} in / ${w.outputLen} out tokens${spread}, seed ${w.seed}`;
}

/** Left-out layouts in a line: their DP and PP degrees. */
function describeLeftOut(ls: readonly LeftOutLayout[]): string {
  const set = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b).join(', ');
  const dps = ls.filter((l) => l.dp > 1).map((l) => l.dp);
  const pps = ls.filter((l) => l.pp > 1).map((l) => l.pp);
  const what = [dps.length ? `DP ${set(dps)}` : '', pps.length ? `PP ${set(pps)}` : ''].filter(Boolean).join('; ');
  return `${ls.length} layout${ls.length === 1 ? '' : 's'} with ${what} left out (the simulated engine is one TP group: no DP, PP, speculative decoding or two-batch overlap)`;
}

export function formatWorkloadSearch(results: readonly WorkloadSearchResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const slos = `p99 TPOT ≤ ${r.sloTpotMs} ms${r.sloTtftMs !== null ? ` and p99 TTFT ≤ ${r.sloTtftMs} ms` : ''}`;
    lines.push(`# ${r.model} on ${r.system}: workload search — ${describeWorkload(r.workload)}`);
    lines.push(
      '# modelled times (@tessera/serve simulateProjected: the engine over projected step times), not measured ones',
    );
    lines.push(
      `${plural(r.simulated, 'configuration')} simulated (${plural(r.deployments, 'deployment')} × max_num_seqs ` +
        `${r.batchLimits.join(', ')}), ${r.notFitting} ${r.notFitting === 1 ? 'deployment does' : 'deployments do'} not fit, ` +
        `${r.meeting.length} meet ${slos}`,
    );
    for (const s of r.skipped)
      lines.push(
        `  skipped ${layout({ tp: s.tp, ep: 1 })}, ${s.weights}, max_num_seqs ≥ ${s.fromMaxNumSeqs}: ${s.reason}`,
      );
    if (r.leftOut.length) lines.push(describeLeftOut(r.leftOut));
    if (r.best) {
      const b = r.best;
      lines.push(
        `best: ${layout(b)}, ${b.weights}, max_num_seqs ${b.maxNumSeqs}: ${f1(b.tokensPerSecondPerChip)} output tokens/s per chip, ` +
          `p99 TTFT ${f1(b.ttftMs.p99)} ms, p99 TPOT ${b.tpotMs.p99.toFixed(2)} ms, ${f1(b.tokensPerSecondPerKW)} tokens/s per kW`,
      );
    } else lines.push(`best: none meets ${slos}`);
    const onFrontier = new Set(r.frontier);
    const rows = r.points.map((p) => {
      const misses = [
        p.failed > 0 ? `${p.failed} failed` : '',
        r.sloTtftMs !== null && p.ttftMs.p99 > r.sloTtftMs ? 'TTFT' : '',
        p.tpotMs.p99 > r.sloTpotMs ? 'TPOT' : '',
      ].filter(Boolean);
      return [
        layout(p),
        p.weights,
        String(p.maxNumSeqs),
        f1(p.ttftMs.p99),
        p.tpotMs.p99.toFixed(2),
        f1(p.tokensPerSecondPerChip),
        f1(p.tokensPerSecondPerKW),
        misses.length ? `misses ${misses.join(', ')}` : 'met',
        onFrontier.has(p) ? '*' : '',
      ];
    });
    if (rows.length)
      lines.push(
        table(
          [
            'layout',
            'weights',
            'max_num_seqs',
            'p99 TTFT ms',
            'p99 TPOT ms',
            'tok/s/chip',
            'tok/s/kW',
            'SLOs',
            'frontier',
          ],
          rows,
        ),
      );
    lines.push('(* on the Pareto frontier: p99 TPOT ↑, output tokens/s per chip ↑)', '');
  }
  return lines.join('\n');
}
