/**
 * `pnpm bench` for @tessera/kernels: functional-mode speed of the library's operators beside the same computations in
 * TensorFlow.js's CPU backend, in onnxruntime-node (native MLAS) and in onnxruntime-web's WebAssembly backend (SIMD,
 * threads: the same technology as Tessera's `dot`), on the same shapes and in the same run (ratios, not absolute
 * numbers, are what to compare on a noisy machine). Every peer's result is checked once against Tessera's, so the
 * comparison is of the same computation. Then the small-kernel rows (host cost of a launch, `vector_add` beside a JS
 * loop) and the timing-only rows (costing 1000 distinct launches, a grid-stride SIMT kernel over 1 GiB), each with the
 * performance goal it is held to and whether it is met.
 *
 *   pnpm bench            tables
 *   pnpm bench --json     one JSON object per row (also BENCH_JSON=1)
 *
 * Threads: Tessera's `dot` splits large products over worker threads (one per core, TESSERA_THREADS to change);
 * onnxruntime-node runs with intraOpNumThreads = the machine's cores, onnxruntime-web with env.wasm.numThreads = the
 * same; tfjs-backend-cpu is single-threaded.
 */
import { availableParallelism, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
import { clearCostCache, createRuntime, type Device, type DeviceBuffer } from '@tessera/device';
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { flashAttention } from '../src/attention';
import { gemm } from '../src/gemm';
import { rmsnorm } from '../src/norm';
import { softmax } from '../src/softmax';
import { type ModelStepResult, modelStep } from './model-step';
import { encodeModel, type ModelSpec, type NodeSpec, type TensorSpec } from './onnx';
import {
  type GridStride,
  gridStride,
  type LaunchOverhead,
  launchOverhead,
  type Streaming,
  streamingAdd,
} from './small-kernels';

const json = process.argv.includes('--json') || process.env.BENCH_JSON === '1';
const THREADS = availableParallelism();
/** The 1-minute load average when the bench starts: other work on the machine inflates absolute numbers. */
const LOAD_AT_START = loadavg()[0]!;
/** Largest |peer − tessera| allowed, relative to the largest |tessera| value. */
const TOLERANCE = 1e-3;

interface Timing {
  /** Total time the timed repetitions should take (each repetition runs the op at least once). */
  minMs?: number;
  /** Repetitions; the median is reported. */
  reps?: number;
  /** Warm-up time before measuring (the op runs at least once). */
  warmMs?: number;
}

/** One of the timed runs of a row: Tessera's or a peer's. */
interface Contender<T> {
  fn: () => T | Promise<T>;
  timing?: Timing;
}

/** Lets threads that spin after a run (ORT's pool, the dot pool) go idle before another contender is timed. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

/**
 * Times contenders interleaved: each warms up for its `warmMs` (the JIT, ORT's first-run allocations; 0: none), then
 * in round r every contender with more than r `reps` takes one sample (runs for at least `minMs / reps`, at least one
 * run). Each gets the median of its samples' mean time per run, its samples in round order, and its last run's
 * result. Interleaving keeps the ratios steady while the load of a shared machine changes during the row.
 */
async function timeAll<T>(contenders: Contender<T>[]): Promise<{ ms: number; samples: number[]; last: T }[]> {
  const t = contenders.map((c) => ({ minMs: 500, reps: 5, warmMs: 300, ...c.timing }));
  const last: (T | undefined)[] = contenders.map(() => undefined);
  const samples: number[][] = contenders.map(() => []);
  for (const [i, c] of contenders.entries()) {
    const warm = performance.now();
    if (t[i]!.warmMs > 0) {
      do last[i] = await c.fn();
      while (performance.now() - warm < t[i]!.warmMs);
    }
  }
  const rounds = Math.max(...t.map((x) => x.reps));
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of contenders.entries()) {
      if (r >= t[i]!.reps) continue;
      if (contenders.length > 1) await settle();
      let n = 0;
      const t0 = performance.now();
      do {
        last[i] = await c.fn();
        n++;
      } while (performance.now() - t0 < t[i]!.minMs / t[i]!.reps);
      samples[i]!.push((performance.now() - t0) / n);
    }
  }
  return samples.map((s, i) => ({ ms: median(s), samples: s, last: last[i] as T }));
}

function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
}

/** Deterministic values in [−1, 1) (a 32-bit LCG), so every run benchmarks the same data. */
function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

/** max |got − want| / max |want|. */
function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Number.POSITIVE_INFINITY;
  let [diff, scale] = [0, 0];
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    diff = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return diff / (scale || 1);
}

/** The peers, by the key their numbers have in a row (and in --json). */
const PEERS = ['tfjs', 'onnxruntime', 'onnxruntime_web'] as const;
type PeerName = (typeof PEERS)[number];
const PEER_LABEL: Record<PeerName, string> = { tfjs: 'tfjs', onnxruntime: 'ort-node', onnxruntime_web: 'ort-web' };

