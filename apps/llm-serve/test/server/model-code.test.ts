/**
 * A model's own code over HTTP: a pre-tokenizer regex that backtracks catastrophically, a chat template that loops
 * 10⁸ times and one that does not parse. Each request that trips them gets a 500 naming the model's tokenizer or
 * template (the client is not at fault), /health stays 200, and the next request is served.
 */
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createEngine } from '@tessera/serve';
import { afterAll, describe, expect, it } from 'vitest';
import { EMBEDDED_TOKENIZER_CONFIG } from '../../src/embedded/tokenizer';
import { loadModel } from '../../src/load-model';
import { createServer } from '../../src/server/app';
import { embeddedTokenizerJson, hfModelFiles, writeFiles } from '../formats/samples';
import { expectError, type Json, post } from '../support/http';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Serves a small HF model whose tokenizer.json and chat template are the given ones. */
async function serve(chatTemplate: string) {
  const json = embeddedTokenizerJson();
  json['pre_tokenizer'] = {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: '(a|aa)+$' }, behavior: 'Isolated', invert: false },
      json['pre_tokenizer'],
    ],
  };
  const files = hfModelFiles({}, json);
  files['tokenizer_config.json'] = JSON.stringify({ ...EMBEDDED_TOKENIZER_CONFIG, chat_template: chatTemplate });
  const dir = writeFiles(fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-model-code-')), files);
  dirs.push(dir);
  // Deadlines of 2 s instead of 250 ms: the honest requests after each refusal must not trip them on a loaded CI
  // machine (a deadline is wall time); the catastrophic regex still stops at its deadline, and the template's loop at
  // its step budget.
  const model = await loadModel(dir, { budget: { tokenizerMs: 2000, chatTemplateMs: 2000 } });
  const engine = await createEngine({ model, maxNumSeqs: 4, maxNumBatchedTokens: 64 });
  const server = createServer({ engine });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await engine.shutdown();
    },
  };
}

async function expectServing(base: string): Promise<void> {
  expect((await fetch(`${base}/health`)).status).toBe(200);
  // ignore_eos: the untrained model samples end-of-text now and then (unseeded), which would end the request early.
  const ok = await post(base, '/v1/completions', { prompt: 'hello there', max_tokens: 2, ignore_eos: true });
  expect(ok.status).toBe(200);
  expect(((await ok.json()) as Json).choices[0].finish_reason).toBe('length');
}

describe("the model's own code over HTTP", () => {
  it('a catastrophic pre-tokenizer regex and a 10⁸-step template: 500 naming the model, then served', async () => {
    const s = await serve('{% for i in range(100000000) %}x{% endfor %}');
    try {
      const slow = await post(s.base, '/v1/completions', { prompt: `${'a'.repeat(40)}!`, max_tokens: 2 });
      expect((await expectError(slow, 500)).message).toMatch(/^The model's tokenizer exceeded its budget/);
      await expectServing(s.base);

      const chat = await post(s.base, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] });
      expect((await expectError(chat, 500)).message).toMatch(/^The model's chat template exceeded its budget/);
      await expectServing(s.base);
    } finally {
      await s.close();
    }
  }, 120_000);

  it('a template that does not parse is the model’s fault: 500, not 400', async () => {
    const s = await serve('{% for %}');
    try {
      const chat = await post(s.base, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] });
      expect((await expectError(chat, 500)).message).toMatch(/chat template does not parse/);
      await expectServing(s.base);
    } finally {
      await s.close();
    }
  }, 120_000);
});
