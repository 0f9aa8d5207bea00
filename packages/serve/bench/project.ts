/**
 * `pnpm bench` for @tessera/serve: the wall time of projecting serving steps (timing-only: every launch costed by the
 * kernel compiler's analysis, every collective by the cluster's model), one configuration at a time and as a sweep.
 * Issue goals: one configuration (a steady-state decode step) < 1 s; a sweep of ≥ 200 configurations < 60 s.
 * The sweep is every shipped model × {dgx-h100, hgx-h200, nvl72, atlas-800t-a2, cloudmatrix384} × TP {1…64} × batch
 * {1, 16, 64, 256}, decode, context 2048; configurations that do not fit count (the capacity check is part of the
 * answer) and are reported separately. It runs twice through sweepProjections: on one thread (in this one), then on
 * worker threads (sweepThreads(): TESSERA_SWEEP_THREADS, else the cores), each with its wall and CPU seconds; the two
 * must answer the same. Before the threaded one, a pure-CPU loop on 1 and on that many threads measures how much
 * parallelism the machine gives right now (a shared machine may give less than its cores). `--json` prints the
 * figures and every row; `--threaded-only` skips the one-thread sweep.
 */
import { availableParallelism, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { loadShippedModel, SHIPPED_MODELS, type ShippedModelId } from '@tessera/models';
import {
  CapacityError,
  clearStepCostCache,
  projectStep,
  randomWorkload,
  type SweepOutcome,
  type SweepTask,
  seededRandom,
  simulateProjected,
  sweepProjections,
  sweepThreads,
} from '../src/index';

const SYSTEMS = ['dgx-h100', 'hgx-h200', 'nvl72', 'atlas-800t-a2', 'cloudmatrix384'];
const TPS = [1, 2, 4, 8, 16, 32, 64];
const BATCHES = [1, 16, 64, 256];
const json = process.argv.includes('--json');
const threadedOnly = process.argv.includes('--threaded-only');
const threads = sweepThreads();
const load0 = loadavg()[0]!;

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
  /** CPU seconds of the whole process (every thread) during the sweep. */
  cpuS: number;
  /** Wall seconds until the 200th configuration that fits came back. */
  first200S: number;
  /** A pure-CPU loop on `threads` threads, × one thread's rate, just before the sweep. */
  parallelism: number;
  load: [number, number];
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
  const parallelism = n === 1 ? 1 : (await spin(n)) / (await spin(1));
  let fitted = 0;
  let first200S = Number.NaN;
  const load0 = loadavg()[0]!;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await sweepProjections(tasks, {
    threads: n,
    onResult: (o) => {
      if (o.ok && ++fitted === 200) first200S = (performance.now() - t0) / 1e3;
    },
  });
  const seconds = (performance.now() - t0) / 1e3;
  const cpu = process.cpuUsage(cpu0);
  const row = (o: SweepOutcome<Config>): Row => ({
    ...o.key,
    ms: o.ok ? o.step.ms : null,
    wallMs: o.wallMs,
    outcome: o.ok ? 'ok' : o.failure.kind === 'capacity' ? 'capacity' : 'unsupported',
  });
  return {
    threads: n,
    rows: out.map(row),
    seconds,
    cpuS: (cpu.user + cpu.system) / 1e6,
    first200S,
    parallelism,
    load: [load0, loadavg()[0]!],
  };
}

