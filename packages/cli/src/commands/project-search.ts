/**
 * `tessera project --slo-tpot <ms> [--slo-ttft <ms> --input <n>]`: the search. For each system it projects every
 * configuration of the space below as a decode step (and, with a TTFT SLO, one prefill step per parallel layout and
 * weight dtype), keeps those that fit and meet the SLOs, and answers with the most tokens/s per chip among them and the
 * Pareto frontier of tokens/s per chip against TPOT over every configuration that fits.
 *
 * The space (each dimension fixed when its option is given):
 *   parallelism   TP ∈ {1, 2, 4, …} (at most 64; for MoE models at most 8, with DP ∈ {1, 2, 4, …}: attention DP and
 *                 EP = DP × TP up to 256 ranks);
 *                 PP from --pp (default 1); PP · DP · TP within the system
 *   weights       --weights, or every dtype with --search-weights (bf16, int8, fp8; fp8 only where the device has it)
 *   batch         {1, 2, 4, …, --max-batch} (a multiple of PP, at least DP)
 *   speculative   --spec / --acceptance as given
 * TTFT (with --slo-ttft): one prompt of --input tokens per DP group, prefilled at the configuration's parallelism and
 * weights, no queueing (the waits a real arrival process adds need a simulated window: @tessera/serve
 * simulateProjected). Decode steps run at context --input + --output / 2 when both are given, else --context.
 *
 * The configurations are projected together by @tessera/serve's sweepProjections, spread over worker threads
 * (TESSERA_SWEEP_THREADS, default the cores; one per 16 configurations at most). For each layout and dtype the batches
 * above the smallest one that does not fit (CapacityError) are dropped: a larger batch does not fit either.
 */
import { loadShippedModel, type ModelArchitecture } from '@tessera/models';
import type { ProjectedWeightDtype, SweepOptions } from '@tessera/serve';
import { type SweepOutcome, type SweepTask, sweepProjections } from '@tessera/serve';
import { type ProjectOptions, type ProjectResult, projectResult } from './project';

export interface SearchPoint {
  tp: number;
  dp: number;
  pp: number;
  weights: ProjectedWeightDtype;
  batch: number;
  tpotMs: number;
  /** Prefill of one prompt (no queueing); null without a TTFT SLO. */
  ttftMs: number | null;
  tokensPerSecondPerChip: number;
  tokensPerSecondPerKW: number;
}

export interface SearchSpace {
  sloTpotMs: number;
  sloTtftMs?: number;
  /** Prompt and completion lengths (the TTFT prompt; the decode context input + output / 2). */
  inputLen?: number;
  outputLen?: number;
  maxBatch: number;
  /** Every weight dtype instead of --weights. */
  searchWeights?: boolean;
}

/**
 * A fitting configuration with every figure (the dashboard's /api/project lists them all): the search point plus
 * tokens/s per system and whether it meets the SLOs. `tessera project` prints SearchPoints (searchProject).
 */
export interface SearchFit extends SearchPoint {
  tokensPerSecondPerSystem: number;
  meetsSlo: boolean;
}

export interface SearchResult<P extends SearchPoint = SearchPoint> {
  system: string;
  sloTpotMs: number;
  sloTtftMs: number | null;
  /** Configurations projected (fitting or not). */
  tried: number;
  fitted: number;
  /** Those meeting the SLOs, best first. */
  meeting: P[];
  best: P | null;
  /** Over every fitting configuration, by TPOT ascending; throughput strictly increasing along it. */
  frontier: P[];
}

/** searchProjectFits' answer: the search's result on full points, and every configuration that fits (search order). */
export type SearchFits = SearchResult<SearchFit> & { fits: SearchFit[] };

/** How the search spreads its projections over threads (sweepProjections' options). */
export type SearchSweepOptions = Pick<SweepOptions, 'threads' | 'minTasksPerThread'>;

/**
 * A search split at its sweep: the projections to run, and how their outcomes (in task order) become the result —
 * so several systems' searches can share one sweep (one pool of threads) and still answer one result each.
 */
export interface SearchPlan {
  tasks: SweepTask<SearchKey>[];
  finish(outcomes: readonly SweepOutcome<SearchKey>[]): Promise<SearchFits>;
}

const MAX_TP = 64;
const MAX_MOE_TP = 8;
const MAX_EP = 256;
const MAX_BATCH = 512;
/** A thread per 16 configurations at most: a smaller search runs in this thread (a worker's start costs more). */
const MIN_TASKS_PER_THREAD = 16;
const powersOfTwo = (max: number) => {
  const out: number[] = [];
  for (let x = 1; x <= max; x *= 2) out.push(x);
  return out;
};

