/**
 * Architecture constants of the timing model (see `@tessera/device/model`, kernel-time.ts). Everything else about a
 * device comes from its catalogue entry. Each constant says where it comes from.
 */
import type { ArchParameters } from '@tessera/device/model';

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
  };
}
