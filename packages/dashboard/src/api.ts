/**
 * The dashboard's HTTP API: the JSON each route answers, shared by the servers that produce it (apps/llm-serve for
 * everything; `tessera ui` for the projection, topology and collective routes) and the browser code that reads it.
 * Types only: nothing here runs. Errors are OpenAI-shaped, as on /v1: `{error: {message, type, param, code}}`.
 *
 * Routes:
 *   GET  /api/info                  InfoResponse
 *   GET  /api/engine/events         text/event-stream: `event: snapshot` (EngineSnapshot) once, then `event: step`
 *                                   (StepEvent) per engine step; `: keep-alive` comments while idle
 *   GET  /api/engine/trace          the retained steps as Chrome trace JSON (Perfetto UI opens it)
 *   GET  /api/cluster[?known=KEY]   ClusterView: the serving cluster with utilisation over the recent steps
 *   GET  /api/topologies            TopologySummary[]
 *   GET  /api/topology?name=NAME    TopologyView of a built-in topology (utilisation 0)
 *   POST /api/cluster/collective    CollectiveRequest → CollectiveView
 *   GET  /api/project/options       ProjectOptionsResponse
 *   POST /api/project               ProjectRequest → ProjectResponse
 */

export interface ApiErrorBody {
  error: { message: string; type: string; param: string | null; code: number | string | null };
}

// ---------------------------------------------------------------------------------------------------------------
// /api/info

export interface InfoResponse {
  /** 'serve': llm-serve with a model (every view); 'ui': `tessera ui` (projection, cluster and playground only). */
  mode: 'serve' | 'ui';
  model: ModelCard | null;
  /** /v1/* (and the POST /api/* routes) need `Authorization: Bearer <key>`. */
  apiKeyRequired: boolean;
}

export interface ModelCard {
  /** The id clients send as `model`. */
  id: string;
  description: string;
  /** 'embedded', 'gguf', 'safetensors', 'llama2c', … */
  format: string;
  source: string;
  /** The embedded demo model: seeded random weights, never trained — its text is noise by design. */
  untrained: boolean;
  /** "8× NVIDIA H100 SXM5 80GB, dgx-h100, TP 8". */
  hardware: string;
  layers: number;
  hiddenSize: number;
  heads: number;
  kvHeads: number;
  vocabSize: number;
  dtype: string;
  maxModelLen: number;
  kvCache: { blocks: number; blockSize: number } | null;
}

// ---------------------------------------------------------------------------------------------------------------
// /api/engine/*

export interface EngineStatsJson {
  running: number;
  waiting: number;
  /** Fraction of KV blocks in use, 0–1. */
  kvCacheUsage: number;
  prefixCacheQueries: number;
  prefixCacheHits: number;
  preemptions: number;
}

export interface RankInfo {
  rank: number;
  /** "h100:3". */
  label: string;
  /** "NVIDIA H100 SXM5 80GB". */
  device: string;
  failed: boolean;
}

export type TimelineKind = 'kernel' | 'collective' | 'memcpy';

export interface TimelineOp {
  name: string;
  kind: TimelineKind;
  /** Modelled, ms from the step's start. */
  startMs: number;
  durMs: number;
}

export interface BatchItem {
  requestId: string;
  kind: 'prefill' | 'decode';
  /** Tokens this request computed in the step (a prefill chunk, or 1 for a decode). */
  tokens: number;
}

export interface StepEvent {
  step: number;
  /** Epoch ms (Date.now()) when the step finished on this machine. */
  wallMs: number;
  /** How long this machine took to compute the step, ms. */
  wallDurationMs: number;
  /** The engine's modelled clock at the step's start, and the step's modelled duration, ms. */
  modelledStartMs: number;
  modelledMs: number;
  running: number;
  waiting: number;
  kvCacheUsage: number;
  batch: BatchItem[];
  /** Per rank, what ran in the step on the modelled clock (long runs of small ops may be merged). */
  ranks: { rank: number; ops: TimelineOp[] }[];
}

export interface EngineSnapshot {
  model: ModelCard;
  stats: EngineStatsJson;
  ranks: RankInfo[];
  /** Oldest first; at most the last 64 steps. */
  recent: StepEvent[];
}

// ---------------------------------------------------------------------------------------------------------------
// Topologies and collectives

