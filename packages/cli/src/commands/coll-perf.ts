/**
 * `tessera coll-perf`: an nccl-tests-style sweep (`all_reduce_perf -b 8 -e 8G -f 2`) of one collective over a
 * simulated cluster of `@tessera/cluster`.
 *
 * - Times come from the cluster's cost model (`Communicator.estimateCost`) on a timing-only cluster: nothing is
 *   allocated, and the cost of a plan is cached per op and algorithm, so a 31-size sweep over 768 ranks takes well under
 *   a second. Out-of-place and in-place are the same collective to the model, so both columns show the same time.
 * - `#wrong` comes from a real run: for rows of at most 64 KiB (on at most 64 ranks) a functional cluster of the same
 *   topology runs the collective, out-of-place and in-place, on small random integers (exact in every dtype) and the
 *   results are compared element by element with a host reference. Larger rows print `N/A`, as nccl-tests with `-c 0`.
 * - Failed ranks (`--fail-rank`) make the collective time out: each row first issues the real collective on the
 *   timing-only cluster, which fails after the modelled timeout (the host never waits) with the library's message.
 */
import {
  ALGORITHMS,
  type Algorithm,
  type Cluster,
  type CollectiveOp,
  type Communicator,
  createCluster,
} from '@tessera/cluster';
import { DTYPE_INFO, type DType, parseDType, TesseraError } from '@tessera/device';
import { parseBytes, parsePositiveInt } from '../format';
import { functionalCheck, runCollective } from './coll-perf-check';

export const COLL_OPS: readonly CollectiveOp[] = [
  'allreduce',
  'allgather',
  'reducescatter',
  'alltoall',
  'broadcast',
  'reduce',
  'sendrecv',
];

/** Rows up to this size (bytes, nccl-tests' size column) are checked on a functional cluster. */
export const CHECK_MAX_BYTES = 64 * 1024;
/** …when the communicator has at most this many ranks. */
export const CHECK_MAX_RANKS = 64;

/** nccl-tests' type names (`-d`), for the type column. */
const NCCL_TYPE_NAMES: Record<DType, string> = {
  f32: 'float',
  f16: 'half',
  bf16: 'bfloat16',
  fp8e4m3: 'f8e4m3',
  fp8e5m2: 'f8e5m2',
  i32: 'int32',
  i16: 'int16',
  i8: 'int8',
  u8: 'uint8',
};

export type LinkRef = string | [number, number];

export interface CollPerfOptions {
  op: CollectiveOp;
  topology: string;
  ranks?: number;
  minBytes: number;
  maxBytes: number;
  stepFactor: number;
  dtype: DType;
  algorithm?: Algorithm;
  json: boolean;
  failRanks: number[];
  degradeLinks: Array<{ link: LinkRef; factor: number }>;
  cutLinks: LinkRef[];
  /** Record the functional checks for a Chrome trace. */
  profile: boolean;
}

/** One row of the sweep, as `--json` prints it. */
export interface CollPerfRow {
  bytes: number;
  time_us: number;
  algbw_gbs: number;
  busbw_gbs: number;
  algo: string;
}

export interface CollPerfResult {
  rows: CollPerfRow[];
  /** Elements that differed from the reference over every checked row (out-of-place + in-place). */
  wrong: number;
  /** Chrome trace of the functional checks (empty when none ran), when `profile` was set. */
  trace?: object;
}

// ------------------------------------------------------------------------------------------------ argument parsing

/** Accepts `allreduce`, `all_reduce`, `all-reduce`, `AllReduce`, and nccl-tests' binary names (`all_reduce_perf`). */
export function parseCollOp(text: string): CollectiveOp {
  const key = text
    .trim()
    .toLowerCase()
    .replace(/_perf$/, '')
    .replace(/[-_\s]/g, '');
  const op = COLL_OPS.find((o) => o === key);
  if (!op)
    throw new TesseraError('InvalidValue', `--op: '${text}' is not a collective; use one of ${COLL_OPS.join(', ')}.`);
  return op;
}

