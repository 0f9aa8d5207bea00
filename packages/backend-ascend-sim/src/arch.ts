/**
 * Architecture constants of the timing model for the DaVinci AI core (see `@tessera/device/model`, kernel-time.ts).
 */
import type { ArchParameters } from '@tessera/device/model';

export const DAVINCI: ArchParameters = {
  /**
   * Kernel launch: the smallest custom Ascend C kernel times published for the 910B2 are ≈ 20 µs end to end
   * (CANN 8.5, ops-transformer `mhc_post` performance table, 0.021 ms for a ~10 MB problem whose data moves in
   * ≈ 6 µs); we take 12 µs of fixed launch overhead — about three times a GPU's.
   */
  launchUs: 12,
  /** HBM latency: no public Ascend figure; HBM2e behind a large L2 is taken as on GPUs (≈ 0.5 µs). */
  dramLatencyUs: 0.5,
  /** Sustained fraction of HBM bandwidth: the same HBM efficiency as on GPUs (≈ 90 %, see the nvidia-sim docs). */
  dramEfficiency: 0.9,
  /**
   * Cube utilisation: AIBench (Xiao & Wang, CCF THPC 2024) measures the Ascend 910's matrix unit at 216 of 256
   * TFLOPS FP16 (84 %) with its best data-movement mode. The 910B keeps the DaVinci Cube design.
   */
  matrixUtilization: 0.84,
  /**
   * Bytes per clock an AI core's MTE2 engine moves from GM (L2/HBM) into L1 or the Unified Buffer: no public figure.
   * We take 128 B/clk (≈ 230 GB/s per core at 1.8 GHz; 24 cores draw ≈ 5.5 TB/s from L2, 3.5× HBM), the smallest
   * value at which CANN's standard 128×256×64 base block keeps the Cube busy — as CANN's matmul is reported to do.
   */
  unitLoadBytesPerClock: 128,
};
