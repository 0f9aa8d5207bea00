import { createAscendSimBackend } from '@tessera/backend-ascend-sim';
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
import { createWebGpuBackend, webgpuAvailability } from '@tessera/backend-webgpu';
import { createRuntime, type Device, TesseraError } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import { runMatrixMul, runReduction, type SampleResult, samples } from '../src/index';

const targets = [
  { backend: createNvidiaSimBackend, device: 'h100' },
  { backend: createAscendSimBackend, device: '910b2' },
];

function expectChecked(r: SampleResult): void {
  expect(r.variants.length).toBeGreaterThan(0);
  for (const v of r.variants) {
    expect(Number.isFinite(v.relError), `${v.name}: was not checked`).toBe(true);
    expect(v.ok, `${v.name}: relative error ${v.relError}`).toBe(true);
    expect(v.modelledMs).toBeGreaterThan(0);
  }
  expect(r.ok).toBe(true);
}

for (const t of targets) {
  describe(`CUDA samples on ${t.device}`, () => {
    for (const run of samples) {
      it(`${run.name} checks every kernel's result and reports a modelled time`, async () => {
        const rt = await createRuntime({ backend: t.backend(), devices: t.device });
        expectChecked(run(rt.device(0)));
      });
    }

    it('matrixMul at 2048³ (timing-only): t.dot on f16 models far faster than the SIMT kernel', async () => {
      const rt = await createRuntime({ backend: t.backend(), devices: t.device, mode: 'timing' });
      const [simt, tileF32, tileF16] = runMatrixMul(rt.device(0), 2048, 2048, 2048).variants;
      expect(simt!.modelledMs / tileF16!.modelledMs).toBeGreaterThan(5);
      expect(tileF32!.modelledMs).toBeLessThan(simt!.modelledMs);
      expect(tileF16!.modelledMs).toBeLessThan(tileF32!.modelledMs);
    });
  });
}

// The same samples on the WebGPU adapter (on a machine without a GPU, Mesa's software rasteriser): computed by the
// GPU through the IR → WGSL lowering, each launch also carrying what the GPU measured. Warp intrinsics lower to
// subgroup operations, so reduceShfl runs only on an adapter with the `subgroups` feature; elsewhere its launch is a
// clear Unsupported, and the reduction sample's other kernels are checked without it.
const gpu = webgpuAvailability();
if (!gpu.ok) console.warn(`SKIP: CUDA samples on webgpu: ${gpu.reason}`);
const subgroups = gpu.ok && gpu.adapter.features.includes('subgroups') && gpu.adapter.subgroupSize !== null;
if (gpu.ok && !subgroups)
  console.warn(
    `SKIP: reduceShfl on webgpu: the adapter (${gpu.adapter.device || gpu.adapter.description}) lacks the 'subgroups' feature; its Unsupported error is checked instead`,
  );

describe.runIf(gpu.ok)('CUDA samples on webgpu', () => {
  async function device(): Promise<{ dev: Device; expectMeasured: () => void }> {
    const rt = await createRuntime({ backend: await createWebGpuBackend(), profile: true });
    return {
      dev: rt.device(0),
      expectMeasured() {
        const kernels = rt.profiler.records.filter((a) => a.kind === 'kernel');
        expect(kernels.length).toBeGreaterThan(0);
        for (const k of kernels) expect(k.args?.measuredMs, `${k.name}: measured time`).toBeGreaterThan(0);
      },
    };
  }

  for (const run of samples) {
    // Without subgroups the reduction sample's reduceShfl cannot run: the two tests below cover it.
    it.skipIf(run === runReduction && !subgroups)(
      `${run.name} checks every kernel's result and reports a modelled time`,
      async () => {
        const { dev, expectMeasured } = await device();
        expectChecked(run(dev));
        expectMeasured();
      },
    );
  }

  it.runIf(!subgroups)(
    'runReduction: reduceShfl (warp shuffles) is a clear Unsupported on an adapter without subgroups',
    async () => {
      const { dev } = await device();
      expect(dev.properties.warpSize).toBeGreaterThanOrEqual(32); // so the sample includes reduceShfl
      let caught: unknown;
      try {
        runReduction(dev);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(TesseraError);
      expect((caught as TesseraError).code).toBe('Unsupported');
      expect((caught as TesseraError).message).toMatch(/kernel 'reduceShfl'.*'subgroups' feature/);
    },
  );

  it.runIf(!subgroups)(
    "runReduction without reduceShfl checks every other kernel's result and reports a modelled time",
    async () => {
      const { dev, expectMeasured } = await device();
      const r = runReduction(dev, undefined, false);
      expect(r.variants.some((v) => /reduceShfl/.test(v.name))).toBe(false);
      expectChecked(r);
      expectMeasured();
    },
  );
});
