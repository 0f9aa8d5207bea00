/**
 * Tessera against llama.cpp on the same GGUF, in one process tree: decode throughput single-stream and with several
 * concurrent streams, and greedy-token agreement.
 *
 *   npm i --prefix /tmp/llamacpp --ignore-scripts node-llama-cpp@3.21.1      # once; ~0.7 GB, registry only
 *   pnpm --filter @tessera/llm-serve bench:llamacpp -- --node-llama-cpp /tmp/llamacpp
 *
 * 1. Writes a 25.6 M-parameter F16 Llama GGUF (dim 512, 8 layers, 8 heads, FFN 1376, the embedded 512-token
 *    tokenizer, seeded random weights: scripts/random-gguf.ts) into a temp dir.
 * 2. llama.cpp through node-llama-cpp (not a dependency: loaded from --node-llama-cpp DIR; its prebuilt CPU binary,
 *    `build: 'never'`, nothing downloaded), `--threads` threads, its defaults otherwise (F16 KV cache, flash
 *    attention auto): one sequence, then `--streams` sequences of one context evaluated concurrently (node-llama-cpp
 *    batches them into one llama_decode per step).
 * 3. Tessera's engine in this process on the same file: TP 1, nvidia-sim (H100) functional mode, the default precision
 *    policy for GGUF (f16 weights, f32 activations, f16 KV cache), the same prompts.
 * Every stream gets the same prompt length (BOS + random token ids, seeded) and generates the same number of tokens,
 * greedily. The decode rate counts the tokens produced between the moment every stream has its first token and the
 * moment the first stream has its last, over that span: prefill and the first token are excluded, as is a warm-up
 * run. Then `--agreement-prompts` text prompts are decoded greedily by both and compared token by token; where they
 * part, Tessera's logit margin between its token and llama.cpp's is given as a share of the logit range.
 *
 * Tessera's kernels run on this CPU in its functional simulator; `TESSERA_THREADS` (the dot-product pool) is set to
 * `--threads` unless already set, so both get the same threads.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LLMEngine, LoadedModel } from '@tessera/serve';
import { seededRandom } from '@tessera/serve';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { positiveInt } from '../src/bench/cli';
import { BENCH_MODEL_CONFIG, BENCH_MODEL_SEED, parameterCount, writeRandomGguf } from './random-gguf';

export const NODE_LLAMA_CPP_VERSION = '3.21.1';

export const AGREEMENT_PROMPTS = [
  'Once upon a time',
  'The Ascend 910C and the H100 both run this kernel:',
  "don't stop 12345 the   quick\nbrown fox.",
  'héllo wörld ✓ 日本語',
  'def gemm(a, b):\n    return a @ b',
  'Tensor parallel decoding on simulated clusters',
  'In the beginning',
  'pnpm --filter @tessera/llm-serve test',
  'All-reduce, all-gather, reduce-scatter.',
  'A quick brown fox jumps over the lazy dog',
];

export interface BenchLlamaCppOptions {
  nodeLlamaCpp: string;
  threads: number;
  promptLen: number;
  genLen: number;
  streams: number;
  repeat: number;
  tesseraRepeat: number;
  agreementPrompts: number;
  agreementTokens: number;
  seed: number;
  activationDtype: string;
  kvCacheDtype: string;
  llamaKvCache: 'f16' | 'f32';
  keep?: string;
  json: boolean;
}

/** The exact commands that make `dir` usable. */
export function installHint(dir: string): string {
  return (
    `node-llama-cpp ${NODE_LLAMA_CPP_VERSION} is not installed in ${dir}. It is not a dependency of this repository ` +
    '(its prebuilt llama.cpp binaries take ~0.7 GB); install it once, from the npm registry only:\n' +
    `  npm i --prefix ${dir} --ignore-scripts node-llama-cpp@${NODE_LLAMA_CPP_VERSION}\n` +
    `then run again with --node-llama-cpp ${dir}.`
  );
}

