/**
 * `pnpm bench` for @tessera/kernels: functional-mode speed of the library's operators beside the same computations in
 * TensorFlow.js's CPU backend and in onnxruntime-node, on the same shapes and in the same run (ratios, not absolute
 * numbers, are what to compare on a noisy machine). Every peer's result is checked once against Tessera's, so the
 * comparison is of the same computation.
 *
 *   pnpm bench            table
 *   pnpm bench --json     one JSON object per row (also BENCH_JSON=1)
 *
 * Threads: Tessera's `dot` splits large products over worker threads (one per core, TESSERA_THREADS to change);
 * onnxruntime runs with intraOpNumThreads = the machine's cores; tfjs-backend-cpu is single-threaded.
 */
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
import { createRuntime, type Device, type DeviceBuffer } from '@tessera/device';
import * as ort from 'onnxruntime-node';
import { flashAttention } from '../src/attention';
import { gemm } from '../src/gemm';
import { rmsnorm } from '../src/norm';
import { softmax } from '../src/softmax';
import { modelStep } from './model-step';
import { encodeModel, type ModelSpec, type NodeSpec, type TensorSpec } from './onnx';

const json = process.argv.includes('--json') || process.env.BENCH_JSON === '1';
const THREADS = availableParallelism();
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

/**
 * Median over `reps` repetitions of the mean time of one run, each repetition at least `minMs / reps` of work, after
 * `warmMs` of warm-up (the JIT, ORT's first-run allocations; 0: none). Returns the time and the last run's result.
 */
async function time<T>(fn: () => T | Promise<T>, { minMs = 500, reps = 5, warmMs = 300 }: Timing = {}) {
  let last: T | undefined;
  const warm = performance.now();
  if (warmMs > 0) {
    do last = await fn();
    while (performance.now() - warm < warmMs);
  }
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    let n = 0;
    const t0 = performance.now();
    do {
      last = await fn();
      n++;
    } while (performance.now() - t0 < minMs / reps);
    samples.push((performance.now() - t0) / n);
  }
  return { ms: samples.sort((a, b) => a - b)[samples.length >> 1]!, last: last as T };
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

interface Row {
  op: string;
  shape: string;
  tessera: number;
  unit: string;
  tfjs: number | null;
  onnxruntime: number | null;
  ratio_vs_tfjs: number | null;
  ratio_vs_onnxruntime: number | null;
}

