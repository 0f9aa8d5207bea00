/**
 * Published measurements the collective model is checked against (test/validation.test.ts, `pnpm --filter
 * @tessera/cluster validate`, the tables in README.md). Each carries its source. Only one of them was used to set a
 * constant — CloudMatrix384's FusedDispatch at EP8, which fixed the Unified Bus message rate (topology/spec.ts); it is
 * marked `fitted` and every other row is a check the model never saw.
 */

export interface Source {
  what: string;
  where: string;
}

/** One dispatch or combine measurement: per-rank latency and the bandwidth the authors computed from it. */
export interface EpRow {
  ep: number;
  kind: 'dispatch' | 'combine';
  us: number;
  gbs: number;
  /** The model constant fitted to this row (it is then no check). */
  fitted?: string;
}

/**
 * DeepEP's low-latency kernels on H800 with one 400 Gb/s ConnectX-7 per GPU: 128 tokens per rank, hidden 7168, top-8
 * experts, FP8 dispatch, BF16 combine. tests/test_low_latency.py counts hidden + hidden/128·4 + 16 = 7408 bytes per
 * dispatched (token, expert) selection and hidden·2 = 14 336 per combined one; the kernels put each selection as one
 * write. Since 2025-06-05 (DeepEP #173) the kernels use NVLink for peers in the same node.
 */
export const DEEPEP_LOW_LATENCY = {
  source: {
    what: 'DeepEP README, "Low-latency kernels with pure RDMA" table (H800, CX7 400 Gb/s)',
    where:
      'github.com/deepseek-ai/DeepEP, README.md (V1 tables, now docs/legacy.md); byte counts from tests/test_low_latency.py',
  } satisfies Source,
  tokens: 128,
  topk: 8,
  dispatchBytes: 7168 + (7168 / 128) * 4 + 16,
  combineBytes: 7168 * 2,
  rows: [
    { ep: 8, kind: 'dispatch', us: 77, gbs: 98 },
    { ep: 16, kind: 'dispatch', us: 118, gbs: 63 },
    { ep: 32, kind: 'dispatch', us: 155, gbs: 48 },
    { ep: 64, kind: 'dispatch', us: 173, gbs: 43 },
    { ep: 128, kind: 'dispatch', us: 192, gbs: 39 },
    { ep: 256, kind: 'dispatch', us: 194, gbs: 39 },
    { ep: 8, kind: 'combine', us: 114, gbs: 127 },
    { ep: 16, kind: 'combine', us: 195, gbs: 74 },
    { ep: 32, kind: 'combine', us: 273, gbs: 53 },
    { ep: 64, kind: 'combine', us: 314, gbs: 46 },
    { ep: 128, kind: 'combine', us: 369, gbs: 39 },
    { ep: 256, kind: 'combine', us: 360, gbs: 40 },
  ] satisfies EpRow[],
};

/**
 * CloudMatrix384's FusedDispatch / FusedCombine (vector cores writing into peers' memory over the Unified Bus), as the
 * paper compares them with DeepEP on H800 at EP8 and EP256, one expert group per 910C die. The paper's setting follows
 * DeepEP's (128 tokens × top-8 per rank); the bytes per write are the paper's own bandwidth × latency ÷ 1024 writes
 * (dispatch 71 GB/s × 116 µs ≈ 8.0 KB: INT8 tokens with scales; combine 131 GB/s × 118 µs ≈ 15 KB: BF16).
 */
export const CLOUDMATRIX_FUSED = {
  source: {
    what: 'Serving Large Language Models on Huawei CloudMatrix384 (arXiv 2506.12708), communication-operator comparison with DeepEP on H800',
    where:
      'arxiv.org/abs/2506.12708; figures as transcribed in github.com/hustzxd/EfficientPaper notes/2025/CloudMatrix384/note.md (EP8 and EP256 rows)',
  } satisfies Source,
  tokens: 128,
  topk: 8,
  dispatchBytes: 8040,
  combineBytes: 15040,
  rows: [
    { ep: 8, kind: 'dispatch', us: 116, gbs: 71, fitted: 'Unified Bus message rate (8.1 M writes/s per die)' },
    { ep: 256, kind: 'dispatch', us: 152, gbs: 54 },
    { ep: 8, kind: 'combine', us: 118, gbs: 131 },
    { ep: 256, kind: 'combine', us: 149, gbs: 103 },
  ] satisfies EpRow[],
};

