/**
 * A simulated cluster: a topology, one runtime holding a device per rank, the collective cost model, and fault
 * injection. `createCluster({ topology: 'dgx-h100' })` is the entry point.
 */

import { readFileSync } from 'node:fs';
import {
  createRuntime,
  type Device,
  type DeviceBuffer,
  type ExecMode,
  getBackend,
  noteDeviceCopy,
  type Runtime,
  TesseraError,
} from '@tessera/device';
import { CollectiveCostModel, LINK_EFFICIENCY } from './collectives/cost';
import { type CommHost, Communicator, LinkTraffic } from './communicator';
import { DeviceMesh } from './mesh';
import { evaluatePhase } from './network/flows';
import { TopologyGraph } from './topology/graph';
import {
  builtinTopology,
  parseTopologySpec,
  type TopologySpec,
  topologyDevice,
  validateTopologySpec,
} from './topology/spec';

export interface ClusterOptions {
  /** A built-in name (`dgx-h100`, `cloudmatrix384`, `dgx-h100x4`), a spec object, or a path to a JSON/YAML file. */
  topology: string | TopologySpec;
  /** Use only the first `ranks` devices (default: all). */
  ranks?: number;
  mode?: ExecMode;
  /** Modelled time after which a collective waiting on a failed rank fails (default 120 s, HCCL's connect timeout). */
  timeoutMs?: number;
  profile?: boolean;
  hostMemoryLimit?: number;
}

export function resolveTopology(t: string | TopologySpec): TopologySpec {
  if (typeof t !== 'string') return validateTopologySpec(t, `topology '${(t as TopologySpec).name ?? '?'}'`);
  if (/\.(json|ya?ml)$/i.test(t)) {
    let text: string;
    try {
      text = readFileSync(t, 'utf8');
    } catch (e) {
      throw new TesseraError('InvalidValue', `Cannot read topology file '${t}': ${(e as Error).message}.`);
    }
    return parseTopologySpec(text, t);
  }
  return builtinTopology(t);
}

export class Cluster implements CommHost {
  readonly graph: TopologyGraph;
  readonly costModel: CollectiveCostModel;
  readonly devices: readonly Device[];
  readonly timeoutMs: number;
  readonly functional: boolean;
  /** Bytes per link carried by this cluster's collectives, counted while `traffic.enabled` (off by default). */
  readonly traffic = new LinkTraffic();
  private readonly failed = new Set<number>();
  private worldComm: Communicator | null = null;

  constructor(
    readonly spec: TopologySpec,
    readonly runtime: Runtime,
    options: { timeoutMs?: number },
  ) {
    this.graph = new TopologyGraph(spec);
    this.costModel = new CollectiveCostModel(this.graph);
    this.devices = runtime.allDevices;
    this.timeoutMs = checkTimeout(options.timeoutMs);
    this.functional = runtime.mode === 'functional';
  }

  get size(): number {
    return this.devices.length;
  }

  /** The communicator over every rank (`ncclCommInitAll`). */
  get world(): Communicator {
    this.worldComm ??= new Communicator(
      this,
      this.devices.map((_, i) => i),
    );
    return this.worldComm;
  }

  /** A communicator over the given ranks, in that order. */
  communicator(ranks: readonly number[]): Communicator {
    const seen = new Set<number>();
    for (const r of ranks) {
      if (!Number.isInteger(r) || r < 0 || r >= this.size)
        throw new TesseraError('InvalidValue', `communicator: rank ${r} is not in this ${this.size}-rank cluster.`);
      if (seen.has(r)) throw new TesseraError('InvalidValue', `communicator: rank ${r} is listed twice.`);
      seen.add(r);
    }
    if (ranks.length === 0) throw new TesseraError('InvalidValue', 'communicator: give at least one rank.');
    return new Communicator(this, ranks);
  }

  /** A device mesh with named axes over the first ∏ sizes ranks, e.g. `{ dp: 2, tp: 8 }` (last axis fastest). */
  mesh(axes: Record<string, number>): DeviceMesh {
    return new DeviceMesh(this, axes);
  }

  failedRanks(): ReadonlySet<number> {
    return this.failed;
  }

  /** Fault injection: rank `r`'s device fails; collectives that include it time out; others keep working. */
  failDevice(r: number, reason = 'injected failure'): void {
    this.checkRank(r);
    this.failed.add(r);
    this.devices[r]!.fail(reason);
  }

  /** Brings a failed rank back (its device is reset: its memory is gone, as after a real restart). */
  recoverDevice(r: number): void {
    this.checkRank(r);
    this.failed.delete(r);
    this.devices[r]!.reset();
  }

  /** Degrades links to `factor` of their bandwidth: by name ("rank3→sw0"), or the direct links between two ranks. */
  degradeLink(link: string | [number, number], factor: number): void {
    if (!(factor > 0 && factor <= 1))
      throw new TesseraError('InvalidValue', `degradeLink: factor ${factor} must be in (0, 1] (use cutLink for 0).`);
    this.graph.setLinkState(this.graph.findLinks(link), { factor });
  }

