/**
 * /metrics: vLLM's metric names with a model_name label, the modelled-time histograms under tessera:, and counts
 * that move with the requests served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, post } from '../support/http';
import { metricValue, scrape } from '../support/metrics';
import { startTestServer, type TestServer } from '../support/server';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

const NAMES = [
  'vllm:num_requests_running',
  'vllm:num_requests_waiting',
  'vllm:kv_cache_usage_perc',
  'vllm:prompt_tokens_total',
  'vllm:generation_tokens_total',
  'vllm:request_success_total',
  'vllm:prefix_cache_queries',
  'vllm:prefix_cache_hits',
  'vllm:time_to_first_token_seconds',
  'vllm:inter_token_latency_seconds',
  'vllm:e2e_request_latency_seconds',
  'vllm:request_queue_time_seconds',
  'tessera:modelled_time_to_first_token_seconds',
  'tessera:modelled_inter_token_latency_seconds',
  'tessera:modelled_e2e_request_latency_seconds',
  'tessera:modelled_request_queue_time_seconds',
];

describe('GET /metrics', () => {
  it('exposes the vLLM names, each series labelled with the model name', async () => {
    const res = await fetch(`${s.baseUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    for (const name of NAMES) expect(text).toContain(`# TYPE ${name}`);
    for (const line of text.split('\n')) {
      if (line !== '' && !line.startsWith('#')) expect(line).toContain(`model_name="${s.engine.model.id}"`);
    }
    // vLLM's TTFT buckets.
    expect(text).toContain('vllm:time_to_first_token_seconds_bucket{le="0.001"');
    expect(text).toContain('vllm:time_to_first_token_seconds_bucket{le="2560"');
  });

  it('moves the counters and histograms with each request', async () => {
    const before = await scrape(s.baseUrl);
    const res = await post(s.baseUrl, '/v1/completions', { prompt: 'count me', max_tokens: 5, ignore_eos: true });
    const { usage } = (await res.json()) as Json;
    const after = await scrape(s.baseUrl);
    const delta = (name: string, labels?: Record<string, string>) =>
      metricValue(after, name, labels) - metricValue(before, name, labels);

    expect(delta('vllm:prompt_tokens_total')).toBe(usage.prompt_tokens);
    expect(delta('vllm:generation_tokens_total')).toBe(5);
    expect(delta('vllm:request_success_total', { finished_reason: 'length' })).toBe(1);
    expect(delta('vllm:time_to_first_token_seconds_count')).toBe(1);
    expect(delta('vllm:inter_token_latency_seconds_count')).toBe(4);
    expect(delta('vllm:e2e_request_latency_seconds_count')).toBe(1);
    expect(delta('tessera:modelled_time_to_first_token_seconds_count')).toBe(1);
    expect(delta('tessera:modelled_e2e_request_latency_seconds_sum')).toBeGreaterThan(0);
    expect(delta('vllm:prefix_cache_queries_total')).toBeGreaterThanOrEqual(usage.prompt_tokens);
    expect(metricValue(after, 'vllm:num_requests_running')).toBe(0);
  });

  it('counts prefix-cache hits when a long prompt repeats', async () => {
    const prompt = 'The same long shared prefix, repeated so that several whole KV blocks match. '.repeat(4);
    await post(s.baseUrl, '/v1/completions', { prompt, max_tokens: 1 });
    const before = metricValue(await scrape(s.baseUrl), 'vllm:prefix_cache_hits_total');
    await post(s.baseUrl, '/v1/completions', { prompt, max_tokens: 1 });
    const after = metricValue(await scrape(s.baseUrl), 'vllm:prefix_cache_hits_total');
    expect(after).toBeGreaterThan(before);
  });
});