/** The Pareto frontier of (low TPOT, high tokens/s per chip). */
export function paretoFrontier<P extends { tpotMs: number; tokensPerSecondPerChip: number }>(
  points: readonly P[],
): P[] {
  const sorted = [...points].sort((a, b) => a.tpotMs - b.tpotMs || b.tokensPerSecondPerChip - a.tokensPerSecondPerChip);
  const out: P[] = [];
  for (const p of sorted)
    if (!out.length || p.tokensPerSecondPerChip > out[out.length - 1]!.tokensPerSecondPerChip) out.push(p);
  return out;
}

interface Layout {
  tp: number;
  dp: number;
  pp: number;
  weights: ProjectedWeightDtype;
}
/** A search task's key: its layout, batch and phase. */
export type SearchKey = Layout & { batch: number; phase: 'decode' | 'prefill' };
type Key = SearchKey;

/** The parallel layouts × weight dtypes the search covers on a system of `size` devices. */
export function searchLayouts(o: ProjectOptions, moe: boolean, size: number, searchWeights: boolean): Layout[] {
  const pp = o.pp ?? 1;
  // MoE: attention TP up to 8 (as deployed: DP attention with wide EP) and EP = DP × TP up to 256 ranks.
  const tps = o.tp !== undefined ? [o.tp] : powersOfTwo(Math.min(moe ? MAX_MOE_TP : MAX_TP, size));
  const dps = !moe ? [1] : o.dp !== undefined ? [o.dp] : powersOfTwo(Math.min(size, MAX_EP));
  const weights: ProjectedWeightDtype[] = searchWeights ? ['bf16', 'int8', 'fp8'] : [o.weightDtype];
  const out: Layout[] = [];
  for (const w of weights)
    for (const tp of tps)
      for (const dp of dps)
        if (pp * dp * tp <= size && (o.dp !== undefined || dp * tp <= MAX_EP)) out.push({ tp, dp, pp, weights: w });
  return out;
}

/** `tessera project --slo-tpot`: the search on one system of `size` devices (see the module comment). */
export async function searchProject(
  o: ProjectOptions,
  system: string,
  space: SearchSpace,
  size: number,
): Promise<SearchResult> {
  const { fits: _fits, ...r } = await searchProjectFits(o, system, space, size);
  return {
    ...r,
    meeting: r.meeting.map(searchPoint),
    best: r.best && searchPoint(r.best),
    frontier: r.frontier.map(searchPoint),
  };
}

const searchPoint = ({ tokensPerSecondPerSystem: _s, meetsSlo: _m, ...p }: SearchFit): SearchPoint => p;

/**
 * The search with every fitting configuration and all its figures. `sweep` sets the threads (default: one per 16
 * configurations at most, a smaller search in this thread).
 */
export async function searchProjectFits(
  o: ProjectOptions,
  system: string,
  space: SearchSpace,
  size: number,
  sweep: SearchSweepOptions = { minTasksPerThread: MIN_TASKS_PER_THREAD },
): Promise<SearchFits> {
  const plan = planSearch(o, system, space, size);
  return plan.finish(await sweepProjections(plan.tasks, sweep));
}

/** The search's projections on one system of `size` devices, and the step from their outcomes to its result. */
export function planSearch(o: ProjectOptions, system: string, space: SearchSpace, size: number): SearchPlan {
  const arch = loadShippedModel(o.model);
  const layouts = searchLayouts(o, arch.moe !== null, size, space.searchWeights ?? false);
  const batches = powersOfTwo(Math.min(space.maxBatch, MAX_BATCH));
  const contextLen =
    space.inputLen !== undefined && space.outputLen !== undefined
      ? space.inputLen + Math.max(1, Math.round(space.outputLen / 2))
      : o.contextLen;
  const tasks: SweepTask<Key>[] = [];
  const common = (l: Layout) => ({
    arch: o.model,
    topology: system,
    tp: l.tp,
    dp: l.dp > 1 ? l.dp : undefined,
    pp: l.pp > 1 ? l.pp : undefined,
    ep: o.ep,
    weightDtype: l.weights,
    kvDtype: o.kvDtype,
  });
  for (const l of layouts) {
    for (const batch of batches) {
      if (batch % l.pp !== 0 || batch / l.pp < l.dp) continue;
      tasks.push({
        ...common(l),
        batch,
        contextLen,
        phase: 'decode',
        speculative: o.speculative,
        twoBatchOverlap: o.twoBatchOverlap,
        key: { ...l, batch, phase: 'decode' },
      });
    }
    if (space.sloTtftMs !== undefined) {
      const prompt = space.inputLen ?? o.contextLen;
      tasks.push({
        ...common(l),
        batch: l.dp * l.pp,
        contextLen: prompt,
        phase: 'prefill',
        key: { ...l, batch: l.dp * l.pp, phase: 'prefill' },
      });
    }
  }
  return { tasks, finish: (outcomes) => finishSearch(o, system, space, arch, layouts, contextLen, outcomes) };
}

