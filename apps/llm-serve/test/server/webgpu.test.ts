/**
 * `tessera-serve --backend webgpu` (or `TESSERA_BACKEND=webgpu`): the embedded model served on this machine's WebGPU
 * adapter (in CI, Mesa's llvmpipe on the CPU) — the banner names the adapter, responses report the hardware as on the
 * simulators, and greedy tokens in f32 equal nvidia-sim's. Where no adapter exists the server refuses to start, saying
 * why, and the tests that need one skip with a visible message. Small shapes and few tokens: Dawn on a loaded 2-core
 * CI machine compiles every kernel's pipeline once, which takes seconds.
 */
import { getBackend } from '@tessera/device';
import { createEngine, type EngineOptions } from '@tessera/serve';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/load-model';
import { run, type ServeDeps, type ServingHandle } from '../../src/main';

const adapter = await getBackend('webgpu').then(
  (b) => ({ ok: true as const, id: b.catalog()[0]!.id, name: b.catalog()[0]!.name }),
  (e: Error) => ({ ok: false as const, reason: e.message }),
);
if (!adapter.ok) console.warn(`SKIP: tessera-serve on webgpu: ${adapter.reason}`);

// turbo passes TESSERA_BACKEND through from the caller's shell; these tests set it themselves.
const savedBackendEnv = process.env.TESSERA_BACKEND;
beforeEach(() => {
  delete process.env.TESSERA_BACKEND;
});
afterEach(() => {
  if (savedBackendEnv === undefined) delete process.env.TESSERA_BACKEND;
  else process.env.TESSERA_BACKEND = savedBackendEnv;
});

async function serveWith(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const calls: { engine?: EngineOptions } = {};
  let handle: ServingHandle | undefined;
  const deps: ServeDeps = {
    loadModel: async (path, options) => loadModel(path, options),
    createEngine: async (options) => {
      calls.engine = options;
      return createEngine(options);
    },
    onListening: (h) => {
      handle = h;
    },
  };
  const code = await run(argv, { out: (t) => out.push(t), err: (t) => err.push(t) }, deps);
  return { code, out: out.join('\n'), err: err.join('\n'), calls, handle };
}

const F32 = ['--dtype', 'float32', '--activation-dtype', 'float32', '--kv-cache-dtype', 'float32'];
const SMALL = ['--port', '0', '--max-num-seqs', '2', '--max-model-len', '128', '--disable-log-requests'];

interface Completion {
  choices: Array<{ text: string; token_ids: number[]; finish_reason: string }>;
  tessera: { hardware: string };
}

async function complete(h: ServingHandle): Promise<Completion> {
  const res = await fetch(`${h.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'tessera-tiny-llama',
      prompt: 'Hello, GPU',
      max_tokens: 4,
      temperature: 0,
      ignore_eos: true,
      return_token_ids: true,
    }),
  });
  const body = (await res.json()) as Completion;
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body;
}

describe('tessera-serve --backend webgpu', () => {
  it('starts on the adapter (flag or TESSERA_BACKEND) and the banner names it; without one it refuses, saying why', async () => {
    process.env.TESSERA_BACKEND = 'WebGPU'; // as the registry reads it: trimmed, any case
    const r = await serveWith(SMALL);
    expect(r.calls.engine).toMatchObject({ backend: 'webgpu', device: undefined, topology: undefined, tp: 1 });
    if (!adapter.ok) {
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/webgpu/);
      return;
    }
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    try {
      expect(r.out).toMatch(/^Hardware: 1× .*, webgpu-local, TP 1, /m);
      expect(r.out).toContain(adapter.name);
      expect(r.out).toMatch(new RegExp(`^  WebGPU: every kernel runs on this adapter \\(${adapter.id}\\)`, 'm'));
    } finally {
      await r.handle!.stop();
    }
    delete process.env.TESSERA_BACKEND;
    const flag = await serveWith([...SMALL, '--backend', 'webgpu', '--tp', '2']);
    expect(flag.calls.engine).toMatchObject({ backend: 'webgpu', tp: 2 });
    try {
      expect(flag.out).toMatch(/^Hardware: 2× .*, webgpu-localx2, TP 2, /m);
    } finally {
      await flag.handle!.stop();
    }
  });

  it('refuses a backend it does not know, from the flag or TESSERA_BACKEND', async () => {
    const flag = await serveWith([...SMALL, '--backend', 'cuda']);
    expect(flag.code).toBe(2);
    expect(flag.err).toMatch(/--backend <name>.*'cuda'.*nvidia-sim, ascend-sim, webgpu/);
    process.env.TESSERA_BACKEND = 'cuda';
    const env = await serveWith(SMALL);
    expect(env.code).toBe(2);
    expect(env.err).toMatch(/'cuda' from env 'TESSERA_BACKEND'/);
  });

  // Needs the tile kernels on webgpu (every operator of @tessera/kernels is one).
  it.runIf(adapter.ok)(
    'serves a short greedy completion of the embedded model whose tokens equal nvidia-sim’s in f32',
    async () => {
      const sim = await serveWith([...SMALL, ...F32, '--backend', 'nvidia-sim']);
      expect(sim.code, sim.err).toBe(0);
      let want: Completion;
      try {
        want = await complete(sim.handle!);
      } finally {
        await sim.handle!.stop();
      }
      expect(want.choices[0]!.token_ids).toHaveLength(4);
      const gpu = await serveWith([...SMALL, ...F32, '--backend', 'webgpu']);
      expect(gpu.code, gpu.err).toBe(0);
      try {
        const got = await complete(gpu.handle!);
        // A device fault ends the engine (the request finishes with "abort"): /health says why.
        const health = await (await fetch(`${gpu.handle!.url}/health`)).text();
        expect(got.choices[0]!.finish_reason, health).toBe('length');
        expect(got.choices[0]!.token_ids).toEqual(want.choices[0]!.token_ids);
        expect(got.choices[0]!.text).toBe(want.choices[0]!.text);
        expect(got.tessera.hardware).toMatch(/^1× .*, webgpu-local, TP 1, /);
        expect(got.tessera.hardware).toContain(adapter.ok ? adapter.name : '');
      } finally {
        await gpu.handle!.stop();
      }
    },
  );
});
