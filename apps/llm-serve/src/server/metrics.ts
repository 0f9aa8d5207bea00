/**
 * Prometheus metrics under vLLM's names (`vllm:` prefix, a `model_name` label on every series, vLLM's histogram
 * buckets), so existing vLLM dashboards work; plus the same latency histograms in modelled hardware time under
 * `tessera:modelled_…`. Counters carry the `_total` suffix that Python's prometheus_client adds to vLLM's counters, so
 * the exposition matches a scrape of vLLM. A registry per server keeps several servers in one process (tests) apart.
 */

import type { Engine, FinishReason, LatencyFigures, RequestMetrics } from '@tessera/serve';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

// vLLM v1 (vllm/v1/metrics/loggers.py) bucket boundaries, in seconds.
const TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0,
  640.0, 2560.0,
];
const ITL_BUCKETS = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
];
const REQUEST_BUCKETS = [
  0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0,
  7680.0,
];
// Modelled times of a datacenter chip are often sub-millisecond; finer leading buckets keep them from all landing in
// the first one. The rest are vLLM's, so wall and modelled histograms line up.
const FINE = [0.0001, 0.00025, 0.0005];
const withFine = (buckets: number[]) => [...FINE.filter((b) => b < buckets[0]!), ...buckets];

interface LatencyHistograms {
  ttft: Histogram;
  itl: Histogram;
  e2e: Histogram;
  queue: Histogram;
  prefill: Histogram;
  decode: Histogram;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly promptTokens: Counter;
  private readonly generationTokens: Counter;
  private readonly success: Counter<'finished_reason'>;
  private readonly wall: LatencyHistograms;
  private readonly modelled: LatencyHistograms;

  constructor(engine: Engine, modelName: string) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ model_name: modelName });

    new Gauge({
      name: 'vllm:num_requests_running',
      help: 'Number of requests in model execution batches.',
      registers,
      collect() {
        this.set(engine.stats().running);
      },
    });
    new Gauge({
      name: 'vllm:num_requests_waiting',
      help: 'Number of requests waiting to be processed.',
      registers,
      collect() {
        this.set(engine.stats().waiting);
      },
    });
    new Gauge({
      name: 'vllm:kv_cache_usage_perc',
      help: 'KV-cache usage. 1 means 100 percent usage.',
      registers,
      collect() {
        this.set(engine.stats().kvCacheUsage);
      },
    });
    // The engine keeps running totals; these counters follow them by adding the difference at each scrape.
    const follow = (name: string, help: string, read: () => number) => {
      let seen = 0;
      new Counter({
        name,
        help,
        registers,
        collect() {
          const now = read();
          if (now > seen) this.inc(now - seen);
          seen = Math.max(seen, now);
        },
      });
    };
    follow(
      'vllm:prefix_cache_queries_total',
      'Prefix cache queries, in terms of number of queried tokens.',
      () => engine.stats().prefixCacheQueries,
    );
    follow(
      'vllm:prefix_cache_hits_total',
      'Prefix cache hits, in terms of number of cached tokens.',
      () => engine.stats().prefixCacheHits,
    );
    follow(
      'vllm:num_preemptions_total',
      'Cumulative number of preemption from the engine.',
      () => engine.stats().preemptions,
    );

    this.promptTokens = new Counter({
      name: 'vllm:prompt_tokens_total',
      help: 'Number of prefill tokens processed.',
      registers,
    });
    this.generationTokens = new Counter({
      name: 'vllm:generation_tokens_total',
      help: 'Number of generation tokens processed.',
      registers,
    });
    this.success = new Counter({
      name: 'vllm:request_success_total',
      help: 'Count of successfully processed requests.',
      labelNames: ['finished_reason'],
      registers,
    });
    for (const reason of ['stop', 'length', 'abort']) this.success.inc({ finished_reason: reason }, 0);

    const histograms = (prefix: string, what: string, fine: boolean): LatencyHistograms => {
      const h = (name: string, help: string, buckets: number[]) =>
        new Histogram({
          name: `${prefix}${name}`,
          help: `${help} (${what})`,
          buckets: fine ? withFine(buckets) : buckets,
          registers,
        });
      return {
        ttft: h('time_to_first_token_seconds', 'Histogram of time to first token in seconds', TTFT_BUCKETS),
        itl: h('inter_token_latency_seconds', 'Histogram of inter-token latency in seconds', ITL_BUCKETS),
        e2e: h('e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds', REQUEST_BUCKETS),
        queue: h('request_queue_time_seconds', 'Histogram of time spent in WAITING phase for request', REQUEST_BUCKETS),
        prefill: h(
          'request_prefill_time_seconds',
          'Histogram of time spent in PREFILL phase for request',
          REQUEST_BUCKETS,
        ),
        decode: h(
          'request_decode_time_seconds',
          'Histogram of time spent in DECODE phase for request',
          REQUEST_BUCKETS,
        ),
      };
    };
    this.wall = histograms('vllm:', 'wall clock', false);
    this.modelled = histograms('tessera:modelled_', 'modelled hardware time', true);
  }

  /** Records one finished engine request. */
  recordFinished(m: RequestMetrics, reason: FinishReason): void {
    this.promptTokens.inc(m.promptTokens);
    this.generationTokens.inc(m.completionTokens);
    this.success.inc({ finished_reason: reason });
    observe(this.wall, m.wall, m.completionTokens);
    observe(this.modelled, m.modelled, m.completionTokens);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function observe(h: LatencyHistograms, f: LatencyFigures, completionTokens: number): void {
  const s = (ms: number) => Math.max(0, ms) / 1000;
  h.e2e.observe(s(f.e2eMs));
  h.queue.observe(s(f.queueMs));
  // A request aborted before its first token has no TTFT, prefill or decode phase to report.
  if (completionTokens === 0) return;
  h.ttft.observe(s(f.ttftMs));
  for (const gap of f.itlMs) h.itl.observe(s(gap));
  h.prefill.observe(s(f.ttftMs - f.queueMs));
  h.decode.observe(s(f.e2eMs - f.ttftMs));
}
