/**
 * The engine on `backend: 'webgpu'`: this machine's adapter (in CI, Mesa's llvmpipe), in the `webgpu-local` topology
 * by default (`webgpu-localxN` for TP N: ranks sharing the adapter). Where no adapter exists the engine refuses with
 * the reason, and the tests that need one skip with a visible message.
 */
import { getBackend } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import { createEngine, type EngineOptions } from '../../src/engine/index';
import type { RequestOutput } from '../../src/types';
import { testModel } from '../support/model';
import { samplingParams } from '../support/params';

const model = testModel();

/** Whether the webgpu backend can open an adapter here, and why not. */
const adapter = await getBackend('webgpu').then(
  (b) => ({ ok: true as const, id: b.catalog()[0]!.id }),
  (e: Error) => ({ ok: false as const, reason: e.message }),
);
if (!adapter.ok) console.warn(`SKIP: the engine on webgpu: ${adapter.reason}`);

const engineOn = (o: Partial<EngineOptions>) =>
  createEngine({ model, maxNumSeqs: 2, maxNumBatchedTokens: 64, maxModelLen: 256, ...o });

async function greedy(engine: Awaited<ReturnType<typeof createEngine>>, maxTokens: number): Promise<number[]> {
  const ids = model.tokenizer.encode('Hello, GPU');
  const outs: RequestOutput[] = [];
  for await (const o of engine.generate({ requestId: 'g', promptTokenIds: ids, params: samplingParams({ maxTokens }) }))
    outs.push(o);
  // A device fault ends the engine and aborts the request: say why instead of comparing empty token lists.
  expect(outs.at(-1)?.finishReason, engine.failure ?? '').toBe('length');
  return outs.flatMap((o) => o.tokenIds);
}

describe('createEngine({ backend: "webgpu" })', () => {
  it('picks webgpu-local and the adapter; TP 2 is two ranks sharing it (webgpu-localx2); no adapter: refuses, saying why', async () => {
    if (!adapter.ok) {
      await expect(engineOn({ backend: 'webgpu' })).rejects.toThrow(/webgpu/);
      return;
    }
    const id = adapter.id;
    const one = await engineOn({ backend: 'webgpu' });
    expect(one.hardware).toMatch(/^1× .*, webgpu-local, TP 1, /);
    const props = (await getBackend('webgpu')).catalog()[0]!;
    expect(props.id).toBe(id);
    expect(one.hardware).toContain(props.name);
    await one.shutdown();
    const two = await engineOn({ backend: 'webgpu', tp: 2 });
    expect(two.hardware).toMatch(/^2× .*, webgpu-localx2, TP 2, /);
    await two.shutdown();
    await expect(engineOn({ backend: 'webgpu', topology: 'dgx-h100' })).rejects.toThrow(
      /'dgx-h100' is a nvidia-sim system, but --backend is webgpu/,
    );
  });

  // Needs the tile kernels on webgpu (every operator of @tessera/kernels is one).
  it.runIf(adapter.ok)('greedy tokens in f32 equal nvidia-sim’s, at TP 1 and TP 2 on the one adapter', async () => {
    const f32 = { dtype: 'float32', activationDtype: 'float32', kvCacheDtype: 'float32' } as const;
    const sim = await engineOn({ backend: 'nvidia-sim', ...f32 });
    const want = await greedy(sim, 4);
    await sim.shutdown();
    expect(want).toHaveLength(4);
    for (const tp of [1, 2]) {
      const gpu = await engineOn({ backend: 'webgpu', tp, ...f32 });
      expect(await greedy(gpu, 4), `TP ${tp}`).toEqual(want);
      await gpu.shutdown();
    }
  });
});
