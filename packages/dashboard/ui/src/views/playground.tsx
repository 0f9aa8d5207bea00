/**
 * The kernel playground (Compiler Explorer for Tessera kernels): the visitor edits a tile or SIMT kernel and its launch
 * in JavaScript; Compile shows the IR, the generated JavaScript and the WGSL, and the modelled time on every catalogue
 * device side by side with what bounds it; Run executes it on a simulated device (optionally under the sanitizer)
 * and checks it against its float64 reference; where the browser has WebGPU, the same IR runs on the visitor's GPU
 * and its measured time shows beside the modelled one. Everything runs in this tab: no server round trip.
 */
import { javascript } from '@codemirror/lang-javascript';
import { basicSetup, EditorView } from 'codemirror';
import { useEffect, useRef, useState } from 'preact/hooks';
import { fmtMs, fmtNum } from '../data/format';
import {
  type ModelReport,
  PLAYGROUND_TEMPLATES,
  PlaygroundClient,
  PlaygroundError,
  type PlaygroundInspection,
  type PlaygroundIssue,
  type RunReport,
  type WebGpuReport,
  type WorkerLike,
} from '../playground';

/**
 * The compiler, the simulators and the visitor's code run in a Web Worker: a kernel whose analysis or run never ends
 * (a loop bound typed as 1e9) is stopped at the client's deadline by terminating the worker, and the page stays
 * responsive meanwhile. One worker for the page, made on first use.
 */
let client: PlaygroundClient | null = null;
function playground(): PlaygroundClient {
  client ??= new PlaygroundClient(
    () =>
      new Worker(new URL('../playground/worker-entry.ts', import.meta.url), {
        type: 'module',
      }) as unknown as WorkerLike,
  );
  return client;
}

type Output = 'ir' | 'js' | 'wgsl' | 'cost';

const OUTPUT_LABELS: Record<Output, string> = {
  ir: 'IR',
  js: 'JavaScript (CPU)',
  wgsl: 'WGSL (GPU)',
  cost: 'Cost record',
};

function issueOf(e: unknown): PlaygroundIssue {
  if (e instanceof PlaygroundError) return e.issue;
  return { kind: 'program', message: e instanceof Error ? e.message : String(e) };
}

function Issue({ issue }: { issue: PlaygroundIssue }) {
  return (
    <div class="error" role="alert" data-testid="playground-issue">
      <strong>{issue.kind}</strong>
      {issue.line !== undefined ? ` (line ${issue.line}${issue.column !== undefined ? `:${issue.column}` : ''})` : ''}:{' '}
      {issue.message}
      {issue.hint && <div class="muted small">{issue.hint}</div>}
    </div>
  );
}

/** The cost record's totals and each device's modelled breakdown (µs), as `tessera compile --dump cost` prints them. */
function costRecordText(model: ModelReport | null): string {
  if (!model) return '// Modelling did not finish: see the message above.';
  const perDevice = Object.fromEntries(
    model.rows.map((r) => [
      r.deviceId,
      r.ms === null ? { refused: r.error?.message } : { ms: r.ms, bound: r.bound, breakdown_us: r.breakdown },
    ]),
  );
  return JSON.stringify(
    { kernel: model.kernel, grid: model.grid, block: model.block, total: model.totals, devices: perDevice },
    null,
    2,
  );
}

/** Whether this browser has WebGPU (the worker uses its own navigator.gpu, present wherever the page's is). */
const hasWebGpu = () => typeof navigator !== 'undefined' && 'gpu' in navigator;

