/**
 * Communicators, named and behaving as NCCL's / HCCL's: a set of ranks (devices), collectives over them, point-to-point
 * send/recv inside groups, and split by color and key. Because one host thread drives every simulated device, each
 * call takes one buffer per rank (as `ncclCommInitAll` + a group of per-rank calls would), enqueues the collective on
 * each rank's stream — it starts when every rank's stream is ready and ends at the same moment on all of them — moves
 * the data (functional mode) and costs it with the topology's model.
 */
import { type Device, type DeviceBuffer, DTYPE_INFO, type Stream, TesseraError } from '@tessera/device';
import {
  type ByteFlow,
  type CollectiveEstimate,
  type CostOptions,
  LINK_EFFICIENCY,
  PROTOCOL_CONSTANTS,
  type Protocol,
} from './collectives/cost';
import { REDUCE_OPS, type ReduceOp, readValues, reduceSlices, writeValues } from './collectives/functional';
import type { Algorithm, CollectiveOp } from './collectives/plans';
import { evaluatePhase, type Flow } from './network/flows';

/**
 * Bytes each link of the topology carried, counted while `enabled` (off by default: counting walks the links of
 * every collective that runs). A collective adds what the cost model says its plan moves on each link
 * (CollectiveCostModel.linkBytes: the phases' flows along their routes × steps, plus in-network loads), the same loads
 * its modelled time comes from; point-to-point groups and all-to-allv add their transfers along their routes. A
 * collective that timed out moved nothing.
 */
export class LinkTraffic {
  enabled = false;
  private pending = new Map<number, number>();

  /** Adds `bytes` to the link with id `link` (TopologyGraph.links[link]). */
  add(link: number, bytes: number): void {
    if (bytes > 0) this.pending.set(link, (this.pending.get(link) ?? 0) + bytes);
  }

  /** Bytes per link id counted since the last take (links that carried nothing are absent); starts a new count. */
  take(): Map<number, number> {
    const out = this.pending;
    this.pending = new Map();
    return out;
  }
}

/** What a communicator needs from its cluster. */
export interface CommHost {
  readonly devices: readonly Device[];
  readonly graph: import('./topology/graph').TopologyGraph;
  readonly costModel: import('./collectives/cost').CollectiveCostModel;
  readonly timeoutMs: number;
  failedRanks(): ReadonlySet<number>;
  readonly functional: boolean;
  /** Where collectives count the bytes each link carried (while it is enabled). */
  readonly traffic?: LinkTraffic;
}

export interface CollectiveOptions {
  /** Elements per rank (default: derived from the buffers). */
  count?: number;
  /** One stream per rank (default: each device's default stream). */
  streams?: readonly (Stream | undefined)[];
  /** Force an algorithm / protocol instead of the tuner's choice. */
  algorithm?: Algorithm;
  protocol?: Protocol;
}

export interface CollectiveResult {
  op: string;
  /** Message size as nccl-tests counts it. */
  bytes: number;
  algorithm: Algorithm | 'p2p';
  protocol: Protocol;
  /** Modelled duration, µs. */
  us: number;
  startMs: number;
  endMs: number;
}

interface Pending {
  op: string;
  bytes: number;
  estimate: CollectiveEstimate;
  apply: () => void;
  ranks: readonly number[];
  /** Counts the bytes it moves on each link into the host's LinkTraffic (once it has run). */
  count: (t: LinkTraffic) => void;
}

export class Communicator {
  private grouped: Pending[] | null = null;
  private p2p: Array<{ kind: 'send' | 'recv'; peer: number; rank: number; buf: DeviceBuffer; count: number }> = [];
  /**
   * allToAllv estimates by content (count matrix, element size, options): a model's MoE layers repeat one routing
   * matrix per step, and at EP 256 each estimate weighs 65 536 flows. Checked entry by entry, so a hash collision
   * cannot return another matrix's estimate.
   */
  private readonly a2avEstimates = new Map<number, Array<{ counts: number[]; key: string; est: CollectiveEstimate }>>();

