/**
 * `tessera project --disaggregate --slo-tpot <ms> --slo-ttft <ms> --input <n> --output <n>`: the search over
 * prefill/decode disaggregation. The decode side is the step search's (project-search.ts: every layout × weights ×
 * batch meeting the TPOT SLO at context input + output / 2); the prefill side projects, for the same layouts and
 * weights, a prefill step of 1, 2 and 4 prompts per DP group. Each (prefill, decode) pair is placed side by side on the
 * system (prefill first, as projectDisaggregated places them); TTFT = the prefill step + the KV hand-over of its
 * prompts over the links between the two (kvHandOver, one estimate per distinct pair of instance sizes and bytes).
 * Pairs meeting the TTFT SLO get the prefill:decode ratio (x, y ≤ 16) with the most output tokens/s per chip:
 * min(x · prefill prompts/s, y · decode sequences/s) × output tokens ÷ (x · P + y · D devices). The answer is the
 * best pair and the Pareto frontier of tokens/s per chip against TPOT.
 */
import { kvCacheBytesPerToken, loadShippedModel } from '@tessera/models';
import { bestRatio, kvHandOver, type SweepTask, sweepProjections } from '@tessera/serve';
import type { ProjectOptions } from './project';
import { paretoFrontier, type SearchPoint, type SearchSpace, searchLayouts, searchProject } from './project-search';

export interface PdPoint {
  prefill: { tp: number; dp: number; weights: string; prompts: number; devices: number; ms: number };
  decode: SearchPoint & { devices: number };
  kvHandOverMs: number;
  ttftMs: number;
  tpotMs: number;
  ratio: { prefill: number; decode: number };
  tokensPerSecondPerChip: number;
}

export interface PdSearchResult {
  system: string;
  sloTpotMs: number;
  sloTtftMs: number;
  /** Decode configurations meeting the TPOT SLO, prefill configurations that fit, and pairs that fit side by side. */
  decodes: number;
  prefills: number;
  pairs: number;
  meeting: PdPoint[];
  best: PdPoint | null;
  frontier: PdPoint[];
}

const PROMPTS_PER_GROUP = [1, 2, 4];

export async function searchDisaggregated(
  o: ProjectOptions,
  system: string,
  space: SearchSpace & { sloTtftMs: number; inputLen: number; outputLen: number },
  size: number,
): Promise<PdSearchResult> {
  const arch = loadShippedModel(o.model);
  // Decode: the step search at the TPOT SLO alone.
  const decodeSide = await searchProject(o, system, { ...space, sloTtftMs: undefined }, size);
  // Prefill: each layout and dtype with 1, 2 and 4 prompts per DP group.
  const layouts = searchLayouts(o, arch.moe !== null, size, space.searchWeights ?? false);
  type Key = { tp: number; dp: number; weights: string; prompts: number };
  const tasks: SweepTask<Key>[] = [];
  for (const l of layouts)
    for (const k of PROMPTS_PER_GROUP)
      tasks.push({
        arch: o.model,
        topology: system,
        tp: l.tp,
        dp: l.dp > 1 ? l.dp : undefined,
        ep: o.ep,
        weightDtype: l.weights,
        kvDtype: o.kvDtype,
        batch: k * l.dp,
        contextLen: space.inputLen,
        phase: 'prefill',
        key: { tp: l.tp, dp: l.dp, weights: l.weights, prompts: k * l.dp },
      });
  const prefills = (await sweepProjections(tasks, { minTasksPerThread: 16 })).flatMap((r) =>
    r.ok ? [{ ...r.key, devices: r.step.devices, ms: r.step.ms }] : [],
  );
  const kvPerToken = kvCacheBytesPerToken(arch, o.kvDtype);
  const handOvers = new Map<string, number>();
  const points: PdPoint[] = [];
  let pairs = 0;
  for (const d of decodeSide.meeting) {
    const D = d.tp * d.dp * d.pp;
    for (const p of prefills) {
      if (p.weights !== d.weights || p.devices + D > size) continue;
      pairs++;
      const bytes = p.prompts * space.inputLen * kvPerToken;
      const key = `${p.devices}|${D}|${bytes}`;
      if (!handOvers.has(key)) handOvers.set(key, (await kvHandOver(system, p.devices, D, bytes)).ms);
      const kvMs = handOvers.get(key)!;
      const ttftMs = p.ms + kvMs;
      const rP = p.prompts / (p.ms / 1e3);
      const rD = d.batch / ((space.outputLen * d.tpotMs) / 1e3);
      const { ratio, perChip } = bestRatio(rP, p.devices, rD, D, space.outputLen);
      points.push({
        prefill: p,
        decode: { ...d, devices: D },
        kvHandOverMs: kvMs,
        ttftMs,
        tpotMs: d.tpotMs,
        ratio,
        tokensPerSecondPerChip: perChip,
      });
    }
  }
  const meeting = points
    .filter((p) => p.ttftMs <= space.sloTtftMs)
    .sort((a, b) => b.tokensPerSecondPerChip - a.tokensPerSecondPerChip);
  const frontier = paretoFrontier(meeting);
  return {
    system,
    sloTpotMs: space.sloTpotMs,
    sloTtftMs: space.sloTtftMs,
    decodes: decodeSide.meeting.length,
    prefills: prefills.length,
    pairs,
    meeting,
    best: meeting[0] ?? null,
    frontier,
  };
}

const layout = (x: { tp: number; dp: number }) => `TP ${x.tp}${x.dp > 1 ? ` · DP ${x.dp}` : ''}`;

export function formatPdSearch(model: string, results: readonly PdSearchResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(
      `# ${model} on ${r.system}, disaggregated: ${r.decodes} decode configurations meet TPOT ≤ ${r.sloTpotMs} ms, ` +
        `${r.prefills} prefill configurations fit, ${r.pairs} pairs fit side by side, ${r.meeting.length} meet TTFT ≤ ${r.sloTtftMs} ms`,
    );
    const describe = (p: PdPoint) =>
      `prefill ${layout(p.prefill)} × ${p.prefill.prompts} prompts, decode ${layout(p.decode)} batch ${p.decode.batch}, ` +
      `${p.decode.weights}, ratio ${p.ratio.prefill}:${p.ratio.decode}`;
    if (r.best) {
      const b = r.best;
      lines.push(
        `best: ${describe(b)}: ${b.tokensPerSecondPerChip.toFixed(1)} output tokens/s per chip, TTFT ${b.ttftMs.toFixed(1)} ms ` +
          `(KV hand-over ${b.kvHandOverMs.toFixed(2)} ms), TPOT ${b.tpotMs.toFixed(2)} ms`,
      );
    } else lines.push('best: no pair meets both SLOs');
    lines.push('Pareto frontier (TPOT ↑, tokens/s per chip ↑):');
    for (const p of r.frontier)
      lines.push(
        `  ${describe(p)}  TTFT ${p.ttftMs.toFixed(1)} ms  TPOT ${p.tpotMs.toFixed(2)} ms  ${p.tokensPerSecondPerChip.toFixed(1)} tok/s/chip`,
      );
    lines.push('');
  }
  return lines.join('\n');
}
