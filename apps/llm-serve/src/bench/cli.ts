/**
 * The `bench` subcommand: flags named as `vllm bench serve` names them (random dataset), the table or JSON on
 * stdout, a progress bar on stderr. By default it benchmarks a running server over HTTP; with `--modelled-time` it
 * loads the model, builds the engine in-process (the serve command's engine flags) and runs the same workload through
 * the discrete-event driver, in modelled time only.
 */
import { writeFileSync } from 'node:fs';
import { createEngine, type EngineOptions, type LLMEngine, type LoadedModel } from '@tessera/serve';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { nonNegativeInt, positiveInt } from '../args';
import { addEngineOptions, ENGINE_FLAG_KEYS, type EngineFlags, engineOptions } from '../engine-flags';
import { loadModel } from '../load-model';
import { BENCH_DEFAULTS, type BenchResult, runBench } from './bench';
import { runModelledBench } from './modelled';
import { ProgressBar } from './progress';
import { formatJson, formatReport } from './report';

export { nonNegativeInt, positiveInt } from '../args';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

function rate(value: string): number {
  if (value === 'inf') return Number.POSITIVE_INFINITY;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError("expected a positive number of requests/s or 'inf'.");
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number.');
  return n;
}

function ratio(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError('expected a number in [0, 1).');
  return n;
}

interface BenchFlags extends EngineFlags {
  modelledTime?: boolean;
  baseUrl: string;
  model?: string;
  numPrompts: number;
  requestRate: number;
  burstiness: number;
  maxConcurrency?: number;
  inputLen: number;
  outputLen: number;
  rangeRatio: number;
  seed: number;
  apiKey?: string;
  vocabSize?: number;
  json?: boolean;
  outputFile?: string;
  progress: boolean;
  batch1: boolean;
}

/** What `--modelled-time` needs to build its engine; tests substitute their own. */
export interface BenchDeps {
  loadModel: (path: string) => Promise<LoadedModel>;
  createEngine: (options: EngineOptions) => Promise<LLMEngine>;
}

const HTTP_ONLY = ['baseUrl', 'apiKey', 'vocabSize'] as const;

export function addBenchCommand(program: Command, io: Io, deps: Partial<BenchDeps> = {}): void {
  const bench = program
    .command('bench')
    .description(
      'benchmark a running server (vllm bench serve, random dataset): wall-clock and modelled figures; ' +
        'or, with --modelled-time, the engine in-process in modelled time only',
    )
    .option(
      '--modelled-time',
      'run the engine in this process with the discrete-event driver instead of over HTTP: arrivals, steps and ' +
        'completions in modelled time, results independent of this machine’s speed (engine flags as for serve)',
    )
    .option('--base-url <url>', 'server to benchmark', 'http://127.0.0.1:8000')
    .option(
      '--model <id>',
      'model to request (default: the first one /v1/models lists); with --modelled-time, the model to load ' +
        "(a path, or 'embedded', the default)",
    )
    .option('--num-prompts <n>', 'requests to send', positiveInt, BENCH_DEFAULTS.numPrompts)
    .addOption(
      new Option('--request-rate <r>', "requests per second, or 'inf' for all at once")
        .argParser(rate)
        .default(BENCH_DEFAULTS.requestRate, 'inf'),
    )
    .option('--burstiness <b>', 'Gamma shape of inter-arrival times (1 = Poisson)', positiveNumber, 1)
    .option('--max-concurrency <c>', 'at most this many requests in flight', positiveInt)
    .option('--input-len <n>', 'prompt tokens per request', positiveInt, BENCH_DEFAULTS.inputLen)
    .option('--output-len <n>', 'generated tokens per request', positiveInt, BENCH_DEFAULTS.outputLen)
    .option('--range-ratio <r>', 'lengths uniform in [L(1-r), L(1+r)]', ratio, 0)
    .option('--seed <n>', 'workload seed', nonNegativeInt, 0)
    .option('--api-key <key>', 'Bearer key (default: $TESSERA_API_KEY or $OPENAI_API_KEY)')
    .option('--vocab-size <n>', 'vocabulary for random prompts (default: from the server)', positiveInt)
    .option('--json', 'print the result as JSON instead of the table')
    .option('--output-file <file>', 'also write the JSON result to FILE')
    .option('--no-progress', 'no progress bar')
    .option('--no-batch1', 'skip timing one request alone after the load (the batch-1 TTFT/TPOT rows)');
  addEngineOptions(bench).action(async (f: BenchFlags, cmd: Command) => {
    // Flags of one mode given in the other would be ignored silently: refuse them, naming the mode they belong to.
    const flag = (key: string) => cmd.options.find((o) => o.attributeName() === key)?.long ?? key;
    const given = (key: string) => cmd.getOptionValueSource(key) === 'cli';
    const misplaced = f.modelledTime ? HTTP_ONLY.find(given) : ENGINE_FLAG_KEYS.find(given);
    if (misplaced) {
      cmd.error(
        f.modelledTime
          ? `error: ${flag(misplaced)} is for a running server; --modelled-time runs no server.`
          : `error: ${flag(misplaced)} configures the in-process engine of --modelled-time (a running server has its own).`,
        { exitCode: 2 },
      );
    }
    const bar = f.progress ? new ProgressBar() : null;
    const workload = {
      numPrompts: f.numPrompts,
      requestRate: f.requestRate,
      burstiness: f.burstiness,
      maxConcurrency: f.maxConcurrency ?? null,
      inputLen: f.inputLen,
      outputLen: f.outputLen,
      rangeRatio: f.rangeRatio,
      seed: f.seed,
      batch1: f.batch1,
      onProgress: bar ? (done: number, total: number) => bar.update(done, total) : undefined,
    };
    let result: BenchResult;
    if (f.modelledTime) {
      const model = await (deps.loadModel ?? loadModel)(f.model ?? 'embedded');
      const engine = await (deps.createEngine ?? createEngine)({ model, ...engineOptions(f) });
      try {
        result = await runModelledBench(engine, workload);
      } finally {
        await engine.shutdown();
      }
    } else {
      result = await runBench({
        ...workload,
        baseUrl: f.baseUrl,
        model: f.model,
        apiKey: f.apiKey ?? process.env['TESSERA_API_KEY'] ?? process.env['OPENAI_API_KEY'],
        vocabSize: f.vocabSize,
      });
    }
    io.out(f.json ? formatJson(result) : formatReport(result));
    if (f.outputFile) writeFileSync(f.outputFile, `${formatJson(result)}\n`);
  });
}