  constructor(
    private readonly host: CommHost,
    /** Global rank (cluster device index) of each communicator rank. */
    readonly ranks: readonly number[],
  ) {}

  /** Number of ranks (`ncclCommCount`). */
  get size(): number {
    return this.ranks.length;
  }

  /** The device of communicator rank `r`. */
  device(r: number): Device {
    return this.host.devices[this.ranks[r]!]!;
  }

  private checkBuffers(op: string, name: string, bufs: readonly DeviceBuffer[], need: number): void {
    if (!Array.isArray(bufs) || bufs.length !== this.size) {
      throw new TesseraError(
        'InvalidValue',
        `${op}: '${name}' must hold one buffer per rank (${this.size}), got ${Array.isArray(bufs) ? bufs.length : typeof bufs}.`,
      );
    }
    const dtype = bufs[0]!.dtype;
    bufs.forEach((b, r) => {
      b.assertLive(`${op}: '${name}'[${r}]`);
      if (b.owner !== this.device(r)) {
        throw new TesseraError(
          'InvalidValue',
          `${op}: '${name}'[${r}] is ${b.describe()}, not memory of rank ${r}'s device ${this.device(r).label}.`,
          {
            hint: 'Pass each rank a buffer allocated on its own device.',
          },
        );
      }
      if (b.dtype !== dtype)
        throw new TesseraError(
          'InvalidValue',
          `${op}: '${name}'[${r}] is ${b.dtype} but '${name}'[0] is ${dtype}; every rank must use one dtype.`,
        );
      if (b.length < need) {
        throw new TesseraError(
          'InvalidValue',
          `${op}: '${name}'[${r}] holds ${b.length} elements but ${need} are needed.`,
          {
            hint: 'Allocate count elements per rank (count × ranks for gathered or scattered sides).',
          },
        );
      }
    });
  }

  private countOf(op: string, o: CollectiveOptions, fallback: number): number {
    const c = o.count ?? fallback;
    if (!Number.isInteger(c) || c < 0)
      throw new TesseraError('InvalidValue', `${op}: count ${c} must be an integer ≥ 0.`);
    return c;
  }

  private checkOp(op: string, red: ReduceOp): void {
    if (!REDUCE_OPS.includes(red))
      throw new TesseraError('InvalidValue', `${op}: reduction '${red}' is not one of ${REDUCE_OPS.join(', ')}.`);
  }

  private estimate(
    op: CollectiveOp,
    bytes: number,
    o: CollectiveOptions & { messageBytes?: number },
    root = 0,
  ): CollectiveEstimate {
    return this.host.costModel.tune(
      this.ranks,
      op,
      bytes,
      { algorithm: o.algorithm, protocol: o.protocol, messageBytes: o.messageBytes },
      root,
    );
  }

