/**
 * The cluster view: any built-in topology (or, under llm-serve, the serving cluster itself, refreshed while requests
 * run) drawn with per-link utilisation. On a built-in topology the visitor injects faults — fail a device, cut a
 * link — and runs a collective to see where its bytes go, what it costs, or the error NCCL/HCCL would give.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type {
  ClusterView as ClusterJson,
  CollectiveName,
  CollectiveView,
  TopologySummary,
  TopologyView,
} from '../../../src/api';
import { getJson, messageOf, postJson } from '../api-client';
import { TopologyGraph } from '../components/topology-graph';
import { fmtBytes, fmtMs, fmtNum, fmtPct } from '../data/format';
import { busiestEdges, type Edge, layoutTopology, mergeClusterView } from '../data/topology';

const SERVING = '(serving cluster)';
const edgeKey = (e: Edge) => `${e.a}|${e.b}|${e.kind}`;
const OPS: CollectiveName[] = ['all_reduce', 'all_gather', 'reduce_scatter', 'all_to_all', 'broadcast'];

/** Marks injected faults on a topology fetched without them (before the collective runs). */
function withFaults(t: TopologyView, failed: ReadonlySet<number>, cut: ReadonlySet<string>): TopologyView {
  return {
    ...t,
    nodes: t.nodes.map((n) => (n.rank !== null && failed.has(n.rank) ? { ...n, failed: true } : n)),
    links: t.links.map((l) => (cut.has(l.id) ? { ...l, cut: true } : l)),
  };
}