/** nccl-tests' `-d` names (float, half, bfloat16, int32, int8, uint8, f8e4m3, f8e5m2) and Tessera's dtype names. */
export function parseCollDType(text: string): DType {
  const t = text.trim().toLowerCase();
  const d = parseDType(t) ?? ({ f8e4m3: 'fp8e4m3', f8e5m2: 'fp8e5m2' } as Record<string, DType>)[t];
  if (!d) {
    throw new TesseraError(
      'InvalidValue',
      `--dtype: '${text}' is not supported; use one of ${[...new Set(Object.values(NCCL_TYPE_NAMES))].join(', ')}.`,
    );
  }
  return d;
}

/** A link as `--degrade-link` / `--cut-link` name it: "rank3→sw0" (or "rank3->sw0"), or "a-b" for ranks a and b. */
export function parseLinkRef(text: string, what: string): LinkRef {
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(text);
  if (m) return [Number(m[1]), Number(m[2])];
  const name = text.trim().replace('->', '→');
  if (!name) throw new TesseraError('InvalidValue', `${what}: give a link name such as "rank3→sw0", or "a-b".`);
  return name;
}

const listOf = (values: readonly string[]) => values.flatMap((v) => v.split(',')).filter((v) => v.trim() !== '');

/** Raw commander options of `coll-perf` → validated options. */
export function parseCollPerfArgs(o: {
  op: string;
  topology: string;
  ranks?: string;
  minBytes: string;
  maxBytes: string;
  stepFactor: string;
  dtype: string;
  algo?: string;
  json?: boolean;
  failRank?: string[];
  degradeLink?: string[];
  cutLink?: string[];
  profile?: boolean;
}): CollPerfOptions {
  const op = parseCollOp(o.op);
  const ranks = o.ranks === undefined ? undefined : parsePositiveInt(o.ranks, '--ranks');
  const minBytes = parseBytes(o.minBytes, '--min-bytes');
  const maxBytes = parseBytes(o.maxBytes, '--max-bytes');
  if (minBytes < 1) throw new TesseraError('InvalidValue', '--min-bytes must be at least 1.');
  if (minBytes > maxBytes) {
    throw new TesseraError('InvalidValue', `--min-bytes (${minBytes}) is larger than --max-bytes (${maxBytes}).`);
  }
  const stepFactor = parsePositiveInt(o.stepFactor, '--step-factor');
  if (stepFactor < 2) throw new TesseraError('InvalidValue', `--step-factor must be at least 2, got ${stepFactor}.`);
  const dtype = parseCollDType(o.dtype);
  const algorithm = o.algo as Algorithm | undefined;
  if (algorithm !== undefined && !ALGORITHMS.includes(algorithm)) {
    throw new TesseraError('InvalidValue', `--algo: '${o.algo}' is not one of ${ALGORITHMS.join(', ')}.`);
  }
  const failRanks = listOf(o.failRank ?? []).map((r) => {
    const v = Number(r);
    if (!Number.isInteger(v) || v < 0) throw new TesseraError('InvalidValue', `--fail-rank: '${r}' is not a rank.`);
    return v;
  });
  const degradeLinks = (o.degradeLink ?? []).map((spec) => {
    const eq = spec.lastIndexOf('=');
    const factor = eq < 0 ? Number.NaN : Number(spec.slice(eq + 1));
    if (eq < 0 || spec.slice(eq + 1).trim() === '' || !Number.isFinite(factor)) {
      throw new TesseraError(
        'InvalidValue',
        `--degrade-link: '${spec}' must be NAME=FACTOR, e.g. "rank3→sw0=0.5" or "0-1=0.5".`,
      );
    }
    return { link: parseLinkRef(spec.slice(0, eq), '--degrade-link'), factor };
  });
  const cutLinks = (o.cutLink ?? []).map((l) => parseLinkRef(l, '--cut-link'));
  return {
    op,
    topology: o.topology,
    ranks,
    minBytes,
    maxBytes,
    stepFactor,
    dtype,
    algorithm,
    json: !!o.json,
    failRanks,
    degradeLinks,
    cutLinks,
    profile: !!o.profile,
  };
}

