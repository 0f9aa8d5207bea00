/**
 * The `tessera` command line. `createProgram(io)` builds it around injectable output so tests can run it in-process.
 */

import { writeFileSync } from 'node:fs';
import {
  type Backend,
  type DeviceProperties,
  findDeviceModel,
  isTesseraError,
  listBackends,
  TesseraError,
} from '@tessera/device';
import { CapacityError, ProjectionError } from '@tessera/serve';
import { Command, CommanderError, Option } from 'commander';
import { Backends } from './backends';
import {
  type BenchOptions,
  type BenchResult,
  benchAttention,
  benchCopy,
  benchDecode,
  benchGemm,
  benchRowwise,
  formatBench,
} from './commands/bench';
import { collPerf, parseCollPerfArgs } from './commands/coll-perf';
import { compileCommand } from './commands/compile';
import { devicesCommand } from './commands/devices';
import { formatProject, type ProjectArgs, parseProjectArgs, projectCommand, systemSize } from './commands/project';
import { type DisaggregateArgs, disaggregateCommand, formatDisaggregated } from './commands/project-disagg';
import { formatPdSearch, searchDisaggregated } from './commands/project-pd-search';
import { formatSearch, type SearchSpace, searchProject } from './commands/project-search';
import { writeProjectTraces } from './commands/project-trace';
import {
  formatWorkloadSearch,
  searchWorkload,
  type WorkloadArgs,
  type WorkloadSearchResult,
} from './commands/project-workload';
import { sanitizeCommand } from './commands/sanitize';
import { parseBytes, parsePositiveInt } from './format';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** A command's own exit code (`tessera sanitize` relays its child's, or reports errors found). */
class ExitWith extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

const defaultIo: Io = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) };