  /**
   * Enqueues work costed `est` on every rank's stream (engine 'comm'): it starts when all are ready and ends together.
   * A failed rank makes it time out instead — after the modelled timeout, never hanging the host.
   */
  private issue(
    op: string,
    bytes: number,
    est: CollectiveEstimate,
    streams: readonly (Stream | undefined)[] | undefined,
    apply: () => void,
    count?: (t: LinkTraffic) => void,
  ): CollectiveResult {
    const failed = this.ranks.filter((g) => this.host.failedRanks().has(g));
    const live = this.ranks.map((g, r) => ({ g, r })).filter((x) => !this.host.failedRanks().has(x.g));
    let start = 0;
    for (const { r } of live) start = Math.max(start, this.device(r).readyTime(streams?.[r], 'comm', op));
    if (failed.length > 0) {
      const ms = this.host.timeoutMs;
      for (const { r } of live)
        this.device(r).occupy(streams?.[r], 'comm', start, ms, {
          kind: 'collective',
          name: `${op} (timed out)`,
          bytes,
        });
      throw new TesseraError(
        'Timeout',
        `${op} over ${this.size} ranks timed out after ${(ms / 1000).toFixed(0)} s (modelled): rank(s) ${failed.join(', ')} (${failed.map((g) => this.host.devices[g]!.label).join(', ')}) failed and never joined.`,
        {
          hint: 'Split the failed ranks out of the communicator (comm.split) and rebuild; other communicators keep working. The timeout is the cluster option timeoutMs (HCCL_EXEC_TIMEOUT-like).',
          failedRanks: failed,
        },
      );
    }
    if (this.host.functional) apply();
    const traffic = this.host.traffic;
    if (count && traffic?.enabled) count(traffic);
    const ms = est.us / 1000;
    let endMs = start;
    for (const { r } of live) {
      endMs = this.device(r).occupy(streams?.[r], 'comm', start, ms, {
        kind: 'collective',
        name: op,
        bytes,
        args: { algorithm: est.algorithm, protocol: est.protocol, ranks: this.size, bottleneck: est.bottleneck },
      }).endMs;
    }
    return { op, bytes, algorithm: est.algorithm, protocol: est.protocol, us: est.us, startMs: start, endMs };
  }

  private run(
    op: CollectiveOp,
    bytes: number,
    o: CollectiveOptions & { messageBytes?: number },
    apply: () => void,
    root = 0,
  ): CollectiveResult {
    const est = this.estimate(op, bytes, o, root);
    const count = (t: LinkTraffic) => this.countPlan(t, op, bytes, est, root);
    if (this.grouped) {
      this.grouped.push({ op, bytes, estimate: est, apply, ranks: this.ranks, count });
      return {
        op,
        bytes,
        algorithm: est.algorithm,
        protocol: est.protocol,
        us: est.us,
        startMs: Number.NaN,
        endMs: Number.NaN,
      };
    }
    return this.issue(op, bytes, est, o.streams, apply, count);
  }

  /** Adds one run of `op` (`bytes`, as the tuner chose to run it) to `t`, link by link (the cost model's linkBytes). */
  private countPlan(t: LinkTraffic, op: CollectiveOp, bytes: number, est: CollectiveEstimate, root: number): void {
    const perLink = this.host.costModel.linkBytes(this.ranks, op, bytes, est.algorithm, root);
    for (let id = 0; id < perLink.length; id++) if (perLink[id]! > 0) t.add(id, perLink[id]!);
  }

  /** Adds point-to-point transfers (bytes each) to `t` along their routes. */
  private countFlows(t: LinkTraffic, flows: readonly { src: number; dst: number; bytes: number }[]): void {
    for (const f of flows) {
      if (f.src === f.dst || f.bytes === 0) continue;
      for (const l of this.host.graph.route(f.src, f.dst)) t.add(l.id, f.bytes);
    }
  }

  /** `ncclAllReduce`: recv[r] = op over ranks of send[r] (count elements; in place when send[r] === recv[r]). */
  allReduce(
    send: readonly DeviceBuffer[],
    recv: readonly DeviceBuffer[],
    o: CollectiveOptions & { op?: ReduceOp } = {},
  ): CollectiveResult {
    const name = 'allReduce';
    const red = o.op ?? 'sum';
    this.checkOp(name, red);
    const count = this.countOf(name, o, send[0]?.length ?? 0);
    this.checkBuffers(name, 'send', send, count);
    this.checkBuffers(name, 'recv', recv, count);
    const bytes = count * DTYPE_INFO[send[0]!.dtype].bytes;
    return this.run('allreduce', bytes, o, () => {
      const out = reduceSlices(
        send.map((b) => readValues(b, 0, count)),
        red,
      );
      for (const b of recv) writeValues(b, 0, out);
    });
  }