// One configuration, cold (first in the process: compiles the kernels it launches) and warm (a new shape).
const cold = await one('llama-3.1-70b', 'dgx-h100', 8, 64);
const warm = await one('llama-3.1-70b', 'dgx-h100', 8, 48);
// One configuration with a short simulated window: the step-cost predictor's grid for the deployment (projected from
// scratch) and 64 requests (Poisson at 8 req/s, 1024 in / 128 out) served in modelled time.
clearStepCostCache();
const w0 = performance.now();
const window = await simulateProjected({
  arch: loadShippedModel('llama-3.1-70b'),
  topology: 'dgx-h100',
  tp: 8,
  seed: 1,
  workload: randomWorkload(
    {
      numPrompts: 64,
      requestRate: 8,
      burstiness: 1,
      maxConcurrency: null,
      inputLen: 1024,
      outputLen: 128,
      rangeRatio: 0.5,
      vocabSize: 128_256,
    },
    seededRandom(1),
  ),
});
const windowMs = performance.now() - w0;
const single = threadedOnly ? null : await sweep(1);
const threaded = await sweep(threads);
// Configurations whose outcome (fits or not, and the step time) differs between the two sweeps: none expected.
const differ = single
  ? single.rows.filter((r, i) => r.outcome !== threaded.rows[i]!.outcome || r.ms !== threaded.rows[i]!.ms)
  : [];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;
const count = (s: Sweep, o: Row['outcome']) => s.rows.filter((r) => r.outcome === o).length;
const summary = (s: Sweep) => ({
  threads: s.threads,
  sweep_s: s.seconds,
  cpu_s: s.cpuS,
  first200_s: s.first200S,
  configs: s.rows.length,
  fit: count(s, 'ok'),
  cpu_parallelism: s.parallelism,
  load: s.load,
});

if (json) {
  console.log(
    JSON.stringify({
      cold_ms: cold.wallMs,
      warm_ms: warm.wallMs,
      window_ms: windowMs,
      window_steps: window.steps,
      cores: availableParallelism(),
      single: single && summary(single),
      threaded: summary(threaded),
      differ: differ.length,
    }),
  );
  for (const r of (single ?? threaded).rows) console.log(JSON.stringify(r));
} else {
  console.log(`Projection speed on ${availableParallelism()} cores (load average ${load0.toFixed(2)})\n`);
  console.log(`one configuration, first in the process (compiles its kernels): ${cold.wallMs.toFixed(0)} ms`);
  console.log(
    `one configuration with a simulated window (predictor grid + 64 requests, ${window.steps} steps): ${windowMs.toFixed(0)} ms  (goal < 1000 ms: ${windowMs < 1000 ? 'met' : 'not met'})`,
  );
  console.log(
    `one configuration, kernels compiled (a new shape):               ${warm.wallMs.toFixed(0)} ms  (goal < 1000 ms: ${warm.wallMs < 1000 ? 'met' : 'not met'})`,
  );
  for (const s of [single, threaded]) {
    if (!s) continue;
    const ok = s.rows.filter((r) => r.outcome === 'ok');
    const on =
      s.threads === 1
        ? 'one thread'
        : `${s.threads} worker threads (a pure-CPU loop on ${s.threads} threads ran ${s.parallelism.toFixed(2)}× one thread's rate just before)`;
    console.log(
      `sweep on ${on}: ${s.rows.length} configurations (${ok.length} fit, ${count(s, 'capacity')} do not fit, ` +
        `${count(s, 'unsupported')} refused) in ${s.seconds.toFixed(1)} s (${s.cpuS.toFixed(1)} CPU s; load average ` +
        `${s.load[0].toFixed(2)} → ${s.load[1].toFixed(2)}); the first 200 that fit took ${s.first200S.toFixed(1)} s ` +
        `(goal ≥ 200 in < 60 s: ${s.first200S < 60 ? 'met' : 'not met'}); median per fitting configuration ` +
        `${median(ok.map((r) => r.wallMs)).toFixed(0)} ms, slowest ${Math.max(...ok.map((r) => r.wallMs)).toFixed(0)} ms ` +
        '(wall time in its thread)',
    );
  }
  if (single) {
    console.log(
      `threaded / one thread: ${(single.seconds / threaded.seconds).toFixed(2)}× for the whole sweep, ` +
        `${(single.first200S / threaded.first200S).toFixed(2)}× for the first 200 that fit; ` +
        `${differ.length} configurations answered differently${differ[0] ? ` (first: ${JSON.stringify(differ[0])})` : ''}`,
    );
  }
}
