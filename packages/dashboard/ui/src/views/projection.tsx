/**
 * The projection explorer: a shipped model × built-in systems × SLOs, searched on the server (`tessera project
 * --slo-tpot …` for each system), shown as the Pareto frontiers of tokens/s per chip against TPOT — NVIDIA and
 * Ascend side by side — and the best configuration per system by chip, system and kW. Exports PNG and CSV.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import type { ProjectOptionsResponse, ProjectResponse } from '../../../src/api';
import { download, getJson, messageOf, postJson } from '../api-client';
import { Chart } from '../components/chart';
import { fmtMs, fmtNum } from '../data/format';
import { bestBars, frontierChart, METRICS, type Metric, projectionCsv } from '../data/projection';

const NVIDIA = ['#76b900', '#3f7d20', '#9bd13b'];
const ASCEND = ['#c7000b', '#e0555c', '#8c1d18'];
const OTHER = ['#4a5568', '#718096'];

/** Vendor colours: the same hue family per vendor, a different shade per system. */
export function seriesColours(vendors: readonly string[]): string[] {
  const used = { nvidia: 0, ascend: 0, other: 0 } as Record<string, number>;
  return vendors.map((v) => {
    const palette = v === 'nvidia' ? NVIDIA : v === 'ascend' ? ASCEND : OTHER;
    const i = used[v] ?? 0;
    used[v] = i + 1;
    return palette[i % palette.length]!;
  });
}

