/**
 * `pnpm --filter @tessera/serve simulate -- --model llama-3.1-70b --system dgx-h100 --tp 8 --rate 4 --requests 200`:
 * a shipped model served on a built-in system in modelled time, with no weights and no token computation
 * (simulateProjected: the engine's scheduler and KV cache over projected step times), printed as `vllm bench serve`
 * prints its result. The workload is vLLM's random dataset (`randomWorkload`, the bench's flags). `--json` prints the
 * whole SimulationResult with the predictor's grid.
 */
import { parseArgs } from 'node:util';
import { loadShippedModel, SHIPPED_MODELS, type ShippedModelId } from '@tessera/models';
import {
  CapacityError,
  createProjectedEngine,
  type ProjectedKvDtype,
  type ProjectedWeightDtype,
  ProjectionError,
  randomWorkload,
  type SimulationResult,
  type Stats,
  seededRandom,
  simulateServing,
} from '../src/index';

const USAGE = `Usage: pnpm --filter @tessera/serve simulate -- [options]

Deployment
  --model <id>                   shipped model (${SHIPPED_MODELS.map((m) => m.id).join(', ')}); default llama-3.1-70b
  --system <name>                built-in topology or a JSON/YAML file; default dgx-h100
  --tp <n>                       tensor parallelism; default 8
  --ep <n>                       MoE: 1 (experts TP-sharded) or tp (expert parallel, the default)
  --dtype <bf16|f16|int8|fp8>    weights; default bf16
  --kv-dtype <bf16|f16>          KV cache; default bf16
Engine
  --max-num-seqs <n>             default 256
  --max-num-batched-tokens <n>   default 2048
  --block-size <n>               default 16
  --gpu-memory-utilization <x>   default 0.9
  --max-model-len <n>            default: the model's, capped by the KV cache
Workload (vLLM's random dataset)
  --requests <n>                 default 200
  --rate <req/s|inf>             default inf
  --burstiness <x>               Gamma shape of the inter-arrival times; 1 = Poisson (default)
  --max-concurrency <n>          closed loop: at most n in flight
  --input-len <n>                default 1024
  --output-len <n>               default 128
  --range-ratio <x>              lengths uniform in [L(1−r), L(1+r)]; default 0
  --seed <n>                     default 0
Output
  --json                         the SimulationResult and the predictor's grid as JSON`;