/** A performance goal of the issue: tessera / peer ≥ min. */
interface Goal {
  peer: PeerName;
  min: number;
}

interface Row {
  op: string;
  shape: string;
  tessera: number;
  unit: string;
  tfjs: number | null;
  onnxruntime: number | null;
  onnxruntime_web: number | null;
  ratio_vs_tfjs: number | null;
  ratio_vs_onnxruntime: number | null;
  ratio_vs_onnxruntime_web: number | null;
  /** The goals, as text ("≥0.25× ort-node, ≥5× tfjs"). */
  goal: string;
  /** Whether every goal of the row is met (null when a peer did not run). */
  met: boolean | null;
  /** For each missed goal: how many times faster Tessera must get to meet it. */
  shortfall: Partial<Record<PeerName, number>>;
}

/** A peer's run of the op: returns its output in Tessera's layout (conversions belong in `convert`, untimed). */
interface Peer {
  run: () => ArrayLike<number> | Promise<ArrayLike<number>>;
  convert?: (out: ArrayLike<number>) => ArrayLike<number>;
  timing?: Timing;
  /** Frees the peer's session (after the row). */
  release?: () => Promise<void>;
}

const rows: Row[] = [];
const notes: string[] = [];

/**
 * Times Tessera and each peer on one op; `work` is FLOPs or bytes per run (so work / ms / 1e6 is GFLOP/s or GB/s).
 * Tessera's output (downloaded once, after timing) is the reference the peers are checked against.
 */
async function measure(
  op: string,
  shape: string,
  unit: 'GFLOP/s' | 'GB/s',
  work: number,
  tessera: { run: () => void; out: () => Float32Array; timing?: Timing },
  peers: Partial<Record<PeerName, Peer>>,
  goals: Goal[],
): Promise<void> {
  const rate = (ms: number) => work / ms / 1e6;
  const names = PEERS.filter((name) => peers[name]);
  const [ours, ...theirs] = await timeAll<unknown>([
    { fn: tessera.run, timing: tessera.timing },
    ...names.map((name) => ({ fn: peers[name]!.run, timing: peers[name]!.timing })),
  ]);
  const reference = tessera.out();
  const result: Record<PeerName, number | null> = { tfjs: null, onnxruntime: null, onnxruntime_web: null };
  const ratios: Record<PeerName, number | null> = { tfjs: null, onnxruntime: null, onnxruntime_web: null };
  for (const [i, name] of names.entries()) {
    const peer = peers[name]!;
    const { ms, samples, last } = theirs[i]!;
    result[name] = rate(ms);
    // Paired: the rounds both took a sample in, back to back; the median of their ratios.
    const rounds = Math.min(samples.length, ours!.samples.length);
    ratios[name] = median(Array.from({ length: rounds }, (_, r) => samples[r]! / ours!.samples[r]!));
    const out = last as ArrayLike<number>;
    const err = relError(peer.convert ? peer.convert(out) : out, reference);
    if (!(err <= TOLERANCE)) {
      notes.push(
        `${op} ${shape}: ${PEER_LABEL[name]} disagrees with tessera (relative error ${err.toExponential(2)} > ${TOLERANCE}).`,
      );
    }
    await peer.release?.();
  }
  const shortfall: Row['shortfall'] = {};
  let met: boolean | null = true;
  for (const g of goals) {
    const r = ratios[g.peer];
    if (r === null) met = null;
    else if (r < g.min) {
      shortfall[g.peer] = g.min / r;
      if (met) met = false;
    }
  }
  rows.push({
    op,
    shape,
    tessera: rate(ours!.ms),
    unit,
    ...result,
    ratio_vs_tfjs: ratios.tfjs,
    ratio_vs_onnxruntime: ratios.onnxruntime,
    ratio_vs_onnxruntime_web: ratios.onnxruntime_web,
    goal: goals.map((g) => `≥${g.min}× ${PEER_LABEL[g.peer]}`).join(', '),
    met,
    shortfall,
  });
}

/** A device buffer holding `values`. */
function upload(dev: Device, values: Float32Array): DeviceBuffer {
  const b = dev.alloc('f32', values.length);
  dev.upload(b, values);
  return b;
}

function download(dev: Device, b: DeviceBuffer): Float32Array {
  return dev.download(b) as Float32Array;
}

/** tfjs: run `fn` in a tidy scope, read the result back (forcing completion) and free it. */
function tfRun(fn: () => tf.Tensor): () => Float32Array {
  return () => {
    const t = tf.tidy(fn);
    const data = t.dataSync() as Float32Array;
    t.dispose();
    return data;
  };
}