export function ProjectionView() {
  const [options, setOptions] = useState<ProjectOptionsResponse | null>(null);
  const [model, setModel] = useState('');
  const [systems, setSystems] = useState<string[]>([]);
  const [sloTpot, setSloTpot] = useState(50);
  const [sloTtft, setSloTtft] = useState('');
  const [input, setInput] = useState(1024);
  const [output, setOutput] = useState(256);
  const [maxBatch, setMaxBatch] = useState(64);
  const [result, setResult] = useState<ProjectResponse | null>(null);
  const [metric, setMetric] = useState<Metric>('tokensPerSecondPerChip');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    getJson<ProjectOptionsResponse>('/api/project/options').then(
      (o) => {
        setOptions(o);
        setModel(o.defaults.model);
        setSystems(o.defaults.systems);
        setSloTpot(o.defaults.sloTpotMs);
        setMaxBatch(o.defaults.maxBatch);
      },
      (e) => setError(messageOf(e)),
    );
  }, []);

  async function run(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // Decode steps run at the mean context input + output / 2; the TTFT SLO (optional) prefills one prompt.
      const body: Record<string, unknown> = { model, systems, sloTpotMs: sloTpot, maxBatch, input, output };
      if (sloTtft.trim() !== '') body.sloTtftMs = Number(sloTtft);
      setResult(await postJson<ProjectResponse>('/api/project', body));
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  const chart = useMemo(() => (result ? frontierChart(result) : null), [result]);
  const chartOptions = useMemo((): Omit<uPlot.Options, 'width' | 'height'> | null => {
    if (!chart) return null;
    const colours = seriesColours(chart.series.map((s) => s.vendor));
    return {
      scales: { x: { time: false } },
      axes: [{ label: 'TPOT (ms)' }, { label: 'tokens/s per chip' }],
      series: [
        { label: 'TPOT ms' },
        ...chart.series.map((s, i) => ({
          label: s.system,
          stroke: colours[i],
          width: 2,
          spanGaps: true,
          points: { show: true, size: 6, fill: colours[i] },
        })),
      ],
    };
  }, [chart]);
  const bars = result ? bestBars(result, metric) : [];
  const barColours = seriesColours(bars.map((b) => b.vendor));

  return (
    <div class="grid">
      <div class="panel wide">
        <h2>Projection</h2>
        <p class="muted small">
          One engine step of a shipped model projected on each system: every TP × batch is tried, decoding at the mean
          context (prompt + output / 2); with a TTFT SLO, one prompt's prefill must meet it too. The chart shows each
          system's Pareto frontier, the bars the best configuration meeting the SLOs.
        </p>
        <form class="controls inline" onSubmit={run}>
          <label>
            Model{' '}
            <select
              value={model}
              onChange={(e) => setModel((e.target as HTMLSelectElement).value)}
              data-testid="project-model"
            >
              {options?.models.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name} ({fmtNum(m.paramsB)}B)
                </option>
              ))}
            </select>
          </label>
          <fieldset class="systems">
            <legend>Systems</legend>
            {options?.systems.map((s) => (
              <label key={s.name} class={`chip ${s.vendor}`}>
                <input
                  type="checkbox"
                  checked={systems.includes(s.name)}
                  onChange={(e) => {
                    const on = (e.target as HTMLInputElement).checked;
                    setSystems(on ? [...systems, s.name] : systems.filter((x) => x !== s.name));
                  }}
                />
                {s.name}
              </label>
            ))}
          </fieldset>
          <label>
            TPOT SLO (ms){' '}
            <input
              type="number"
              min={1}
              max={10000}
              value={sloTpot}
              onChange={(e) => setSloTpot(Number((e.target as HTMLInputElement).value))}
            />
          </label>
          <label>
            TTFT SLO (ms, optional){' '}
            <input
              type="number"
              min={1}
              max={600000}
              placeholder="none"
              value={sloTtft}
              onChange={(e) => setSloTtft((e.target as HTMLInputElement).value)}
            />
          </label>
          <label>
            Prompt tokens{' '}
            <input
              type="number"
              min={1}
              max={131072}
              value={input}
              onChange={(e) => setInput(Math.round(Number((e.target as HTMLInputElement).value)))}
            />
          </label>
          <label>
            Output tokens{' '}
            <input
              type="number"
              min={1}
              max={131072}
              value={output}
              onChange={(e) => setOutput(Math.round(Number((e.target as HTMLInputElement).value)))}
            />
          </label>
          <label>
            Max batch{' '}
            <select value={maxBatch} onChange={(e) => setMaxBatch(Number((e.target as HTMLSelectElement).value))}>
              {[8, 16, 32, 64, 128, 256, 512].map((b) => (
                <option key={b}>{b}</option>
              ))}
            </select>
          </label>
          <button type="submit" class="primary" disabled={busy || systems.length === 0} data-testid="run-projection">
            {busy ? 'Projecting…' : 'Project'}
          </button>
        </form>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </div>
      {result && chart && chartOptions && (
        <>
          <div class="panel wide">
            <div class="row spread">
              <h3>Pareto frontier: tokens/s per chip vs TPOT</h3>
              <div class="row">
                <button
                  type="button"
                  onClick={() => plot.current?.ctx.canvas.toBlob((b) => b && download('tessera-projection.png', b))}
                  data-testid="export-png"
                >
                  PNG
                </button>
                <button
                  type="button"
                  onClick={() => download('tessera-projection.csv', projectionCsv(result), 'text/csv')}
                  data-testid="export-csv"
                >
                  CSV
                </button>
              </div>
            </div>
            <Chart
              label={`Pareto frontiers of ${result.model} on ${result.results.map((r) => r.system).join(', ')}`}
              options={chartOptions}
              data={[chart.x, ...chart.series.map((s) => s.y)] as uPlot.AlignedData}
              height={280}
              onReady={(p) => {
                plot.current = p;
              }}
              testId="frontier-chart"
            />
            <p class="muted small">Projected on the server in {fmtMs(result.elapsedMs)}.</p>
          </div>
          <div class="panel wide">
            <div class="row spread">
              <h3>Best under the SLOs</h3>
              <div class="segmented" role="radiogroup" aria-label="Metric">
                {METRICS.map((m) => (
                  <label key={m.key}>
                    <input type="radio" name="metric" checked={metric === m.key} onChange={() => setMetric(m.key)} />
                    {m.label}
                  </label>
                ))}
              </div>
            </div>
            <div class="bars" data-testid="best-bars">
              {bars.map((b, i) => (
                <div class="bar-row" key={b.system}>
                  <span class="bar-label">{b.system}</span>
                  <span class="bar-track">
                    <span class="bar" style={{ width: `${(b.share * 100).toFixed(1)}%`, background: barColours[i] }} />
                  </span>
                  <span class="bar-value">{b.value === null ? '—' : fmtNum(b.value)}</span>
                  <span class="bar-config muted small">{b.config}</span>
                </div>
              ))}
            </div>
            <table class="table small">
              <thead>
                <tr>
                  <th>system</th>
                  <th>chips</th>
                  <th>tried</th>
                  <th>fit</th>
                  <th>best TPOT</th>
                  <th>TTFT</th>
                </tr>
              </thead>
              <tbody>
                {result.results.map((r) => (
                  <tr key={r.system}>
                    <td>{r.system}</td>
                    <td>
                      {r.chips}× {r.device}
                    </td>
                    <td>{r.tried}</td>
                    <td>{r.fitted}</td>
                    <td>{fmtMs(r.best?.tpotMs)}</td>
                    <td>{fmtMs(r.best?.ttftMs)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </div>
  );
}
