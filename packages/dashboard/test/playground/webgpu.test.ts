/**
 * runOnWebGpu against Dawn (a real WebGPU implementation: Mesa's llvmpipe through OpenGL ES here, a real GPU through
 * Vulkan where there is one): the same seeded inputs as the simulators, results compared with the CPU simulator's
 * and with the float64 reference. Skips, with the reason, where Dawn finds no adapter.
 */
import { describe, expect, it } from 'vitest';
import {
  BLOCK_REDUCE_TEMPLATE,
  modelAcrossDevices,
  OFF_BY_ONE_TEMPLATE,
  parsePlayground,
  runOnWebGpu,
  runPlayground,
  SOFTMAX_TEMPLATE,
  VECTOR_ADD_TEMPLATE,
  type WebGpuLike,
} from '../../ui/src/playground/index';
import { openDawn } from './dawn';
import { issueOf, lineOf } from './helpers';

/** The Dawn GPU, or a skip of this test with the reason. */
async function gpuOrSkip(skip: (note?: string) => never): Promise<WebGpuLike> {
  const d = await openDawn();
  if ('reason' in d) skip(`WebGPU unavailable: ${d.reason}`);
  return (d as { gpu: WebGpuLike }).gpu;
}

/** max |a − b| / max |b|: how far the GPU's output is from the CPU simulator's. */
function distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

describe('runOnWebGpu (Dawn)', () => {
  it.for([
    ['vector add', VECTOR_ADD_TEMPLATE, 0],
    ['softmax', SOFTMAX_TEMPLATE, 1e-6],
    ['block reduction (SIMT, shared memory, barriers)', BLOCK_REDUCE_TEMPLATE, 1e-6],
  ] as const)('%s matches the CPU simulator and the reference', async ([, source, tolerance], ctx) => {
    const gpu = await gpuOrSkip(ctx.skip);
    const p = parsePlayground(source);
    const onGpu = await runOnWebGpu(p, gpu, { modelOn: 'h100' });
    expect(onGpu.error).toBeNull();
    expect(onGpu.ok).toBe(true);
    expect(onGpu.adapterName.length).toBeGreaterThan(0);
    expect(onGpu.measuredMs).toBeGreaterThan(0);
    expect(['timestamp-query', 'host-wall']).toContain(onGpu.measuredBy);
    expect(onGpu.relError!).toBeLessThan(1e-5);
    const onCpu = await runPlayground(p, { deviceId: 'h100' });
    expect(onCpu.ok).toBe(true);
    expect(onGpu.outputValues!.length).toBe(onCpu.outputValues!.length);
    // exp on the GPU is not the CPU's Math.exp: softmax may differ in the last bits; adds and sums may not.
    expect(distance(onGpu.outputValues!, onCpu.outputValues!)).toBeLessThanOrEqual(tolerance);
    // The modelled time beside is the model's own figure for that device.
    const h100 = (await modelAcrossDevices(p)).rows.find((r) => r.deviceId === 'h100')!;
    expect(onGpu).toMatchObject({ modelledOn: 'h100', modelledMs: h100.ms });
  });

  it("a kernel's out-of-bounds read comes back from the GPU's fault record, naming the buffer and the line", async (ctx) => {
    const gpu = await gpuOrSkip(ctx.skip);
    const r = await runOnWebGpu(parsePlayground(OFF_BY_ONE_TEMPLATE), gpu);
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ kind: 'fault', code: 'IllegalAddress' });
    expect(r.error!.message).toMatch(/of buffer '(x|dx)' at index (4096|4095) is out of bounds/);
    expect(r.error!.line).toBe(lineOf(OFF_BY_ONE_TEMPLATE, 'if (i < n) dx.set(i, x.get(i + 1) - x.get(i))'));
    expect(r.outputValues).toBeNull();
  });

  it('what WGSL cannot express is refused as unsupported, before anything runs', async (ctx) => {
    const gpu = await gpuOrSkip(ctx.skip);
    const src = `const k = simtKernel({ name: 'wide', params: { x: 'ptr<f32>', n: 'i64' } }, (k, { x, n }) => {
  const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
  if (i < n) x.set(i, 1);
});
return { kernel: k, grid: 1, block: 64, buffers: { x: { dtype: 'f32', length: 64 } }, scalars: { n: 64 } };`;
    const issue = await issueOf(() => runOnWebGpu(parsePlayground(src), gpu));
    expect(issue.kind).toBe('unsupported');
    expect(issue.message).toMatch(/i64/);
  });
});

describe('runOnWebGpu without a GPU', () => {
  it('no navigator.gpu: a clear error', async () => {
    const issue = await issueOf(() => runOnWebGpu(parsePlayground(VECTOR_ADD_TEMPLATE), undefined as never));
    expect(issue).toMatchObject({ kind: 'environment' });
    expect(issue.message).toMatch(/no WebGPU/);
  });

  it('no adapter: a clear error', async () => {
    const gpu: WebGpuLike = { requestAdapter: async () => null };
    const issue = await issueOf(() => runOnWebGpu(parsePlayground(VECTOR_ADD_TEMPLATE), gpu));
    expect(issue).toMatchObject({ kind: 'environment' });
    expect(issue.message).toMatch(/found no GPU adapter/);
  });
});