  /** `ncclAllGather`: recv[r][i·count …] = send[i] for every rank i. */
  allGather(send: readonly DeviceBuffer[], recv: readonly DeviceBuffer[], o: CollectiveOptions = {}): CollectiveResult {
    const name = 'allGather';
    const count = this.countOf(name, o, send[0]?.length ?? 0);
    this.checkBuffers(name, 'send', send, count);
    this.checkBuffers(name, 'recv', recv, count * this.size);
    const bytes = count * this.size * DTYPE_INFO[send[0]!.dtype].bytes;
    return this.run('allgather', bytes, o, () => {
      const parts = send.map((b) => readValues(b, 0, count));
      for (const b of recv) for (const [i, p] of parts.entries()) writeValues(b, i * count, p);
    });
  }

  /** `ncclReduceScatter`: recv[r] = op over ranks i of send[i][r·count …] (count elements each). */
  reduceScatter(
    send: readonly DeviceBuffer[],
    recv: readonly DeviceBuffer[],
    o: CollectiveOptions & { op?: ReduceOp } = {},
  ): CollectiveResult {
    const name = 'reduceScatter';
    const red = o.op ?? 'sum';
    this.checkOp(name, red);
    const count = this.countOf(name, o, recv[0]?.length ?? 0);
    this.checkBuffers(name, 'send', send, count * this.size);
    this.checkBuffers(name, 'recv', recv, count);
    const bytes = count * this.size * DTYPE_INFO[send[0]!.dtype].bytes;
    return this.run('reducescatter', bytes, o, () => {
      for (const [r, b] of recv.entries()) {
        writeValues(
          b,
          0,
          reduceSlices(
            send.map((s) => readValues(s, r * count, count)),
            red,
          ),
        );
      }
    });
  }

  /** `ncclBroadcast`: every rank's buffer gets rank `root`'s (in place). */
  broadcast(bufs: readonly DeviceBuffer[], o: CollectiveOptions & { root?: number } = {}): CollectiveResult {
    const name = 'broadcast';
    const root = this.checkRoot(name, o.root ?? 0);
    const count = this.countOf(name, o, bufs[0]?.length ?? 0);
    this.checkBuffers(name, 'buffers', bufs, count);
    const bytes = count * DTYPE_INFO[bufs[0]!.dtype].bytes;
    return this.run(
      'broadcast',
      bytes,
      o,
      () => {
        const v = readValues(bufs[root]!, 0, count);
        for (const [r, b] of bufs.entries()) if (r !== root) writeValues(b, 0, v);
      },
      root,
    );
  }

  /** `ncclReduce`: recv[root] = op over ranks of send[r]; other ranks' recv are untouched. */
  reduce(
    send: readonly DeviceBuffer[],
    recv: readonly DeviceBuffer[],
    o: CollectiveOptions & { op?: ReduceOp; root?: number } = {},
  ): CollectiveResult {
    const name = 'reduce';
    const red = o.op ?? 'sum';
    this.checkOp(name, red);
    const root = this.checkRoot(name, o.root ?? 0);
    const count = this.countOf(name, o, send[0]?.length ?? 0);
    this.checkBuffers(name, 'send', send, count);
    this.checkBuffers(name, 'recv', recv, count);
    const bytes = count * DTYPE_INFO[send[0]!.dtype].bytes;
    return this.run(
      'reduce',
      bytes,
      o,
      () =>
        writeValues(
          recv[root]!,
          0,
          reduceSlices(
            send.map((b) => readValues(b, 0, count)),
            red,
          ),
        ),
      root,
    );
  }