/** A peer's run of the op: returns its output in Tessera's layout (conversions belong in `convert`, untimed). */
interface Peer {
  run: () => ArrayLike<number> | Promise<ArrayLike<number>>;
  convert?: (out: ArrayLike<number>) => ArrayLike<number>;
  timing?: Timing;
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
  peers: { tfjs?: Peer; onnxruntime?: Peer },
): Promise<void> {
  const rate = (ms: number) => work / ms / 1e6;
  const ours = rate((await time(tessera.run, tessera.timing)).ms);
  const reference = tessera.out();
  const result: Record<'tfjs' | 'onnxruntime', number | null> = { tfjs: null, onnxruntime: null };
  for (const name of ['tfjs', 'onnxruntime'] as const) {
    const peer = peers[name];
    if (!peer) continue;
    const { ms, last } = await time(peer.run, peer.timing);
    result[name] = rate(ms);
    const err = relError(peer.convert ? peer.convert(last) : last, reference);
    if (!(err <= TOLERANCE)) {
      notes.push(
        `${op} ${shape}: ${name} disagrees with tessera (relative error ${err.toExponential(2)} > ${TOLERANCE}).`,
      );
    }
  }
  const ratio = (peer: number | null) => (peer === null ? null : ours / peer);
  rows.push({
    op,
    shape,
    tessera: ours,
    unit,
    tfjs: result.tfjs,
    onnxruntime: result.onnxruntime,
    ratio_vs_tfjs: ratio(result.tfjs),
    ratio_vs_onnxruntime: ratio(result.onnxruntime),
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

const sessionOptions: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: THREADS,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
};

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

const f32 = (data: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', data, dims);

interface OrtCandidate {
  label: string;
  model: ModelSpec;
  /** Pre-created input tensors (the same data as Tessera's, in the layout this model takes). */
  feeds: Record<string, ort.Tensor>;
  /** Untimed conversion of the output to Tessera's layout, for the check. */
  convert?: (out: ArrayLike<number>) => ArrayLike<number>;
}

/**
 * Creates the first of `candidates` this onnxruntime accepts (session creation fails on an unknown op or opset), and
 * returns a peer that runs it (`session.run` on its pre-created tensors), with the candidate's label.
 */
async function ortPeer(
  candidates: OrtCandidate[],
  timing: Timing = { warmMs: 500 },
): Promise<{ peer: Peer; label: string }> {
  const rejected: string[] = [];
  for (const c of candidates) {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(encodeModel(c.model), sessionOptions);
    } catch (e) {
      rejected.push(`${c.label} (${String(e).split('\n')[0]})`);
      continue;
    }
    if (rejected.length) notes.push(`onnxruntime rejected ${rejected.join('; ')}; used ${c.label}.`);
    // The output is pre-allocated too (as Tessera's is): ORT writes into it instead of allocating one per run.
    const dims = c.model.outputs[0]!.dims;
    const y = f32(new Float32Array(dims.reduce((p, d) => p * d, 1)), dims);
    const run = async () => (await session.run(c.feeds, { y })).y!.data as Float32Array;
    return { peer: { run, convert: c.convert, timing }, label: c.label };
  }
  throw new Error(`onnxruntime accepted none of: ${rejected.join('; ')}`);
}

async function main(): Promise<void> {
  tf.enableProdMode(); // also silences the "install tfjs-node" banner, keeping stdout clean for --json
  await tf.setBackend('cpu');
  ort.env.logLevel = 'error';
  const rt = await createRuntime({
    backend: createNvidiaSimBackend(),
    devices: 'h100',
    hostMemoryLimit: 8 * 1024 ** 3,
  });
  const dev = rt.device(0);
  const ortOps: string[] = [];

  // fp32 matmul, S×S×S: 2·S³ FLOPs.
  for (const S of [256, 512, 1024, 2048]) {
    const [av, bv] = [random(S * S, 1), random(S * S, 2)];
    const [a, b, c] = [upload(dev, av), upload(dev, bv), dev.alloc('f32', S * S)];
    const [ta, tb] = [tf.tensor2d(av, [S, S]), tf.tensor2d(bv, [S, S])];
    const { peer: onnxruntime } = await ortPeer([
      {
        label: 'MatMul',
        model: model([{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }], { a: [S, S], b: [S, S] }, [S, S]),
        feeds: { a: f32(av, [S, S]), b: f32(bv, [S, S]) },
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
      { tfjs: { run: tfRun(() => tf.matMul(ta, tb)), timing: slow }, onnxruntime },
    );
    tf.dispose([ta, tb]);
    for (const x of [a, b, c]) dev.free(x);
  }
  ortOps.push('MatMul');

  // Softmax over the last axis, 1024×4096: reads and writes every element once (2·R·C·4 bytes).
  {
    const [R, C] = [1024, 4096];
    const xv = random(R * C, 3);
    const [x, y] = [upload(dev, xv), dev.alloc('f32', R * C)];
    const tx = tf.tensor2d(xv, [R, C]);
    const { peer: onnxruntime } = await ortPeer([
      {
        label: 'Softmax',
        model: model([{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: { axis: -1 } }], { x: [R, C] }, [R, C]),
        feeds: { x: f32(xv, [R, C]) },
      },
    ]);
    await measure(
      'softmax f32',
      `${R}×${C}`,
      'GB/s',
      2 * R * C * 4,
      { run: () => softmax(dev, { x, out: y, rows: R, cols: C }), out: () => download(dev, y) },
      { tfjs: { run: tfRun(() => tf.softmax(tx)), timing: { minMs: 1500, reps: 3 } }, onnxruntime },
    );
    tx.dispose();
    for (const b of [x, y]) dev.free(b);
    ortOps.push('softmax = Softmax(axis −1)');
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
    const feeds = { x: f32(xv, [R, C]) };
    const { peer: onnxruntime, label } = await ortPeer([
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
        onnxruntime,
      },
    );
    tf.dispose([tx, tw]);
    for (const b of [x, w, y]) dev.free(b);
    ortOps.push(`rmsnorm = ${label}`);
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
    const headsFeed = (t: tf.Tensor) => f32(t.dataSync() as Float32Array, [H, L, D]);
    const { peer: onnxruntime, label } = await ortPeer([
      {
        label: 'Attention (opset 23, is_causal=1)',
        model: fused,
        feeds: { q: f32(qv, [1, L, H * D]), k: f32(kv, [1, L, H * D]), v: f32(vv, [1, L, H * D]) },
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
        onnxruntime,
      },
    );
    tf.dispose([tq, tk, tv, tmask]);
    for (const b of [q, k, v, o]) dev.free(b);
    ortOps.push(`attention = ${label}`);
  }

  if (json) {
    for (const r of rows) console.log(JSON.stringify(r));
    for (const n of notes) console.error(n); // stdout stays one JSON object per line
    return;
  }
  console.log(
    `Functional mode on ${THREADS} cores: Tessera (tile executor, WebAssembly SIMD dot on ${THREADS} threads) vs ` +
      `@tensorflow/tfjs-backend-cpu 4.22.0 (one thread) and onnxruntime-node 1.30.0 CPU (intraOpNumThreads = ${THREADS}).`,
  );
  console.log(`onnxruntime ops: ${ortOps.join('; ')}. ×peer = tessera / peer (above 1: Tessera is faster).\n`);
  const cell = (x: number | null, digits = 2) => (x === null ? '—' : x.toFixed(digits));
  const header = ['op', 'shape', 'tessera', 'tfjs', 'onnxruntime', 'unit', '×tfjs', '×ort'];
  const table = rows.map((r) => [
    r.op,
    r.shape,
    cell(r.tessera),
    cell(r.tfjs),
    cell(r.onnxruntime),
    r.unit,
    cell(r.ratio_vs_tfjs),
    cell(r.ratio_vs_onnxruntime),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
  const left = new Set([0, 1, 5]); // text columns; numbers align right
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (left.has(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  for (const t of table) console.log(line(t));
  if (notes.length) console.log(`\n${notes.join('\n')}`);
  else console.log(`\nEvery peer's result matches Tessera's (relative error ≤ ${TOLERANCE}).`);
  const step = await modelStep();
  console.log(
    `\nTiming-only mode: one decode step of a 100-layer Llama-shaped model (batch 64, context 2048, H200): ` +
      `${step.launches} launches modelled in ${step.wallMs.toFixed(0)} ms of wall time (modelled step: ${step.modelledMs.toFixed(2)} ms).`,
  );
}

await main();
