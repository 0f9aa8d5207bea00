/**
 * The projection explorer's data: ProjectResponse (one search per system) shaped for the charts — the Pareto frontiers
 * of tokens/s per chip against TPOT on one x axis (uPlot wants one ascending x column shared by every series: the
 * union of the systems' TPOTs, null where a system has no point) — for the bar comparison of the best configurations,
 * and for CSV export.
 */
import type { ProjectionPoint, ProjectResponse, SystemProjection } from '../../../src/api';

export interface FrontierChart {
  /** Ascending TPOT, ms. */
  x: number[];
  series: { system: string; vendor: SystemProjection['vendor']; y: (number | null)[] }[];
}

export function frontierChart(resp: ProjectResponse): FrontierChart {
  const xs = [...new Set(resp.results.flatMap((r) => r.frontier.map((p) => p.tpotMs)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  return {
    x: xs,
    series: resp.results.map((r) => {
      const y: (number | null)[] = new Array(xs.length).fill(null);
      for (const p of r.frontier) {
        const i = index.get(p.tpotMs)!;
        y[i] = Math.max(y[i] ?? 0, p.tokensPerSecondPerChip);
      }
      return { system: r.system, vendor: r.vendor, y };
    }),
  };
}

export type Metric = 'tokensPerSecondPerChip' | 'tokensPerSecondPerSystem' | 'tokensPerSecondPerKW';

export const METRICS: { key: Metric; label: string }[] = [
  { key: 'tokensPerSecondPerChip', label: 'tokens/s per chip' },
  { key: 'tokensPerSecondPerSystem', label: 'tokens/s per system' },
  { key: 'tokensPerSecondPerKW', label: 'tokens/s per kW' },
];

export interface BestBar {
  system: string;
  vendor: SystemProjection['vendor'];
  value: number | null;
  /** Fraction of the largest value among the systems (0 when none meets the SLO). */
  share: number;
  config: string;
}

export function configLabel(p: ProjectionPoint): string {
  const par = [`TP${p.tp}`, p.dp > 1 ? `DP${p.dp}` : '', p.pp > 1 ? `PP${p.pp}` : ''].filter(Boolean).join('·');
  return `${par}, batch ${p.batch}, ${p.weights}`;
}

/** The best configuration per system under the SLOs, on one metric, scaled to the best system. */
export function bestBars(resp: ProjectResponse, metric: Metric): BestBar[] {
  const values = resp.results.map((r) => (r.best ? r.best[metric] : null));
  const max = Math.max(0, ...values.map((v) => v ?? 0));
  return resp.results.map((r, i) => ({
    system: r.system,
    vendor: r.vendor,
    value: values[i]!,
    share: max > 0 && values[i] !== null ? values[i]! / max : 0,
    config: r.best ? configLabel(r.best) : `no configuration meets TPOT ≤ ${r.sloTpotMs} ms`,
  }));
}

const CSV_COLUMNS = [
  'system',
  'vendor',
  'device',
  'chips',
  'tp',
  'dp',
  'pp',
  'weights',
  'batch',
  'tpot_ms',
  'ttft_ms',
  'tokens_per_s_per_chip',
  'tokens_per_s_per_system',
  'tokens_per_s_per_kw',
  'meets_slo',
  'on_frontier',
] as const;

/** A configuration's identity (points arrive as JSON: the frontier's are copies, not the same objects). */
export function pointKey(p: ProjectionPoint): string {
  return `${p.tp}|${p.dp}|${p.pp}|${p.weights}|${p.batch}`;
}

function csvCell(v: string | number | boolean | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Every fitting configuration of every system, one row each (RFC 4180). */
export function projectionCsv(resp: ProjectResponse): string {
  const rows = [CSV_COLUMNS.join(',')];
  for (const r of resp.results) {
    const frontier = new Set(r.frontier.map(pointKey));
    for (const p of r.points) {
      const onFrontier = frontier.has(pointKey(p));
      rows.push(
        [
          r.system,
          r.vendor,
          r.device,
          r.chips,
          p.tp,
          p.dp,
          p.pp,
          p.weights,
          p.batch,
          p.tpotMs,
          p.ttftMs,
          p.tokensPerSecondPerChip,
          p.tokensPerSecondPerSystem,
          p.tokensPerSecondPerKW,
          p.meetsSlo,
          onFrontier,
        ]
          .map(csvCell)
          .join(','),
      );
    }
  }
  return `${rows.join('\n')}\n`;
}