const { values: f } = parseArgs({
  args: process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--')),
  options: {
    model: { type: 'string', default: 'llama-3.1-70b' },
    system: { type: 'string', default: 'dgx-h100' },
    tp: { type: 'string', default: '8' },
    ep: { type: 'string' },
    dtype: { type: 'string', default: 'bf16' },
    'kv-dtype': { type: 'string', default: 'bf16' },
    'max-num-seqs': { type: 'string', default: '256' },
    'max-num-batched-tokens': { type: 'string', default: '2048' },
    'block-size': { type: 'string', default: '16' },
    'gpu-memory-utilization': { type: 'string', default: '0.9' },
    'max-model-len': { type: 'string' },
    requests: { type: 'string', default: '200' },
    rate: { type: 'string', default: 'inf' },
    burstiness: { type: 'string', default: '1' },
    'max-concurrency': { type: 'string' },
    'input-len': { type: 'string', default: '1024' },
    'output-len': { type: 'string', default: '128' },
    'range-ratio': { type: 'string', default: '0' },
    seed: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (f.help) {
  console.log(USAGE);
  process.exit(0);
}

function fail(message: string): never {
  console.error(`simulate: ${message}`);
  process.exit(2);
}
/** A numeric flag: an integer ≥ min, or (real) a finite number > 0. */
function num(name: string, v: string | undefined, o: { integer?: boolean; min?: number } = {}): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  const ok = o.integer ? Number.isSafeInteger(x) && x >= (o.min ?? 1) : Number.isFinite(x) && x >= (o.min ?? 0);
  if (!ok) fail(`--${name} ${v}: expected ${o.integer ? `an integer ≥ ${o.min ?? 1}` : 'a number'}.`);
  return x;
}
const int = (name: keyof typeof f, min = 1) => num(name, f[name] as string | undefined, { integer: true, min });

if (!SHIPPED_MODELS.some((m) => m.id === f.model)) fail(`--model ${f.model}: not a shipped model (see --help).`);
const arch = loadShippedModel(f.model as ShippedModelId);
const rate = f.rate === 'inf' ? Number.POSITIVE_INFINITY : num('rate', f.rate)!;
const workload = randomWorkload(
  {
    numPrompts: int('requests')!,
    requestRate: rate,
    burstiness: num('burstiness', f.burstiness)!,
    maxConcurrency: int('max-concurrency') ?? null,
    inputLen: int('input-len')!,
    outputLen: int('output-len')!,
    rangeRatio: num('range-ratio', f['range-ratio'])!,
    vocabSize: arch.vocabSize,
  },
  seededRandom(int('seed', 0)!),
);

const t0 = performance.now();
let built: Awaited<ReturnType<typeof createProjectedEngine>>;
try {
  built = await createProjectedEngine({
    arch,
    topology: f.system,
    tp: int('tp')!,
    ep: int('ep'),
    weightDtype: f.dtype as ProjectedWeightDtype,
    kvDtype: f['kv-dtype'] as ProjectedKvDtype,
    maxNumSeqs: int('max-num-seqs'),
    maxNumBatchedTokens: int('max-num-batched-tokens'),
    blockSize: int('block-size'),
    gpuMemoryUtilization: num('gpu-memory-utilization', f['gpu-memory-utilization']),
    maxModelLen: int('max-model-len'),
    seed: int('seed', 0),
  });
} catch (e) {
  if (e instanceof CapacityError || e instanceof ProjectionError) fail(e.message);
  throw e;
}
const { engine, predictor } = built;
const t1 = performance.now();
const r = await simulateServing(engine, workload, { seed: int('seed', 0) });
const t2 = performance.now();

if (f.json) {
  console.log(
    JSON.stringify(
      { model: f.model, grid: predictor.grid, memory: predictor.memory, kv: engine.kvInfo, result: r },
      (_, v) => (v === Number.POSITIVE_INFINITY ? 'inf' : v),
      2,
    ),
  );
} else console.log(report(r).join('\n'));

function report(r: SimulationResult): string[] {
  const rule = (title: string, c = '-') => {
    const left = Math.floor((50 - title.length) / 2);
    return c.repeat(left) + title + c.repeat(50 - left - title.length);
  };
  const row = (label: string, v: number | string) =>
    `${label.padEnd(40)} ${typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : v}`;
  const s = r.summary;
  const section = (title: string, short: string, st: Stats) => [
    rule(title),
    row(`Mean ${short} (ms):`, st.mean),
    row(`Median ${short} (ms):`, st.median),
    row(`P99 ${short} (ms):`, st.p99),
  ];
  const kv = engine.kvInfo;
  const g = predictor.grid;
  return [
    `Model: ${f.model} (projected: no weights, no token computation)`,
    `Modelled hardware: ${r.hardware}`,
    `KV cache: ${kv.deviceBlocks} blocks of ${kv.blockSize} tokens per device (${((kv.deviceBlocks * kv.blockBytes) / 2 ** 30).toFixed(1)} GiB)`,
    `Traffic request rate: ${Number.isFinite(rate) ? rate : 'inf'}`,
    `Burstiness factor: ${f.burstiness}`,
    `Maximum request concurrency: ${workload.maxConcurrency ?? 'None'}`,
    'Clock: modelled time (discrete-event simulation over projected step times)',
    rule(' Serving Benchmark Result ', '='),
    row('Successful requests:', r.completed),
    row('Failed requests:', r.failed),
    row('Benchmark duration (s):', s.durationS),
    row('Total input tokens:', r.totalInputTokens),
    row('Total generated tokens:', r.totalOutputTokens),
    row('Request throughput (req/s):', s.requestThroughput.toFixed(2)),
    row('Output token throughput (tok/s):', s.outputThroughput.toFixed(2)),
    row('Total Token throughput (tok/s):', s.totalTokenThroughput.toFixed(2)),
    ...section('Time to First Token', 'TTFT', s.ttftMs),
    ...section('Time per Output Token (excl. 1st token)', 'TPOT', s.tpotMs),
    ...section('Inter-token Latency', 'ITL', s.itlMs),
    ...section('End-to-end Latency', 'E2EL', s.e2elMs),
    rule('', '='),
    ...(r.errors.length > 0 ? ['Errors:', ...r.errors.map((e) => `  ${e}`)] : []),
    `Host: step-cost grid ${(t1 - t0).toFixed(0)} ms (${g.points - g.cachedPoints} projections of one- and two-layer models), ` +
      `simulation ${(t2 - t1).toFixed(0)} ms (${r.steps} engine steps)`,
  ];
}
