/**
 * How many bytes a launch moves to and from device memory (HBM), given what its programs requested.
 *
 * Every buffer a launch touches is read or written at least once (compulsory traffic). Programs often request the
 * same bytes again — a GEMM tile re-reads its row and column panels of A and B. When everything the launch touches
 * fits in L2, re-reads hit L2. When it does not, we assume the launch is rasterised for reuse (as Triton's grouped
 * ordering and cuBLAS's swizzling are): the programs running at one time share panels along both grid axes, so of
 * S concurrent programs roughly √S share each panel, and DRAM serves 1/√S of the re-reads.
 */
import { type CostRecord, compulsoryBytes } from '../kernel/cost';

export interface Traffic {
  /** Bytes the programs asked for (global loads + stores). */
  requested: number;
  /** Bytes that reach DRAM. */
  dram: number;
  /** Fraction of re-reads served by L2. */
  l2HitRate: number;
}

export function dramTraffic(cost: CostRecord, l2Bytes: number, concurrentPrograms: number): Traffic {
  const t = cost.total;
  const requested = t.bytesRead + t.bytesWritten;
  const comp = compulsoryBytes(cost);
  const compulsory = comp.read + comp.written;
  const rereads = Math.max(0, requested - compulsory);
  let footprint = 0;
  for (const b of cost.buffers) footprint += b.bytes;
  if (rereads === 0 || footprint <= l2Bytes) return { requested, dram: compulsory, l2HitRate: 1 };
  const share = Math.sqrt(Math.max(1, Math.min(concurrentPrograms, cost.programs)));
  const missed = rereads / share;
  return { requested, dram: compulsory + missed, l2HitRate: 1 - missed / rereads };
}