  /** Cuts links; transfers route around them when the fabric has another path, else fail with PeerUnreachable. */
  cutLink(link: string | [number, number]): void {
    this.graph.setLinkState(this.graph.findLinks(link), { cut: true });
  }

  restoreLink(link: string | [number, number]): void {
    this.graph.setLinkState(this.graph.findLinks(link), { cut: false, factor: 1 });
  }

  private checkRank(r: number): void {
    if (!Number.isInteger(r) || r < 0 || r >= this.size)
      throw new TesseraError('InvalidValue', `Rank ${r} is not in this ${this.size}-rank cluster.`);
  }

  /**
   * Copies `src` (on one rank) to `dst` (on another) over the topology — `cudaMemcpyPeer` with the fabric's bandwidth —
   * on the destination's stream. Returns modelled µs.
   */
  memcpyPeer(dst: DeviceBuffer, src: DeviceBuffer, bytes = Math.min(dst.byteLength, src.byteLength)): number {
    const from = this.devices.indexOf(src.owner as Device);
    const to = this.devices.indexOf(dst.owner as Device);
    if (from < 0 || to < 0)
      throw new TesseraError('InvalidValue', 'memcpyPeer: both buffers must live on devices of this cluster.');
    src.assertLive('memcpyPeer');
    dst.assertLive('memcpyPeer');
    if (bytes > dst.byteLength || bytes > src.byteLength)
      throw new TesseraError('InvalidValue', `memcpyPeer: ${bytes} bytes do not fit both buffers.`);
    const c = evaluatePhase(this.graph, [{ src: from, dst: to, weight: bytes }], LINK_EFFICIENCY);
    const us = from === to ? 0 : 2 + c.latencyUs + c.secondsPerByte * 1e6;
    const d = this.devices[to]!;
    const start = Math.max(
      d.readyTime(undefined, 'comm', 'memcpyPeer'),
      this.devices[from]!.readyTime(undefined, 'comm', 'memcpyPeer'),
    );
    if (this.functional) dst.bytes().set(src.bytes().subarray(0, bytes));
    noteDeviceCopy(dst, src, bytes); // the sanitizer's initcheck: what was initialised in src is in dst
    d.occupy(undefined, 'comm', start, us / 1000, { kind: 'memcpy', name: 'memcpy peer', bytes });
    return us;
  }
}

/**
 * The modelled timeout of a collective waiting for a failed rank: a finite number of milliseconds > 0 (a survivor's
 * clock advances by it, so NaN or Infinity would corrupt every later time on that rank).
 */
function checkTimeout(v: unknown): number {
  if (v === undefined) return 120_000;
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  throw new TesseraError(
    'InvalidValue',
    `createCluster: timeoutMs must be a finite number of milliseconds > 0, got ${typeof v === 'number' ? v : typeof v === 'string' ? `'${v}'` : v === null ? 'null' : typeof v}.`,
    { hint: 'Omit it for the default of 120 000 ms (120 s, HCCL_EXEC_TIMEOUT-like).', parameter: 'timeoutMs' },
  );
}

/**
 * Creates a cluster: the topology's devices in one runtime of its backend, found in the backend registry by the name
 * the topology gives (`TESSERA_BACKEND` does not apply: a topology's devices belong to one backend). A topology whose
 * device is `auto` (`webgpu-local`) gets the backend's own device, and `cluster.spec.device` names it.
 */
export async function createCluster(options: ClusterOptions): Promise<Cluster> {
  if (options === null || typeof options !== 'object') {
    throw new TesseraError('InvalidValue', `createCluster: options must be an object like { topology: 'dgx-h100' }.`);
  }
  checkTimeout(options.timeoutMs);
  const spec = resolveTopology(options.topology);
  const graph = new TopologyGraph(spec);
  const n = options.ranks ?? graph.ranks;
  if (!Number.isInteger(n) || n < 1 || n > graph.ranks) {
    throw new TesseraError('InvalidValue', `ranks = ${n}: '${spec.name}' has ${graph.ranks} ranks.`, {
      hint: `Use 1..${graph.ranks}, or a larger topology (e.g. ${spec.name}x2).`,
    });
  }
  // The topology names its backend; the registry holds it (the package entry registers the backends).
  const backend = await getBackend(spec.backend);
  // `auto` is the backend's own device (webgpu: the adapter, known only now); the cluster's spec names the real id.
  const resolved = { ...spec, device: topologyDevice(backend, spec).id };
  const runtime = await createRuntime({
    backend,
    devices: resolved.device,
    count: n,
    mode: options.mode ?? 'functional',
    profile: options.profile,
    hostMemoryLimit: options.hostMemoryLimit,
  });
  return new Cluster(resolved, runtime, options);
}
