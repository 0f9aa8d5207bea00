/**
 * The dashboard's API on the serving engine (the wire types are @tessera/dashboard's api.ts):
 *
 *   GET /api/info            InfoResponse: the model card, whether the API key is required
 *   GET /api/engine/events   the step stream (engine-events.ts)
 *   GET /api/engine/trace    the retained steps as Chrome trace JSON, a download for Perfetto UI
 *   GET /api/cluster         ClusterView: the serving cluster, its faults, link utilisation and per-rank busy time
 *                            over the retained steps
 *
 * and @tessera/cli's UI routes (topologies, collectives, projections), mounted as they are: GET handlers get the
 * query, POST handlers the parsed body; their UiApiError becomes the OpenAI-shaped error (errors.ts).
 *
 * What the engine pays: its step feed records nothing until someone looks. The first request for one of the engine
 * views above (the dashboard asks /api/info as it opens) turns on the feed's retained window — the last 64 steps,
 * their kernels and collectives (the runtime's profiler) and the bytes each link carried — and it stays on from then,
 * so the trace and the cluster view cover the steps run since, even with no tab open. A server nobody opens the
 * dashboard of (a benchmark) never profiles. An open event stream is a listener and records as well.
 */
import { linkUtilisation, topologyView, UI_API_ROUTES } from '@tessera/cli/ui';
import type {
  ClusterView,
  EngineSnapshot,
  InfoResponse,
  ModelCard,
  RankInfo as WireRankInfo,
  StepEvent as WireStepEvent,
} from '@tessera/dashboard';
import { EngineCore, type FeedRank, type StepEvent, type StepFeed } from '@tessera/serve';
import type { Handler, ServeContext } from './context';
import { streamEngineEvents } from './engine-events';
import { ApiError } from './errors';
import { sendJson } from './http';

type Routes = Record<string, Record<string, Handler>>;

/**
 * @tessera/serve declares the feed's event shapes itself (the engine does not depend on the dashboard); these make
 * the compiler check that they and the dashboard's wire types (src/api.ts) stay the same, in both directions.
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const WIRE_TYPES_MATCH: [Same<StepEvent, WireStepEvent>, Same<FeedRank, WireRankInfo>] = [true, true];
void WIRE_TYPES_MATCH;

/** The engine's step feed and cluster, or null for an engine without one (a test's scripted engine). */
function coreOf(ctx: ServeContext): EngineCore | null {
  return ctx.engine instanceof EngineCore ? ctx.engine : null;
}

function feedOf(ctx: ServeContext): StepFeed {
  const core = coreOf(ctx);
  if (!core) {
    throw new ApiError(503, 'This engine has no step feed: the engine views need the serving engine (LLMEngine).');
  }
  // Looking at an engine view starts the window (see above); retaining twice is harmless.
  core.feed.retain(true);
  return core.feed;
}

export function modelCard(ctx: ServeContext): ModelCard {
  const { engine } = ctx;
  const { model } = engine;
  const c = model.config;
  const kv = coreOf(ctx)?.kvInfo;
  return {
    id: ctx.modelName,
    description: model.description,
    format: model.format,
    source: model.source,
    // The embedded model's weights are seeded random numbers, never trained (its description says so too).
    untrained: model.format === 'embedded',
    hardware: engine.hardware,
    layers: c.numLayers,
    hiddenSize: c.hiddenSize,
    heads: c.numHeads,
    kvHeads: c.numKvHeads,
    vocabSize: c.vocabSize,
    dtype: c.dtype,
    maxModelLen: engine.maxModelLen,
    kvCache: kv ? { blocks: kv.numBlocks, blockSize: kv.blockSize } : null,
  };
}

function snapshot(ctx: ServeContext, feed: StepFeed): EngineSnapshot {
  return { model: modelCard(ctx), stats: ctx.engine.stats(), ranks: feed.ranks(), recent: feed.recent() };
}

/** The window's bytes per link id as the array linkUtilisation reads. */
function bytesByLink(links: number, bytes: ReadonlyMap<number, number>): Float64Array {
  const out = new Float64Array(links);
  for (const [id, b] of bytes) if (id >= 0 && id < links) out[id] = b;
  return out;
}

