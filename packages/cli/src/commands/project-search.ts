/**
 * `tessera project --slo-tpot <ms>`: the search. For each system, every power-of-two TP degree up to the system's size
 * (at most 64; only `--tp` when given) × batch {1, 2, 4, …, 512} (up to `--max-batch`) is projected (decode); configurations that do not fit are skipped, the rest
 * are kept when their TPOT (the decode step) meets the SLO. The answer is the configuration with the most tokens/s per
 * chip among those, and the Pareto frontier of tokens/s per chip against TPOT over every configuration that fits
 * (each point: no other configuration is both faster per token and higher in throughput per chip).
 *
 * The configurations are projected together by @tessera/serve's sweepProjections, spread over worker threads
 * (TESSERA_SWEEP_THREADS, default the cores; one per 16 configurations at most). At each TP the batches above the
 * smallest one that does not fit (CapacityError) are dropped when the results are in: a larger batch needs more
 * memory, so it does not fit either (they count as neither tried nor fitted, as when the search stopped there).
 */
import { loadShippedModel } from '@tessera/models';
import { type SweepTask, sweepProjections } from '@tessera/serve';
import { type ProjectOptions, type ProjectResult, projectResult } from './project';

export interface SearchPoint {
  tp: number;
  batch: number;
  tpotMs: number;
  tokensPerSecondPerChip: number;
  tokensPerSecondPerKW: number;
}

export interface SearchResult {
  system: string;
  sloTpotMs: number;
  /** Configurations projected (fitting or not). */
  tried: number;
  fitted: number;
  /** Those meeting the SLO, best first. */
  meeting: SearchPoint[];
  best: SearchPoint | null;
  /** Over every fitting configuration, by TPOT ascending; throughput strictly increasing along it. */
  frontier: SearchPoint[];
}

const MAX_TP = 64;
const BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
/** A thread per 16 configurations at most: a smaller search runs in this thread (a worker's start costs more). */
const MIN_TASKS_PER_THREAD = 16;

function point(r: ProjectResult): SearchPoint {
  return {
    tp: r.tp,
    batch: r.batch,
    tpotMs: r.stepMs,
    tokensPerSecondPerChip: r.tokensPerSecondPerChip,
    tokensPerSecondPerKW: r.tokensPerSecondPerKW,
  };
}

/** The Pareto frontier of (low TPOT, high tokens/s per chip). */
export function paretoFrontier(points: readonly SearchPoint[]): SearchPoint[] {
  const sorted = [...points].sort((a, b) => a.tpotMs - b.tpotMs || b.tokensPerSecondPerChip - a.tokensPerSecondPerChip);
  const out: SearchPoint[] = [];
  for (const p of sorted)
    if (!out.length || p.tokensPerSecondPerChip > out[out.length - 1]!.tokensPerSecondPerChip) out.push(p);
  return out;
}

export async function searchProject(
  o: ProjectOptions,
  system: string,
  sloTpotMs: number,
  size: number,
  maxBatch = BATCHES[BATCHES.length - 1]!,
): Promise<SearchResult> {
  const fits: SearchPoint[] = [];
  let tried = 0;
  // `--tp` given: search the batch only.
  const tps: number[] = [];
  if (o.tp !== undefined) tps.push(o.tp);
  else for (let tp = 1; tp <= Math.min(size, MAX_TP); tp *= 2) tps.push(tp);
  const batches = BATCHES.filter((b) => b <= maxBatch);
  const tasks: SweepTask<{ tp: number; batch: number }>[] = [];
  for (const tp of tps) {
    // A --tp beyond the system fits no batch (projectOn's failure), so it is not projected.
    if (tp > size) continue;
    for (const batch of batches)
      tasks.push({
        arch: o.model,
        topology: system,
        tp,
        ep: o.ep,
        batch,
        contextLen: o.contextLen,
        weightDtype: o.weightDtype,
        kvDtype: o.kvDtype,
        phase: 'decode',
        key: { tp, batch },
      });
  }
  const outcomes = await sweepProjections(tasks, { minTasksPerThread: MIN_TASKS_PER_THREAD });
  const arch = loadShippedModel(o.model);
  for (const tp of tps) {
    if (tp > size) {
      tried += batches.length;
      continue;
    }
    for (const r of outcomes.filter((x) => x.key.tp === tp)) {
      const batch = r.key.batch;
      tried++;
      if (r.ok) {
        const c = { ...o, phase: 'decode' as const, tp, batch };
        fits.push(point(await projectResult(c, system, arch, tp, 'given (--tp)', r.step)));
      } else if (r.failure.kind === 'error')
        throw new Error(`TP ${tp}, batch ${batch} on ${system}: ${r.failure.message}`);
      // Past the memory at this TP, larger batches do not fit either.
      else if (r.failure.kind === 'capacity') break;
    }
  }
  const meeting = fits
    .filter((p) => p.tpotMs <= sloTpotMs)
    .sort((a, b) => b.tokensPerSecondPerChip - a.tokensPerSecondPerChip);
  return {
    system,
    sloTpotMs,
    tried,
    fitted: fits.length,
    meeting,
    best: meeting[0] ?? null,
    frontier: paretoFrontier(fits),
  };
}

export function formatSearch(model: string, results: readonly SearchResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(
      `# ${model} on ${r.system}: ${r.tried} configurations (TP ≤ ${MAX_TP} × batch 1…512, decode), ${r.fitted} fit, ` +
        `${r.meeting.length} meet TPOT ≤ ${r.sloTpotMs} ms`,
    );
    if (r.best) {
      const b = r.best;
      lines.push(
        `best: TP ${b.tp}, batch ${b.batch}: ${b.tokensPerSecondPerChip.toFixed(1)} tokens/s per chip, ` +
          `TPOT ${b.tpotMs.toFixed(2)} ms, ${b.tokensPerSecondPerKW.toFixed(1)} tokens/s per kW`,
      );
    } else lines.push(`best: none meets TPOT ≤ ${r.sloTpotMs} ms`);
    lines.push('Pareto frontier (TPOT ↑, tokens/s per chip ↑):');
    for (const p of r.frontier) {
      const ok = p.tpotMs <= r.sloTpotMs ? '' : '  (misses the SLO)';
      lines.push(
        `  TP ${String(p.tp).padStart(2)}  batch ${String(p.batch).padStart(3)}  TPOT ${p.tpotMs.toFixed(2).padStart(8)} ms  ${p.tokensPerSecondPerChip.toFixed(1).padStart(9)} tok/s/chip${ok}`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}