export function PlaygroundView() {
  const [templateId, setTemplateId] = useState(PLAYGROUND_TEMPLATES[0]!.id);
  const [source, setSource] = useState(PLAYGROUND_TEMPLATES[0]!.source);
  const [inspection, setInspection] = useState<PlaygroundInspection | null>(null);
  const [model, setModel] = useState<ModelReport | null>(null);
  const [run, setRun] = useState<RunReport | null>(null);
  const [gpuRun, setGpuRun] = useState<WebGpuReport | null>(null);
  const [issue, setIssue] = useState<PlaygroundIssue | null>(null);
  const [output, setOutput] = useState<Output>('ir');
  const [deviceId, setDeviceId] = useState('h100');
  const [sanitize, setSanitize] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const editorBox = useRef<HTMLDivElement>(null);
  const editor = useRef<EditorView | null>(null);
  const latest = useRef(source);
  const gpu = hasWebGpu();

  useEffect(() => {
    const view = new EditorView({
      doc: source,
      parent: editorBox.current!,
      extensions: [
        basicSetup,
        javascript(),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) latest.current = u.state.doc.toString();
        }),
        EditorView.contentAttributes.of({ 'aria-label': 'Kernel source (JavaScript)' }),
      ],
    });
    editor.current = view;
    return () => view.destroy();
  }, []);

  async function compile() {
    setBusy('compile');
    setIssue(null);
    setRun(null);
    setGpuRun(null);
    const source = latest.current;
    try {
      const pg = playground();
      setInspection(await pg.request({ op: 'inspect', source }));
      setModel(await pg.request({ op: 'model', source }));
    } catch (e) {
      setIssue(issueOf(e));
      setModel(null);
    } finally {
      setBusy(null);
    }
  }

  async function runSim() {
    setBusy('run');
    setIssue(null);
    try {
      const r = await playground().request({ op: 'run', source: latest.current, deviceId, sanitize });
      setRun(r);
      if (r.error) setIssue(r.error);
    } catch (e) {
      setIssue(issueOf(e));
    } finally {
      setBusy(null);
    }
  }

  async function runGpu() {
    setBusy('gpu');
    setIssue(null);
    try {
      const r = await playground().request({ op: 'webgpu', source: latest.current, modelOn: deviceId });
      setGpuRun(r);
      if (r.error) setIssue(r.error);
    } catch (e) {
      setIssue(issueOf(e));
    } finally {
      setBusy(null);
    }
  }

  function loadTemplate(id: string) {
    const t = PLAYGROUND_TEMPLATES.find((x) => x.id === id);
    if (!t) return;
    setTemplateId(id);
    setSource(t.source);
    latest.current = t.source;
    const view = editor.current;
    view?.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: t.source } });
    setInspection(null);
    setModel(null);
    setRun(null);
    setGpuRun(null);
    setIssue(null);
    if (t.buggy) setSanitize(true);
  }

  const code = !inspection
    ? ''
    : output === 'ir'
      ? inspection.ir
      : output === 'js'
        ? inspection.js
        : output === 'wgsl'
          ? (inspection.wgsl ?? `// The WGSL lowering refuses this kernel: ${inspection.wgslError ?? ''}`)
          : costRecordText(model);
  const maxMs = Math.max(0, ...(model?.rows.map((r) => r.ms ?? 0) ?? []));
  const template = PLAYGROUND_TEMPLATES.find((t) => t.id === templateId);

  return (
    <div class="grid">
      <div class="panel wide">
        <div class="row spread">
          <h2>Kernel playground</h2>
          <label>
            Example{' '}
            <select
              value={templateId}
              onChange={(e) => loadTemplate((e.target as HTMLSelectElement).value)}
              data-testid="template-select"
            >
              {PLAYGROUND_TEMPLATES.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.title}
                  {t.buggy ? ' (has a bug)' : ''}
                </option>
              ))}
            </select>
          </label>
        </div>
        {template && <p class="muted small">{template.description}</p>}
        <div class="editor" ref={editorBox} />
        <div class="controls inline">
          <button type="button" class="primary" onClick={compile} disabled={busy !== null} data-testid="compile">
            {busy === 'compile' ? 'Compiling…' : 'Compile & model'}
          </button>
          <label>
            Run on{' '}
            <select
              value={deviceId}
              onChange={(e) => setDeviceId((e.target as HTMLSelectElement).value)}
              data-testid="run-device"
            >
              {(
                model?.rows ?? [
                  { deviceId: 'h100', deviceName: 'NVIDIA H100' },
                  { deviceId: '910c', deviceName: 'Ascend 910C' },
                ]
              ).map((r) => (
                <option key={r.deviceId} value={r.deviceId}>
                  {r.deviceName}
                </option>
              ))}
            </select>
          </label>
          <label class="check">
            <input
              type="checkbox"
              checked={sanitize}
              onChange={(e) => setSanitize((e.target as HTMLInputElement).checked)}
            />{' '}
            sanitizer
          </label>
          {busy !== null && (
            <button type="button" onClick={() => playground().cancel()}>
              Stop
            </button>
          )}
          <button type="button" onClick={runSim} disabled={busy !== null} data-testid="run-sim">
            {busy === 'run' ? 'Running…' : 'Run (simulated)'}
          </button>
          <button
            type="button"
            onClick={runGpu}
            disabled={busy !== null || !gpu}
            data-testid="run-gpu"
            title={gpu ? 'Runs the WGSL on this browser’s GPU' : 'This browser has no WebGPU'}
          >
            {busy === 'gpu' ? 'Running…' : 'Run on my GPU'}
          </button>
        </div>
        {issue && <Issue issue={issue} />}
      </div>
      {model && (
        <div class="panel wide">
          <h3>
            Modelled on every device: {model.kernel} ({model.style}), grid {model.grid.join('×')}
            {model.block ? `, block ${model.block.join('×')}` : ''}
          </h3>
          <p class="muted small">
            {fmtNum(model.totals.flops)} ops ({fmtNum(model.totals.matrixFlops)} on matrix units),{' '}
            {fmtNum(model.totals.bytesRead)} B read, {fmtNum(model.totals.bytesWritten)} B written over{' '}
            {fmtNum(model.totals.programs)} programs
            {model.totals.exact ? '' : ' (SIMT counters estimated from a sample)'}
          </p>
          <table class="table small" data-testid="device-times">
            <thead>
              <tr>
                <th>device</th>
                <th class="num">modelled</th>
                <th>bound</th>
                <th class="bar-col">relative</th>
                <th class="num">HBM GB/s</th>
              </tr>
            </thead>
            <tbody>
              {model.rows.map((r) => (
                <tr key={`${r.backend}:${r.deviceId}`} data-device={r.deviceId}>
                  <td>
                    <span class={`vendor-dot ${r.vendor}`} aria-hidden="true" /> {r.deviceName}
                  </td>
                  <td class="num" data-testid="modelled-ms">
                    {r.ms === null ? '—' : fmtMs(r.ms)}
                  </td>
                  <td>
                    {r.bound ? (
                      <span class={`bound ${r.bound === 'matrix' || r.bound === 'vector' ? 'compute' : r.bound}`}>
                        {r.bound}
                      </span>
                    ) : (
                      <span class="error small">{r.error}</span>
                    )}
                  </td>
                  <td class="bar-col">
                    <span class="bar-track">
                      <span
                        class={`bar ${r.vendor}`}
                        style={{ width: `${maxMs > 0 && r.ms !== null ? ((100 * r.ms) / maxMs).toFixed(1) : 0}%` }}
                      />
                    </span>
                  </td>
                  <td class="num">{fmtNum(r.memoryBandwidthGBs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {(run || gpuRun) && (
        <div class="panel wide" data-testid="run-result">
          <h3>Runs</h3>
          {run && (
            <p class={run.ok ? 'result' : 'error'} data-testid="sim-result">
              {run.deviceName} (simulated): {run.ok ? 'correct' : 'failed'} — ‖out−ref‖/‖ref‖{' '}
              {run.relError === null ? '—' : run.relError.toExponential(2)}
              {run.nanCount ? `, ${run.nanCount} elements never written` : ''}; modelled {fmtMs(run.modelledMs)},
              computed here in {fmtMs(run.wallMs)}
            </p>
          )}
          {run && (
            <p class="muted small mono">
              {run.output}[0..8] = {run.outputPreview.map((v) => fmtNum(v, 4)).join(', ')}
            </p>
          )}
          {run?.sanitizer.enabled && (
            <pre class="code-out" data-testid="sanitizer-report">
              {run.sanitizer.reports.map((r) => `${r.text}\n`).join('')}
              {run.sanitizer.summary}
            </pre>
          )}
          {gpuRun && (
            <p class={gpuRun.ok ? 'result' : 'error'} data-testid="gpu-result">
              {gpuRun.adapterName} (WebGPU): {gpuRun.ok ? 'correct' : 'failed'} — measured {fmtMs(gpuRun.measuredMs)} (
              {gpuRun.measuredBy}) vs modelled {fmtMs(gpuRun.modelledMs)} on {gpuRun.modelledOn}; ‖out−ref‖/‖ref‖{' '}
              {gpuRun.relError === null ? '—' : gpuRun.relError.toExponential(2)}
            </p>
          )}
        </div>
      )}
      {inspection && (
        <div class="panel wide">
          <div class="outtabs" role="tablist" aria-label="Compiler output">
            {(['ir', 'js', 'wgsl', 'cost'] as const).map((o) => (
              <button
                key={o}
                type="button"
                role="tab"
                aria-selected={output === o}
                onClick={() => setOutput(o)}
                data-testid={`show-${o}`}
              >
                {OUTPUT_LABELS[o]}
              </button>
            ))}
            <span class="muted small">
              {inspection.kernel} · {inspection.key}
            </span>
          </div>
          <pre class="code-out" role="tabpanel" data-testid="compiler-output">
            {code}
          </pre>
        </div>
      )}
    </div>
  );
}
