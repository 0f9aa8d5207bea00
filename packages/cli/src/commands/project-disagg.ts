/**
 * `tessera project --disaggregate`: prefill/decode disaggregation on one system (@tessera/serve projectDisaggregated):
 * a prefill instance (--prefill-tp, --prefill-dp, --prefill-batch prompts per step) and a decode instance (--tp, --dp,
 * --batch), side by side on the system's ranks, the KV of each prompt handed over the links between them. Prints TTFT,
 * TPOT, each instance's request rate, the best prefill:decode ratio and tokens/s per chip at that ratio.
 */
import { TesseraError } from '@tessera/device';
import { loadShippedModel } from '@tessera/models';
import { type DisaggregatedProjection, projectDisaggregated } from '@tessera/serve';
import { table } from '../format';
import type { ProjectOptions } from './project';

export interface DisaggregateArgs {
  prefillTp: number;
  prefillDp?: number;
  prefillBatch: number;
  inputLen: number;
  outputLen: number;
}

export async function disaggregateCommand(o: ProjectOptions, d: DisaggregateArgs): Promise<DisaggregatedProjection[]> {
  if (o.tp === undefined) throw new TesseraError('InvalidValue', '--disaggregate: give the decode instance its --tp.');
  const arch = loadShippedModel(o.model);
  const out: DisaggregatedProjection[] = [];
  for (const system of o.systems) {
    out.push(
      await projectDisaggregated({
        arch,
        topology: system,
        prefill: { tp: d.prefillTp, dp: d.prefillDp, ep: o.ep, batch: d.prefillBatch },
        decode: { tp: o.tp, dp: o.dp, ep: o.ep, batch: o.batch },
        inputLen: d.inputLen,
        outputLen: d.outputLen,
        weightDtype: o.weightDtype,
        kvDtype: o.kvDtype,
        speculative: o.speculative,
      }),
    );
  }
  return out;
}

export function formatDisaggregated(o: ProjectOptions, d: DisaggregateArgs, rs: DisaggregatedProjection[]): string {
  const f = (x: number, digits = 1) => x.toFixed(digits);
  const rows: Array<[string, (r: DisaggregatedProjection) => string]> = [
    ['prefill instance', (r) => `${r.prefill.devices} devices, ${d.prefillBatch} prompts/step`],
    ['decode instance', (r) => `${r.decode.devices} devices, ${o.batch} sequences`],
    ['prefill step', (r) => `${f(r.prefill.ms)} ms`],
    ['KV hand-over', (r) => `${f(r.kvTransfer.ms, 3)} ms (${f(r.kvTransfer.bytes / 2 ** 20)} MiB)`],
    ['TTFT (no queueing)', (r) => `${f(r.ttftMs)} ms`],
    ['TPOT', (r) => `${f(r.tpotMs, 2)} ms`],
    ['requests/s per prefill instance', (r) => f(r.prefillRequestsPerSecond, 2)],
    ['requests/s per decode instance', (r) => f(r.decodeRequestsPerSecond, 2)],
    ['best ratio (prefill:decode)', (r) => `${r.ratio.prefill}:${r.ratio.decode} (${r.devices} devices)`],
    ['output tokens/s per chip', (r) => f(r.tokensPerSecondPerChip)],
  ];
  const lines = [
    `# tessera project --disaggregate: ${o.model}, ${d.inputLen} in / ${d.outputLen} out, weights ${o.weightDtype}`,
    table(
      ['', ...o.systems],
      rows.map(([label, g]) => [label, ...rs.map(g)]),
    ),
    'Assumptions:',
    ...[...new Set(rs.flatMap((r) => r.assumptions))].map((a) => `  - ${a}`),
  ];
  return lines.join('\n');
}
