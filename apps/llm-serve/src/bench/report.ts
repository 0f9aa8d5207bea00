/**
 * The benchmark's printed report: `vllm bench serve`'s table, row for row, with two value columns — wall clock on
 * this machine and modelled time on the simulated hardware — or, in modelled-time mode, the modelled column alone.
 */
import type { Stats } from '@tessera/serve';
import type { BenchResult, BenchSummary } from './bench';

const LABEL = 40;
const COLUMN = 14;

/** vLLM's section rule: the title centred in 50 characters of `c`. */
function rule(title: string, c = '-'): string {
  const width = 50;
  if (title === '') return c.repeat(width);
  const left = Math.floor((width - title.length) / 2);
  return c.repeat(left) + title + c.repeat(width - left - title.length);
}

/** A label and its values, every column but the last padded. */
function row(label: string, values: string[]): string {
  return [label.padEnd(LABEL), ...values.map((v, i) => (i < values.length - 1 ? v.padEnd(COLUMN) : v))]
    .join(' ')
    .trimEnd();
}

export function formatReport(r: BenchResult): string {
  const m = r.modelled;
  const wall = r.wall;
  // Counts are the same in both columns; they are repeated so every row reads across.
  const count = (label: string, v: number) => lines.push(row(label, wall ? [String(v), String(v)] : [String(v)]));
  const lines: string[] = [
    `Traffic request rate: ${r.requestRate}`,
    `Burstiness factor: ${r.burstiness.toFixed(1)}${r.burstiness === 1 ? ' (Poisson process)' : ' (Gamma distribution)'}`,
    `Maximum request concurrency: ${r.maxConcurrency ?? 'None'}`,
    `Modelled hardware: ${r.hardware ?? 'not reported by the server'}`,
  ];
  if (r.mode === 'modelled-time')
    lines.push('Clock: modelled time only (in-process discrete-event simulation, no HTTP)');
  lines.push(rule(' Serving Benchmark Result ', '='), row('', wall ? ['wall', 'modelled'] : ['modelled']));
  const both = (label: string, f: (s: BenchSummary) => number, format = (v: number) => v.toFixed(2)) => {
    const modelled = m ? format(f(m)) : 'n/a';
    lines.push(row(label, wall ? [format(f(wall)), modelled] : [modelled]));
  };
  count('Successful requests:', r.completed);
  count('Failed requests:', r.failed);
  // A modelled run lasts milliseconds: below a second, three significant digits instead of vLLM's two decimals.
  both(
    'Benchmark duration (s):',
    (s) => s.durationS,
    (v) => (v >= 1 || v === 0 ? v.toFixed(2) : v.toPrecision(3)),
  );
  count('Total input tokens:', r.totalInputTokens);
  count('Total generated tokens:', r.totalOutputTokens);
  both('Request throughput (req/s):', (s) => s.requestThroughput);
  both('Output token throughput (tok/s):', (s) => s.outputThroughput);
  both('Total Token throughput (tok/s):', (s) => s.totalTokenThroughput);
  const section = (title: string, short: string, pick: (s: BenchSummary) => Stats) => {
    lines.push(rule(title));
    both(`Mean ${short} (ms):`, (s) => pick(s).mean);
    both(`Median ${short} (ms):`, (s) => pick(s).median);
    both(`P99 ${short} (ms):`, (s) => pick(s).p99);
  };
  section('Time to First Token', 'TTFT', (s) => s.ttftMs);
  section('Time per Output Token (excl. 1st token)', 'TPOT', (s) => s.tpotMs);
  section('Inter-token Latency', 'ITL', (s) => s.itlMs);
  section('End-to-end Latency', 'E2EL', (s) => s.e2elMs);
  const b = r.batch1;
  if (b) {
    // One request alone after the load: the single-stream latency (wall = this machine's simulation speed).
    lines.push(rule(`Batch 1 (1 request alone, ${b.inputLen} in / ${b.outputLen} out)`));
    type Figures = { ttftMs: number; tpotMs: number };
    const one = (label: string, f: (t: Figures) => number) => {
      const mod = b.modelled ? f(b.modelled).toFixed(2) : b.error && !wall ? 'failed' : 'n/a';
      const values = wall ? [b.error || !b.wall ? 'failed' : f(b.wall).toFixed(2), mod] : [mod];
      lines.push(row(label, values));
    };
    one('Batch-1 TTFT (ms):', (t) => t.ttftMs);
    one('Batch-1 TPOT (ms):', (t) => t.tpotMs);
  }
  lines.push(rule('', '='));
  if (r.errors.length > 0) lines.push('Errors:', ...r.errors.map((e) => `  ${e}`));
  if (b?.error) lines.push(`Batch-1 request failed: ${b.error}`);
  return lines.join('\n');
}

/** The JSON report (requestRate is the string 'inf' for an unlimited rate: JSON has no Infinity). */
export function formatJson(r: BenchResult): string {
  return JSON.stringify(r, null, 2);
}