// --------------------------------------------------------------------------------------------------- nccl-tests sizes

const isReduction = (op: CollectiveOp) => op === 'allreduce' || op === 'reducescatter' || op === 'reduce';
const hasRoot = (op: CollectiveOp) => op === 'broadcast' || op === 'reduce';
/** Ops whose nccl-tests size is the whole array across ranks, and whose count is per rank. */
const perRankCount = (op: CollectiveOp) => op === 'allgather' || op === 'reducescatter' || op === 'alltoall';

/** nccl-tests' bus-bandwidth factor (doc/PERFORMANCE.md; point-to-point sendrecv: busbw = algbw). */
export function busBwFactor(op: CollectiveOp, n: number): number {
  if (op === 'allreduce') return (2 * (n - 1)) / n;
  if (op === 'broadcast' || op === 'reduce' || op === 'sendrecv') return 1;
  return (n - 1) / n;
}

/**
 * nccl-tests' setupArgs for a requested size: `count` is the count argument of the call (per rank for all-gather,
 * reduce-scatter and all-to-all, whose size is the whole array, count × ranks), `bytes` the size column (S).
 */
export function sizeOf(
  op: CollectiveOp,
  requested: number,
  n: number,
  elemBytes: number,
): { bytes: number; count: number } {
  const total = Math.floor(requested / elemBytes);
  if (perRankCount(op)) {
    const count = Math.floor(total / n);
    return { bytes: count * n * elemBytes, count };
  }
  return { bytes: total * elemBytes, count: total };
}

// ------------------------------------------------------------------------------------------------------ formatting

const pad = (s: string | number, w: number) => String(s).padStart(w);

/** nccl-tests' time column: %7.2f below 100 µs, %7.1f below 10 ms, %7.0f above. */
export function fmtTime(us: number): string {
  return pad(us.toFixed(us >= 10000 ? 0 : us >= 100 ? 1 : 2), 7);
}