export function ClusterView({ serving }: { serving: boolean }) {
  const [topologies, setTopologies] = useState<TopologySummary[]>([]);
  const [name, setName] = useState(serving ? SERVING : 'dgx-h100');
  const [topology, setTopology] = useState<TopologyView | null>(null);
  const [live, setLive] = useState<ClusterJson | null>(null);
  const [result, setResult] = useState<CollectiveView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [failed, setFailed] = useState<ReadonlySet<number>>(new Set());
  const [cut, setCut] = useState<ReadonlySet<string>>(new Set());
  const [op, setOp] = useState<CollectiveName>('all_reduce');
  const [sizeMiB, setSizeMiB] = useState(64);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    getJson<TopologySummary[]>('/api/topologies').then(setTopologies, (e) => setError(messageOf(e)));
  }, []);

  useEffect(() => {
    setResult(null);
    setFailed(new Set());
    setCut(new Set());
    setError(null);
    if (name === SERVING) {
      let stop = false;
      // The drawing is sent once (and again when a fault changes it); each poll after that carries utilisation only.
      let held: TopologyView | null = null;
      let key = '';
      const poll = () =>
        getJson<ClusterJson>(`/api/cluster${key && held ? `?known=${encodeURIComponent(key)}` : ''}`).then(
          (c) => {
            if (stop) return;
            const merged = mergeClusterView(held, c);
            key = merged ? c.topologyKey : '';
            held = merged;
            setLive(c);
            if (merged) setTopology(merged);
          },
          (e) => !stop && setError(messageOf(e)),
        );
      void poll();
      const timer = setInterval(poll, 2000);
      return () => {
        stop = true;
        clearInterval(timer);
      };
    }
    setLive(null);
    setTopology(null);
    getJson<TopologyView>(`/api/topology?name=${encodeURIComponent(name)}`).then(setTopology, (e) =>
      setError(messageOf(e)),
    );
    return undefined;
  }, [name]);

  // Memoised on what it is made of: a new object each render would lay the whole topology out again on every keystroke
  // in the form (CloudMatrix384: 834 nodes, 3968 links).
  const shown = useMemo(
    () => result?.topology ?? (topology ? withFaults(topology, failed, cut) : null),
    [result, topology, failed, cut],
  );
  const layout = useMemo(() => (shown ? layoutTopology(shown) : null), [shown]);
  const editable = name !== SERVING;

  const toggleRank = (rank: number) => {
    const next = new Set(failed);
    if (!next.delete(rank)) next.add(rank);
    setFailed(next);
    setResult(null);
  };
  const toggleEdge = (e: Edge) => {
    const next = new Set(cut);
    const isCut = e.ids.every((id) => next.has(id));
    for (const id of e.ids) {
      if (isCut) next.delete(id);
      else next.add(id);
    }
    setCut(next);
    setResult(null);
  };

  async function run(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setResult(
        await postJson<CollectiveView>('/api/cluster/collective', {
          topology: name,
          op,
          bytes: Math.round(sizeMiB * 1024 * 1024),
          failRanks: [...failed],
          cutLinks: [...cut],
        }),
      );
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="grid">
      <div class="panel wide">
        <div class="row">
          <h2>Cluster</h2>
          <label>
            Topology{' '}
            <select
              value={name}
              onChange={(e) => setName((e.target as HTMLSelectElement).value)}
              data-testid="topology-select"
            >
              {serving && <option value={SERVING}>{SERVING}</option>}
              {topologies.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.name} — {t.ranks}× {t.device}
                </option>
              ))}
            </select>
          </label>
        </div>
        {shown && (
          <p class="muted small">
            {shown.description} · {shown.ranks} ranks · {shown.links.length} links
          </p>
        )}
        {editable && (
          <form class="controls inline" onSubmit={run}>
            <label>
              Collective{' '}
              <select value={op} onChange={(e) => setOp((e.target as HTMLSelectElement).value as CollectiveName)}>
                {OPS.map((o) => (
                  <option key={o}>{o}</option>
                ))}
              </select>
            </label>
            <label>
              Size per rank (MiB){' '}
              <input
                type="number"
                min={0.001}
                max={16384}
                step="any"
                value={sizeMiB}
                onChange={(e) => setSizeMiB(Number((e.target as HTMLInputElement).value))}
              />
            </label>
            <label>
              Failed ranks{' '}
              <input
                type="text"
                inputMode="numeric"
                placeholder="e.g. 3, 5"
                value={[...failed].sort((a, b) => a - b).join(', ')}
                onChange={(e) => {
                  const ranks = (e.target as HTMLInputElement).value
                    .split(/[\s,]+/)
                    .filter(Boolean)
                    .map(Number);
                  setFailed(new Set(ranks.filter((r) => Number.isInteger(r) && r >= 0)));
                  setResult(null);
                }}
              />
            </label>
            {layout && (
              <label>
                Cut or restore a link{' '}
                <select
                  value=""
                  onChange={(e) => {
                    const key = (e.target as HTMLSelectElement).value;
                    const edge = layout.edges.find((x) => edgeKey(x) === key);
                    if (edge) toggleEdge(edge);
                  }}
                >
                  <option value="">choose…</option>
                  {layout.edges.map((x) => (
                    <option key={edgeKey(x)} value={edgeKey(x)}>
                      {x.ids.every((id) => cut.has(id)) ? 'restore' : 'cut'} {x.a} ↔ {x.b}
                    </option>
                  ))}
                </select>
              </label>
            )}
            <button type="submit" class="primary" disabled={busy} data-testid="run-collective">
              {busy ? 'Running…' : 'Run collective'}
            </button>
            <span class="muted small">Click a device to fail it, a link to cut it.</span>
          </form>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {result && (
          <p class={result.error ? 'error' : 'result'} data-testid="collective-result">
            {result.error
              ? result.error
              : `${result.op} of ${fmtBytes(result.bytes)} on ${result.ranks} ranks: ${fmtMs(result.timeMs)} (${result.algorithm}), algBw ${fmtNum(result.algBwGBs)} GB/s, busBw ${fmtNum(result.busBwGBs)} GB/s`}
          </p>
        )}
        {live && (
          <p class="muted small" data-testid="live-window">
            Utilisation over the last {live.window.steps} steps ({fmtMs(live.window.modelledMs)} modelled), refreshed
            every 2 s: the serving ranks are coloured by how busy they were (kernels and collectives), the links by
            their traffic.
          </p>
        )}
        {layout && (
          <TopologyGraph
            layout={layout}
            busy={live ? new Map(live.rankBusy.map((r) => [r.rank, r.kernel + r.collective])) : undefined}
            onToggleRank={editable ? toggleRank : undefined}
            onToggleEdge={editable ? toggleEdge : undefined}
          />
        )}
      </div>
      {layout && (
        <div class="panel">
          <h3>Busiest links</h3>
          <table class="table small">
            <thead>
              <tr>
                <th>link</th>
                <th>kind</th>
                <th>GB/s</th>
                <th>busy</th>
              </tr>
            </thead>
            <tbody>
              {busiestEdges(layout).map((e) => (
                <tr key={`${e.a}|${e.b}|${e.kind}`}>
                  <td>
                    {e.a} ↔ {e.b}
                  </td>
                  <td>{e.kind}</td>
                  <td>{fmtNum(e.bandwidthGBs)}</td>
                  <td>{fmtPct(e.utilisation)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {busiestEdges(layout).length === 0 && <p class="muted small">No traffic yet.</p>}
        </div>
      )}
      {live && (
        <div class="panel">
          <h3>Ranks busy (modelled)</h3>
          <table class="table small">
            <thead>
              <tr>
                <th>rank</th>
                <th>kernels</th>
                <th>collectives</th>
              </tr>
            </thead>
            <tbody>
              {live.rankBusy.map((r) => (
                <tr key={r.rank}>
                  <td>{r.rank}</td>
                  <td>{fmtPct(r.kernel)}</td>
                  <td>{fmtPct(r.collective)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
