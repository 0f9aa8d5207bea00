/**
 * The dashboard's API over HTTP on a TP-2 engine (embedded model, dgx-h100): the model card, the live step stream,
 * the trace download, the cluster view's utilisation, the API-key rule of /api/*, and the dashboard's files.
 */
import type { AddressInfo } from 'node:net';
import type { ClusterView, EngineSnapshot, InfoResponse, StepEvent } from '@tessera/dashboard';
import { dashboardBuilt } from '@tessera/dashboard';
import { createEngine, type LLMEngine } from '@tessera/serve';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/load-model';
import { run, type ServingHandle } from '../../src/main';
import { createServer } from '../../src/server/app';
import { expectError, type Json, post } from '../support/http';
import { waitFor } from '../support/server';

const KEY = 'dash-k3y';
const auth = { authorization: `Bearer ${KEY}` };
let baseUrl = '';
let engine: LLMEngine;
let close: () => Promise<void>;

beforeAll(async () => {
  const model = await loadModel('embedded');
  engine = await createEngine({ model, tp: 2, maxNumSeqs: 8, maxNumBatchedTokens: 256, maxModelLen: 512 });
  const server = createServer({ engine, apiKey: KEY });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await engine.shutdown();
  };
});
afterAll(() => close());

const chat = (maxTokens: number) =>
  post(
    baseUrl,
    '/v1/chat/completions',
    { model: engine.model.id, messages: [{ role: 'user', content: 'Hello there' }], max_tokens: maxTokens },
    auth,
  );

/** Reads named server-sent events off a fetch body as they arrive. */
class EventReader {
  private buffer = '';
  private readonly decoder = new TextDecoder();
  readonly comments: string[] = [];
  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  async next(): Promise<{ event: string; data: Json }> {
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        if (block.startsWith(':')) {
          this.comments.push(block);
          continue;
        }
        const lines = block.split('\n');
        expect(lines).toHaveLength(2);
        expect(lines[0]).toMatch(/^event: (snapshot|step)$/);
        expect(lines[1]!.startsWith('data: ')).toBe(true);
        return { event: lines[0]!.slice('event: '.length), data: JSON.parse(lines[1]!.slice('data: '.length)) };
      }
      const { value, done } = await this.reader.read();
      if (done) throw new Error('the event stream ended');
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }
}

describe('GET /api/info', () => {
  it('describes the model as the dashboard shows it, untrained, and says the key is required', async () => {
    const res = await fetch(`${baseUrl}/api/info`);
    expect(res.status).toBe(200);
    const info = (await res.json()) as InfoResponse;
    const c = engine.model.config;
    expect(info).toEqual({
      mode: 'serve',
      apiKeyRequired: true,
      model: {
        id: engine.model.id,
        description: engine.model.description,
        format: 'embedded',
        source: engine.model.source,
        untrained: true,
        hardware: engine.hardware,
        layers: c.numLayers,
        hiddenSize: c.hiddenSize,
        heads: c.numHeads,
        kvHeads: c.numKvHeads,
        vocabSize: c.vocabSize,
        dtype: c.dtype,
        maxModelLen: 512,
        kvCache: { blocks: engine.kvInfo.numBlocks, blockSize: 16 },
      },
    });
    expect(info.model!.hardware).toMatch(/^2× NVIDIA H100.*TP 2/);
  });
});