  /**
   * `ncclAllToAll` (HcclAlltoAll): recv[r][i·count …] = send[i][r·count …]. The tuner weighs NCCL's grouped send/recv
   * (`direct`) against one-sided puts (`onesided`, as DeepEP and CloudMatrix384's UB dispatch run MoE all-to-all);
   * `messageBytes` says how the one-sided path splits each peer's piece into writes (e.g. one token each).
   */
  allToAll(
    send: readonly DeviceBuffer[],
    recv: readonly DeviceBuffer[],
    o: CollectiveOptions & { messageBytes?: number } = {},
  ): CollectiveResult {
    const name = 'allToAll';
    const count = this.countOf(name, o, Math.floor((send[0]?.length ?? 0) / this.size));
    this.checkBuffers(name, 'send', send, count * this.size);
    this.checkBuffers(name, 'recv', recv, count * this.size);
    const bytes = count * this.size * DTYPE_INFO[send[0]!.dtype].bytes;
    return this.run('alltoall', bytes, o, () => {
      const parts = send.map((s) => Array.from({ length: this.size }, (_, j) => readValues(s, j * count, count)));
      for (const [r, b] of recv.entries()) {
        for (const [i, p] of parts.entries()) writeValues(b, i * count, p[r]!);
      }
    });
  }