export function createProgram(io: Io = defaultIo): Command {
  const backends = new Backends();
  const program = new Command('tessera')
    .description('Tessera: portable kernels on simulated NVIDIA GPUs and Huawei Ascend NPUs')
    .option('--device-spec <file>', 'add a device from a JSON spec (vendor "nvidia" or "huawei") before running')
    .option('--trace <file>', 'write a Chrome/Perfetto trace of the run to FILE')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  program.hook('preAction', async (_program, action) => {
    // Opt-in backends (webgpu opens a GPU) are created only for a command that names one, by flag or environment.
    const takes = (flag: string) => action.options.some((opt) => opt.long === flag);
    const names = takes('--backend') || takes('--device') ? [process.env.TESSERA_BACKEND] : [];
    if (takes('--backend')) names.push(action.opts().backend as string | undefined);
    await backends.load(names);
    const spec = program.opts().deviceSpec as string | undefined;
    if (spec) backends.addSpecFile(spec);
  });

  const writeTrace = (trace: object | undefined) => {
    const file = program.opts().trace as string | undefined;
    if (file && trace) {
      writeFileSync(file, JSON.stringify(trace));
      io.err(`trace written to ${file} (open it in https://ui.perfetto.dev)`);
    }
  };

  program
    .command('devices')
    .description(
      'list every simulated device and its properties (like nvidia-smi / npu-smi info); --backend webgpu: this machine’s GPU',
    )
    .option(
      '--backend <name>',
      `only this backend: ${listBackends().join(', ')} (default: the one TESSERA_BACKEND names, else every simulated backend)`,
    )
    .option('--json', 'print JSON')
    .action((o: { backend?: string; json?: boolean }) => {
      const list = o.backend ? [backends.byName(o.backend)] : backends.selected();
      io.out(devicesCommand(list, !!o.json));
      const optIn = o.backend || process.env.TESSERA_BACKEND?.trim() ? [] : backends.notLoaded();
      if (!o.json && optIn.length)
        io.out(
          `Not listed: ${optIn.join(', ')} — real hardware, opened only when named (tessera devices --backend ${optIn[0]}).`,
        );
      writeTrace(program.opts().trace ? { traceEvents: [] } : undefined);
    });

  /**
   * The backend and device a bench runs on: `--backend` (its `--device`, else its first device — on webgpu, the
   * adapter); else `--device` in any backend; else the first device of the backend `TESSERA_BACKEND` names.
   */
  const benchTarget = (o: { device?: string; backend?: string }): { backend: Backend; device: DeviceProperties } => {
    if (o.backend) {
      const backend = backends.byName(o.backend);
      const device = o.device ? findDeviceModel(backend, o.device) : backend.catalog()[0];
      if (!device) throw new TesseraError('InvalidDevice', `Backend '${backend.name}' has no devices.`);
      return { backend, device };
    }
    if (o.device) return backends.findDevice(o.device);
    const env = process.env.TESSERA_BACKEND?.trim();
    if (env) return benchTarget({ backend: env });
    throw new TesseraError(
      'InvalidValue',
      'bench needs --device <id> (tessera devices lists them) or --backend <name>.',
    );
  };

  /**
   * The simulator device a real adapter is: the webgpu backend names an adapter that a simulator's catalogue knows
   * `<catalogue id>-<backend>` (an H100 → `h100-webgpu`) and models it with that simulator.
   */
  const referenceOf = (backend: Backend, device: DeviceProperties) => {
    const suffix = `-${backend.name}`;
    if (!backend.executor || !device.id.endsWith(suffix)) return null;
    const id = device.id.slice(0, -suffix.length);
    for (const b of backends.all) {
      const d = b.executor ? undefined : b.catalog().find((x) => x.id === id);
      if (d) return { backend: b, device: d };
    }
    return null;
  };

  type BenchFn = (
    backend: Backend,
    device: DeviceProperties,
    o: BenchOptions,
  ) => Promise<{ result: BenchResult; trace?: object }>;

  /** Runs a bench on its target; on real hardware the simulator's time for the same launch rides along. */
  const runBench = async (
    o: { device?: string; backend?: string; iters?: string },
    fn: BenchFn,
  ): Promise<{ result: BenchResult; trace?: object }> => {
    const { backend, device } = benchTarget(o);
    const iters = o.iters === undefined ? undefined : parsePositiveInt(o.iters, '--iters');
    const out = await fn(backend, device, { profile: !!program.opts().trace, iters });
    const ref = referenceOf(backend, device);
    if (ref) {
      const r = await fn(ref.backend, ref.device, { profile: false });
      out.result.reference = { backend: ref.backend.name, device: ref.device.id, simulated_ms: r.result.simulated_ms };
    }
    return out;
  };

  /** The options every bench takes: where it runs, and on real hardware how often. */
  const benchCommand = (name: string, description: string) =>
    bench
      .command(name)
      .description(description)
      .option(
        '--device <id>',
        'device id (tessera devices lists them); with --backend or TESSERA_BACKEND, default: its first (webgpu: the adapter)',
      )
      .option(
        '--backend <name>',
        `run on this backend: ${listBackends().join(', ')} (webgpu runs the kernel on this machine’s GPU and prints the measured time beside the modelled one)`,
      )
      .option('--iters <n>', 'on real hardware (webgpu): timed launches after one warm-up (default 5)');

  const bench = program
    .command('bench')
    .description(
      'model one kernel on one device in timing-only mode (--backend webgpu: run it on this machine’s GPU and measure it too)',
    );

  const report = (o: { json?: boolean }, out: { result: BenchResult; trace?: object }) => {
    io.out(o.json ? JSON.stringify(out.result, null, 2) : formatBench(out.result));
    writeTrace(out.trace);
  };
  type Where = { device?: string; backend?: string; iters?: string; json?: boolean };

  benchCommand('gemm', 'C = A·B with the GEMM of @tessera/kernels')
    .addOption(
      new Option('--dtype <dtype>', 'input dtype').choices(['bf16', 'f16', 'f32', 'fp8', 'int8']).default('bf16'),
    )
    .requiredOption('--m <M>', 'rows of A and C')
    .requiredOption('--n <N>', 'columns of B and C')
    .requiredOption('--k <K>', 'columns of A, rows of B')
    .option('--json', 'print JSON')
    .action(async (o: Where & { dtype: string; m: string; n: string; k: string }) => {
      const m = parsePositiveInt(o.m, '--m');
      const n = parsePositiveInt(o.n, '--n');
      const k = parsePositiveInt(o.k, '--k');
      report(o, await runBench(o, (b, d, x) => benchGemm(b, d, { ...x, dtype: o.dtype, m, n, k })));
    });

  benchCommand('copy', 'streaming device-to-device copy (bandwidth counts bytes read + bytes written)')
    .requiredOption('--bytes <N>', 'bytes to copy (K, M, G, T suffixes: powers of 1024)')
    .option('--json', 'print JSON')
    .action(async (o: Where & { bytes: string }) => {
      const bytes = parseBytes(o.bytes, '--bytes');
      if (bytes < 1) throw new TesseraError('InvalidValue', '--bytes must be at least 1.');
      report(o, await runBench(o, (b, d, x) => benchCopy(b, d, { ...x, bytes })));
    });

  const dtypeOption = () => new Option('--dtype <dtype>', 'dtype').choices(['bf16', 'f16', 'f32']).default('bf16');

  for (const op of ['rmsnorm', 'softmax'] as const) {
    benchCommand(
      op,
      `${op === 'rmsnorm' ? 'RMSNorm' : 'row softmax'} over (rows, cols) — bandwidth-bound; GB/s counts bytes read + written`,
    )
      .requiredOption('--rows <n>', 'rows (tokens)')
      .requiredOption('--cols <n>', op === 'rmsnorm' ? 'columns (hidden size)' : 'columns (e.g. vocabulary or keys)')
      .addOption(dtypeOption())
      .option('--json', 'print JSON')
      .action(async (o: Where & { rows: string; cols: string; dtype: string }) => {
        const rows = parsePositiveInt(o.rows, '--rows');
        const cols = parsePositiveInt(o.cols, '--cols');
        report(o, await runBench(o, (b, d, x) => benchRowwise(b, d, op, { ...x, rows, cols, dtype: o.dtype })));
      });
  }

  benchCommand(
    'attention',
    'causal prefill attention (FlashAttention-style); TFLOP/s counts 4·headDim FLOPs per causal pair per head',
  )
    .requiredOption('--seq <n>', 'tokens per sequence')
    .option('--batch <n>', 'sequences', '1')
    .option('--heads <n>', 'query heads', '32')
    .option('--kv-heads <n>', 'key/value heads (GQA)', '8')
    .option('--head-dim <n>', 'head dimension', '128')
    .addOption(dtypeOption())
    .option('--json', 'print JSON')
    .action(
      async (
        o: Where & { seq: string; batch: string; heads: string; kvHeads: string; headDim: string; dtype: string },
      ) => {
        const shape = {
          seq: parsePositiveInt(o.seq, '--seq'),
          batch: parsePositiveInt(o.batch, '--batch'),
          heads: parsePositiveInt(o.heads, '--heads'),
          kvHeads: parsePositiveInt(o.kvHeads, '--kv-heads'),
          headDim: parsePositiveInt(o.headDim, '--head-dim'),
          dtype: o.dtype,
        };
        report(o, await runBench(o, (b, d, x) => benchAttention(b, d, { ...x, ...shape })));
      },
    );

  benchCommand('decode', 'decode attention over a paged KV cache — bandwidth-bound; GB/s counts K, V, q and out')
    .requiredOption('--batch <n>', 'sequences decoding one token each')
    .requiredOption('--context <n>', 'cached tokens per sequence')
    .option('--heads <n>', 'query heads', '32')
    .option('--kv-heads <n>', 'key/value heads (GQA)', '8')
    .option('--head-dim <n>', 'head dimension', '128')
    .option('--block-size <n>', 'tokens per KV-cache block', '16')
    .addOption(dtypeOption())
    .option('--json', 'print JSON')
    .action(
      async (
        o: Where & {
          batch: string;
          context: string;
          heads: string;
          kvHeads: string;
          headDim: string;
          blockSize: string;
          dtype: string;
        },
      ) => {
        const shape = {
          batch: parsePositiveInt(o.batch, '--batch'),
          context: parsePositiveInt(o.context, '--context'),
          heads: parsePositiveInt(o.heads, '--heads'),
          kvHeads: parsePositiveInt(o.kvHeads, '--kv-heads'),
          headDim: parsePositiveInt(o.headDim, '--head-dim'),
          blockSize: parsePositiveInt(o.blockSize, '--block-size'),
          dtype: o.dtype,
        };
        report(o, await runBench(o, (b, d, x) => benchDecode(b, d, { ...x, ...shape })));
      },
    );

  const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

  program
    .command('sanitize')
    .description(
      'run a command with the sanitizer on, like compute-sanitizer: tessera sanitize --tool memcheck -- node app.js',
    )
    .option('--tool <name>', 'memcheck, racecheck, initcheck, synccheck, a comma list, or all', 'memcheck')
    .option('--print-limit <n>', 'print at most N reports per process (default 100; later ones are counted)')
    .option('--error-exitcode <n>', "exit code when errors were found (default: the command's own, else 1)")
    .argument('<command...>', 'the command to run, after --')
    .action(async (command: string[], o: { tool: string; printLimit?: string; errorExitcode?: string }) => {
      const code = await sanitizeCommand(
        {
          tool: o.tool,
          command,
          printLimit: o.printLimit === undefined ? undefined : parsePositiveInt(o.printLimit, '--print-limit'),
          errorExitcode:
            o.errorExitcode === undefined ? undefined : parsePositiveInt(o.errorExitcode, '--error-exitcode'),
        },
        io,
      );
      if (code !== 0) throw new ExitWith(code);
    });

  program
    .command('compile')
    .description(
      'compile one kernel of a module and print its IR, generated JavaScript or launch cost (like TRITON_KERNEL_DUMP)',
    )
    .argument('<file>', 'module that exports the kernel (.ts through tsx, or .js)')
    .requiredOption('--kernel <name>', 'the exported kernel (export name or kernel name)')
    .option(
      '--arg <name=value>',
      'a parameter: BM=64, a=bf16 (buffer dtype), a=bf16:1048576 (and length), starts=0,7,9',
      collect,
      [],
    )
    .addOption(
      new Option('--dump <what>', 'what to print (wgsl: SIMT kernels)')
        .choices(['ir', 'js', 'wgsl', 'cost'])
        .default('ir'),
    )
    .option('--grid <x,y,z>', 'grid of the launch (for --dump cost)')
    .option('--block <x,y,z>', 'threads per block (SIMT kernels)')
    .option('--shared-mem-bytes <n>', 'dynamic shared memory (SIMT kernels)')
    .option('--device <id>', 'with --dump cost: also print the modelled time on this device')
    .action(
      async (
        file: string,
        o: {
          kernel: string;
          arg: string[];
          dump: 'ir' | 'js' | 'cost';
          grid?: string;
          block?: string;
          sharedMemBytes?: string;
          device?: string;
        },
      ) => {
        const device = o.device ? backends.findDevice(o.device) : null;
        io.out(
          await compileCommand(
            {
              file,
              kernel: o.kernel,
              args: o.arg,
              dump: o.dump,
              grid: o.grid,
              block: o.block,
              sharedMemBytes: o.sharedMemBytes,
            },
            device,
          ),
        );
      },
    );

  program
    .command('coll-perf')
    .description(
      'nccl-tests-style sweep of one collective over a simulated cluster: modelled times, bus bandwidth, and a functional check at small sizes',
    )
    .requiredOption('--op <op>', 'allreduce, allgather, reducescatter, alltoall, broadcast, reduce or sendrecv')
    .requiredOption(
      '--topology <T>',
      'dgx-a100, dgx-h100, hgx-h200, hgx-h800, nvl72, atlas-800t-a2, cloudmatrix384 (xN for N of them on a fat-tree, e.g. dgx-h100x4), webgpu-local (xN: N ranks sharing this machine’s GPU), or a JSON/YAML topology file',
    )
    .option('--ranks <n>', 'use the first n ranks (default: all of the topology)')
    .option('--min-bytes <size>', 'smallest size (K, M, G suffixes: powers of 1024)', '8')
    .option('--max-bytes <size>', 'largest size', '8G')
    .option('--step-factor <f>', 'multiply the size by f each row (at least 2)', '2')
    .option('--dtype <type>', 'float, half, bfloat16, int32, int8, uint8, f8e4m3, f8e5m2', 'float')
    .option(
      '--algo <name>',
      'force ring, tree, direct, nvls, hier, onesided (all-to-all as one-sided puts) or p2p (default: the tuner picks per size)',
    )
    .option('--fail-rank <r>', 'fail rank r before the sweep (repeatable, or a comma list)', collect)
    .option(
      '--degrade-link <name=factor>',
      'run a link at factor (0..1] of its bandwidth: "rank3→sw0=0.5" (one direction), or "a-b=0.5" for the direct links between ranks a and b (repeatable)',
      collect,
    )
    .option('--cut-link <name>', 'cut a link (same names as --degrade-link; repeatable)', collect)
    .option('--json', 'print the rows as JSON: [{ bytes, time_us, algbw_gbs, busbw_gbs, algo }]')
    .action(
      async (o: {
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
      }) => {
        const options = parseCollPerfArgs({ ...o, profile: !!program.opts().trace });
        const { trace } = await collPerf(options, io.out);
        writeTrace(trace);
      },
    );

  program
    .command('ui')
    .description(
      'serve the browser dashboard: projections, topologies and collectives with faults (no model: apps/llm-serve serves the live engine)',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', '8100')
    .action(async (o: { host: string; port: string }) => {
      const port = Number(o.port);
      if (!(Number.isInteger(port) && port >= 0 && port <= 65535))
        throw new TesseraError('InvalidValue', `--port '${o.port}' must be an integer from 0 to 65535.`);
      // Loaded here: the server and the dashboard's files matter to this command only.
      const { startUiServer } = await import('./ui/server');
      const server = await startUiServer({ host: o.host, port, log: io.err }).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL')
          throw new TesseraError('InvalidValue', `Cannot listen on ${o.host}:${port} (${e.code}).`, {
            hint: 'Pass another --port (0: any free one) or --host.',
          });
        throw e;
      });
      io.out(`Dashboard: ${server.url}`);
      io.err('Serving the dashboard and its API; Ctrl-C stops.');
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await server.close();
    });

  program
    .command('project')
    .description(
      'project one engine step of a shipped model on a built-in system (@tessera/serve projectStep): step time, tokens/s per chip, per system and per kW, memory per device, kernels vs collectives; with --trace FILE, the timeline of the step per rank (Perfetto)',
    )
    .requiredOption('--model <id>', 'a shipped model (llama-3.1-8b, …, deepseek-r1)')
    .option('--system <topology>', 'a built-in topology (dgx-h100, nvl72, cloudmatrix384, …)')
    .option('--compare <a,b,…>', 'run the same step on each of these systems, side by side')
    .option('--tp <n>', 'tensor-parallel degree (default: per system, the smallest power of two that fits)')
    .option('--ep <n>', 'MoE only: 1 (experts TP-sharded) or DP × TP (whole experts over every rank, the default)')
    .option('--dp <n>', 'MoE only: attention data parallelism (DP groups of TP ranks, each with its own sequences)')
    .option('--pp <n>', 'pipeline stages (the layers split evenly; batch must be a multiple of it)')
    .option('--spec <n>', "speculative decoding: draft tokens per step (the model's MTP layer, or an EAGLE-style head)")
    .option('--acceptance <p>', 'with --spec: the probability that each draft token is accepted', '0.7')
    .option('--pue <x>', 'facility ÷ IT power for tokens/s per MW provisioned (default 1: IT power only)')
    .option(
      '--tbo',
      "two-batch overlap: one half's expert dispatch/combine overlaps the other half's kernels (MoE, EP)",
    )
    .option('--batch <n>', 'sequences in flight (split over the DP groups and the pipeline micro-batches)', '64')
    .option('--context <n>', "tokens in each sequence's cache after the step", '2048')
    .option('--weights <dtype>', 'bf16, f16, int8 (W8A8) or fp8 (W8A8 e4m3; devices with fp8 matrix units)', 'bf16')
    .option('--kv <dtype>', 'KV-cache dtype: bf16, f16 or fp8 (e4m3; devices with fp8)', 'bf16')
    .option('--phase <phase>', 'decode (one token per sequence) or prefill (the whole context)', 'decode')
    .option('--json', 'print JSON: one object, or an array with --compare')
    .option(
      '--slo-tpot <ms>',
      'search instead: every power-of-two TP × batch 1…512 (decode); print the best tokens/s per chip meeting the TPOT and the Pareto frontier',
    )
    .option('--max-batch <n>', 'with --slo-tpot: the largest batch searched (powers of two from 1)', '512')
    .option(
      '--slo-ttft <ms>',
      'with --slo-tpot: also a time to first token (one prompt of --input tokens, no queueing)',
    )
    .option('--input <n>', 'with --slo-tpot: prompt tokens (the TTFT prompt; decode context = input + output / 2)')
    .option('--output <n>', 'with --slo-tpot: completion tokens')
    .option('--search-weights', 'with --slo-tpot: search bf16, int8 and fp8 weights (fp8 where the device has it)')
    .option(
      '--rate <req/s>',
      "with --slo-tpot: search under a workload instead — serve --requests requests arriving at this rate ('inf': all at once) on each TP layout × max_num_seqs 8…--max-batch in modelled time (simulateProjected); needs --input and --output",
    )
    .option(
      '--concurrency <n>',
      'with --slo-tpot: the workload search with at most n requests in flight (closed loop; with --rate, both)',
    )
    .option('--requests <n>', 'with --rate/--concurrency: requests in the simulated run', '200')
    .option('--range-ratio <r>', 'with --rate/--concurrency: lengths uniform in [L(1-r), L(1+r)]', '0')
    .option('--burstiness <b>', 'with --rate: Gamma shape of the inter-arrival times (1 = Poisson)', '1')
    .option('--seed <n>', 'with --rate/--concurrency: the workload seed', '0')
    .option(
      '--disaggregate',
      'prefill/decode disaggregation: a prefill instance (--prefill-tp, --prefill-dp, --prefill-batch) beside the decode one (--tp, --dp, --batch), KV handed over; needs --input and --output',
    )
    .option('--prefill-tp <n>', "with --disaggregate: the prefill instance's TP", '8')
    .option('--prefill-dp <n>', "with --disaggregate: the prefill instance's attention DP (MoE)")
    .option('--prefill-batch <n>', 'with --disaggregate: prompts per prefill step', '1')
    .action(
      async (
        o: ProjectArgs & {
          json?: boolean;
          sloTpot?: string;
          maxBatch: string;
          sloTtft?: string;
          input?: string;
          output?: string;
          searchWeights?: boolean;
          rate?: string;
          concurrency?: string;
          requests: string;
          rangeRatio: string;
          burstiness: string;
          seed: string;
          disaggregate?: boolean;
          prefillTp: string;
          prefillDp?: string;
          prefillBatch: string;
        },
      ) => {
        const options = parseProjectArgs(o);
        const traceFile = program.opts().trace as string | undefined;
        if (traceFile !== undefined && o.sloTpot !== undefined) {
          throw new TesseraError(
            'InvalidValue',
            '--trace writes the timeline of one projected step and --slo-tpot projects many: run the configuration the search picks (--tp T --batch B) with --trace.',
          );
        }
        if ((o.rate !== undefined || o.concurrency !== undefined) && o.sloTpot === undefined) {
          throw new TesseraError(
            'InvalidValue',
            '--rate/--concurrency give the workload of the SLO search: add --slo-tpot <ms> (and --slo-ttft <ms>).',
          );
        }
        if (o.disaggregate) {
          if (o.input === undefined || o.output === undefined)
            throw new TesseraError(
              'InvalidValue',
              '--disaggregate needs --input <prompt tokens> and --output <completion tokens>.',
            );
          if (o.sloTpot !== undefined) {
            const slo = Number(String(o.sloTpot).replace(/ms$/, ''));
            const ttft = o.sloTtft === undefined ? Number.NaN : Number(String(o.sloTtft).replace(/ms$/, ''));
            if (!(slo > 0) || !(ttft > 0))
              throw new TesseraError(
                'InvalidValue',
                '--disaggregate --slo-tpot searches prefill/decode pairs: give --slo-tpot <ms> and --slo-ttft <ms> (positive numbers).',
              );
            const maxBatch = parsePositiveInt(o.maxBatch, '--max-batch');
            const results = [];
            for (const sys of options.systems)
              results.push(
                await searchDisaggregated(
                  options,
                  sys,
                  {
                    sloTpotMs: slo,
                    sloTtftMs: ttft,
                    inputLen: parsePositiveInt(o.input, '--input'),
                    outputLen: parsePositiveInt(o.output, '--output'),
                    maxBatch,
                    searchWeights: o.searchWeights === true,
                  },
                  systemSize(sys),
                ),
              );
            io.out(
              o.json
                ? JSON.stringify(o.compare ? results : results[0], null, 2)
                : formatPdSearch(options.model, results),
            );
            return;
          }
          const d: DisaggregateArgs = {
            prefillTp: parsePositiveInt(o.prefillTp, '--prefill-tp'),
            prefillDp: o.prefillDp === undefined ? undefined : parsePositiveInt(o.prefillDp, '--prefill-dp'),
            prefillBatch: parsePositiveInt(o.prefillBatch, '--prefill-batch'),
            inputLen: parsePositiveInt(o.input, '--input'),
            outputLen: parsePositiveInt(o.output, '--output'),
          };
          const rs = await disaggregateCommand(options, d).catch((e: unknown) => {
            if (e instanceof ProjectionError || e instanceof CapacityError)
              throw new TesseraError('InvalidValue', e.message);
            throw e;
          });
          const json = rs.map(({ prefill, decode, ...rest }) => ({
            ...rest,
            prefillMs: prefill.ms,
            decodeMs: decode.ms,
          }));
          io.out(o.json ? JSON.stringify(o.compare ? json : json[0], null, 2) : formatDisaggregated(options, d, rs));
          return;
        }
        if (o.sloTpot !== undefined) {
          const slo = Number(String(o.sloTpot).replace(/ms$/, ''));
          if (!(Number.isFinite(slo) && slo > 0)) {
            throw new TesseraError(
              'InvalidValue',
              `--slo-tpot '${o.sloTpot}' must be a positive number of ms (e.g. 50 or 50ms).`,
            );
          }
          const maxBatch = Number(o.maxBatch);
          if (!(Number.isInteger(maxBatch) && maxBatch >= 1)) {
            throw new TesseraError('InvalidValue', `--max-batch '${o.maxBatch}' must be a positive integer.`);
          }
          let sloTtftMs: number | undefined;
          if (o.sloTtft !== undefined) {
            sloTtftMs = Number(String(o.sloTtft).replace(/ms$/, ''));
            if (!(Number.isFinite(sloTtftMs) && sloTtftMs > 0))
              throw new TesseraError('InvalidValue', `--slo-ttft '${o.sloTtft}' must be a positive number of ms.`);
          }
          if (o.rate !== undefined || o.concurrency !== undefined) {
            if (o.input === undefined || o.output === undefined)
              throw new TesseraError(
                'InvalidValue',
                '--rate/--concurrency need --input <mean prompt tokens> and --output <mean completion tokens>.',
              );
            const rate = o.rate === undefined || o.rate === 'inf' ? Number.POSITIVE_INFINITY : Number(o.rate);
            if (!(rate > 0))
              throw new TesseraError('InvalidValue', `--rate '${o.rate}': requests per second > 0, or inf.`);
            const rangeRatio = Number(o.rangeRatio);
            if (!(rangeRatio >= 0 && rangeRatio < 1))
              throw new TesseraError('InvalidValue', `--range-ratio '${o.rangeRatio}': a number in [0, 1).`);
            const burstiness = Number(o.burstiness);
            if (!(Number.isFinite(burstiness) && burstiness > 0))
              throw new TesseraError(
                'InvalidValue',
                `--burstiness '${o.burstiness}': a positive number (1 = Poisson).`,
              );
            const seed = Number(o.seed);
            if (!(Number.isSafeInteger(seed) && seed >= 0))
              throw new TesseraError('InvalidValue', `--seed '${o.seed}': an integer ≥ 0.`);
            const workload: WorkloadArgs = {
              requests: parsePositiveInt(o.requests, '--requests'),
              rate,
              concurrency: o.concurrency === undefined ? null : parsePositiveInt(o.concurrency, '--concurrency'),
              inputLen: parsePositiveInt(o.input, '--input'),
              outputLen: parsePositiveInt(o.output, '--output'),
              rangeRatio,
              burstiness,
              seed,
            };
            const results: WorkloadSearchResult[] = [];
            for (const s of options.systems)
              results.push(
                await searchWorkload(
                  options,
                  s,
                  { sloTpotMs: slo, sloTtftMs, maxBatch, searchWeights: o.searchWeights === true, workload },
                  systemSize(s),
                ),
              );
            io.out(o.json ? JSON.stringify(o.compare ? results : results[0], null, 2) : formatWorkloadSearch(results));
            return;
          }
          const space: SearchSpace = {
            sloTpotMs: slo,
            sloTtftMs,
            inputLen: o.input === undefined ? undefined : parsePositiveInt(o.input, '--input'),
            outputLen: o.output === undefined ? undefined : parsePositiveInt(o.output, '--output'),
            maxBatch,
            searchWeights: o.searchWeights === true,
          };
          const results = [];
          for (const s of options.systems) results.push(await searchProject(options, s, space, systemSize(s)));
          io.out(
            o.json ? JSON.stringify(o.compare ? results : results[0], null, 2) : formatSearch(options.model, results),
          );
          return;
        }
        const outcomes = await projectCommand(options);
        const only = outcomes[0]!;
        if (o.json && !o.compare && !only.ok) io.out(JSON.stringify(only, null, 2));
        if (!o.compare && !only.ok) throw new TesseraError('InvalidValue', `${only.system}: ${only.error}`);
        if (o.json) io.out(JSON.stringify(o.compare ? outcomes : outcomes[0], null, 2));
        else io.out(formatProject(options, outcomes));
        if (traceFile !== undefined)
          for (const f of writeProjectTraces(outcomes, traceFile, !!o.compare))
            io.err(`trace written to ${f} (open it in https://ui.perfetto.dev)`);
        if (outcomes.every((r) => !r.ok))
          throw new TesseraError('InvalidValue', 'the model runs on none of the systems.');
      },
    );

  return program;
}

/** Runs the CLI with `argv` (without node and script); returns the exit code instead of exiting. */
export async function run(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof ExitWith) return e.code;
    if (e instanceof CommanderError) {
      // --help and --version exit 0; usage errors were already printed by commander.
      return e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.help' ? 0 : 2;
    }
    if (isTesseraError(e)) {
      io.err(`tessera: ${e.message}`);
      return 1;
    }
    io.err(`tessera: ${(e as Error).message ?? String(e)}`);
    return 1;
  }
}