/** One row of an nccl-tests table: size (B), time (µs) and busbw (GB/s), out-of-place. */
export interface NcclRow {
  bytes: number;
  us: number;
  busbw: number;
  /** The model constant this row was used to set. */
  fitted?: string;
}

/**
 * all_reduce_perf on one node of 8× H100 80GB HBM3 (NVLink SHARP; NCCL picks NVLS at large sizes), 8 B – 16 GiB, from
 * NVIDIA's own benchmarking recipe. The 8 GiB row is the point IN_SWITCH_EFFICIENCY (0.61) was set from ("460–480
 * GB/s"); the others were never used.
 */
export const DGX_H100_ALLREDUCE = {
  source: {
    what: 'NVIDIA DGX Cloud Benchmarking, NCCL recipe: sample all_reduce_perf output on 8× H100 80GB HBM3 (one node)',
    where: 'github.com/NVIDIA/dgxc-benchmarking, nccl/README.md',
  } satisfies Source,
  topology: 'dgx-h100',
  rows: [
    { bytes: 8, us: 13.67, busbw: 0.0 },
    { bytes: 1024, us: 16.94, busbw: 0.11 },
    { bytes: 65536, us: 19.54, busbw: 5.87 },
    { bytes: 1048576, us: 27.37, busbw: 67.04 },
    { bytes: 16777216, us: 123.8, busbw: 237.21 },
    { bytes: 134217728, us: 586.4, busbw: 400.53 },
    { bytes: 1073741824, us: 4029.4, busbw: 466.33 },
    { bytes: 8589934592, us: 31307, busbw: 480.16, fitted: 'IN_SWITCH_EFFICIENCY (0.61)' },
  ] satisfies NcclRow[],
};

/**
 * all_reduce_perf on one GB200 NVL72 rack (72 GPUs, one NVLink domain), NCCL 2.26.2. The only single-rack sweep found:
 * it starts at 512 MiB, so it has five sizes and no small-size regime.
 */
export const NVL72_ALLREDUCE = {
  source: {
    what: 'CoreWeave nccl-tests README, "Expected Performance — GB200 — Single Rack" (NCCL 2.26.2)',
    where: 'github.com/coreweave/nccl-tests, README.md',
  } satisfies Source,
  topology: 'nvl72',
  rows: [
    { bytes: 536870912, us: 1806.7, busbw: 586.06 },
    { bytes: 1073741824, us: 3108.8, busbw: 681.17 },
    { bytes: 2147483648, us: 5589.1, busbw: 757.78 },
    { bytes: 4294967296, us: 10094, busbw: 839.16 },
    { bytes: 8589934592, us: 20299, busbw: 834.57 },
  ] satisfies NcclRow[],
};

/** sendrecv_perf on 8× A100 SXM4 (NVLink3 through NVSwitch): each rank sends to the next, busbw = algbw. */
export const DGX_A100_SENDRECV = {
  source: {
    what: 'sendrecv_perf -b 128M -e 1G -f 2 -g 8 on 8× A100 NVLink (a user’s published run)',
    where: 'github.com/li-plus/playground, cuda/nccl.md',
  } satisfies Source,
  topology: 'dgx-a100',
  rows: [
    { bytes: 134217728, us: 1211.2, busbw: 110.81 },
    { bytes: 268435456, us: 1423.3, busbw: 188.6 },
    { bytes: 536870912, us: 2785.4, busbw: 192.75 },
    { bytes: 1073741824, us: 5503.4, busbw: 195.1 },
  ] satisfies NcclRow[],
};
