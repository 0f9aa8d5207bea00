/**
 * The timing model against measurements on real hardware (see the backends' docs): cuBLAS BF16 8192³ reaches
 * 794 TFLOP/s on H100 SXM and 271 on A100 SXM4; a streaming copy reaches 85–92 % of HBM bandwidth; small GEMMs are
 * dominated by launch latency.
 */
import { createAscendSimBackend } from '@tessera/backend-ascend-sim';
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
import { type Backend, createRuntime } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import { copy, gemm } from '../src/index';

async function gemmTflops(backend: Backend, id: string, S: number, dtype: 'bf16' = 'bf16') {
  const dev = (await createRuntime({ backend, devices: id, mode: 'timing' })).device(0);
  const [a, b, c] = [dev.alloc(dtype, S * S), dev.alloc(dtype, S * S), dev.alloc(dtype, S * S)];
  const r = gemm(dev, { a, b, c, M: S, N: S, K: S });
  return { tflops: (2 * S ** 3) / (r.ms * 1e-3) / 1e12, r, peak: dev.properties.peakTflops.matrix.bf16! };
}

describe('calibration', () => {
  it('BF16 8192³ GEMM lands within ±10 % of cuBLAS on H100 and A100', async () => {
    const nv = createNvidiaSimBackend();
    const h100 = await gemmTflops(nv, 'h100', 8192);
    const a100 = await gemmTflops(nv, 'a100', 8192);
    expect(h100.tflops).toBeGreaterThan(794 * 0.9);
    expect(h100.tflops).toBeLessThan(794 * 1.1);
    expect(a100.tflops).toBeGreaterThan(271 * 0.9);
    expect(a100.tflops).toBeLessThan(271 * 1.1);
    expect(h100.r.timing.bound).toBe('matrix');
  });

  it('other devices follow from the same model: compute-bound below their peak', async () => {
    for (const [backend, id] of [
      [createNvidiaSimBackend(), 'h200'],
      [createNvidiaSimBackend(), 'b200'],
      [createAscendSimBackend(), '910b2'],
      [createAscendSimBackend(), '910c'],
    ] as const) {
      const { tflops, peak, r } = await gemmTflops(backend, id, 8192);
      expect(tflops / peak, id).toBeGreaterThan(0.6);
      expect(tflops / peak, id).toBeLessThan(0.9);
      expect(r.timing.bound, id).toBe('matrix');
    }
  });

  it('a 4 GiB streaming copy reaches 85–92 % of HBM bandwidth on every device', async () => {
    for (const backend of [createNvidiaSimBackend(), createAscendSimBackend()]) {
      for (const d of backend.catalog()) {
        const dev = (await createRuntime({ backend, devices: d.id, mode: 'timing' })).device(0);
        const bytes = 4 * 1024 ** 3;
        const r = copy(dev, dev.alloc('u8', bytes), dev.alloc('u8', bytes));
        const eff = (2 * bytes) / (r.ms * 1e6) / d.memoryBandwidthGBs;
        expect(eff, d.id).toBeGreaterThan(0.85);
        expect(eff, d.id).toBeLessThan(0.92);
      }
    }
  });

  it('a 256³ GEMM is far below peak and dominated by launch latency', async () => {
    for (const [backend, id] of [
      [createNvidiaSimBackend(), 'h100'],
      [createNvidiaSimBackend(), 'a100'],
      [createAscendSimBackend(), '910b2'],
    ] as const) {
      const { tflops, peak, r } = await gemmTflops(backend, id, 256);
      expect(tflops / peak, id).toBeLessThan(0.05);
      expect(r.timing.bound, id).toBe('latency');
      expect(r.timing.breakdown.launch! / (r.ms * 1000), id).toBeGreaterThan(0.4);
    }
  });
});
