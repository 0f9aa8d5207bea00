/**
 * The model's answers for the published measurements of ./published.ts, shared by the tests and the report: each
 * measurement is re-expressed as a call to the cluster's cost model (nothing here is fitted).
 */
import { type Communicator, createCluster } from '../src/index';
import {
  CLOUDMATRIX_FUSED,
  DEEPEP_LOW_LATENCY,
  DGX_A100_SENDRECV,
  DGX_H100_ALLREDUCE,
  type EpRow,
  type NcclRow,
  NVL72_ALLREDUCE,
} from './published';

export interface Compared<R> {
  row: R;
  /** Modelled µs. */
  us: number;
  /** Modelled bandwidth, GB/s, by the same formula the publication used. */
  gbs: number;
  /** Modelled / published − 1, on time (EP tables) or busbw (nccl-tests tables). */
  error: number;
  algorithm: string;
  bottleneck: string | null;
}

/**
 * A dispatch or combine of `tokens × topk` writes of `bytes` each from every rank, spread evenly over the EP ranks
 * (top-k experts drawn uniformly): an all-to-all of S = tokens · topk · bytes per rank, split into one write per
 * selection, on the one-sided path.
 */
function epCall(comm: Communicator, tokens: number, topk: number, bytes: number) {
  return comm.estimateCost('alltoall', tokens * topk * bytes, { algorithm: 'onesided', messageBytes: bytes });
}

/** DeepEP's low-latency table on H800 + CX7: EP8 is one HGX H800, EP 16–256 are EP/8 of them on a fat-tree. */
export async function deepEpComparison(): Promise<Compared<EpRow>[]> {
  const d = DEEPEP_LOW_LATENCY;
  const out: Compared<EpRow>[] = [];
  for (const row of d.rows) {
    const c = await createCluster({ topology: row.ep === 8 ? 'hgx-h800' : `hgx-h800x${row.ep / 8}`, mode: 'timing' });
    const bytes = row.kind === 'dispatch' ? d.dispatchBytes : d.combineBytes;
    const e = epCall(c.world, d.tokens, d.topk, bytes);
    const total = d.tokens * d.topk * bytes;
    out.push({
      row,
      us: e.us,
      gbs: total / (e.us * 1e3),
      error: e.us / row.us - 1,
      algorithm: `${e.algorithm}/${e.protocol}`,
      bottleneck: e.bottleneck,
    });
  }
  return out;
}

/** CloudMatrix384's FusedDispatch / FusedCombine: EP ranks are the first EP dies of the supernode. */
export async function cloudMatrixComparison(): Promise<Compared<EpRow>[]> {
  const d = CLOUDMATRIX_FUSED;
  const c = await createCluster({ topology: 'cloudmatrix384', mode: 'timing' });
  return d.rows.map((row) => {
    const comm = c.communicator([...Array(row.ep).keys()]);
    const bytes = row.kind === 'dispatch' ? d.dispatchBytes : d.combineBytes;
    const e = epCall(comm, d.tokens, d.topk, bytes);
    const total = d.tokens * d.topk * bytes;
    return {
      row,
      us: e.us,
      gbs: total / (e.us * 1e3),
      error: e.us / row.us - 1,
      algorithm: `${e.algorithm}/${e.protocol}`,
      bottleneck: e.bottleneck,
    };
  });
}

/** nccl-tests rows of one op on one topology; busbw by nccl-tests' factor, error on busbw. */
export async function ncclComparison(
  table: { topology: string; rows: readonly NcclRow[] },
  op: 'allreduce' | 'sendrecv',
): Promise<Compared<NcclRow>[]> {
  const c = await createCluster({ topology: table.topology, mode: 'timing' });
  const n = c.size;
  const factor = op === 'allreduce' ? (2 * (n - 1)) / n : 1;
  return table.rows.map((row) => {
    const e = c.world.estimateCost(op, row.bytes);
    const busbw = (row.bytes / (e.us * 1e3)) * factor;
    return {
      row,
      us: e.us,
      gbs: busbw,
      // At the smallest sizes nccl-tests prints busbw 0.00: compare times there.
      error: row.busbw > 0.05 ? busbw / row.busbw - 1 : row.us / e.us - 1,
      algorithm: `${e.algorithm}/${e.protocol}`,
      bottleneck: e.bottleneck,
    };
  });
}

export const ALLREDUCE_TABLES = { 'dgx-h100': DGX_H100_ALLREDUCE, nvl72: NVL72_ALLREDUCE } as const;
export const SENDRECV_TABLE = DGX_A100_SENDRECV;
