/**
 * `pnpm bench` for @tessera/serve: the wall time of projecting serving steps (timing-only: every launch costed by the
 * kernel compiler's analysis, every collective by the cluster's model), one configuration at a time and as a sweep.
 * Issue goals: one configuration (a steady-state decode step) < 1 s; a sweep of ≥ 200 configurations < 60 s.
 * The sweep is every shipped model × {dgx-h100, hgx-h200, nvl72, atlas-800t-a2, cloudmatrix384} × TP {1…64} × batch
 * {1, 16, 64, 256}, decode, context 2048; configurations that do not fit count (the capacity check is part of the
 * answer) and are reported separately. It runs twice through sweepProjections: on one thread (in this one), then on
 * worker threads (sweepThreads(): TESSERA_SWEEP_THREADS, else the cores). Before them, a pure-CPU loop on 1 and on that
 * many threads measures how much parallelism the machine gives right now (a shared machine may give less than its
 * cores). `--json` prints the figures and every row; `--threaded-only` skips the one-thread sweep.
 */
import { availableParallelism, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { loadShippedModel, SHIPPED_MODELS, type ShippedModelId } from '@tessera/models';
import {
  CapacityError,
  projectStep,
  type SweepOutcome,
  type SweepTask,
  sweepProjections,
  sweepThreads,
} from '../src/index';

const SYSTEMS = ['dgx-h100', 'hgx-h200', 'nvl72', 'atlas-800t-a2', 'cloudmatrix384'];
const TPS = [1, 2, 4, 8, 16, 32, 64];
const BATCHES = [1, 16, 64, 256];
const json = process.argv.includes('--json');
const threadedOnly = process.argv.includes('--threaded-only');
const threads = sweepThreads();
const loads: number[] = [loadavg()[0]!];

interface Config {
  model: ShippedModelId;
  system: string;
  tp: number;
  batch: number;
}

interface Row extends Config {
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

/** Iterations per second of a pure-CPU loop on `n` threads at once (each ~0.5 s), summed. */
async function spin(n: number): Promise<number> {
  const code = `const { parentPort } = require('node:worker_threads');
    let x = 0; const t0 = performance.now(); const N = 1.5e8;
    for (let i = 0; i < N; i++) x = (x + i * 7) % 1000003;
    parentPort.postMessage(N / ((performance.now() - t0) / 1e3) + (x & 0));`;
  const rates = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<number>((resolve, reject) => {
          const w = new Worker(code, { eval: true });
          w.once('message', (m: number) => {
            resolve(m);
            void w.terminate();
          });
          w.once('error', reject);
        }),
    ),
  );
  return rates.reduce((s, r) => s + r, 0);
}

interface Sweep {
  threads: number;
  rows: Row[];
  seconds: number;
  /** Wall seconds until the 200th configuration that fits came back. */
  first200S: number;
}

const tasks: SweepTask<Config>[] = [];
for (const { id: model } of SHIPPED_MODELS)
  for (const system of SYSTEMS)
    for (const tp of TPS)
      for (const batch of BATCHES)
        tasks.push({
          arch: model,
          topology: system,
          tp,
          batch,
          contextLen: 2048,
          phase: 'decode',
          key: { model, system, tp, batch },
        });

async function sweep(n: number): Promise<Sweep> {
  let fitted = 0;
  let first200S = Number.NaN;
  const t0 = performance.now();
  const out = await sweepProjections(tasks, {
    threads: n,
    onResult: (o) => {
      if (o.ok && ++fitted === 200) first200S = (performance.now() - t0) / 1e3;
    },
  });
  const seconds = (performance.now() - t0) / 1e3;
  loads.push(loadavg()[0]!);
  const row = (o: SweepOutcome<Config>): Row => ({
    ...o.key,
    ms: o.ok ? o.step.ms : null,
    wallMs: o.wallMs,
    outcome: o.ok ? 'ok' : o.failure.kind === 'capacity' ? 'capacity' : 'unsupported',
  });
  return { threads: n, rows: out.map(row), seconds, first200S };
}

// One configuration, cold (first in the process: compiles the kernels it launches) and warm (a new shape).
const cold = await one('llama-3.1-70b', 'dgx-h100', 8, 64);
const warm = await one('llama-3.1-70b', 'dgx-h100', 8, 48);
const spin1 = await spin(1);
const spinN = await spin(threads);
const single = threadedOnly ? null : await sweep(1);
const threaded = await sweep(threads);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;
const summary = (s: Sweep) => ({
  threads: s.threads,
  sweep_s: s.seconds,
  first200_s: s.first200S,
  configs: s.rows.length,
  fit: s.rows.filter((r) => r.outcome === 'ok').length,
});

if (json) {
  console.log(
    JSON.stringify({
      cold_ms: cold.wallMs,
      warm_ms: warm.wallMs,
      cores: availableParallelism(),
      cpu_parallelism: spinN / spin1,
      load: loads,
      single: single && summary(single),
      threaded: summary(threaded),
    }),
  );
  for (const r of (single ?? threaded).rows) console.log(JSON.stringify(r));
} else {
  console.log(
    `Projection speed on ${availableParallelism()} cores (load average ${loads.map((l) => l.toFixed(2)).join(' → ')})\n`,
  );
  console.log(`one configuration, first in the process (compiles its kernels): ${cold.wallMs.toFixed(0)} ms`);
  console.log(
    `one configuration, kernels compiled (a new shape):               ${warm.wallMs.toFixed(0)} ms  (goal < 1000 ms: ${warm.wallMs < 1000 ? 'met' : 'not met'})`,
  );
  console.log(
    `a pure-CPU loop on ${threads} threads ran ${(spinN / spin1).toFixed(2)}× one thread's rate (the parallelism available now)`,
  );
  for (const s of [single, threaded]) {
    if (!s) continue;
    const ok = s.rows.filter((r) => r.outcome === 'ok');
    const on = s.threads === 1 ? 'one thread' : `${s.threads} worker threads`;
    console.log(
      `sweep on ${on}: ${s.rows.length} configurations (${ok.length} fit, ${s.rows.filter((r) => r.outcome === 'capacity').length} do not fit, ` +
        `${s.rows.filter((r) => r.outcome === 'unsupported').length} refused) in ${s.seconds.toFixed(1)} s; the first 200 that ` +
        `fit took ${s.first200S.toFixed(1)} s (goal ≥ 200 in < 60 s: ${s.first200S < 60 ? 'met' : 'not met'}); median per ` +
        `fitting configuration ${median(ok.map((r) => r.wallMs)).toFixed(0)} ms, slowest ` +
        `${Math.max(...ok.map((r) => r.wallMs)).toFixed(0)} ms (wall time in its thread)`,
    );
  }
  if (single)
    console.log(
      `threaded / one thread: ${(single.seconds / threaded.seconds).toFixed(2)}× for the whole sweep, ` +
        `${(single.first200S / threaded.first200S).toFixed(2)}× for the first 200 that fit`,
    );
}