/** ONNX model with float inputs/outputs of the given shapes around `nodes`; opset 23 (IR 11) unless told. */
function model(
  nodes: NodeSpec[],
  inputs: Record<string, readonly number[]>,
  output: readonly number[],
  initializers: TensorSpec[] = [],
  opset = 23,
): ModelSpec {
  return {
    nodes,
    inputs: Object.entries(inputs).map(([name, dims]) => ({ name, dims })),
    outputs: [{ name: 'y', dims: output }],
    initializers,
    opset,
    irVersion: opset >= 23 ? 11 : 10,
  };
}

/** An input's data and dims; each runtime makes its own tensor of it (the two packages' Tensor classes differ). */
interface Feed {
  data: Float32Array;
  dims: readonly number[];
}

const feed = (data: Float32Array, dims: readonly number[]): Feed => ({ data, dims });

/**
 * One of the two onnxruntime packages. Both implement onnxruntime-common's API, but each bundles its own classes, so
 * tensors must come from the runtime that runs them.
 */
interface OrtRuntime {
  name: 'onnxruntime' | 'onnxruntime_web';
  create: (model: Uint8Array) => Promise<ort.InferenceSession>;
  tensor: (f: Feed) => ort.Tensor;
  /**
   * Whether the output is pre-allocated and passed as a fetch, as Tessera's is. onnxruntime-web 1.30 accepts a CPU
   * tensor as a fetch but never copies the result back into it (the output stays in the WebAssembly heap; the
   * tensor keeps its old data), so there it is allocated by the run, as ORT-web users get it.
   */
  preallocate: boolean;
}

const ORT_NODE: OrtRuntime = {
  name: 'onnxruntime',
  create: (m) =>
    ort.InferenceSession.create(m, { intraOpNumThreads: THREADS, interOpNumThreads: 1, graphOptimizationLevel: 'all' }),
  tensor: (f) => new ort.Tensor('float32', f.data, f.dims),
  preallocate: true,
};

/**
 * onnxruntime-web in Node: its `node` export (dist/ort.node.min.mjs) runs the WebAssembly backend only, importing
 * ort-wasm-simd-threaded.mjs/.wasm from its own dist folder (no network, no wasmPaths needed); threads are
 * worker_threads sharing the WebAssembly memory. numThreads must be set before the first session. Each run copies
 * its inputs into the WebAssembly heap and the output out of it: part of its time, as for every ORT-web user.
 */
const ORT_WEB: OrtRuntime = {
  name: 'onnxruntime_web',
  create: (m) =>
    ortWeb.InferenceSession.create(m, {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
    }) as Promise<ort.InferenceSession>,
  tensor: (f) => new ortWeb.Tensor('float32', f.data, f.dims) as ort.Tensor,
  preallocate: false,
};

interface OrtCandidate {
  label: string;
  model: ModelSpec;
  /** Inputs (the same data as Tessera's, in the layout this model takes); tensors are made once, untimed. */
  feeds: Record<string, Feed>;
  /** Untimed conversion of the output to Tessera's layout, for the check. */
  convert?: (out: ArrayLike<number>) => ArrayLike<number>;
}

/** Which candidate each runtime ran, per op (for the header). */
const ortOps: Record<OrtRuntime['name'], Set<string>> = { onnxruntime: new Set(), onnxruntime_web: new Set() };

/**
 * Creates, in runtime `rt`, the first of `candidates` it accepts (session creation fails on an unknown op or opset),
 * and returns a peer that runs it (`session.run` on its pre-created tensors); `op` names the row in the header.
 */
async function ortPeer(
  rt: OrtRuntime,
  op: string,
  candidates: OrtCandidate[],
  timing: Timing = { warmMs: 500 },
): Promise<Peer> {
  const rejected: string[] = [];
  for (const c of candidates) {
    let session: ort.InferenceSession;
    try {
      session = await rt.create(encodeModel(c.model));
    } catch (e) {
      rejected.push(`${c.label} (${String(e).split('\n')[0]})`);
      continue;
    }
    if (rejected.length) notes.push(`${PEER_LABEL[rt.name]} rejected ${rejected.join('; ')}; used ${c.label}.`);
    ortOps[rt.name].add(op === c.label ? op : `${op} = ${c.label}`);
    const feeds = Object.fromEntries(Object.entries(c.feeds).map(([k, f]) => [k, rt.tensor(f)]));
    const dims = c.model.outputs[0]!.dims;
    // Where it works, the output is pre-allocated too (as Tessera's is): ORT writes into it instead of allocating.
    const fetches = rt.preallocate
      ? { y: rt.tensor(feed(new Float32Array(dims.reduce((p, d) => p * d, 1)), dims)) }
      : undefined;
    const run = async () => {
      const out = fetches ? await session.run(feeds, fetches) : await session.run(feeds);
      return out.y!.data as Float32Array;
    };
    return { run, convert: c.convert, timing, release: () => session.release() };
  }
  throw new Error(`${PEER_LABEL[rt.name]} accepted none of: ${rejected.join('; ')}`);
}