function clusterView(ctx: ServeContext, known: string | null): ClusterView {
  const feed = feedOf(ctx);
  const core = coreOf(ctx)!;
  const devices = core.stepModel.devices;
  if (!devices) throw new ApiError(503, 'This engine runs on no simulated cluster, so there is no cluster to show.');
  const { cluster } = devices;
  const totals = feed.windowTotals();
  const ranks = feed.ranks();
  const busy = ranks.map(() => ({ kernel: 0, collective: 0 }));
  for (const e of feed.recent()) {
    for (const r of e.ranks) {
      const b = busy[r.rank];
      if (!b) continue;
      for (const op of r.ops) if (op.kind !== 'memcpy') b[op.kind] += op.durMs;
    }
  }
  const frac = (ms: number) => (totals.modelledMs > 0 ? Math.min(1, ms / totals.modelledMs) : 0);
  const utilisation = linkUtilisation(
    cluster.graph,
    bytesByLink(cluster.graph.links.length, totals.linkBytes),
    totals.modelledMs / 1000,
  );
  const failedRanks = ranks.filter((r) => r.failed).map((r) => r.rank);
  // The drawing changes only with link states (the graph's version) and failed ranks.
  const topologyKey = `${cluster.spec.name}|${cluster.graph.version}|${[...cluster.failedRanks(), ...failedRanks].join(',')}`;
  return {
    topologyKey,
    topology:
      known === topologyKey
        ? null
        : topologyView(cluster, cluster.spec.name, {
            description: `${cluster.spec.description ?? cluster.spec.name}; serving on ranks 0–${ranks.length - 1}`,
            utilisation,
            failedRanks,
          }),
    // Four decimals: what a drawing can show, and a fifth of the bytes.
    utilisation: Array.from(utilisation, (u) => Math.round(u * 1e4) / 1e4),
    window: { steps: totals.steps, modelledMs: totals.modelledMs },
    rankBusy: busy.map((b, rank) => ({ rank, kernel: frac(b.kernel), collective: frac(b.collective) })),
  };
}

function info(ctx: ServeContext, apiKeyRequired: boolean): InfoResponse {
  if (coreOf(ctx)) feedOf(ctx); // the dashboard opens with /api/info: start the window now
  return { mode: 'serve', model: modelCard(ctx), apiKeyRequired };
}

/** @tessera/cli's UI routes as this server's handlers. */
function uiRoutes(): Routes {
  const out: Routes = {};
  for (const [path, route] of Object.entries(UI_API_ROUTES)) {
    const handlers: Record<string, Handler> = {};
    const { GET, POST } = route;
    if (GET) {
      handlers.GET = async (_ctx, ex) =>
        sendJson(ex.res, 200, await GET(new URL(ex.req.url ?? '/', 'http://localhost').searchParams));
    }
    if (POST) handlers.POST = async (_ctx, ex) => sendJson(ex.res, 200, await POST(ex.body));
    out[path] = handlers;
  }
  return out;
}

/** The dashboard's routes for the server's table (the engine's own views override a UI route of the same path). */
export function dashboardRoutes(options: { apiKeyRequired: boolean }): Routes {
  return {
    ...uiRoutes(),
    '/api/info': { GET: (ctx, ex) => sendJson(ex.res, 200, info(ctx, options.apiKeyRequired)) },
    '/api/engine/events': {
      GET: (ctx, ex) => {
        const feed = feedOf(ctx);
        streamEngineEvents(ex, {
          snapshot: () => snapshot(ctx, feed),
          onStep: (l) => feed.onStep(l),
          onClose: (l) => feed.onClose(l),
        });
      },
    },
    '/api/engine/trace': {
      GET: (ctx, ex) => {
        const trace = feedOf(ctx).trace();
        sendJson(ex.res, 200, trace, {
          'Content-Disposition': 'attachment; filename="tessera-engine-trace.json"',
          'Cache-Control': 'no-store',
        });
      },
    },
    '/api/cluster': {
      GET: (ctx, ex) => {
        const known = new URL(ex.req.url ?? '/', 'http://localhost').searchParams.get('known');
        sendJson(ex.res, 200, clusterView(ctx, known));
      },
    },
  };
}