  /**
   * `HcclAlltoAllV`: rank i sends sendCounts[i][j] elements to rank j, from element sendDispls[i][j] of send[i], to
   * element recvDispls[j][i] of recv[j]. Displacements default to prefix sums (packed).
   */
  allToAllv(
    send: readonly DeviceBuffer[],
    recv: readonly DeviceBuffer[],
    o: CollectiveOptions & {
      sendCounts: readonly (readonly number[])[];
      sendDispls?: readonly (readonly number[])[];
      recvDispls?: readonly (readonly number[])[];
      /** One-sided path: each pair's bytes travel as writes of at most this size (default: one per pair). */
      messageBytes?: number;
    },
  ): CollectiveResult {
    const name = 'allToAllv';
    const n = this.size;
    const counts = o.sendCounts;
    // One pass over the n×n matrix (at EP 256: 65 536 entries per call) validates it and sizes both sides.
    let valid = Array.isArray(counts) && counts.length === n;
    for (let i = 0; valid && i < n; i++) {
      const row = counts[i];
      if (!Array.isArray(row) || row.length !== n) valid = false;
      else for (const c of row) if (!Number.isInteger(c) || c < 0) valid = false;
    }
    if (!valid) {
      throw new TesseraError(
        'InvalidValue',
        `${name}: sendCounts must be an ${n}×${n} matrix of integers ≥ 0 (sendCounts[i][j]: elements rank i sends to rank j).`,
      );
    }
    // Exclusive prefix sums (packed displacements), linear per row and column.
    const prefix = (row: readonly number[]) => {
      let at = 0;
      return row.map((c) => {
        const d = at;
        at += c;
        return d;
      });
    };
    const sd = o.sendDispls ?? counts.map(prefix);
    const rd = o.recvDispls ?? Array.from({ length: n }, (_, j) => prefix(counts.map((row) => row[j]!)));
    let sendNeed = 0;
    let recvNeed = 0;
    let total = 0;
    const e = DTYPE_INFO[send[0]?.dtype ?? 'u8'].bytes;
    for (let i = 0; i < n; i++) {
      const row = counts[i]!;
      for (let j = 0; j < n; j++) {
        const c = row[j]!;
        sendNeed = Math.max(sendNeed, sd[i]![j]! + c);
        recvNeed = Math.max(recvNeed, rd[j]![i]! + c);
        total += c * e;
      }
    }
    this.checkBuffers(name, 'send', send, sendNeed);
    this.checkBuffers(name, 'recv', recv, recvNeed);
    const flows = (): ByteFlow[] => {
      const out: ByteFlow[] = [];
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          const c = counts[i]![j]!;
          if (i !== j && c > 0) out.push({ src: this.ranks[i]!, dst: this.ranks[j]!, bytes: c * e });
        }
      return out;
    };
    const est = this.allToAllvEstimate(counts, e, o, flows);
    const apply = () => {
      const moves = counts.flatMap((row, i) =>
        row.map((c: number, j: number) => ({ j, off: rd[j]![i]!, v: readValues(send[i]!, sd[i]![j]!, c) })),
      );
      for (const m of moves) writeValues(recv[m.j]!, m.off, m.v);
    };
    const count = (t: LinkTraffic) => this.countFlows(t, flows());
    if (this.grouped) {
      this.grouped.push({ op: 'alltoallv', bytes: total, estimate: est, apply, ranks: this.ranks, count });
      return {
        op: 'alltoallv',
        bytes: total,
        algorithm: est.algorithm,
        protocol: est.protocol,
        us: est.us,
        startMs: Number.NaN,
        endMs: Number.NaN,
      };
    }
    return this.issue('allToAllv', total, est, o.streams, apply, count);
  }

  /**
   * nccl-tests' `sendrecv`: every rank r sends `count` elements of send[r] to rank (r + 1) mod n and receives as many
   * from rank (r − 1) mod n into recv[r], concurrently — the group of `ncclSend`/`ncclRecv` pairs that `sendrecv_perf`
   * issues, as one call. Enqueued on each rank's stream like the collectives (it starts when every rank is ready, ends
   * together on all of them); in place when send[r] === recv[r]. Message size S is one rank's buffer (count × element
   * size). For other patterns, use `group()` with `send`/`recv`.
   */
  sendRecv(send: readonly DeviceBuffer[], recv: readonly DeviceBuffer[], o: CollectiveOptions = {}): CollectiveResult {
    const name = 'sendRecv';
    const n = this.size;
    const count = this.countOf(name, o, send[0]?.length ?? 0);
    this.checkBuffers(name, 'send', send, count);
    this.checkBuffers(name, 'recv', recv, count);
    if (recv[0]!.dtype !== send[0]!.dtype)
      throw new TesseraError(
        'InvalidValue',
        `${name}: 'recv' is ${recv[0]!.dtype} but 'send' is ${send[0]!.dtype}; a send and its recv share one dtype.`,
      );
    const bytes = count * DTYPE_INFO[send[0]!.dtype].bytes;
    return this.run('sendrecv', bytes, o, () => {
      // Read every send first, so that in-place exchanges see the values from before the call.
      const values = send.map((b) => readValues(b, 0, count));
      for (const [r, v] of values.entries()) writeValues(recv[(r + 1) % n]!, 0, v);
    });
  }

  private allToAllvEstimate(
    counts: readonly (readonly number[])[],
    elementBytes: number,
    o: CollectiveOptions & { messageBytes?: number },
    flows: () => ByteFlow[],
  ): CollectiveEstimate {
    const flat: number[] = [];
    let h = 2166136261;
    for (const row of counts)
      for (const c of row) {
        flat.push(c);
        h = Math.imul(h ^ c, 16777619) ^ Math.floor(c / 4294967296);
      }
    // The graph's version moves with every link change (degraded, cut, restored): a cached estimate never outlives it.
    const key = `${this.host.graph.version}|${elementBytes}|${o.algorithm ?? ''}|${o.protocol ?? ''}|${o.messageBytes ?? ''}`;
    const bucket = this.a2avEstimates.get(h) ?? [];
    for (const entry of bucket)
      if (entry.key === key && entry.counts.length === flat.length && entry.counts.every((c, i) => c === flat[i]))
        return entry.est;
    const est = this.host.costModel.flowsTime(this.ranks, flows(), {
      algorithm: o.algorithm,
      protocol: o.protocol,
      messageBytes: o.messageBytes,
    });
    if (this.a2avEstimates.size < 256) {
      bucket.push({ counts: flat, key, est });
      this.a2avEstimates.set(h, bucket);
    }
    return est;
  }

  /** Cost of explicit point-to-point flows (bytes as weights), all at once, with the Simple protocol. */
  private flowEstimate(flows: Flow[]): CollectiveEstimate {
    const pc = PROTOCOL_CONSTANTS.Simple;
    if (flows.length === 0) return { us: 0, algorithm: 'direct', protocol: 'Simple', bottleneck: null };
    const c = evaluatePhase(this.host.graph, flows, LINK_EFFICIENCY);
    const hop = c.crossesNetwork ? pc.scaleOutHopUs : pc.scaleUpHopUs;
    return {
      us: pc.baseUs + hop + c.latencyUs + c.secondsPerByte * 1e6,
      algorithm: 'direct',
      protocol: 'Simple',
      bottleneck: c.bottleneck?.name ?? null,
    };
  }

  private checkRoot(op: string, root: number): number {
    if (!Number.isInteger(root) || root < 0 || root >= this.size) {
      throw new TesseraError(
        'InvalidValue',
        `${op}: root ${root} is not a rank of this communicator (0..${this.size - 1}).`,
      );
    }
    return root;
  }

  /** `ncclSend` from rank `from` to rank `to`; must be matched by a `recv` in the same `group()`. */
  send(from: number, to: number, buf: DeviceBuffer, count = buf.length): void {
    this.p2pOp('send', from, to, buf, count);
  }

  /** `ncclRecv` on rank `to` from rank `from`. */
  recv(to: number, from: number, buf: DeviceBuffer, count = buf.length): void {
    this.p2pOp('recv', to, from, buf, count);
  }

  private p2pOp(kind: 'send' | 'recv', rank: number, peer: number, buf: DeviceBuffer, count: number): void {
    if (!this.grouped) {
      throw new TesseraError(
        'InvalidValue',
        `${kind}: point-to-point calls must run inside comm.group(() => { … }), where sends meet their recvs.`,
        {
          hint: 'NCCL would deadlock on an unmatched send; here the group pairs them, or names the one left over.',
        },
      );
    }
    for (const r of [rank, peer]) this.checkRoot(kind, r);
    buf.assertLive(kind);
    if (buf.owner !== this.device(rank))
      throw new TesseraError('InvalidValue', `${kind}: ${buf.describe()} is not memory of rank ${rank}'s device.`);
    if (!Number.isInteger(count) || count < 0 || count > buf.length)
      throw new TesseraError('InvalidValue', `${kind}: count ${count} does not fit ${buf.describe()}.`);
    this.p2p.push({ kind, rank, peer, buf, count });
  }

  /**
   * Runs `fn` as one group (`ncclGroupStart` / `ncclGroupEnd`): collectives inside launch together (one base latency),
   * sends are matched with recvs, and all the work is enqueued as one operation. Returns its result.
   */
  group(fn: () => void, o: { streams?: readonly (Stream | undefined)[] } = {}): CollectiveResult {
    if (this.grouped)
      throw new TesseraError('InvalidValue', 'comm.group: groups do not nest here; put every call in one group.');
    this.grouped = [];
    this.p2p = [];
    let pending: Pending[];
    let p2p: typeof this.p2p;
    try {
      fn();
    } finally {
      pending = this.grouped;
      p2p = this.p2p;
      this.grouped = null;
      this.p2p = [];
    }
    // Pair sends with recvs in call order, as NCCL matches them per peer.
    const sends = p2p.filter((x) => x.kind === 'send');
    const recvs = p2p.filter((x) => x.kind === 'recv');
    const pairs: Array<{ s: (typeof sends)[0]; r: (typeof recvs)[0] }> = [];
    for (const s of sends) {
      const i = recvs.findIndex((r) => r.rank === s.peer && r.peer === s.rank);
      if (i < 0)
        throw new TesseraError(
          'InvalidValue',
          `group: the send from rank ${s.rank} to rank ${s.peer} has no matching recv (NCCL would hang here).`,
        );
      const [r] = recvs.splice(i, 1);
      if (r!.count < s.count)
        throw new TesseraError(
          'InvalidValue',
          `group: rank ${s.peer} receives ${r!.count} elements but rank ${s.rank} sends ${s.count}.`,
        );
      if (r!.buf.dtype !== s.buf.dtype)
        throw new TesseraError(
          'InvalidValue',
          `group: send is ${s.buf.dtype} but the matching recv is ${r!.buf.dtype}.`,
        );
      pairs.push({ s, r: r! });
    }
    if (recvs.length)
      throw new TesseraError(
        'InvalidValue',
        `group: the recv on rank ${recvs[0]!.rank} from rank ${recvs[0]!.peer} has no matching send.`,
      );
    const flows = pairs.map(({ s }) => ({
      src: this.ranks[s.rank]!,
      dst: this.ranks[s.peer]!,
      weight: s.count * DTYPE_INFO[s.buf.dtype].bytes,
    }));
    const p2pEst = this.flowEstimate(flows);
    const base = PROTOCOL_CONSTANTS.Simple.baseUs;
    // One launch for the whole group: the collectives' times add up, but the base latency is paid once.
    let us = p2pEst.us;
    for (const p of pending) us += p.estimate.us;
    const ops = pending.length + (pairs.length ? 1 : 0);
    if (ops > 1) us -= (ops - 1) * base;
    let bytes = pairs.reduce((a, { s }) => a + s.count * DTYPE_INFO[s.buf.dtype].bytes, 0);
    for (const p of pending) bytes += p.bytes;
    const est: CollectiveEstimate = {
      us,
      algorithm: pending[0]?.estimate.algorithm ?? 'direct',
      protocol: 'Simple',
      bottleneck: null,
    };
    const apply = () => {
      for (const p of pending) p.apply();
      for (const { s, r } of pairs) writeValues(r.buf, 0, readValues(s.buf, 0, s.count));
    };
    const count = (t: LinkTraffic) => {
      for (const p of pending) p.count(t);
      this.countFlows(
        t,
        flows.map((f) => ({ src: f.src, dst: f.dst, bytes: f.weight })),
      );
    };
    const res = this.issue('group', bytes, est, o.streams, apply, count);
    return { ...res, algorithm: pending.length ? res.algorithm : 'p2p' };
  }

  /**
   * `ncclCommSplit`: ranks with the same color form a communicator, ordered by key (then old rank); color −1 leaves a
   * rank out. Returns the new communicator of each rank (undefined for color −1).
   */
  split(colors: readonly number[], keys?: readonly number[]): (Communicator | undefined)[] {
    if (colors.length !== this.size)
      throw new TesseraError('InvalidValue', `split: give one color per rank (${this.size}), got ${colors.length}.`);
    const byColor = new Map<number, number[]>();
    colors.forEach((c, r) => {
      if (c === -1) return;
      if (!Number.isInteger(c) || c < 0)
        throw new TesseraError('InvalidValue', `split: color ${c} of rank ${r} must be an integer ≥ 0, or −1.`);
      let l = byColor.get(c);
      if (!l) byColor.set(c, (l = []));
      l.push(r);
    });
    const out: (Communicator | undefined)[] = new Array(this.size).fill(undefined);
    for (const members of byColor.values()) {
      members.sort((a, b) => (keys?.[a] ?? 0) - (keys?.[b] ?? 0) || a - b);
      const comm = new Communicator(
        this.host,
        members.map((r) => this.ranks[r]!),
      );
      for (const r of members) out[r] = comm;
    }
    return out;
  }

  /**
   * The modelled cost of `op` on `bytes` (nccl-tests sizes), without buffers: for sweeps and planning. `messageBytes`
   * (all-to-all, one-sided path): each peer's piece travels as writes of at most that size, e.g. one token.
   */
  estimateCost(op: CollectiveOp, bytes: number, o: CostOptions & { root?: number } = {}): CollectiveEstimate {
    return this.host.costModel.tune(
      this.ranks,
      op,
      bytes,
      { algorithm: o.algorithm, protocol: o.protocol, messageBytes: o.messageBytes },
      o.root ?? 0,
    );
  }
}