/** Both onnxruntime peers of a row, keyed as in the row. */
async function ortPeers(
  op: string,
  candidates: OrtCandidate[],
  timing?: Timing,
): Promise<{ onnxruntime: Peer; onnxruntime_web: Peer }> {
  return {
    onnxruntime: await ortPeer(ORT_NODE, op, candidates, timing),
    onnxruntime_web: await ortPeer(ORT_WEB, op, candidates, timing),
  };
}

async function main(): Promise<void> {
  tf.enableProdMode(); // also silences the "install tfjs-node" banner, keeping stdout clean for --json
  await tf.setBackend('cpu');
  ort.env.logLevel = 'error';
  ortWeb.env.logLevel = 'error';
  ortWeb.env.wasm.numThreads = THREADS;
  ortWeb.env.wasm.simd = true;
  const rt = await createRuntime({
    backend: createNvidiaSimBackend(),
    devices: 'h100',
    hostMemoryLimit: 8 * 1024 ** 3,
  });
  const dev = rt.device(0);

  // The small-kernel and timing-only rows run first, before any peer has started threads that could still be
  // spinning on this 2-core machine while a single-threaded row is timed.
  const small = { launch: launchOverhead(dev), add: streamingAdd(dev) };
  const timingDev = (
    await createRuntime({ backend: createNvidiaSimBackend(), devices: 'h200', mode: 'timing' })
  ).device(0);
  // The first distinct step also compiles the step's kernel specialisations (once per process); the goal row is the
  // next one, with every cost analysed afresh (the analysis cache cleared) but the compiled kernels kept.
  const firstRun = await modelStep({ distinct: true });
  clearCostCache();
  const timingOnly = {
    firstRun,
    distinct: await modelStep({ distinct: true }),
    repeated: await modelStep(),
    simt: gridStride(timingDev),
  };

  // fp32 matmul, S×S×S: 2·S³ FLOPs.
  for (const S of [256, 512, 1024, 2048]) {
    const [av, bv] = [random(S * S, 1), random(S * S, 2)];
    const [a, b, c] = [upload(dev, av), upload(dev, bv), dev.alloc('f32', S * S)];
    const [ta, tb] = [tf.tensor2d(av, [S, S]), tf.tensor2d(bv, [S, S])];
    const ortPeersOf = await ortPeers('MatMul', [
      {
        label: 'MatMul',
        model: model([{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }], { a: [S, S], b: [S, S] }, [S, S]),
        feeds: { a: feed(av, [S, S]), b: feed(bv, [S, S]) },
      },
    ]);
    // tfjs-cpu manages about 1 GFLOP/s: a 2048³ product takes 15-30 s, so it runs once, untimed warm-up skipped (the
    // smaller sizes have warmed its kernel up); that one run is most of the bench's time.
    const slow: Timing = S >= 2048 ? { minMs: 0, reps: 1, warmMs: 0 } : S >= 1024 ? { minMs: 1500, reps: 3 } : {};
    await measure(
      'matmul f32',
      `${S}×${S}×${S}`,
      'GFLOP/s',
      2 * S ** 3,
      {
        run: () => gemm(dev, { a, b, c, M: S, N: S, K: S }),
        out: () => download(dev, c),
        // The first launch also starts the dot's worker threads and compiles its WebAssembly: a longer warm-up.
        timing: S >= 2048 ? { minMs: 1500, reps: 3 } : S === 256 ? { warmMs: 1500 } : {},
      },
      { tfjs: { run: tfRun(() => tf.matMul(ta, tb)), timing: slow }, ...ortPeersOf },
      // The goals: ≥ 0.25× onnxruntime-node from 1024 up; every row ≥ 5× tfjs.
      S >= 1024 ? [{ peer: 'onnxruntime', min: 0.25 }, TFJS_GOAL] : [TFJS_GOAL],
    );
    tf.dispose([ta, tb]);
    for (const x of [a, b, c]) dev.free(x);
  }

  // Softmax over the last axis, 1024×4096: reads and writes every element once (2·R·C·4 bytes).
  {
    const [R, C] = [1024, 4096];
    const xv = random(R * C, 3);
    const [x, y] = [upload(dev, xv), dev.alloc('f32', R * C)];
    const tx = tf.tensor2d(xv, [R, C]);
    const ortPeersOf = await ortPeers('softmax', [
      {
        label: 'Softmax(axis −1)',
        model: model([{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: { axis: -1 } }], { x: [R, C] }, [R, C]),
        feeds: { x: feed(xv, [R, C]) },
      },
    ]);
    await measure(
      'softmax f32',
      `${R}×${C}`,
      'GB/s',
      2 * R * C * 4,
      { run: () => softmax(dev, { x, out: y, rows: R, cols: C }), out: () => download(dev, y) },
      { tfjs: { run: tfRun(() => tf.softmax(tx)), timing: { minMs: 1500, reps: 3 } }, ...ortPeersOf },
      [{ peer: 'onnxruntime', min: 1 }, TFJS_GOAL],
    );
    tx.dispose();
    for (const b of [x, y]) dev.free(b);
  }

  // RMSNorm, 4096×4096: y = x · rsqrt(mean(x²) + eps) · w; reads x and writes y (2·R·C·4 bytes, plus w).
  {
    const [R, C, eps] = [4096, 4096, 1e-6];
    const [xv, wv] = [random(R * C, 4), random(C, 5)];
    const [x, w, y] = [upload(dev, xv), upload(dev, wv), dev.alloc('f32', R * C)];
    const [tx, tw] = [tf.tensor2d(xv, [R, C]), tf.tensor1d(wv)];
    const weight: TensorSpec = { name: 'w', dims: [C], data: wv };
    const norm = (op: string, opset: number) =>
      model(
        [{ op, inputs: ['x', 'w'], outputs: ['y'], attrs: { axis: -1, epsilon: { float: eps } } }],
        { x: [R, C] },
        [R, C],
        [weight],
        opset,
      );
    // Composed: x · (1 / √(ReduceMean(x·x) + eps)) · w (ReduceMean takes its axes as an input since opset 18).
    const composed = model(
      [
        { op: 'Mul', inputs: ['x', 'x'], outputs: ['sq'] },
        { op: 'ReduceMean', inputs: ['sq', 'axes'], outputs: ['ms'], attrs: { keepdims: 1 } },
        { op: 'Add', inputs: ['ms', 'eps'], outputs: ['mse'] },
        { op: 'Sqrt', inputs: ['mse'], outputs: ['rms'] },
        { op: 'Reciprocal', inputs: ['rms'], outputs: ['inv'] },
        { op: 'Mul', inputs: ['x', 'inv'], outputs: ['xn'] },
        { op: 'Mul', inputs: ['xn', 'w'], outputs: ['y'] },
      ],
      { x: [R, C] },
      [R, C],
      [
        weight,
        { name: 'axes', dims: [1], data: BigInt64Array.of(-1n) },
        { name: 'eps', dims: [], data: Float32Array.of(eps) },
      ],
      22,
    );
    const feeds = { x: feed(xv, [R, C]) };
    const ortPeersOf = await ortPeers('rmsnorm', [
      { label: 'RMSNormalization (opset 23)', model: norm('RMSNormalization', 23), feeds },
      { label: 'SimplifiedLayerNormalization (ORT)', model: norm('SimplifiedLayerNormalization', 22), feeds },
      { label: 'composed Mul/ReduceMean/Add/Sqrt/Reciprocal/Mul', model: composed, feeds },
    ]);
    await measure(
      'rmsnorm f32',
      `${R}×${C}`,
      'GB/s',
      2 * R * C * 4 + C * 4,
      { run: () => rmsnorm(dev, { x, weight: w, out: y, rows: R, cols: C, eps }), out: () => download(dev, y) },
      {
        tfjs: {
          run: tfRun(() => tf.mul(tf.mul(tx, tf.rsqrt(tf.add(tf.mean(tf.square(tx), -1, true), eps))), tw)),
          timing: { minMs: 1500, reps: 3 },
        },
        ...ortPeersOf,
      },
      [{ peer: 'onnxruntime', min: 1 }, TFJS_GOAL],
    );
    tf.dispose([tx, tw]);
    for (const b of [x, w, y]) dev.free(b);
  }

  // Causal prefill attention, one sequence of 512, 8 heads of 64: 4·L²·D·H FLOPs for QKᵀ and PV, halved by the mask.
  {
    const [L, H, D] = [512, 8, 64];
    const scale = 1 / Math.sqrt(D);
    const [qv, kv, vv] = [random(L * H * D, 6), random(L * H * D, 7), random(L * H * D, 8)];
    const [q, k, v, o] = [upload(dev, qv), upload(dev, kv), upload(dev, vv), dev.alloc('f32', L * H * D)];
    // tfjs and the composed ONNX graph work per head batched, (H, L, D): transposed once here, outside the timing.
    const heads = (a: Float32Array) => tf.tidy(() => tf.transpose(tf.tensor3d(a, [L, H, D]), [1, 0, 2]));
    const [tq, tk, tv] = [heads(qv), heads(kv), heads(vv)];
    const maskv = new Float32Array(L * L);
    for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) maskv[i * L + j] = -1e9; // additive causal mask
    const tmask = tf.tensor2d(maskv, [L, L]);
    /** (H, L, D) → (L, H, D), Tessera's layout, for the check. */
    const fromHeads = (x: ArrayLike<number>) => {
      const out = new Float32Array(L * H * D);
      for (let h = 0; h < H; h++)
        for (let l = 0; l < L; l++) for (let d = 0; d < D; d++) out[(l * H + h) * D + d] = x[(h * L + l) * D + d]!;
      return out;
    };
    // ONNX Attention takes 3-D (batch, seq, heads·D) inputs with q_num_heads/kv_num_heads: Tessera's (L, H, D) bytes.
    const fused = model(
      [
        {
          op: 'Attention',
          inputs: ['q', 'k', 'v'],
          outputs: ['y'],
          attrs: { is_causal: 1, q_num_heads: H, kv_num_heads: H, scale: { float: scale } },
        },
      ],
      { q: [1, L, H * D], k: [1, L, H * D], v: [1, L, H * D] },
      [1, L, H * D],
    );
    const composed = model(
      [
        { op: 'Transpose', inputs: ['k'], outputs: ['kt'], attrs: { perm: { ints: [0, 2, 1] } } },
        { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'] },
        { op: 'Mul', inputs: ['s', 'scale'], outputs: ['ss'] },
        { op: 'Add', inputs: ['ss', 'mask'], outputs: ['sm'] },
        { op: 'Softmax', inputs: ['sm'], outputs: ['p'], attrs: { axis: -1 } },
        { op: 'MatMul', inputs: ['p', 'v'], outputs: ['y'] },
      ],
      { q: [H, L, D], k: [H, L, D], v: [H, L, D] },
      [H, L, D],
      [
        { name: 'scale', dims: [], data: Float32Array.of(scale) },
        { name: 'mask', dims: [L, L], data: maskv },
      ],
      22,
    );
    const headsFeed = (t: tf.Tensor) => feed(t.dataSync() as Float32Array, [H, L, D]);
    const ortPeersOf = await ortPeers('attention', [
      {
        label: 'Attention (opset 23, is_causal=1)',
        model: fused,
        feeds: { q: feed(qv, [1, L, H * D]), k: feed(kv, [1, L, H * D]), v: feed(vv, [1, L, H * D]) },
      },
      {
        label: 'composed MatMul/Softmax/MatMul with an additive causal mask',
        model: composed,
        feeds: { q: headsFeed(tq), k: headsFeed(tk), v: headsFeed(tv) },
        convert: fromHeads,
      },
    ]);
    await measure(
      'attention f32',
      `L=${L} H=${H} D=${D} causal`,
      'GFLOP/s',
      (4 * L * L * D * H) / 2,
      {
        run: () =>
          flashAttention(dev, { q, k, v, out: o, seqLens: [L], heads: H, kvHeads: H, headDim: D, causal: true }),
        out: () => download(dev, o),
      },
      {
        tfjs: {
          run: tfRun(() => tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(tq, tk, false, true), scale), tmask)), tv)),
          convert: fromHeads,
          timing: { minMs: 1500, reps: 3 },
        },
        ...ortPeersOf,
      },
      [{ peer: 'onnxruntime', min: 0.25 }, TFJS_GOAL],
    );
    tf.dispose([tq, tk, tv, tmask]);
    for (const b of [q, k, v, o]) dev.free(b);
  }

  report(small, timingOnly);
}