describe('GET /api/engine/events', () => {
  it('sends the snapshot, then a step event per engine step of a chat request; a disconnect unsubscribes', async () => {
    const listening = engine.feed.listenerCount;
    const res = await fetch(`${baseUrl}/api/engine/events`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = new EventReader(res.body!.getReader());
    const first = await events.next();
    expect(first.event).toBe('snapshot');
    const snap = first.data as EngineSnapshot;
    expect(snap.model.id).toBe(engine.model.id);
    expect(snap.ranks.map((r) => [r.rank, r.label, r.failed])).toEqual([
      [0, 'h100:0', false],
      [1, 'h100:1', false],
    ]);
    expect(snap.stats).toEqual(engine.stats());
    expect(Array.isArray(snap.recent)).toBe(true);
    expect(engine.feed.listenerCount).toBe(listening + 1);

    const reply = chat(3);
    const steps: StepEvent[] = [];
    while (steps.length < 3) {
      const e = await events.next();
      expect(e.event).toBe('step');
      steps.push(e.data as StepEvent);
    }
    const body = (await (await reply).json()) as Json;
    expect(body.usage.completion_tokens).toBe(3);
    // The prompt's prefill, then two decodes, of one request; both ranks ran kernels and collectives in each.
    expect(steps.map((s) => s.batch.map((b) => b.kind))).toEqual([['prefill'], ['decode'], ['decode']]);
    expect(steps[0]!.batch[0]!.tokens).toBe(body.usage.prompt_tokens);
    expect(steps[1]!.step).toBe(steps[0]!.step + 1);
    for (const s of steps) {
      expect(s.ranks.map((r) => r.rank)).toEqual([0, 1]);
      for (const r of s.ranks)
        expect(new Set(r.ops.map((o) => o.kind))).toEqual(new Set(['kernel', 'collective', 'memcpy']));
    }
    await events['reader'].cancel();
    await waitFor(() => engine.feed.listenerCount === listening);
  });
});

describe('GET /api/engine/trace', () => {
  it('downloads the retained steps as Chrome trace JSON with work on both TP ranks', async () => {
    expect((await chat(2)).status).toBe(200);
    const res = await fetch(`${baseUrl}/api/engine/trace`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="tessera-engine-trace.json"');
    const trace = (await res.json()) as { traceEvents: Json[]; displayTimeUnit: string };
    const spans = trace.traceEvents.filter((e) => e.ph === 'X');
    for (const e of spans) {
      expect(typeof e.name).toBe('string');
      expect(Number.isFinite(e.ts) && Number.isFinite(e.dur) && e.dur >= 0).toBe(true);
    }
    const pids = (cat: string) => new Set(spans.filter((e) => e.cat === cat).map((e) => e.pid));
    expect(pids('kernel')).toEqual(new Set([0, 1]));
    expect(pids('collective')).toEqual(new Set([0, 1]));
    const names = trace.traceEvents.filter((e) => e.name === 'process_name').map((e) => e.args.name);
    expect(names).toEqual(expect.arrayContaining(['h100:0', 'h100:1', 'engine']));
    const steps = spans.filter((e) => e.cat === 'step');
    expect(steps.length).toBe(engine.feed.recent().length);
  });
});

describe('GET /api/cluster', () => {
  it('shows the serving cluster with link utilisation in [0, 1], busy links and ranks after a TP-2 request', async () => {
    expect((await chat(4)).status).toBe(200);
    const res = await fetch(`${baseUrl}/api/cluster`);
    expect(res.status).toBe(200);
    const view = (await res.json()) as ClusterView;
    const topology = view.topology!;
    expect(topology.name).toBe('dgx-h100');
    expect(view.window.steps).toBe(engine.feed.recent().length);
    expect(view.window.modelledMs).toBeGreaterThan(0);
    for (const l of topology.links) expect(l.utilisation >= 0 && l.utilisation <= 1).toBe(true);
    const busy = topology.links.filter((l) => l.utilisation > 0).map((l) => l.id);
    expect(busy.sort()).toEqual(['rank0→sw0', 'rank1→sw0', 'sw0→rank0', 'sw0→rank1']);
    // The flat utilisation array is the links' figures, in their order.
    expect(view.utilisation).toHaveLength(topology.links.length);
    for (const [i, l] of topology.links.entries()) expect(view.utilisation[i]).toBeCloseTo(l.utilisation, 4);
    expect(view.rankBusy.map((r) => r.rank)).toEqual([0, 1]);
    for (const r of view.rankBusy) {
      expect(r.kernel).toBeGreaterThan(0);
      expect(r.collective).toBeGreaterThan(0);
      expect(r.kernel + r.collective).toBeLessThanOrEqual(1 + 1e-9);
    }
  });

  it('leaves the topology out while the client holds it (?known=key), until a fault changes the drawing', async () => {
    const first = (await (await fetch(`${baseUrl}/api/cluster`)).json()) as ClusterView;
    const again = (await (
      await fetch(`${baseUrl}/api/cluster?known=${encodeURIComponent(first.topologyKey)}`)
    ).json()) as ClusterView;
    expect(again.topology).toBeNull();
    expect(again.topologyKey).toBe(first.topologyKey);
    expect(again.utilisation).toHaveLength(first.topology!.links.length);
    const stale = (await (await fetch(`${baseUrl}/api/cluster?known=stale`)).json()) as ClusterView;
    expect(stale.topology).not.toBeNull();
    // A degraded link changes the graph's version: the full drawing comes back.
    const cluster = engine.llama.options.cluster;
    cluster.degradeLink('rank5→sw0', 0.5);
    try {
      const changed = (await (
        await fetch(`${baseUrl}/api/cluster?known=${encodeURIComponent(first.topologyKey)}`)
      ).json()) as ClusterView;
      expect(changed.topologyKey).not.toBe(first.topologyKey);
      expect(changed.topology!.links.some((l) => l.degraded === 0.5)).toBe(true);
    } finally {
      cluster.degradeLink('rank5→sw0', 1);
    }
  });
});

describe('the API key on /api/*', () => {
  it('guards POST routes (they spend CPU) but not GET ones', async () => {
    await expectError(await post(baseUrl, '/api/project', { model: 'x' }), 401);
    await expectError(await post(baseUrl, '/api/cluster/collective', {}), 401);
    // With the key, the request reaches the handler, which checks the body.
    await expectError(await post(baseUrl, '/api/cluster/collective', { op: 'nope' }, auth), 400);
    expect((await fetch(`${baseUrl}/api/topologies`)).status).toBe(200);
    await expectError(await fetch(`${baseUrl}/api/nothing-here`), 404);
    await expectError(await fetch(`${baseUrl}/api/engine/events`, { method: 'POST', headers: auth }), 405);
  });

  it('guards GET routes too with --protect-metrics', async () => {
    const server = createServer({ engine, apiKey: KEY, protectMetrics: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await expectError(await fetch(`${url}/api/info`), 401);
      expect((await fetch(`${url}/api/info`, { headers: auth })).status).toBe(200);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('the dashboard files', () => {
  it('answers / with the dashboard (or its not-built page), and unknown files with 404 JSON', async () => {
    const res = await fetch(`${baseUrl}/`);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.status).toBe(dashboardBuilt() ? 200 : 503);
    await expectError(await fetch(`${baseUrl}/no-such-file.js`), 404);
  });

  it.skipIf(!dashboardBuilt())('serves the built app’s assets (skipped: the dashboard is not built)', async () => {
    const html = await (await fetch(`${baseUrl}/`)).text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const res = await fetch(`${baseUrl}${asset}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/javascript/);
    expect(res.headers.get('cache-control')).toMatch(/immutable/);
  });
});

describe('the start-up banner', () => {
  it('names the dashboard on its own line, before the curl example', async () => {
    const out: string[] = [];
    let handle: ServingHandle | undefined;
    const code = await run(
      ['--port', '0', '--disable-log-requests'],
      { out: (t) => out.push(t), err: () => {} },
      {
        onListening: (h) => {
          handle = h;
        },
      },
    );
    expect(code).toBe(0);
    try {
      const at = out.findIndex((l) => l.startsWith('Dashboard: '));
      expect(out[at]).toBe(
        `Dashboard: ${handle!.url}/${dashboardBuilt() ? '' : ' (not built yet: run pnpm build, then reload)'}`,
      );
      expect(at).toBeLessThan(out.findIndex((l) => l.includes('curl ')));
      expect(at).toBeGreaterThan(out.findIndex((l) => l.startsWith('Serving on ')));
    } finally {
      await handle?.stop();
    }
  });
});