export interface TopologySummary {
  name: string;
  description: string;
  /** Catalogue id of its devices ("h100", "910c"). */
  device: string;
  vendor: 'nvidia' | 'ascend' | 'other';
  ranks: number;
}

export interface TopologyNode {
  /** Graph id: "rank3", a switch's name ("sw0", "leaf2", "spine"), … */
  id: string;
  kind: 'device' | 'switch';
  rank: number | null;
  label: string;
  /** Scale-up domain (devices and the switches inside one), for layout; null for scale-out switches. */
  domain: number | null;
  failed: boolean;
}

export interface TopologyLink {
  id: string;
  from: string;
  to: string;
  kind: 'scale-up' | 'scale-out';
  bandwidthGBs: number;
  latencyUs: number;
  cut: boolean;
  /** Bandwidth factor applied by fault injection (1: healthy). */
  degraded: number;
  /** Busy fraction, 0–1: bytes carried ÷ (bandwidth × the window). */
  utilisation: number;
}

export interface TopologyView {
  name: string;
  description: string;
  device: string;
  vendor: 'nvidia' | 'ascend' | 'other';
  ranks: number;
  nodes: TopologyNode[];
  links: TopologyLink[];
}

export interface ClusterView {
  /**
   * Names the drawing (topology, link states, failed ranks). A client that sends it back (`/api/cluster?known=KEY`)
   * gets `topology: null` while it still holds — a CloudMatrix384 is ~0.7 MB of JSON — and only `utilisation`.
   */
  topologyKey: string;
  topology: TopologyView | null;
  /** Busy fraction per link, 0–1, in the order of `topology.links`. */
  utilisation: number[];
  /** The window the utilisation covers: the retained steps, on the modelled clock. */
  window: { steps: number; modelledMs: number };
  /** Per rank, the fraction of the window spent in kernels and in collectives. */
  rankBusy: { rank: number; kernel: number; collective: number }[];
}

export type CollectiveName = 'all_reduce' | 'all_gather' | 'reduce_scatter' | 'all_to_all' | 'broadcast';

export interface CollectiveRequest {
  topology: string;
  op: CollectiveName;
  /** Bytes per rank (nccl-tests' `size`). */
  bytes: number;
  /** The first `ranks` ranks of the topology take part (default: all). */
  ranks?: number;
  failRanks?: number[];
  /** Link ids (TopologyLink.id) to cut. */
  cutLinks?: string[];
}

export interface CollectiveView {
  topology: TopologyView;
  op: CollectiveName;
  bytes: number;
  ranks: number;
  /** Null when the collective could not run (`error` says why, as NCCL/HCCL would). */
  timeMs: number | null;
  algBwGBs: number | null;
  busBwGBs: number | null;
  algorithm: string | null;
  error: string | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Projection

export interface ProjectOptionsResponse {
  models: { id: string; name: string; paramsB: number }[];
  systems: TopologySummary[];
  defaults: { model: string; systems: string[]; sloTpotMs: number; maxBatch: number };
}

export interface ProjectRequest {
  model: string;
  /** Built-in topologies, at most 6. */
  systems: string[];
  sloTpotMs: number;
  sloTtftMs?: number;
  input?: number;
  output?: number;
  /** Largest batch searched (powers of two from 1), at most 512. */
  maxBatch?: number;
}

export interface ProjectionPoint {
  tp: number;
  dp: number;
  pp: number;
  weights: string;
  batch: number;
  tpotMs: number;
  ttftMs: number | null;
  tokensPerSecondPerChip: number;
  tokensPerSecondPerSystem: number;
  tokensPerSecondPerKW: number;
  meetsSlo: boolean;
}

export interface SystemProjection {
  system: string;
  vendor: 'nvidia' | 'ascend' | 'other';
  device: string;
  chips: number;
  sloTpotMs: number;
  sloTtftMs: number | null;
  tried: number;
  fitted: number;
  /** Most tokens/s per chip among the configurations meeting the SLOs; null when none does. */
  best: ProjectionPoint | null;
  /** Every configuration that fits. */
  points: ProjectionPoint[];
  /** Pareto frontier of tokens/s per chip against TPOT, by ascending TPOT. */
  frontier: ProjectionPoint[];
}

export interface ProjectResponse {
  model: string;
  results: SystemProjection[];
  /** Server wall time spent, ms. */
  elapsedMs: number;
}
