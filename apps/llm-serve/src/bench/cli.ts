/**
 * The `bench` subcommand: flags named as `vllm bench serve` names them (random dataset), the table or JSON on
 * stdout, a progress bar on stderr.
 */
import { writeFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { BENCH_DEFAULTS, runBench } from './bench';
import { ProgressBar } from './progress';
import { formatJson, formatReport } from './report';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError('expected a positive integer.');
  }
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError('expected an integer ≥ 0.');
  return n;
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

interface BenchFlags {
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

export function addBenchCommand(program: Command, io: Io): void {
  program
    .command('bench')
    .description('benchmark a running server (vllm bench serve, random dataset): wall-clock and modelled figures')
    .option('--base-url <url>', 'server to benchmark', 'http://127.0.0.1:8000')
    .option('--model <id>', 'model to request (default: the first one /v1/models lists)')
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
    .option('--no-batch1', 'skip timing one request alone after the load (the batch-1 TTFT/TPOT rows)')
    .action(async (f: BenchFlags) => {
      const bar = f.progress ? new ProgressBar() : null;
      const result = await runBench({
        baseUrl: f.baseUrl,
        model: f.model,
        numPrompts: f.numPrompts,
        requestRate: f.requestRate,
        burstiness: f.burstiness,
        maxConcurrency: f.maxConcurrency ?? null,
        inputLen: f.inputLen,
        outputLen: f.outputLen,
        rangeRatio: f.rangeRatio,
        seed: f.seed,
        apiKey: f.apiKey ?? process.env['TESSERA_API_KEY'] ?? process.env['OPENAI_API_KEY'],
        vocabSize: f.vocabSize,
        batch1: f.batch1,
        onProgress: bar ? (done, total) => bar.update(done, total) : undefined,
      });
      io.out(f.json ? formatJson(result) : formatReport(result));
      if (f.outputFile) writeFileSync(f.outputFile, `${formatJson(result)}\n`);
    });
}
