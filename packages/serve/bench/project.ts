/**
 * `pnpm bench` for @tessera/serve: the wall time of projecting serving steps (timing-only: every launch costed by the
 * kernel compiler's analysis, every collective by the cluster's model), one configuration at a time and as a sweep.
 * Issue goals: one configuration (a steady-state decode step) < 1 s; a sweep of ≥ 200 configurations < 60 s.
 * The sweep is every shipped model × {dgx-h100, hgx-h200, nvl72, atlas-800t-a2, cloudmatrix384} × TP {1…64} × batch
 * {1, 16, 64, 256}, decode, context 2048; configurations that do not fit count (the capacity check is part of the
 * answer) and are reported separately.
 */
import { availableParallelism, loadavg } from 'node:os';
import { loadShippedModel, SHIPPED_MODELS, type ShippedModelId } from '@tessera/models';
import { CapacityError, projectStep } from '../src/index';

const SYSTEMS = ['dgx-h100', 'hgx-h200', 'nvl72', 'atlas-800t-a2', 'cloudmatrix384'];
const TPS = [1, 2, 4, 8, 16, 32, 64];
const BATCHES = [1, 16, 64, 256];
const json = process.argv.includes('--json');
const load0 = loadavg()[0]!;

interface Row {
  model: string;
  system: string;
  tp: number;
  batch: number;
  ms: number | null;
  wallMs: number;
  outcome: 'ok' | 'capacity' | 'unsupported';
}

async function one(model: ShippedModelId, system: string, tp: number, batch: number): Promise<Row> {
  const arch = loadShippedModel(model);
  const t0 = performance.now();
  try {
    const r = await projectStep({ arch, topology: system, tp, batch, contextLen: 2048, phase: 'decode' });
    return { model, system, tp, batch, ms: r.ms, wallMs: performance.now() - t0, outcome: 'ok' };
  } catch (e) {
    const outcome = e instanceof CapacityError ? 'capacity' : 'unsupported';
    return { model, system, tp, batch, ms: null, wallMs: performance.now() - t0, outcome };
  }
}

// One configuration, cold (first in the process: compiles the kernels it launches) and warm (a new shape).
const cold = await one('llama-3.1-70b', 'dgx-h100', 8, 64);
const warm = await one('llama-3.1-70b', 'dgx-h100', 8, 48);

const rows: Row[] = [];
const t0 = performance.now();
let first200S = Number.NaN; // wall seconds until the 200th configuration that fits was projected
for (const { id: model } of SHIPPED_MODELS)
  for (const system of SYSTEMS)
    for (const tp of TPS)
      for (const batch of BATCHES) {
        rows.push(await one(model, system, tp, batch));
        if (Number.isNaN(first200S) && rows.filter((r) => r.outcome === 'ok').length === 200) {
          first200S = (performance.now() - t0) / 1e3;
        }
      }
const sweepS = (performance.now() - t0) / 1e3;
const ok = rows.filter((r) => r.outcome === 'ok');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;

if (json) {
  console.log(
    JSON.stringify({
      cold_ms: cold.wallMs,
      warm_ms: warm.wallMs,
      sweep_s: sweepS,
      first200_s: first200S,
      configs: rows.length,
    }),
  );
  for (const r of rows) console.log(JSON.stringify(r));
} else {
  console.log(`Projection speed on ${availableParallelism()} cores (one thread; load average ${load0.toFixed(2)})\n`);
  console.log(`one configuration, first in the process (compiles its kernels): ${cold.wallMs.toFixed(0)} ms`);
  console.log(
    `one configuration, kernels compiled (a new shape):               ${warm.wallMs.toFixed(0)} ms  (goal < 1000 ms: ${warm.wallMs < 1000 ? 'met' : 'not met'})`,
  );
  console.log(
    `sweep: ${rows.length} configurations (${ok.length} fit, ${rows.filter((r) => r.outcome === 'capacity').length} do not fit, ` +
      `${rows.filter((r) => r.outcome === 'unsupported').length} refused) in ${sweepS.toFixed(1)} s; the first 200 that ` +
      `fit took ${first200S.toFixed(1)} s (goal ≥ 200 in < 60 s: ${first200S < 60 ? 'met' : 'not met'}); median per ` +
      `fitting configuration ${median(ok.map((r) => r.wallMs)).toFixed(0)} ms, slowest ` +
      `${Math.max(...ok.map((r) => r.wallMs)).toFixed(0)} ms`,
  );
}
