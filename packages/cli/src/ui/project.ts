/**
 * GET /api/project/options and POST /api/project: `tessera project --slo-tpot … [--slo-ttft … --input … --output …]
 * --max-batch …` for up to six built-in systems, answered with every fitting configuration, the Pareto frontier and
 * the best. The search is the CLI's own (planSearch in commands/project-search.ts); every system's projections run in
 * one sweep on worker threads, so the server's event loop stays free while it works, and searches run one at a time
 * (each already uses the machine's cores).
 */

import type { ProjectionPoint, ProjectOptionsResponse, ProjectResponse, SystemProjection } from '@tessera/dashboard';
import { countParameters, loadShippedModel, SHIPPED_MODELS, type ShippedModelId } from '@tessera/models';
import { SweepPool, sweepThreads } from '@tessera/serve';
import { parseProjectArgs, systemSize } from '../commands/project';
import { planSearch, type SearchFit, type SearchPlan, type SearchSpace } from '../commands/project-search';
import { UiApiError } from './errors';
import { BUILTIN_NAMES, builtinSpec, topologySummary, vendorOf } from './topology';
import { bad, integer, list, objectBody, oneOf, positive } from './validate';

export const MAX_SYSTEMS = 6;
export const MAX_BATCH = 512;

/** `tessera project`'s own defaults for what the dashboard does not ask: --context, --weights, --kv, --batch. */
const CLI_DEFAULTS = { batch: '64', context: '2048', weights: 'bf16', kv: 'bf16', phase: 'decode', acceptance: '0.7' };

export const PROJECT_DEFAULTS: ProjectOptionsResponse['defaults'] = {
  model: 'llama-3.1-8b',
  systems: ['dgx-h100', 'atlas-800t-a2'],
  sloTpotMs: 50,
  maxBatch: 64,
};

const MODEL_IDS = SHIPPED_MODELS.map((m) => m.id);
let models: ProjectOptionsResponse['models'] | null = null;

export async function projectOptions(): Promise<ProjectOptionsResponse> {
  models ??= SHIPPED_MODELS.map((m) => ({
    id: m.id,
    name: m.hubId,
    paramsB: countParameters(loadShippedModel(m.id)).total.total / 1e9,
  }));
  return {
    models,
    systems: BUILTIN_NAMES.map((n) => topologySummary(builtinSpec(n, 'name'))),
    defaults: PROJECT_DEFAULTS,
  };
}

interface CheckedProject {
  model: ShippedModelId;
  systems: string[];
  space: SearchSpace;
}

const FIELDS = ['model', 'systems', 'sloTpotMs', 'sloTtftMs', 'input', 'output', 'maxBatch'] as const;

function check(body: unknown): CheckedProject {
  const b = objectBody(body, FIELDS);
  const model = oneOf(b.model, 'model', MODEL_IDS, 'model');
  if (!Array.isArray(b.systems) || b.systems.length === 0)
    throw bad('systems', `'systems' must be a non-empty array of built-in topologies (${BUILTIN_NAMES.join(', ')}).`);
  const systems = list(b.systems, 'systems', MAX_SYSTEMS, (x, p) => builtinSpec(x, p).name);
  const sloTpotMs = positive(b.sloTpotMs, 'sloTpotMs', 'ms');
  const sloTtftMs = b.sloTtftMs === undefined ? undefined : positive(b.sloTtftMs, 'sloTtftMs', 'ms');
  const context = loadShippedModel(model).maxPositionEmbeddings;
  const tokens = (v: unknown, p: string) =>
    v === undefined ? undefined : integer(v, p, 1, context, ` (${model}'s context)`);
  const inputLen = tokens(b.input, 'input');
  const outputLen = tokens(b.output, 'output');
  if (inputLen !== undefined && outputLen !== undefined && inputLen + outputLen > context)
    throw bad('output', `input + output (${inputLen + outputLen}) exceed ${model}'s context of ${context} tokens.`);
  const maxBatch = b.maxBatch === undefined ? PROJECT_DEFAULTS.maxBatch : integer(b.maxBatch, 'maxBatch', 1, MAX_BATCH);
  if ((maxBatch & (maxBatch - 1)) !== 0)
    throw bad('maxBatch', `'maxBatch' must be a power of two (1, 2, 4, … ${MAX_BATCH}), got ${maxBatch}.`);
  return { model, systems, space: { sloTpotMs, sloTtftMs, inputLen, outputLen, maxBatch } };
}

const point = (p: SearchFit): ProjectionPoint => ({
  tp: p.tp,
  dp: p.dp,
  pp: p.pp,
  weights: p.weights,
  batch: p.batch,
  tpotMs: p.tpotMs,
  ttftMs: p.ttftMs,
  tokensPerSecondPerChip: p.tokensPerSecondPerChip,
  tokensPerSecondPerSystem: p.tokensPerSecondPerSystem,
  tokensPerSecondPerKW: p.tokensPerSecondPerKW,
  meetsSlo: p.meetsSlo,
});

/** Searches running or waiting at most: past it a request is refused (503) rather than queued without bound. */
export const MAX_PENDING_SEARCHES = 3;

/**
 * One pool of sweep threads for the process, kept between searches: a search's projections are milliseconds each,
 * and a pool started per request spent most of a small search starting threads and compiling kernels again. Worker
 * threads even for one configuration (the event loop stays free): at least two, at most the sweep's default (the
 * cores, or TESSERA_SWEEP_THREADS). Idle threads exit after a minute and never keep the process alive.
 */
let pool: SweepPool | null = null;
const sweepPool = () => (pool ??= new SweepPool({ threads: Math.max(2, sweepThreads(undefined)) }));

/** Searches run one after another: each spreads over the cores already. */
let queue: Promise<unknown> = Promise.resolve();
let pending = 0;

/** POST /api/project: a ProjectRequest, checked before anything runs. */
export async function project(body: unknown): Promise<ProjectResponse> {
  const req = check(body);
  if (pending >= MAX_PENDING_SEARCHES) {
    throw new UiApiError(
      503,
      `${pending} projection searches are already running or waiting (at most ${MAX_PENDING_SEARCHES}); send this one again when one of them has answered.`,
    );
  }
  pending++;
  const next = queue.then(() => search(req)).finally(() => pending--);
  queue = next.catch(() => {});
  return next;
}

async function search(req: CheckedProject): Promise<ProjectResponse> {
  const start = performance.now();
  const options = parseProjectArgs({ ...CLI_DEFAULTS, model: req.model, compare: req.systems.join(',') });
  const plans: SearchPlan[] = req.systems.map((s) => planSearch(options, s, req.space, systemSize(s)));
  const tasks = plans.flatMap((p) => p.tasks);
  const outcomes = await sweepPool().sweep(tasks);
  const results: SystemProjection[] = [];
  let from = 0;
  for (const [i, plan] of plans.entries()) {
    const r = await plan.finish(outcomes.slice(from, from + plan.tasks.length));
    from += plan.tasks.length;
    const spec = builtinSpec(req.systems[i], 'systems');
    results.push({
      system: r.system,
      vendor: vendorOf(spec),
      device: spec.device,
      chips: spec.nodes * spec.devicesPerNode,
      sloTpotMs: r.sloTpotMs,
      sloTtftMs: r.sloTtftMs,
      tried: r.tried,
      fitted: r.fitted,
      best: r.best && point(r.best),
      points: r.fits.map(point),
      frontier: r.frontier.map(point),
    });
  }
  return { model: req.model, results, elapsedMs: performance.now() - start };
}
