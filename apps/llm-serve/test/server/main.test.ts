/**
 * The serve command: flags become engine options (with the per-backend defaults), the banner says what is served
 * and how to call it, and the server answers. The real loader and engine run; the test only records what they were
 * asked for on the way through.
 */

import { createEngine, type EngineOptions } from '@tessera/serve';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/load-model';
import { run, type ServeDeps, type ServingHandle } from '../../src/main';
import { DEFAULT_MODEL_CODE_BUDGET } from '../../src/tokenizer/budget';

async function serveWith(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const calls: { load?: [string, unknown]; engine?: EngineOptions } = {};
  let handle: ServingHandle | undefined;
  const deps: ServeDeps = {
    loadModel: async (path, options) => {
      calls.load = [path, options];
      return loadModel(path, options);
    },
    createEngine: async (options) => {
      calls.engine = options;
      return createEngine(options);
    },
    onListening: (h) => {
      handle = h;
    },
  };
  const code = await run(argv, { out: (t) => out.push(t), err: (t) => err.push(t) }, deps);
  return { code, out, err, calls, handle };
}

describe('tessera-serve (default command)', () => {
  it('maps flags to engine options, prints the banner, and serves', async () => {
    const r = await serveWith([
      '--port',
      '0',
      '--max-num-seqs',
      '4',
      '--served-model-name',
      'served',
      '--api-key',
      'k3y',
      '--no-enable-prefix-caching',
      '--disable-log-requests',
    ]);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.calls.load).toEqual([
      'embedded',
      {
        budget: {
          tokenizerMs: DEFAULT_MODEL_CODE_BUDGET.tokenizerMs,
          chatTemplateMs: DEFAULT_MODEL_CODE_BUDGET.chatTemplateMs,
        },
      },
    ]);
    expect(r.calls.engine).toMatchObject({
      backend: 'nvidia-sim',
      device: 'h100',
      tp: 1,
      dtype: 'auto',
      activationDtype: 'auto',
      kvCacheDtype: 'auto',
      tpInvariant: false,
      maxNumSeqs: 4,
      maxNumBatchedTokens: 2048,
      blockSize: 16,
      enablePrefixCaching: false,
      maxWaiting: 256,
      gpuMemoryUtilization: 0.9,
    });
    const h = r.handle!;
    try {
      const text = r.out.join('\n');
      expect(text).toMatch(/^Model: served \(embedded; 4 layers/m);
      expect(text).toMatch(/UNTRAINED random weights/);
      expect(text).toMatch(/^Hardware: /m);
      expect(text).toMatch(/^KV cache: \d+ blocks × 16 tokens = \d+ tokens/m);
      expect(text).toContain(`Serving on ${h.url}`);
      expect(text).toContain(`curl ${h.url}/v1/chat/completions`);
      expect(text).toContain('Authorization: Bearer $TESSERA_API_KEY');
      expect(text).not.toContain('k3y');
      const res = await fetch(`${h.url}/v1/models`, { headers: { authorization: 'Bearer k3y' } });
      expect(((await res.json()) as { data: Array<{ id: string }> }).data[0]!.id).toBe('served');
    } finally {
      await h.stop();
    }
  });

  it('passes the hardening flags to the server and the loader', async () => {
    const r = await serveWith([
      '--port',
      '0',
      '--max-n',
      '2',
      '--max-prompts',
      '3',
      '--api-key',
      'k3y',
      '--protect-metrics',
      '--model-code-timeout',
      '400',
      '--headers-timeout',
      '5',
      '--request-timeout',
      '7',
      '--max-connections',
      '9',
      '--disable-log-requests',
    ]);
    expect(r.err).toEqual([]);
    expect(r.calls.load).toEqual(['embedded', { budget: { tokenizerMs: 400, chatTemplateMs: 400 } }]);
    const h = r.handle!;
    try {
      expect(h.server.headersTimeout).toBe(5000);
      expect(h.server.requestTimeout).toBe(7000);
      expect(h.server.maxConnections).toBe(9);
      const auth = { authorization: 'Bearer k3y', 'content-type': 'application/json' };
      const post = (body: unknown) =>
        fetch(`${h.url}/v1/completions`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
      expect((await post({ prompt: 'x', n: 3, max_tokens: 1 })).status).toBe(400);
      expect((await post({ prompt: ['a', 'b', 'c', 'd'], max_tokens: 1 })).status).toBe(400);
      expect((await post({ prompt: ['a', 'b', 'c'], n: 2, max_tokens: 1 })).status).toBe(200);
      expect((await fetch(`${h.url}/metrics`)).status).toBe(401);
    } finally {
      await h.stop();
    }
  });

  it('defaults the device per backend and passes the other flags through', async () => {
    const r = await serveWith([
      '--port',
      '0',
      '--backend',
      'ascend-sim',
      '--tp',
      '2',
      '--dtype',
      'float16',
      '--max-model-len',
      '512',
      '--num-gpu-blocks-override',
      '100',
      '--tokenizer',
      '/tmp/tok.json',
      '--disable-log-requests',
    ]);
    expect(r.code).toBe(0);
    expect(r.calls.load).toEqual([
      'embedded',
      {
        tokenizer: '/tmp/tok.json',
        budget: {
          tokenizerMs: DEFAULT_MODEL_CODE_BUDGET.tokenizerMs,
          chatTemplateMs: DEFAULT_MODEL_CODE_BUDGET.chatTemplateMs,
        },
      },
    ]);
    expect(r.calls.engine).toMatchObject({
      backend: 'ascend-sim',
      device: '910b2',
      tp: 2,
      dtype: 'float16',
      maxModelLen: 512,
      numGpuBlocksOverride: 100,
      enablePrefixCaching: true,
    });
    await r.handle!.stop();
  });

  it('passes the precision flags through, and the banner names the policy', async () => {
    const r = await serveWith([
      '--port',
      '0',
      '--tp',
      '2',
      '--activation-dtype',
      'float32',
      '--kv-cache-dtype',
      'float32',
      '--tp-invariant',
      '--disable-log-requests',
    ]);
    expect(r.err).toEqual([]);
    expect(r.calls.engine).toMatchObject({ activationDtype: 'float32', kvCacheDtype: 'float32', tpInvariant: true });
    expect(r.out.join('\n')).toMatch(
      /^Hardware: 2× .*, TP 2 \(TP-invariant\), bf16 weights, f32 activations, f32 KV cache$/m,
    );
    await r.handle!.stop();
  });

  it.each([
    [['--kv-cache-dtype', 'fp8'], /option '--kv-cache-dtype <dtype>' argument 'fp8' is invalid/],
    [['--activation-dtype', 'half'], /option '--activation-dtype <dtype>' argument 'half' is invalid/],
    // bf16 weights (the embedded model) cannot meet f16 activations in a GEMM.
    [['--activation-dtype', 'float16'], /^error: --activation-dtype float16 with bf16 weights: .*--dtype float16/],
  ])('refuses %j with one line and exit status 2', async (argv, message) => {
    const err: string[] = [];
    const code = await run([...argv, '--port', '0'], { out: () => {}, err: (t) => err.push(t) });
    expect(code).toBe(2);
    expect(err).toEqual([expect.stringMatching(message)]);
  });

  it('reports engine refusals of flag values on one line with exit status 2', async () => {
    const err: string[] = [];
    const code = await run(['--tp', '16'], { out: () => {}, err: (t) => err.push(t) });
    expect(code).toBe(2);
    expect(err).toEqual([expect.stringMatching(/^error: --tp 16: topology 'dgx-h100' has 8 devices\.$/)]);
  });
});