async function finishSearch(
  o: ProjectOptions,
  system: string,
  space: SearchSpace,
  arch: ModelArchitecture,
  layouts: readonly Layout[],
  contextLen: number,
  outcomes: readonly SweepOutcome<Key>[],
): Promise<SearchFits> {
  const same = (a: Layout, b: Layout) => a.tp === b.tp && a.dp === b.dp && a.pp === b.pp && a.weights === b.weights;
  const meetsTtft = (ttftMs: number | null) =>
    space.sloTtftMs === undefined || (ttftMs !== null && ttftMs <= space.sloTtftMs);
  const fits: SearchFit[] = [];
  let tried = 0;
  for (const l of layouts) {
    const mine = outcomes.filter((x) => same(x.key, l));
    const prefill = mine.find((x) => x.key.phase === 'prefill');
    // The prompt's prefill, with the TTFT SLO: one step of a prompt per DP group.
    const ttftMs = prefill?.ok ? prefill.step.latencyMs : null;
    for (const r of mine.filter((x) => x.key.phase === 'decode') as SweepOutcome<Key>[]) {
      tried++;
      if (r.ok) {
        const c: ProjectOptions = {
          ...o,
          phase: 'decode',
          tp: l.tp,
          dp: l.dp,
          pp: l.pp,
          weightDtype: l.weights,
          batch: r.key.batch,
          contextLen,
        };
        const res: ProjectResult = await projectResult(c, system, arch, l.tp, 'searched', r.step);
        fits.push({
          ...l,
          batch: r.key.batch,
          tpotMs: res.tpotMs!,
          ttftMs: space.sloTtftMs !== undefined ? ttftMs : null,
          tokensPerSecondPerChip: res.tokensPerSecondPerChip,
          tokensPerSecondPerKW: res.tokensPerSecondPerKW,
          tokensPerSecondPerSystem: res.tokensPerSecondPerSystem,
          meetsSlo: res.tpotMs! <= space.sloTpotMs && meetsTtft(ttftMs),
        });
      } else if (r.failure.kind === 'error')
        throw new Error(`${describe(l)}, batch ${r.key.batch} on ${system}: ${r.failure.message}`);
      // Past the memory at this layout, larger batches do not fit either.
      else if (r.failure.kind === 'capacity') break;
    }
  }
  const meeting = fits.filter((p) => p.meetsSlo).sort((a, b) => b.tokensPerSecondPerChip - a.tokensPerSecondPerChip);
  return {
    system,
    sloTpotMs: space.sloTpotMs,
    sloTtftMs: space.sloTtftMs ?? null,
    tried,
    fitted: fits.length,
    meeting,
    best: meeting[0] ?? null,
    frontier: paretoFrontier(fits),
    fits,
  };
}

const describe = (p: Layout) =>
  `TP ${p.tp}${p.dp > 1 ? ` · DP ${p.dp}` : ''}${p.pp > 1 ? ` · PP ${p.pp}` : ''}, ${p.weights}`;

export function formatSearch(model: string, results: readonly SearchResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const slos = `TPOT ≤ ${r.sloTpotMs} ms${r.sloTtftMs !== null ? ` and TTFT ≤ ${r.sloTtftMs} ms` : ''}`;
    lines.push(
      `# ${model} on ${r.system}: ${r.tried} configurations, ${r.fitted} fit, ${r.meeting.length} meet ${slos}`,
    );
    if (r.best) {
      const b = r.best;
      lines.push(
        `best: ${describe(b)}, batch ${b.batch}: ${b.tokensPerSecondPerChip.toFixed(1)} tokens/s per chip, ` +
          `TPOT ${b.tpotMs.toFixed(2)} ms${b.ttftMs !== null ? `, TTFT ${b.ttftMs.toFixed(1)} ms` : ''}, ` +
          `${b.tokensPerSecondPerKW.toFixed(1)} tokens/s per kW`,
      );
    } else lines.push(`best: none meets ${slos}`);
    lines.push('Pareto frontier (TPOT ↑, tokens/s per chip ↑):');
    for (const p of r.frontier) {
      const misses = [
        p.tpotMs > r.sloTpotMs ? 'TPOT' : '',
        r.sloTtftMs !== null && !(p.ttftMs !== null && p.ttftMs <= r.sloTtftMs) ? 'TTFT' : '',
      ].filter(Boolean);
      lines.push(
        `  ${describe(p).padEnd(24)} batch ${String(p.batch).padStart(3)}  TPOT ${p.tpotMs.toFixed(2).padStart(8)} ms  ${p.tokensPerSecondPerChip.toFixed(1).padStart(9)} tok/s/chip${misses.length ? `  (misses ${misses.join(' and ')})` : ''}`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}
