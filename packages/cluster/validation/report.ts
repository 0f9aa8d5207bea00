/**
 * Prints the validation tables of README.md: every published measurement of ./published.ts beside the model's figure
 * and the error. `pnpm --filter @tessera/cluster validate`.
 */
import {
  ALLREDUCE_TABLES,
  type Compared,
  cloudMatrixComparison,
  deepEpComparison,
  ncclComparison,
  SENDRECV_TABLE,
} from './model';
import type { EpRow, NcclRow } from './published';

const pct = (e: number) => `${e >= 0 ? '+' : '−'}${Math.abs(e * 100).toFixed(0)} %`;
const size = (b: number) =>
  b >= 2 ** 30 ? `${b / 2 ** 30} GiB` : b >= 2 ** 20 ? `${b / 2 ** 20} MiB` : b >= 1024 ? `${b / 1024} KiB` : `${b} B`;

function epTable(title: string, rows: Compared<EpRow>[]): void {
  console.log(`\n${title}\n`);
  console.log('| EP | op | published µs | published GB/s | model µs | model GB/s | error (time) | bound by |');
  console.log('| -- | -- | -- | -- | -- | -- | -- | -- |');
  for (const r of rows) {
    const fit = r.row.fitted ? ` (fitted: ${r.row.fitted})` : '';
    console.log(
      `| ${r.row.ep} | ${r.row.kind} | ${r.row.us} | ${r.row.gbs} | ${r.us.toFixed(0)} | ${r.gbs.toFixed(0)} | ${pct(r.error)}${fit} | ${r.bottleneck} |`,
    );
  }
}

function ncclTable(title: string, rows: Compared<NcclRow>[]): void {
  console.log(`\n${title}\n`);
  console.log('| size | published µs | published busbw | model µs | model busbw | error | model algorithm |');
  console.log('| -- | -- | -- | -- | -- | -- | -- |');
  for (const r of rows) {
    const fit = r.row.fitted ? ` (fitted: ${r.row.fitted})` : '';
    console.log(
      `| ${size(r.row.bytes)} | ${r.row.us} | ${r.row.busbw.toFixed(2)} | ${r.us.toFixed(2)} | ${r.gbs.toFixed(2)} | ${pct(r.error)}${fit} | ${r.algorithm} |`,
    );
  }
}

epTable('DeepEP low-latency kernels, H800 + CX7 (modelled on hgx-h800 / hgx-h800xN)', await deepEpComparison());
epTable('CloudMatrix384 FusedDispatch / FusedCombine (modelled on cloudmatrix384)', await cloudMatrixComparison());
for (const [name, table] of Object.entries(ALLREDUCE_TABLES))
  ncclTable(`all_reduce_perf on ${name}`, await ncclComparison(table, 'allreduce'));
ncclTable(`sendrecv_perf on ${SENDRECV_TABLE.topology}`, await ncclComparison(SENDRECV_TABLE, 'sendrecv'));
