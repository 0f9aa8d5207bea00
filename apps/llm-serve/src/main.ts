#!/usr/bin/env node
/**
 * tessera-serve: the command line. With no subcommand it serves (flags named as vLLM's `vllm serve` names them);
 * `bench` benchmarks a running server, or the engine in-process in modelled time (`--modelled-time`). `run(argv, io)` is the whole program, callable in-process by tests; a bad flag
 * is one line on stderr and exit status 2.
 */
import { realpathSync } from 'node:fs';
import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { dashboardBuilt } from '@tessera/dashboard';
import { getBackend } from '@tessera/device';
import type { Engine, EngineOptions, LoadedModel } from '@tessera/serve';
import { createEngine, EngineError } from '@tessera/serve';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { nonNegativeInt, positiveInt } from './args';
import { addBenchCommand, type Io } from './bench/cli';
import { addEngineOptions, type EngineFlags, engineOptions } from './engine-flags';
import { ModelLoadError, TokenizerError } from './errors';
import { type LoadModelOptions, loadModel } from './load-model';
import { createServer } from './server/app';
import { DEFAULT_REQUEST_LIMITS } from './server/schema';
import { DEFAULT_MODEL_CODE_BUDGET } from './tokenizer/budget';

export type { Io } from './bench/cli';

const defaultIo: Io = {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
};

type LoadModel = (path: string, options?: LoadModelOptions) => Promise<LoadedModel>;

interface ServeFlags extends EngineFlags {
  model: string;
  tokenizer?: string;
  host: string;
  port: number;
  apiKey?: string;
  protectMetrics?: boolean;
  maxN: number;
  maxPrompts: number;
  headersTimeout: number;
  requestTimeout: number;
  maxConnections: number;
  modelCodeTimeout: number;
  servedModelName?: string;
  disableLogRequests?: boolean;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new InvalidArgumentError('expected seconds in (0, 3600].');
  return n;
}

function port(value: string): number {
  const n = nonNegativeInt(value);
  if (n > 65535) throw new InvalidArgumentError('expected a port number (0–65535).');
  return n;
}

/** Optional engine details the banner shows when the engine exposes them (LLMEngine has `kvInfo`). */
interface KvInfo {
  numBlocks: number;
  blockSize: number;
  deviceBlocks?: number;
}

/** What the banner says about a real adapter (`--backend webgpu`): which it is, and what its timings mean. */
async function adapterLines(flags: ServeFlags): Promise<string[]> {
  if (flags.backend !== 'webgpu') return [];
  const device = (await getBackend('webgpu')).catalog()[0]; // the engine's backend, already open
  const cpu = device?.computeUnitName === 'CPU core';
  return [
    `  WebGPU: every kernel runs on this adapter (${device?.id}); the timings in responses stay modelled` +
      (cpu ? " (it is Mesa's software rasteriser on the CPU: a check of correctness and plumbing, not of speed)" : ''),
  ];
}

function banner(engine: Engine, flags: ServeFlags, url: string, modelName: string, adapter: string[]): string[] {
  const { model } = engine;
  const c = model.config;
  const lines = [
    `Model: ${modelName} (${model.format === 'embedded' ? 'embedded' : `${model.format}: ${model.source}`}; ${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads} heads / ${c.numKvHeads} KV heads, vocab ${c.vocabSize}, ${c.dtype})`,
    `  ${model.description}`,
    `Hardware: ${engine.hardware}`,
    ...adapter,
  ];
  const kv = (engine as Engine & { kvInfo?: KvInfo }).kvInfo;
  if (kv) {
    const capped = kv.deviceBlocks !== undefined && kv.deviceBlocks > kv.numBlocks;
    lines.push(
      `KV cache: ${kv.numBlocks} blocks × ${kv.blockSize} tokens = ${kv.numBlocks * kv.blockSize} tokens` +
        (capped ? ` (the simulated devices would hold ${kv.deviceBlocks} blocks; capped by host memory)` : ''),
    );
  }
  lines.push(`Context: max_model_len ${engine.maxModelLen} tokens; up to ${flags.maxNumSeqs} running requests`);
  lines.push(`Serving on ${url} (OpenAI API under /v1; /health, /metrics, /tokenize, /detokenize)`);
  lines.push(`Dashboard: ${url}/${dashboardBuilt() ? '' : ' (not built yet: run pnpm build, then reload)'}`);
  const auth = flags.apiKey ? ` -H "Authorization: Bearer $TESSERA_API_KEY"` : '';
  const body = JSON.stringify({ model: modelName, messages: [{ role: 'user', content: 'Hello!' }], max_tokens: 32 });
  lines.push('Try:', `  curl ${url}/v1/chat/completions -H 'Content-Type: application/json'${auth} -d '${body}'`);
  return lines;
}

/** What serving needs from the rest of the app; tests substitute their own (a scripted engine, no signal handlers). */
export interface ServeDeps {
  loadModel: LoadModel;
  createEngine: (options: EngineOptions) => Promise<Engine>;
  /** Called once listening; by default installs SIGINT/SIGTERM handlers that call `stop` and exit. */
  onListening: (handle: ServingHandle, io: Io) => void;
}

export interface ServingHandle {
  url: string;
  server: Server;
  engine: Engine;
  /** Stops accepting, aborts in-flight requests (finish_reason "abort"), closes connections. */
  stop(): Promise<void>;
}