/** The floor for every row against tfjs-cpu. */
const TFJS_GOAL: Goal = { peer: 'tfjs', min: 5 };
/** Host µs per cached launch of a small kernel. */
const LAUNCH_GOAL_US = 20;
/** `vector_add` 1 M f32 against a hand-written JS loop. */
const VECTOR_ADD_GOAL = 0.5;
/** Wall seconds to cost 1000 launches of distinct shapes, and one grid-stride SIMT launch over 1 GiB. */
const DISTINCT_GOAL_S = 0.1;
const SIMT_GOAL_S = 0.5;

/** Prints rows of cells in aligned columns; columns in `left` are text (padded right), the rest numbers. */
function printTable(header: string[], table: string[][], left: Set<number>): void {
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (left.has(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  for (const t of table) console.log(line(t));
}

/** How far a result is from its goal, as a factor: 2 significant digits (1.08, 3.1, 12, 290). */
function factor(f: number): string {
  return f < 1.1 ? f.toFixed(2) : f < 10 ? f.toFixed(1) : f.toFixed(0);
}

const cell = (x: number | null, digits = 2) => (x === null ? '—' : x.toFixed(digits));
/** "yes", or "no (…)" naming how far off the goal is. */
const metCell = (met: boolean | null, miss: string) => (met === null ? '—' : met ? 'yes' : `no (${miss})`);

function report(
  small: { launch: LaunchOverhead; add: Streaming },
  timingOnly: { firstRun: ModelStepResult; distinct: ModelStepResult; repeated: ModelStepResult; simt: GridStride },
): void {
  const { launch, add } = small;
  if (!launch.matches || !add.matches) notes.push('vector_add: the launch result differs from the JS loop.');
  const launchMet = launch.launchUs <= LAUNCH_GOAL_US;
  const vectorRows = [
    { form: 'masked loads (Triton tutorial form)', gbs: add.masked, ratio: add.maskedVsJs },
    { form: 'block loads (tensor descriptors)', gbs: add.blocks, ratio: add.blocksVsJs },
  ].map((r) => ({ ...r, met: r.ratio >= VECTOR_ADD_GOAL }));
  const { firstRun, distinct, repeated, simt } = timingOnly;
  const distinctMet = distinct.wallMs / 1e3 < DISTINCT_GOAL_S;
  const simtMet = simt.wallMs / 1e3 < SIMT_GOAL_S;
  const simtShape = `${simt.n} f32 (1 GiB per operand), grid ${simt.grid} × ${simt.block} threads`;

  if (json) {
    for (const r of rows) console.log(JSON.stringify(r));
    const out = (o: object) => console.log(JSON.stringify(o));
    out({
      op: 'launch overhead',
      shape: 'vector_add 1024 f32, 1 program, functional h100',
      tessera: launch.launchUs,
      unit: 'µs',
      js: launch.jsUs,
      goal: `≤${LAUNCH_GOAL_US} µs`,
      met: launchMet,
    });
    for (const r of vectorRows) {
      out({
        op: 'vector_add f32',
        shape: `${1 << 20}, ${r.form}`,
        tessera: r.gbs,
        unit: 'GB/s',
        js: add.js,
        js_specialised: add.jsSpecialised,
        ratio_vs_js: r.ratio,
        goal: `≥${VECTOR_ADD_GOAL}× js`,
        met: r.met,
      });
    }
    for (const [shape, s, goal, met] of [
      ['100 layers, distinct shapes, first run (compiles the kernels)', firstRun, null, null],
      ['100 layers, distinct shapes', distinct, `<${DISTINCT_GOAL_S} s`, distinctMet],
      ['100 layers, repeated shapes', repeated, null, null],
    ] as const) {
      out({
        op: 'timing-only decode step',
        shape,
        launches: s.launches,
        cache_served: s.cacheServed,
        wall_s: s.wallMs / 1e3,
        modelled_ms: s.modelledMs,
        goal,
        met,
      });
    }
    out({
      op: 'timing-only simt grid-stride add',
      shape: simtShape,
      launches: 1,
      wall_s: simt.wallMs / 1e3,
      modelled_ms: simt.modelledMs,
      goal: `<${SIMT_GOAL_S} s`,
      met: simtMet,
    });
    for (const n of notes) console.error(n); // stdout stays one JSON object per line
    return;
  }

  console.log(
    `Functional mode on ${THREADS} cores: Tessera (tile executor, WebAssembly SIMD dot on ${THREADS} threads) vs ` +
      `@tensorflow/tfjs-backend-cpu 4.22.0 (one thread), onnxruntime-node 1.30.0 CPU (native MLAS, ` +
      `intraOpNumThreads = ${THREADS}) and onnxruntime-web 1.30.0 WebAssembly (SIMD, numThreads = ${THREADS}).`,
  );
  const opsNode = [...ortOps.onnxruntime].join('; ');
  const opsWeb = [...ortOps.onnxruntime_web].join('; ');
  console.log(
    opsNode === opsWeb ? `onnxruntime ops: ${opsNode}.` : `ort-node ops: ${opsNode}.\nort-web ops: ${opsWeb}.`,
  );
  console.log(
    'Rates: medians of interleaved samples. ×peer = tessera / peer (above 1: Tessera is faster), the median over ' +
      'rounds of the ratio of back-to-back samples; goal and met: the performance goals.\n',
  );
  const short = (r: Row) =>
    Object.entries(r.shortfall)
      .map(([p, f]) => `${PEER_LABEL[p as PeerName]} ${factor(f)}× short`)
      .join(', ');
  printTable(
    ['op', 'shape', 'tessera', 'tfjs', 'ort-node', 'ort-web', 'unit', '×tfjs', '×ort-node', '×ort-web', 'goal', 'met'],
    rows.map((r) => [
      r.op,
      r.shape,
      cell(r.tessera),
      cell(r.tfjs),
      cell(r.onnxruntime),
      cell(r.onnxruntime_web),
      r.unit,
      cell(r.ratio_vs_tfjs),
      cell(r.ratio_vs_onnxruntime),
      cell(r.ratio_vs_onnxruntime_web),
      r.goal,
      metCell(r.met, short(r)),
    ]),
    new Set([0, 1, 6, 10, 11]),
  );
  if (notes.length) console.log(`\n${notes.join('\n')}`);
  else console.log(`\nEvery peer's result matches Tessera's (relative error ≤ ${TOLERANCE}).`);

  console.log(
    `\nSmall kernels, functional H100 (host time, one thread): a repeated launch (same kernel, grid and buffers) ` +
      `beside a plain JS function doing the same work over Float32Arrays, interleaved; ×js = js time / tessera ` +
      `time (median over rounds of back-to-back samples). ` +
      `Results ${launch.matches && add.matches ? 'equal' : 'DIFFER from'} the JS loop's, bit for bit.\n`,
  );
  printTable(
    ['row', 'shape', 'tessera', 'js', 'unit', '×js', 'goal', 'met'],
    [
      [
        'launch overhead',
        'vector_add 1024 f32, 1 program',
        cell(launch.launchUs, 1),
        cell(launch.jsUs, 2),
        'µs/call',
        cell(launch.jsUs / launch.launchUs, 3),
        `≤${LAUNCH_GOAL_US} µs`,
        metCell(launchMet, `${factor(launch.launchUs / LAUNCH_GOAL_US)}× over`),
      ],
      ...vectorRows.map((r) => [
        'vector_add f32',
        `1 M, ${r.form}`,
        cell(r.gbs),
        cell(add.js),
        'GB/s',
        cell(r.ratio, 3),
        `≥${VECTOR_ADD_GOAL}× js`,
        metCell(r.met, `${factor(VECTOR_ADD_GOAL / r.ratio)}× short`),
      ]),
    ],
    new Set([0, 1, 4, 6, 7]),
  );
  console.log(
    `\njs: a JS function over Float32Array arguments. The same loop written as a closure over these three arrays, ` +
      `which V8 specialises to them (constant lengths and data pointers, no bounds checks), runs at ` +
      `${add.jsSpecialised.toFixed(2)} GB/s: against it the block-load form is ` +
      `${(add.blocks / add.jsSpecialised).toFixed(3)}× and the masked form ${(add.masked / add.jsSpecialised).toFixed(3)}×.`,
  );

  console.log(
    '\nTiming-only mode, H200 (wall time of costing: compiling, the cost analysis, the timing model; no data). Decode step: ' +
      '100 Llama-shaped layers (hidden 4096, 32/8 heads of 128, SwiGLU 14336, bf16, paged KV): rmsnorm, QKV gemm, ' +
      'rope, reshape_and_cache, paged attention, O gemm, rmsnorm, gate/up gemm, silu·mul, down gemm per layer.\n',
  );
  const over = (ms: number, goalS: number) => `${factor(ms / 1e3 / goalS)}× over`;
  printTable(
    ['row', 'shape', 'launches', 'from cache', 'wall s', 'modelled ms', 'goal', 'met'],
    [
      [
        'decode step, first run',
        'as below, compiling its kernels (once per process)',
        String(firstRun.launches),
        String(firstRun.cacheServed),
        cell(firstRun.wallMs / 1e3, 3),
        cell(firstRun.modelledMs, 2),
        '—',
        '—',
      ],
      [
        'decode step, nothing reused',
        `${distinct.tokenCounts} token counts (32…231), context 1024`,
        String(distinct.launches),
        String(distinct.cacheServed),
        cell(distinct.wallMs / 1e3, 3),
        cell(distinct.modelledMs, 2),
        `<${DISTINCT_GOAL_S} s`,
        metCell(distinctMet, over(distinct.wallMs, DISTINCT_GOAL_S)),
      ],
      [
        'decode step, repeated shapes',
        'batch 64, context 2048',
        String(repeated.launches),
        String(repeated.cacheServed),
        cell(repeated.wallMs / 1e3, 3),
        cell(repeated.modelledMs, 2),
        '—',
        '—',
      ],
      [
        'simt grid-stride vector add',
        simtShape,
        '1',
        '0',
        cell(simt.wallMs / 1e3, 3),
        cell(simt.modelledMs, 2),
        `<${SIMT_GOAL_S} s`,
        metCell(simtMet, over(simt.wallMs, SIMT_GOAL_S)),
      ],
    ],
    new Set([0, 1, 6, 7]),
  );
  const mets = [...rows.map((r) => r.met), launchMet, ...vectorRows.map((r) => r.met), distinctMet, simtMet];
  console.log(`\nRows meeting their goals: ${mets.filter((m) => m === true).length} of ${mets.length}.`);
  console.log(
    `Load average (1 min) on these ${THREADS} cores: ${LOAD_AT_START.toFixed(2)} at the start, ` +
      `${loadavg()[0]!.toFixed(2)} at the end; other work inflates times and wall seconds (ratios less).`,
  );
}

await main();
