/**
 * The command-line wiring of `tessera project`: one projected step (or `--compare` systems side by side), the SLO
 * search (`--slo-tpot`, with a workload under `--rate` / `--concurrency`), and prefill/decode disaggregation
 * (`--disaggregate`). The projections themselves are in project*.ts.
 */
import { TesseraError } from '@tessera/device';
import { CapacityError, ProjectionError } from '@tessera/serve';
import type { Command } from 'commander';
import { parsePositiveInt } from '../format';
import type { ProgramContext } from './context';
import { formatProject, type ProjectArgs, parseProjectArgs, projectCommand, systemSize } from './project';
import { type DisaggregateArgs, disaggregateCommand, formatDisaggregated } from './project-disagg';
import { formatPdSearch, searchDisaggregated } from './project-pd-search';
import { formatSearch, type SearchSpace, searchProject } from './project-search';
import { writeProjectTraces } from './project-trace';
import { formatWorkloadSearch, searchWorkload, type WorkloadArgs, type WorkloadSearchResult } from './project-workload';

export function addProjectCommand(program: Command, { io }: ProgramContext): void {
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
}