const defaultDeps: ServeDeps = {
  loadModel: async (path, options) => loadModel(path, options),
  createEngine,
  onListening: (handle, io) => {
    let stopping = false;
    const onSignal = async (signal: string) => {
      if (stopping) process.exit(130); // a second Ctrl-C: do not wait any longer
      stopping = true;
      io.err(`${signal}: shutting down (in-flight requests finish with finish_reason "abort")`);
      await handle.stop();
      process.exit(0);
    };
    process.once('SIGINT', () => void onSignal('SIGINT'));
    process.once('SIGTERM', () => void onSignal('SIGTERM'));
  },
};

async function serve(flags: ServeFlags, io: Io, deps: ServeDeps): Promise<void> {
  const budget = { tokenizerMs: flags.modelCodeTimeout, chatTemplateMs: flags.modelCodeTimeout };
  const model = await deps.loadModel(flags.model, {
    ...(flags.tokenizer ? { tokenizer: flags.tokenizer } : {}),
    budget,
  });
  const engine = await deps.createEngine({ model, ...engineOptions(flags) });
  const modelName = flags.servedModelName ?? model.id;
  const server = createServer({
    engine,
    servedModelName: modelName,
    apiKey: flags.apiKey,
    protectMetrics: flags.protectMetrics,
    limits: { maxN: flags.maxN, maxPrompts: flags.maxPrompts },
    headersTimeoutMs: flags.headersTimeout * 1000,
    requestTimeoutMs: flags.requestTimeout * 1000,
    maxConnections: flags.maxConnections,
    logger: flags.disableLogRequests ? undefined : { info: io.out, error: io.err },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(flags.port, flags.host, () => resolve());
    });
  } catch (err) {
    await engine.shutdown();
    throw err;
  }
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : flags.port;
  const host = flags.host === '0.0.0.0' || flags.host === '::' ? '127.0.0.1' : flags.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
  for (const line of banner(engine, flags, url, modelName, await adapterLines(flags))) io.out(line);
  deps.onListening(
    {
      url,
      server,
      engine,
      async stop() {
        // Stop accepting (idle keep-alive connections close now), end the engine's requests with "abort", and give
        // the in-flight responses a moment to send that last chunk and [DONE] before dropping what remains.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await engine.shutdown();
        await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
        server.closeAllConnections();
      },
    },
    io,
  );
}

export function createProgram(io: Io = defaultIo, deps: Partial<ServeDeps> = {}): Command {
  const program = new Command('tessera-serve')
    .description(
      'An OpenAI-compatible LLM server on simulated NVIDIA GPUs and Huawei Ascend NPUs (or this machine’s GPU: --backend webgpu)',
    )
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();

  const serveCommand = program
    .command('serve', { isDefault: true })
    .description('serve a model (the default command)')
    .option('--model <path>', "model file or directory, or 'embedded' (a tiny built-in model)", 'embedded')
    .option('--tokenizer <path>', 'tokenizer to use instead of the model’s own');
  addEngineOptions(serveCommand)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(new Option('--port <n>', 'port to listen on').env('PORT').argParser(port).default(8000))
    .addOption(
      new Option('--api-key <key>', 'require this Bearer key on /v1/*, /tokenize and /detokenize').env(
        'TESSERA_API_KEY',
      ),
    )
    .option('--protect-metrics', 'require the API key on /metrics too')
    .option(
      '--max-n <n>',
      'largest n (choices per prompt) a request may ask for',
      positiveInt,
      DEFAULT_REQUEST_LIMITS.maxN,
    )
    .option(
      '--max-prompts <n>',
      'most prompts in one /v1/completions request',
      positiveInt,
      DEFAULT_REQUEST_LIMITS.maxPrompts,
    )
    .option('--headers-timeout <s>', 'seconds a client has to send its request headers', seconds, 10)
    .option('--request-timeout <s>', 'seconds a client has to send its whole request (headers and body)', seconds, 30)
    .option('--max-connections <n>', 'open connections at most; further ones are closed', positiveInt, 1024)
    .option(
      '--model-code-timeout <ms>',
      "ms one call of the model's tokenizer regexes or chat template may take (plus 20 µs per input character)",
      positiveInt,
      DEFAULT_MODEL_CODE_BUDGET.tokenizerMs,
    )
    .option('--served-model-name <name>', 'model id clients see and send (default: the model’s)')
    .option('--disable-log-requests', 'no access log')
    .action((flags: ServeFlags) => serve(flags, io, { ...defaultDeps, ...deps }));

  addBenchCommand(program, io);
  return program;
}

/** Runs the command line; resolves to the exit status (serving resolves once listening, and keeps running). */
export async function run(argv: string[], io: Io = defaultIo, deps: Partial<ServeDeps> = {}): Promise<number> {
  try {
    await createProgram(io, deps).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    // Commander has already printed its one-line message; help and version exit 0.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const message = err instanceof Error ? err.message : String(err);
    io.err(`error: ${message}`);
    const usage =
      err instanceof ModelLoadError ||
      err instanceof TokenizerError ||
      (err instanceof EngineError && err.code === 'invalid_request');
    return usage ? 2 : 1;
  }
}

// Run only as the entry point (through a symlinked bin too), not when a test imports createProgram/run.
const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(realpathSync(entry)).href) {
  process.exitCode = await run(process.argv.slice(2));
}
