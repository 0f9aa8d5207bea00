/**
 * `tessera project --slo-tpot <ms>`: the search. For each system, every power-of-two TP degree up to the system's size
 * (at most 64; only `--tp` when given) × batch {1, 2, 4, …, 512} (up to `--max-batch`) is projected (decode); configurations that do not fit are skipped, the rest
 * are kept when their TPOT (the decode step) meets the SLO. The answer is the configuration with the most tokens/s per
 * chip among those, and the Pareto frontier of tokens/s per chip against TPOT over every configuration that fits
 * (each point: no other configuration is both faster per token and higher in throughput per chip).
 */
import { type ProjectOptions, type ProjectResult, projectOn } from './project';

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
  for (const tp of tps) {
    for (const batch of BATCHES.filter((b) => b <= maxBatch)) {
      tried++;
      const r = await projectOn({ ...o, phase: 'decode', tp, batch }, system);
      if (r.ok) fits.push(point(r));
      // Past the memory at this TP, larger batches do not fit either.
      else if (r.shortfallBytes !== null) break;
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
