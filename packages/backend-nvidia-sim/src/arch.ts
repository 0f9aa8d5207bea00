/**
 * Architecture constants of the timing model (see `@tessera/device/model`, kernel-time.ts). Everything else about a
 * device comes from its catalogue entry. Each constant says where it comes from.
 */
import type { ArchParameters, SimtArchParameters } from '@tessera/device/model';

/**
 * Per-kernel launch overhead: "kernel launch ≈ 3–6 µs" (NVIDIA forum and Nsight measurements of back-to-back launches
 * of empty kernels, including the driver's submission); we take 4 µs for every generation.
 */
const LAUNCH_US = 4;

/**
 * HBM access latency ≈ 400–600 ns under load (pointer-chasing microbenchmarks, e.g. chipsandcheese's A100 and H100
 * articles; "Dissecting the NVIDIA Hopper Architecture through Microbenchmarking", Luo et al. 2024).
 */
const DRAM_LATENCY_US = 0.5;

/**
 * Sustained fraction of peak HBM bandwidth for streaming access: a 1 GiB device-to-device copy on H100 SXM measures
 * ≈ 3.02 TB/s of 3.35 (90 %); BabelStream Copy on A100 reaches ≈ 88–91 % of 2.04 TB/s. We use 0.90 for all HBM.
 */
const DRAM_EFFICIENCY = 0.9;

/**
 * Matrix utilisation: the fraction of the Tensor Cores' datasheet peak a well-fed GEMM main loop sustains, after the
 * effects the model computes itself (waves, pipeline fill and drain, memory). It lumps together clock behaviour under
 * full tensor load (the datasheets quote peak at the highest tensor boost clock; a 700 W H100 settles lower) and issue
 * bubbles. It is the one calibrated constant per architecture: fitted so that the model, with the tile cuBLAS uses,
 * reproduces cuBLAS on 8192³ BF16 — 794 of 989 TFLOP/s on H100 SXM, 271 of 312 on A100 SXM4 (NVIDIA-reported
 * measurements quoted in the project's calibration points). Every other shape, dtype and device of the architecture
 * is then a prediction. Blackwell has no public calibration point yet: it inherits Hopper's (TMA + asynchronous MMA).
 */
const MATRIX_UTILIZATION = { ampere: 0.88, hopper: 0.84, blackwell: 0.84 };

/**
 * Bytes per clock one SM moves from L2 into shared memory. A100: the whitepaper's 5120 B/clk of L2 bandwidth over
 * 108 SMs ≈ 47 B/clk/SM. H100: measured L2 bandwidth ≈ 12 TB/s over 132 SMs at 1.98 GHz ≈ 46 B/clk/SM. Blackwell: no
 * public L2 figure; its paired-SM MMA (cta_group::2) with TMA multicast halves each SM's operand traffic per FLOP, which
 * we model as twice Hopper's per-SM path (an assumption, stated as such in the docs).
 */
const LOAD_BYTES_PER_CLOCK = { ampere: 47, hopper: 46, blackwell: 92 };

/**
 * How SIMT warps use an SM, the same for compute capability 8.0–10.0 (docs/model.md, "SIMT kernels"):
 * - issuePerClock 4: an SM has four warp schedulers, each issuing one warp instruction per clock (CUDA C++
 *   Programming Guide, "Compute Capability 8.x / 9.0: architecture"; the A100 and H100 whitepapers' SM diagrams).
 * - l1WavefrontsPerClock 1: shared memory has 32 banks of 4 bytes, each serving one 32-bit word per clock, so one
 *   conflict-free warp access (a wavefront) per clock; an access whose lanes hit n distinct words of one bank takes n
 *   (CUDA C++ Programming Guide, "Shared Memory", compute capability 5.x and later). L1 and shared memory are one
 *   on-chip array with one data path, so each 128-byte line of a global access takes a wavefront too (an assumption
 *   from that unified design: one line's tag and data per clock).
 * - l2RequestBytes 128: the L1 asks L2 for whole 128-byte lines' worth of its 32-byte sectors; we charge each request
 *   a full line's slot on the SM's load path, however few sectors it carries. An assumption, chosen against the one
 *   measurement of scattered single-sector traffic on Hopper we found: a naive transpose (one 32-byte sector per lane
 *   of every store) on H100 at ≈475 GB/s, 14 % of peak (yencal.github.io, "Optimizing GPU Matrix Transpose: From 14% to 88% of Peak Bandwidth");
 *   charging sectors alone would model it at ≈85 % of peak.
 * - atomicUpdatesPerClock 1: updates of one address are performed one after another by the L2 slice that holds it,
 *   one per clock (an assumption: NVIDIA publishes no atomic throughput; same-address atomics serialising is the CUDA
 *   guide's own advice for using warp-aggregated atomics).
 */
const SIMT: SimtArchParameters = {
  issuePerClock: 4,
  l1WavefrontsPerClock: 1,
  l2RequestBytes: 128,
  atomicUpdatesPerClock: 1,
};

export type NvidiaArch = keyof typeof MATRIX_UTILIZATION;

export function archOf(computeCapability: string): NvidiaArch {
  const major = Number.parseInt(computeCapability, 10);
  if (major >= 10) return 'blackwell';
  if (major >= 9) return 'hopper';
  return 'ampere';
}

export function archParameters(arch: NvidiaArch): ArchParameters {
  return {
    launchUs: LAUNCH_US,
    dramLatencyUs: DRAM_LATENCY_US,
    dramEfficiency: DRAM_EFFICIENCY,
    matrixUtilization: MATRIX_UTILIZATION[arch],
    unitLoadBytesPerClock: LOAD_BYTES_PER_CLOCK[arch],
    simt: SIMT,
  };
}