/** printf's %g (6 significant digits, trailing zeros dropped). */
export function fmtG(x: number): string {
  if (x === 0 || !Number.isFinite(x)) return String(x);
  const exp = Math.floor(Math.log10(Math.abs(x)));
  if (exp < -4 || exp >= 6) {
    const [m, e] = x.toExponential(5).split('e');
    const mant = m!.includes('.') ? m!.replace(/0+$/, '').replace(/\.$/, '') : m!;
    const en = Number(e);
    return `${mant}e${en < 0 ? '-' : '+'}${String(Math.abs(en)).padStart(2, '0')}`;
  }
  const s = x.toFixed(Math.max(0, 5 - exp));
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

function headerLines(
  o: CollPerfOptions,
  timing: Cluster,
  n: number,
  checking: boolean,
  faults: string[],
  extraAlgoColumn: boolean,
): string[] {
  const spec = timing.spec;
  const devName = timing.devices[0]!.properties.name;
  const lines = [
    `# nThread 1 nGpus ${n} minBytes ${o.minBytes} maxBytes ${o.maxBytes} step: ${o.stepFactor}(factor) warmup iters: 0 iters: 1 agg iters: 1 validation: ${checking ? 1 : 0} graph: 0`,
    '#',
    `# Tessera coll-perf: modelled times on ${spec.name} (${devName}), ${n} ranks: ${o.op}, ${NCCL_TYPE_NAMES[o.dtype]}, ${o.algorithm ? `algorithm ${o.algorithm} (forced)` : "the tuner's algorithm and protocol per size"}`,
    '# No warm-up or iterations: each time is the cost model’s estimate of one call; out-of-place and in-place model alike.',
    checking
      ? `# #wrong: a functional run of the real collective on random integers, up to ${CHECK_MAX_BYTES / 1024} KiB; N/A above.`
      : `# #wrong: N/A (the functional check runs on at most ${CHECK_MAX_RANKS} ranks, at sizes up to ${CHECK_MAX_BYTES / 1024} KiB).`,
    ...faults.map((f) => `# fault: ${f}`),
    '#',
    '# Using devices',
  ];
  const pid = process.pid;
  const per = spec.devicesPerNode;
  for (let r = 0; r < n; r++) {
    const d = timing.devices[r]!;
    const host = `node${Math.floor(r / per)}`;
    lines.push(
      `#  Rank ${pad(r, 2)} Group  0 Pid ${pad(pid, 6)} on ${pad(host, 10)} device ${pad(r % per, 2)} [${d.label}] ${d.properties.name}`,
    );
  }
  const algoHead = extraAlgoColumn ? '  algo' : '';
  lines.push(
    '#',
    `# ${pad('', 10)}  ${pad('', 12)}  ${pad('', 8)}  ${pad('', 6)}  ${pad('', 6)}           out-of-place                       in-place`,
    `# ${pad('size', 10)}  ${pad('count', 12)}  ${pad('type', 8)}  ${pad('redop', 6)}  ${pad('root', 6)}  ${pad('time', 7)}  ${pad('algbw', 6)}  ${pad('busbw', 6)} ${pad('#wrong', 6)}  ${pad('time', 7)}  ${pad('algbw', 6)}  ${pad('busbw', 6)} ${pad('#wrong', 6)}${algoHead}`,
    `# ${pad('(B)', 10)}  ${pad('(elements)', 12)}  ${pad('', 8)}  ${pad('', 6)}  ${pad('', 6)}  ${pad('(us)', 7)}  ${pad('(GB/s)', 6)}  ${pad('(GB/s)', 6)}  ${pad('', 5)}  ${pad('(us)', 7)}  ${pad('(GB/s)', 6)}  ${pad('(GB/s)', 6)}  ${pad('', 5)}`.trimEnd(),
  );
  return lines;
}

// ------------------------------------------------------------------------------------------------------ the sweep

function applyLinkFaults(c: Cluster, o: CollPerfOptions): void {
  for (const { link, factor } of o.degradeLinks) c.degradeLink(link, factor);
  for (const link of o.cutLinks) c.cutLink(link);
}

const linkText = (l: LinkRef) => (typeof l === 'string' ? `link ${l}` : `links between ranks ${l[0]} and ${l[1]}`);

/**
 * Runs the sweep, writing nccl-tests' table line by line to `out` (or, with `json`, the rows as one JSON array at
 * the end). Throws the library's error when a collective fails, after printing `# collective failed: …`.
 */
export async function collPerf(o: CollPerfOptions, out: (line: string) => void): Promise<CollPerfResult> {
  const timing = await createCluster({ topology: o.topology, ranks: o.ranks, mode: 'timing' });
  const n = timing.size;
  const comm = timing.world;
  const elem = DTYPE_INFO[o.dtype].bytes;
  const sizes: number[] = [];
  for (let s = o.minBytes; s <= o.maxBytes; s *= o.stepFactor) sizes.push(s);

  // A forced algorithm that does not apply fails here, with the library's message, before any output.
  if (o.algorithm) comm.estimateCost(o.op, sizeOf(o.op, sizes[0]!, n, elem).bytes, { algorithm: o.algorithm });

  // Faults. Probe buffers for the liveness check are allocated first: a failed device refuses new allocations.
  const probe = o.failRanks.length
    ? { send: timing.devices.map((d) => d.alloc(o.dtype, n)), recv: timing.devices.map((d) => d.alloc(o.dtype, n)) }
    : null;
  const faults: string[] = [];
  for (const r of o.failRanks) {
    timing.failDevice(r, 'failed by --fail-rank');
    faults.push(`rank ${r} (${timing.devices[r]!.label}) failed`);
  }
  applyLinkFaults(timing, o);
  for (const { link, factor } of o.degradeLinks) faults.push(`${linkText(link)} at ${factor} of its bandwidth`);
  for (const link of o.cutLinks) faults.push(`${linkText(link)} cut`);

  const checking = n <= CHECK_MAX_RANKS && sizes.some((s) => sizeOf(o.op, s, n, elem).bytes <= CHECK_MAX_BYTES);
  let functional: Cluster | null = null;
  if (checking) {
    functional = await createCluster({ topology: o.topology, ranks: o.ranks, mode: 'functional', profile: o.profile });
    applyLinkFaults(functional, o);
  }

  const showAlgo = !o.algorithm;
  const text = !o.json;
  if (text) for (const l of headerLines(o, timing, n, checking, faults, showAlgo)) out(l);

  const factor = busBwFactor(o.op, n);
  const typeName = NCCL_TYPE_NAMES[o.dtype];
  // nccl-tests' sendrecv_perf runs over its reduction ops too (unused), so it prints `sum`, as the reductions do.
  const redop = isReduction(o.op) || o.op === 'sendrecv' ? 'sum' : 'none';
  const root = hasRoot(o.op) ? 0 : -1;
  const rows: CollPerfRow[] = [];
  let wrong = 0;
  for (const [i, requested] of sizes.entries()) {
    const { bytes, count } = sizeOf(o.op, requested, n, elem);
    let est: ReturnType<Communicator['estimateCost']>;
    let checked: [number, number] | null = null;
    try {
      // The cost model does not know about failed ranks; the real call does (it times out).
      if (probe) runCollective(comm, o.op, probe.send, probe.recv, 1, o.algorithm);
      est = comm.estimateCost(o.op, bytes, { algorithm: o.algorithm, root: 0 });
      if (functional && bytes <= CHECK_MAX_BYTES)
        checked = functionalCheck(functional.world, o.op, count, o.dtype, o.algorithm, i + 1);
    } catch (e) {
      if (text) out(`# collective failed: ${(e as Error).message}`);
      throw e;
    }
    const algbw = est.us > 0 ? bytes / (est.us * 1e3) : 0;
    const busbw = algbw * factor;
    const algo = `${est.algorithm}/${est.protocol}`;
    rows.push({ bytes, time_us: est.us, algbw_gbs: algbw, busbw_gbs: busbw, algo });
    if (checked) wrong += checked[0] + checked[1];
    if (text) {
      const group = (w: number | null) =>
        `  ${fmtTime(est.us)}  ${pad(algbw.toFixed(2), 6)}  ${pad(busbw.toFixed(2), 6)}  ${pad(w === null ? 'N/A' : w, 5)}`;
      out(
        `${pad(bytes, 12)}  ${pad(count, 12)}  ${pad(typeName, 8)}  ${pad(redop, 6)}  ${pad(root, 6)}` +
          group(checked ? checked[0] : null) +
          group(checked ? checked[1] : null) +
          (showAlgo ? `  ${algo}` : ''),
      );
    }
  }
  const avgBusBw = rows.reduce((a, r) => a + r.busbw_gbs, 0) / rows.length;
  if (text) {
    out(`# Out of bounds values : ${wrong} ${wrong ? 'FAILED' : 'OK'}`);
    out(`# Avg bus bandwidth    : ${fmtG(avgBusBw)}`);
    out('#');
  } else out(JSON.stringify(rows, null, 2));
  if (wrong > 0) {
    throw new TesseraError(
      'InvalidValue',
      `coll-perf: ${wrong} output values differ from the reference in the functional check of ${o.op}.`,
    );
  }
  const trace = o.profile ? (functional?.runtime.profiler.toChromeTrace() ?? { traceEvents: [] }) : undefined;
  return { rows, wrong, trace };
}
