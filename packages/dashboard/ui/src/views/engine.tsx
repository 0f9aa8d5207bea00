/**
 * The live engine view, fed by /api/engine/events (server-sent events): running and waiting requests, KV-cache use,
 * the batch of every step (prefill vs decode tokens), modelled vs wall time per step, and the per-rank timeline of the
 * last steps. The full retained trace downloads as Chrome trace JSON for ui.perfetto.dev.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import type { EngineSnapshot, StepEvent } from '../../../src/api';
import { Chart } from '../components/chart';
import { Timeline } from '../components/timeline';
import { applySnapshot, applyStep, type EngineWindow, emptyWindow, stepSeries, timelineLayout } from '../data/engine';
import { fmtMs, fmtNum, fmtPct } from '../data/format';

const batchOptions: Omit<uPlot.Options, 'width' | 'height'> = {
  scales: { x: { time: false } },
  axes: [{ label: 'step' }, { label: 'tokens' }],
  series: [
    { label: 'step' },
    { label: 'prefill tokens', stroke: '#3b6fd8', fill: 'rgba(59,111,216,.25)', width: 2 },
    { label: 'decode tokens', stroke: '#d9822b', fill: 'rgba(217,130,43,.25)', width: 2 },
  ],
};

const loadOptions: Omit<uPlot.Options, 'width' | 'height'> = {
  scales: { x: { time: false } },
  axes: [{ label: 'step' }, { label: 'requests' }, { side: 1, scale: '%', label: 'KV cache %', grid: { show: false } }],
  series: [
    { label: 'step' },
    { label: 'running', stroke: '#2f855a', width: 2 },
    { label: 'waiting', stroke: '#b83280', width: 2, dash: [6, 3] },
    { label: 'KV cache %', stroke: '#4a5568', scale: '%', width: 1.5 },
  ],
};

const timeOptions: Omit<uPlot.Options, 'width' | 'height'> = {
  scales: { x: { time: false }, wall: { auto: true } },
  axes: [
    { label: 'step' },
    { label: 'modelled ms' },
    { side: 1, scale: 'wall', label: 'wall ms', grid: { show: false } },
  ],
  series: [
    { label: 'step' },
    { label: 'modelled (hardware) ms', stroke: '#76b900', width: 2 },
    { label: 'wall (this CPU) ms', stroke: '#718096', scale: 'wall', width: 1.5, dash: [4, 3] },
  ],
};

export function EngineView() {
  const [win, setWin] = useState<EngineWindow>(emptyWindow());
  const [connected, setConnected] = useState(false);

  useEffect(() => {
    const source = new EventSource('/api/engine/events');
    source.addEventListener('open', () => setConnected(true));
    source.addEventListener('error', () => setConnected(false));
    source.addEventListener('snapshot', (e) => {
      setWin(applySnapshot(JSON.parse((e as MessageEvent<string>).data) as EngineSnapshot));
    });
    source.addEventListener('step', (e) => {
      const step = JSON.parse((e as MessageEvent<string>).data) as StepEvent;
      setWin((w) => applyStep(w, step));
    });
    return () => source.close();
  }, []);

  const series = useMemo(() => stepSeries(win.steps), [win.steps]);
  const layout = useMemo(() => timelineLayout(win.steps), [win.steps]);
  const last = win.steps[win.steps.length - 1];
  const stats = win.snapshot?.stats;
  const totalSteps = last?.step ?? 0;

  return (
    <div class="grid">
      <div class="panel wide">
        <div class="row spread">
          <h2>Engine</h2>
          <span class={`badge ${connected ? 'ok' : 'warn'}`} data-testid="feed-status">
            {connected ? 'live' : 'connecting…'}
          </span>
        </div>
        <div class="stats" data-testid="engine-stats">
          <Stat label="running" value={fmtNum(last?.running ?? stats?.running ?? 0)} />
          <Stat label="waiting" value={fmtNum(last?.waiting ?? stats?.waiting ?? 0)} />
          <Stat label="KV cache" value={fmtPct(last?.kvCacheUsage ?? stats?.kvCacheUsage ?? 0)} />
          <Stat label="steps" value={fmtNum(totalSteps)} testId="step-count" />
          <Stat label="last step, modelled" value={fmtMs(last?.modelledMs)} />
          <Stat label="last step, wall" value={fmtMs(last?.wallDurationMs)} />
        </div>
        {last && (
          <p class="muted small" data-testid="last-batch">
            Step {last.step}: {last.batch.length} request{last.batch.length === 1 ? '' : 's'} —{' '}
            {last.batch.map((b) => `${b.kind} ${b.tokens}`).join(', ') || 'idle'}
          </p>
        )}
      </div>
      <div class="panel">
        <h3>Batch per step</h3>
        <Chart
          label="Prefill and decode tokens per step"
          options={batchOptions}
          data={[series.step, series.prefillTokens, series.decodeTokens]}
          testId="batch-chart"
        />
      </div>
      <div class="panel">
        <h3>Requests and KV cache</h3>
        <Chart
          label="Running and waiting requests and KV-cache use per step"
          options={loadOptions}
          data={[series.step, series.running, series.waiting, series.kvPercent]}
        />
      </div>
      <div class="panel">
        <h3>Step time: modelled vs wall</h3>
        <Chart
          label="Modelled and wall time per step"
          options={timeOptions}
          data={[series.step, series.modelledMs, series.wallMs]}
        />
      </div>
      <div class="panel wide">
        <div class="row spread">
          <h3>Per-rank timeline (modelled), last {layout.stepStarts.length} steps</h3>
          <a class="button" href="/api/engine/trace" download="tessera-engine-trace.json" data-testid="download-trace">
            Download trace (Perfetto)
          </a>
        </div>
        <p class="legend small">
          <span class="swatch kernel" /> kernels {fmtMs(layout.totals.kernel)} <span class="swatch collective" />{' '}
          collectives {fmtMs(layout.totals.collective)} <span class="swatch memcpy" /> copies{' '}
          {fmtMs(layout.totals.memcpy)}
        </p>
        {layout.lanes.length ? <Timeline layout={layout} /> : <p class="muted">No steps yet: send a chat message.</p>}
      </div>
    </div>
  );
}

function Stat({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <div class="stat">
      <div class="value" data-testid={testId}>
        {value}
      </div>
      <div class="label">{label}</div>
    </div>
  );
}