/** Decode rate of streams started together: tokens in (T0, T1] over T1 − T0 (see the file comment). */
export function decodeRate(stamps: readonly (readonly number[])[]): {
  tokPerS: number;
  windowMs: number;
  tokens: number;
} {
  if (stamps.some((s) => s.length < 2)) throw new Error('decodeRate: every stream needs at least two tokens.');
  const t0 = Math.max(...stamps.map((s) => s[0]!));
  const t1 = Math.min(...stamps.map((s) => s[s.length - 1]!));
  let tokens = 0;
  for (const s of stamps) for (const t of s) if (t > t0 && t <= t1) tokens++;
  const windowMs = t1 - t0;
  return { tokPerS: windowMs > 0 ? (tokens / windowMs) * 1000 : Number.NaN, windowMs, tokens };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface RateResult {
  /** Median over repeats of the decode rate, tokens/s (all streams together). */
  tokPerS: number;
  runs: number[];
  /** Median time to the first token of the slowest stream, ms. */
  ttftMs: number;
}

export interface Agreement {
  prompt: string;
  promptTokens: number[];
  /** Tessera's encoding differs from llama.cpp's (both then run llama.cpp's). */
  tokenizerDiffers: boolean;
  llamaCpp: number[];
  tessera: number[];
  /** First index where the greedy tokens differ, or -1. */
  firstDivergence: number;
  /** At the divergence: Tessera's logit of its token minus its logit of llama.cpp's token, / (max − min logit). */
  marginShare: number | null;
  /** Smallest top-1 − top-2 gap of Tessera's logits up to the divergence (or the end), / (max − min logit). */
  minTop2Share: number;
}

export interface BenchLlamaCppResult {
  model: { parameters: number; file: string; bytes: number; config: typeof BENCH_MODEL_CONFIG };
  /** loadAvg: the 1-minute load average when the benchmark started (other work on the machine skews both). */
  machine: { cpus: number; threads: number; tesseraThreads: string; loadAvg: number };
  promptLen: number;
  genLen: number;
  streams: number;
  llamaCpp: {
    nodeLlamaCpp: string;
    release: string | null;
    kvCache: string;
    flashAttention: string;
    single: RateResult;
    multi: RateResult;
  };
  tessera: { hardware: string; single: RateResult; multi: RateResult };
  ratio: { single: number; multi: number };
  agreement: Agreement[];
}

// ------------------------------------------------------------------ node-llama-cpp (not a dependency: typed here)

interface NlcSequence {
  evaluate(tokens: number[], o: { temperature: number }): AsyncGenerator<number, void, void>;
  clearHistory(): Promise<void>;
}
interface NlcContext {
  getSequence(): NlcSequence;
  readonly flashAttention: boolean | 'auto';
  dispose(): Promise<void>;
}
interface NlcModel {
  tokens: { bos: number | null };
  tokenize(text: string): ArrayLike<number>;
  createContext(o: {
    contextSize: number;
    sequences: number;
    threads: number;
    experimentalKvCacheKeyType?: string;
    experimentalKvCacheValueType?: string;
  }): Promise<NlcContext>;
  dispose(): Promise<void>;
}
interface NlcLlama {
  llamaCppRelease?: { release: string };
  loadModel(o: { modelPath: string }): Promise<NlcModel>;
  dispose?(): Promise<void>;
}
interface NodeLlamaCpp {
  getLlama(o: {
    gpu: false;
    build: 'never';
    skipDownload: true;
    maxThreads: number;
    logLevel: 'error';
    progressLogs: false;
  }): Promise<NlcLlama>;
}

/** Loads node-llama-cpp from `dir` (an `npm i --prefix DIR node-llama-cpp` folder); null when it is not there. */
export async function importNodeLlamaCpp(dir: string): Promise<{ lib: NodeLlamaCpp; version: string } | null> {
  const pkgJson = path.join(path.resolve(dir), 'node_modules/node-llama-cpp/package.json');
  if (!fs.existsSync(pkgJson)) return null;
  const version = (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  const require = createRequire(path.join(path.resolve(dir), 'package.json'));
  const entry = require.resolve('node-llama-cpp');
  return { lib: (await import(pathToFileURL(entry).href)) as NodeLlamaCpp, version };
}

/** Runs `prompts` concurrently on `seqs` (one each), `n` tokens each; returns each stream's token times and tokens. */
async function llamaStreams(seqs: NlcSequence[], prompts: number[][], n: number) {
  const start = performance.now();
  const runs = await Promise.all(
    seqs.map(async (seq, i) => {
      await seq.clearHistory();
      const stamps: number[] = [];
      const tokens: number[] = [];
      for await (const t of seq.evaluate(prompts[i]!, { temperature: 0 })) {
        stamps.push(performance.now());
        tokens.push(Number(t));
        if (tokens.length === n) break;
      }
      return { stamps, tokens };
    }),
  );
  return { start, runs };
}

// ------------------------------------------------------------------ Tessera

async function tesseraStreams(engine: LLMEngine, prompts: number[][], n: number, tag: string) {
  const params = {
    maxTokens: n,
    temperature: 0,
    topP: 1,
    topK: -1,
    seed: 0,
    stop: [],
    stopTokenIds: [],
    ignoreEos: true,
    minTokens: 0,
  };
  const start = performance.now();
  const runs = await Promise.all(
    prompts.map(async (p, i) => {
      const stamps: number[] = [];
      const tokens: number[] = [];
      for await (const o of engine.generate({ requestId: `${tag}-${i}`, promptTokenIds: p, params })) {
        for (const t of o.tokenIds) {
          stamps.push(performance.now());
          tokens.push(t);
        }
      }
      return { stamps, tokens };
    }),
  );
  return { start, runs };
}

/** Greedy tokens of one prompt, with Tessera's logits after each (for the margin at a divergence). */
async function tesseraGreedyWithLogits(engine: LLMEngine, prompt: number[], n: number, tag: string) {
  const tokens: number[] = [];
  const logits: Float32Array[] = [];
  const params = {
    maxTokens: n,
    temperature: 0,
    topP: 1,
    topK: -1,
    seed: 0,
    stop: [],
    stopTokenIds: [],
    ignoreEos: true,
    minTokens: 0,
  };
  // The engine hands out a step's tokens before it runs the next step, so the model's last logits are this token's.
  for await (const o of engine.generate({ requestId: tag, promptTokenIds: prompt, params })) {
    for (const t of o.tokenIds) {
      tokens.push(t);
      logits.push(engine.llama.logits());
    }
  }
  return { tokens, logits };
}

function rateOf(all: Array<{ start: number; runs: Array<{ stamps: number[] }> }>): RateResult {
  const rates = all.map((r) => decodeRate(r.runs.map((s) => s.stamps)).tokPerS);
  const ttfts = all.map((r) => Math.max(...r.runs.map((s) => s.stamps[0]!)) - r.start);
  return { tokPerS: median(rates), runs: rates, ttftMs: median(ttfts) };
}

/** (top-1 − top-2) / (max − min) of one row of logits. */
export function top2Share(logits: Float32Array): number {
  let a = Number.NEGATIVE_INFINITY;
  let b = Number.NEGATIVE_INFINITY;
  let lo = Number.POSITIVE_INFINITY;
  for (const v of logits) {
    if (v > a) [a, b] = [v, a];
    else if (v > b) b = v;
    lo = Math.min(lo, v);
  }
  return a > lo ? (a - b) / (a - lo) : 0;
}

function marginShare(logits: Float32Array, ours: number, theirs: number): number {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of logits) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return hi > lo ? (logits[ours]! - logits[theirs]!) / (hi - lo) : 0;
}

export async function benchLlamaCpp(
  o: BenchLlamaCppOptions,
  log: (line: string) => void = () => {},
): Promise<BenchLlamaCppResult> {
  const nlc = await importNodeLlamaCpp(o.nodeLlamaCpp);
  if (!nlc) throw new UsageError(installHint(o.nodeLlamaCpp));
  process.env.TESSERA_THREADS ??= String(o.threads); // read when the first large dot product starts the pool
  if (nlc.version !== NODE_LLAMA_CPP_VERSION) {
    log(
      `note: node-llama-cpp ${nlc.version} in ${o.nodeLlamaCpp}; this benchmark was written for ${NODE_LLAMA_CPP_VERSION}.`,
    );
  }
  const loadAvg = os.loadavg()[0]!;
  const dir = o.keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-llamacpp-'));
  const file = path.join(dir, 'model-25.6M-f16.gguf');
  try {
    const bytes = writeRandomGguf({ file, config: BENCH_MODEL_CONFIG, seed: BENCH_MODEL_SEED });
    log(`wrote ${file} (${(bytes / 2 ** 20).toFixed(1)} MiB)`);

    // The same prompts for both: BOS + random ids (seeded), the same length for every stream.
    const rand = seededRandom(o.seed);
    const V = BENCH_MODEL_CONFIG.vocabSize;
    const randomPrompt = (bos: number) => [
      bos,
      ...Array.from({ length: o.promptLen - 1 }, () => Math.floor(rand() * V)),
    ];

    // ---------------------------------------------------------------- llama.cpp
    const llama = await nlc.lib.getLlama({
      gpu: false,
      build: 'never',
      skipDownload: true,
      maxThreads: o.threads,
      logLevel: 'error',
      progressLogs: false,
    });
    const lmodel = await llama.loadModel({ modelPath: file });
    const bos = lmodel.tokens.bos ?? 1;
    const prompts = Array.from({ length: o.streams }, () => randomPrompt(bos));
    // Room per sequence for the throughput prompts and for the agreement prompts (≤ 64 tokens) with their tokens.
    const perSeq = Math.max(o.promptLen + o.genLen, 64 + o.agreementTokens) + 8;
    const kvType = o.llamaKvCache.toUpperCase();
    const ctxOptions = (sequences: number) => ({
      contextSize: sequences * perSeq,
      sequences,
      threads: o.threads,
      ...(o.llamaKvCache === 'f16' ? {} : { experimentalKvCacheKeyType: kvType, experimentalKvCacheValueType: kvType }),
    });
    const single = await lmodel.createContext(ctxOptions(1));
    const flashAttention = String(single.flashAttention);
    const seq1 = [single.getSequence()];
    await llamaStreams(seq1, [prompts[0]!], Math.min(8, o.genLen)); // warm-up
    const llamaSingle = [];
    for (let r = 0; r < o.repeat; r++) llamaSingle.push(await llamaStreams(seq1, [prompts[0]!], o.genLen));
    log(`llama.cpp, 1 stream: ${rateOf(llamaSingle).tokPerS.toFixed(1)} tok/s`);
    const agreementText = AGREEMENT_PROMPTS.slice(0, o.agreementPrompts);
    const llamaAgreement: Array<{ prompt: string; promptTokens: number[]; tokens: number[] }> = [];
    for (const prompt of agreementText) {
      const promptTokens = [bos, ...Array.from(lmodel.tokenize(prompt), Number)];
      const { runs } = await llamaStreams(seq1, [promptTokens], o.agreementTokens);
      llamaAgreement.push({ prompt, promptTokens, tokens: runs[0]!.tokens });
    }
    await single.dispose();
    const multi = await lmodel.createContext(ctxOptions(o.streams));
    const seqs = Array.from({ length: o.streams }, () => multi.getSequence());
    await llamaStreams(seqs, prompts, Math.min(8, o.genLen)); // warm-up
    const llamaMulti = [];
    for (let r = 0; r < o.repeat; r++) llamaMulti.push(await llamaStreams(seqs, prompts, o.genLen));
    log(`llama.cpp, ${o.streams} streams: ${rateOf(llamaMulti).tokPerS.toFixed(1)} tok/s`);
    await multi.dispose();
    await lmodel.dispose();

    // ---------------------------------------------------------------- Tessera
    const { loadModel } = await import('../src/load-model');
    const { createEngine } = await import('@tessera/serve');
    const model: LoadedModel = await loadModel(file);
    const engine = await createEngine({
      model,
      backend: 'nvidia-sim',
      tp: 1,
      activationDtype: o.activationDtype,
      kvCacheDtype: o.kvCacheDtype,
      maxNumSeqs: Math.max(8, o.streams),
      maxNumBatchedTokens: Math.max(512, o.streams * o.promptLen),
      maxModelLen: perSeq,
      enablePrefixCaching: false, // llama.cpp's sequences start from a cleared history too
    });
    let tag = 0;
    await tesseraStreams(engine, [prompts[0]!], Math.min(4, o.genLen), `w${tag++}`); // warm-up
    const tessSingle = [];
    for (let r = 0; r < o.tesseraRepeat; r++) {
      tessSingle.push(await tesseraStreams(engine, [prompts[0]!], o.genLen, `s${tag++}`));
    }
    log(`Tessera, 1 stream: ${rateOf(tessSingle).tokPerS.toFixed(2)} tok/s`);
    const tessMulti = [];
    for (let r = 0; r < o.tesseraRepeat; r++)
      tessMulti.push(await tesseraStreams(engine, prompts, o.genLen, `m${tag++}`));
    log(`Tessera, ${o.streams} streams: ${rateOf(tessMulti).tokPerS.toFixed(2)} tok/s`);
    const agreement: Agreement[] = [];
    for (const a of llamaAgreement) {
      const ours = model.tokenizer.encode(a.prompt);
      const { tokens, logits } = await tesseraGreedyWithLogits(engine, a.promptTokens, o.agreementTokens, `a${tag++}`);
      const first = tokens.findIndex((t, i) => t !== a.tokens[i]);
      agreement.push({
        prompt: a.prompt,
        promptTokens: a.promptTokens,
        tokenizerDiffers: JSON.stringify(ours) !== JSON.stringify(a.promptTokens),
        llamaCpp: a.tokens,
        tessera: tokens,
        firstDivergence: first,
        marginShare: first < 0 ? null : marginShare(logits[first]!, tokens[first]!, a.tokens[first]!),
        minTop2Share: Math.min(...logits.slice(0, first < 0 ? logits.length : first + 1).map(top2Share)),
      });
    }
    await engine.shutdown();

    const lS = rateOf(llamaSingle);
    const lM = rateOf(llamaMulti);
    const tS = rateOf(tessSingle);
    const tM = rateOf(tessMulti);
    return {
      model: { parameters: parameterCount(BENCH_MODEL_CONFIG), file, bytes, config: BENCH_MODEL_CONFIG },
      machine: {
        cpus: os.availableParallelism(),
        threads: o.threads,
        tesseraThreads: process.env.TESSERA_THREADS ?? '',
        loadAvg,
      },
      promptLen: o.promptLen,
      genLen: o.genLen,
      streams: o.streams,
      llamaCpp: {
        nodeLlamaCpp: nlc.version,
        release: llama.llamaCppRelease?.release ?? null,
        kvCache: o.llamaKvCache.toUpperCase(),
        flashAttention,
        single: lS,
        multi: lM,
      },
      tessera: { hardware: engine.hardware, single: tS, multi: tM },
      ratio: { single: tS.tokPerS / lS.tokPerS, multi: tM.tokPerS / lM.tokPerS },
      agreement,
    };
  } finally {
    if (!o.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ report

/** Goals from the issue: Tessera / llama.cpp decode rate. */
export const GOALS = { single: 0.25, multi: 0.5 };

/** max/min of a measurement's runs above which the report warns. */
const UNSTEADY = 1.5;

export function formatLlamaCppReport(r: BenchLlamaCppResult): string {
  const c = r.model.config;
  const pad = (s: string, n: number) => s.padEnd(n);
  const row = (label: string, a: string, b: string, ratio: string, goal: string) =>
    `${pad(label, 30)} ${pad(a, 16)} ${pad(b, 16)} ${pad(ratio, 10)} ${goal}`.trimEnd();
  const x = (v: number) => `${v.toFixed(3)}×`;
  const met = (v: number, g: number) => `≥ ${g.toFixed(2)}× ${v >= g ? '(met)' : '(not met)'}`;
  const lines = [
    `Model: ${(r.model.parameters / 1e6).toFixed(1)} M-parameter Llama GGUF, F16 (dim ${c.hiddenSize}, ${c.numLayers} layers, ` +
      `${c.numHeads} heads, FFN ${c.intermediateSize}, vocab ${c.vocabSize}, seeded random weights)`,
    `Workload: prompt ${r.promptLen} tokens, ${r.genLen} generated per stream, greedy; decode rate after every stream's ` +
      'first token; warm-up excluded',
    `llama.cpp: node-llama-cpp ${r.llamaCpp.nodeLlamaCpp} (llama.cpp ${r.llamaCpp.release ?? '?'}), prebuilt CPU binary, ` +
      `${r.machine.threads} threads, ${r.llamaCpp.kvCache} KV cache, flash attention ${r.llamaCpp.flashAttention}`,
    `Tessera: ${r.tessera.hardware}, functional simulation on this CPU (TESSERA_THREADS=${r.machine.tesseraThreads})`,
    `Machine: ${r.machine.cpus} CPUs available to Node, load average ${r.machine.loadAvg.toFixed(2)} at the start`,
    '='.repeat(90),
    row('', 'llama.cpp', 'Tessera', 'ratio', 'goal'),
    row(
      'Decode, 1 stream (tok/s)',
      r.llamaCpp.single.tokPerS.toFixed(1),
      r.tessera.single.tokPerS.toFixed(2),
      x(r.ratio.single),
      met(r.ratio.single, GOALS.single),
    ),
    row(
      `Decode, ${r.streams} streams (tok/s, all)`,
      r.llamaCpp.multi.tokPerS.toFixed(1),
      r.tessera.multi.tokPerS.toFixed(2),
      x(r.ratio.multi),
      met(r.ratio.multi, GOALS.multi),
    ),
    row(
      'TPOT, 1 stream (ms)',
      (1000 / r.llamaCpp.single.tokPerS).toFixed(2),
      (1000 / r.tessera.single.tokPerS).toFixed(1),
      '',
      '',
    ),
    row('TTFT, 1 stream (ms)', r.llamaCpp.single.ttftMs.toFixed(1), r.tessera.single.ttftMs.toFixed(0), '', ''),
    row(
      `TTFT, ${r.streams} streams (ms, last)`,
      r.llamaCpp.multi.ttftMs.toFixed(1),
      r.tessera.multi.ttftMs.toFixed(0),
      '',
      '',
    ),
    '='.repeat(90),
  ];
  const spread: Array<[string, RateResult]> = [
    ['llama.cpp, 1 stream', r.llamaCpp.single],
    [`llama.cpp, ${r.streams} streams`, r.llamaCpp.multi],
    ['Tessera, 1 stream', r.tessera.single],
    [`Tessera, ${r.streams} streams`, r.tessera.multi],
  ];
  for (const [what, m] of spread) {
    if (m.runs.length > 1) lines.push(`${what}: runs ${m.runs.map((v) => v.toFixed(1)).join(', ')} tok/s`);
  }
  const unsteady = spread.filter(([, m]) => Math.max(...m.runs) > UNSTEADY * Math.min(...m.runs)).map(([w]) => w);
  if (unsteady.length > 0) {
    lines.push(
      `warning: runs differ by more than ${UNSTEADY}× (${unsteady.join('; ')}): the machine is not steady (load ` +
        `average ${r.machine.loadAvg.toFixed(2)} at the start; other processes slow both engines).` +
        (r.machine.threads > 1
          ? " llama.cpp's threads also spin at barriers: with --threads as many as the cores the machine really has " +
            '(a 2-vCPU VM may have one core), a thread that loses its core stalls every step — compare --threads 1.'
          : ''),
    );
  }
  const n = r.agreement.length;
  if (n > 0) {
    const same = r.agreement.filter((a) => a.firstDivergence < 0).length;
    const len = r.agreement[0]!.llamaCpp.length;
    const closest = Math.min(...r.agreement.map((a) => a.minTop2Share));
    lines.push(
      `Greedy agreement: ${same}/${n} prompts identical over ${len} tokens ` +
        `(smallest top-2 gap on Tessera's paths: ${(100 * closest).toFixed(2)}% of the logit range)`,
    );
    for (const a of r.agreement) {
      const where =
        a.firstDivergence < 0
          ? 'identical'
          : `differ from token ${a.firstDivergence} (llama.cpp ${a.llamaCpp[a.firstDivergence]}, Tessera ` +
            `${a.tessera[a.firstDivergence]}; Tessera's margin ${(100 * (a.marginShare ?? 0)).toFixed(2)}% of its logit range)`;
      lines.push(`  ${JSON.stringify(a.prompt)}: ${where}${a.tokenizerDiffers ? ' [tokenizers differ]' : ''}`);
    }
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------ command line

export class UsageError extends Error {}

function dtypeChoice(name: string) {
  return new Option(`--${name} <dtype>`, `Tessera's ${name.replace(/-/g, ' ')} (auto: the GGUF default)`)
    .choices(['auto', 'float32', 'float16', 'bfloat16'])
    .default('auto');
}

function atMost(max: number) {
  return (v: string) => {
    const n = positiveInt(v);
    if (n > max) throw new InvalidArgumentError(`expected at most ${max}.`);
    return n;
  };
}

/** Parses and validates the flags; throws CommanderError (message already written to `writeErr`) or UsageError. */
export function parseArgs(
  argv: string[],
  writeErr: (s: string) => void = (s) => process.stderr.write(s),
): BenchLlamaCppOptions {
  const program = new Command('bench-llamacpp')
    .description('Tessera vs llama.cpp (node-llama-cpp) on a generated 25.6 M-parameter F16 Llama GGUF')
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr })
    .option(
      '--node-llama-cpp <dir>',
      `folder of an \`npm i --prefix DIR node-llama-cpp@${NODE_LLAMA_CPP_VERSION}\``,
      process.env.TESSERA_NODE_LLAMA_CPP ?? '/tmp/llamacpp',
    )
    .option('--threads <n>', 'llama.cpp threads (and TESSERA_THREADS unless set)', atMost(64), 2)
    .option('--prompt-len <n>', 'prompt tokens per stream (BOS included)', atMost(1024), 32)
    .option('--gen-len <n>', 'generated tokens per stream (≥ 3)', atMost(1024), 32)
    .option('--streams <n>', 'concurrent streams of the multi-stream run', atMost(64), 8)
    .option('--repeat <n>', 'llama.cpp runs per measurement (median)', atMost(100), 5)
    .option('--tessera-repeat <n>', 'Tessera runs per measurement (median)', atMost(100), 1)
    .option(
      '--agreement-prompts <n>',
      `text prompts for greedy agreement (0–${AGREEMENT_PROMPTS.length})`,
      (v) => {
        const n = Number(v);
        if (!/^\d+$/.test(v.trim()) || n > AGREEMENT_PROMPTS.length)
          throw new InvalidArgumentError(`expected an integer from 0 to ${AGREEMENT_PROMPTS.length}.`);
        return n;
      },
      5,
    )
    .option('--agreement-tokens <n>', 'greedy tokens per agreement prompt', atMost(256), 16)
    .option(
      '--seed <n>',
      'seed of the random prompts',
      (v) => {
        if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(Number(v)))
          throw new InvalidArgumentError('expected an integer ≥ 0.');
        return Number(v);
      },
      0,
    )
    .addOption(dtypeChoice('activation-dtype'))
    .addOption(dtypeChoice('kv-cache-dtype'))
    .addOption(
      new Option('--llama-kv-cache <type>', "llama.cpp's KV-cache type (-ctk/-ctv)")
        .choices(['f16', 'f32'])
        .default('f16'),
    )
    .option('--keep <dir>', 'write the GGUF into DIR and keep it (default: a temp dir, removed)')
    .option('--json', 'print the result as JSON');
  // `pnpm … bench:llamacpp -- --flag` hands the script a leading `--`.
  program.parse(argv[0] === '--' ? argv.slice(1) : argv, { from: 'user' });
  const f = program.opts() as Omit<BenchLlamaCppOptions, 'json'> & { json?: boolean };
  if (f.genLen < 3)
    throw new UsageError('--gen-len must be at least 3 (a decode rate needs two tokens after the first).');
  if (f.promptLen < 2) throw new UsageError('--prompt-len must be at least 2 (BOS and one token).');
  return { ...f, json: f.json ?? false };
}

async function main(): Promise<void> {
  let o: BenchLlamaCppOptions;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    console.error(`bench-llamacpp: ${(e as Error).message}`);
    process.exitCode = 2;
    return;
  }
  try {
    const r = await benchLlamaCpp(o, (l) => console.error(l));
    console.log(o.json ? JSON.stringify(r, null, 2) : formatLlamaCppReport(r));
  } catch (e) {
    console.error(e instanceof UsageError ? e.message : `bench-llamacpp: ${(e as Error).stack ?? e}`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await main();
}
