/**
 * The topology drawing: devices in a row, switches above (scale-up) and below (scale-out), each link coloured by its
 * utilisation; cut links dashed red, failed devices crossed out. Devices and links toggle faults when `onToggle*` is
 * given (click, or Enter/Space when focused).
 */

import { fmtPct } from '../data/format';
import { type Edge, type TopologyLayout, utilisationColour } from '../data/topology';

interface Props {
  layout: TopologyLayout;
  /** Serving ranks' busy fraction (kernels + collectives over the window): those devices are coloured by it. */
  busy?: ReadonlyMap<number, number>;
  onToggleRank?: (rank: number) => void;
  onToggleEdge?: (edge: Edge) => void;
}

function edgePath(layout: TopologyLayout, e: Edge): string {
  const a = layout.byId.get(e.a);
  const b = layout.byId.get(e.b);
  if (!a || !b) return '';
  if (e.deviceToDevice) {
    // A mesh link between two devices of the row: an arc below the row, deeper for farther pairs.
    const depth = Math.min(60, 8 + Math.abs(a.x - b.x) / 4);
    return `M${a.x} ${a.y} Q${(a.x + b.x) / 2} ${a.y + depth} ${b.x} ${b.y}`;
  }
  return `M${a.x} ${a.y} L${b.x} ${b.y}`;
}

const activate = (fn: () => void) => (e: KeyboardEvent) => {
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    fn();
  }
};

export function TopologyGraph({ layout, busy, onToggleRank, onToggleEdge }: Props) {
  const r = Math.max(2, Math.min(12, layout.pitch * 0.35));
  const devices = layout.nodes.filter((n) => n.kind === 'device').length;
  const focusable = devices <= 64;
  // Text only where it stays legible: up to 16 devices (one DGX/HGX node, two Atlas servers).
  const labels = devices <= 16;
  return (
    <figure class="topology-figure" aria-label="Topology: devices, switches and links coloured by utilisation">
      <svg class="topology" viewBox={`0 0 ${layout.width} ${layout.height}`} data-testid="topology">
        <title>Topology: devices in a row, scale-up switches above, scale-out switches below</title>
        <g class="edges">
          {layout.edges.map((e) => (
            // biome-ignore lint/a11y/noStaticElementInteractions: a pointer shortcut; the form's "Cut link" select is the keyboard path
            <path
              key={`${e.a}|${e.b}|${e.kind}`}
              d={edgePath(layout, e)}
              class={`edge ${e.kind}${e.cut ? ' cut' : ''}`}
              stroke={e.cut ? '#c53030' : utilisationColour(e.utilisation)}
              stroke-width={e.utilisation > 0 ? 1 + 3 * e.utilisation : 1}
              fill="none"
              data-utilisation={e.utilisation.toFixed(4)}
              onClick={onToggleEdge ? () => onToggleEdge(e) : undefined}
            >
              <title>
                {e.a} ↔ {e.b} ({e.kind}, {e.bandwidthGBs} GB/s): {e.cut ? 'cut' : `${fmtPct(e.utilisation)} busy`}
                {e.degraded < 1 ? `, degraded to ${fmtPct(e.degraded)}` : ''}
                {onToggleEdge ? ' — click to cut or restore' : ''}
              </title>
            </path>
          ))}
        </g>
        <g class="nodes">
          {layout.nodes.map((n) =>
            n.kind === 'device' ? (
              // biome-ignore lint/a11y/noStaticElementInteractions lint/a11y/useAriaPropsSupportedByRole: role="button" is set whenever the handlers are
              <g
                key={n.id}
                class={`device${n.failed ? ' failed' : ''}`}
                tabIndex={focusable && onToggleRank ? 0 : undefined}
                role={onToggleRank ? 'button' : undefined}
                aria-label={`${n.label}${n.failed ? ' (failed)' : ''}`}
                aria-pressed={onToggleRank ? n.failed : undefined}
                onClick={onToggleRank && n.rank !== null ? () => onToggleRank(n.rank!) : undefined}
                onKeyDown={onToggleRank && n.rank !== null ? activate(() => onToggleRank(n.rank!)) : undefined}
              >
                <rect
                  x={n.x - r}
                  y={n.y - r}
                  width={2 * r}
                  height={2 * r}
                  rx={r / 4}
                  class={n.rank !== null && busy?.has(n.rank) ? 'serving' : undefined}
                  style={
                    n.rank !== null && busy?.has(n.rank) && !n.failed
                      ? { fill: utilisationColour(Math.max(0.05, busy.get(n.rank)!)) }
                      : undefined
                  }
                />
                {labels && (
                  <text x={n.x} y={n.y + r + 11} class="node-label" text-anchor="middle">
                    {n.rank}
                  </text>
                )}
                {n.failed && (
                  <path
                    d={`M${n.x - r} ${n.y - r}L${n.x + r} ${n.y + r}M${n.x + r} ${n.y - r}L${n.x - r} ${n.y + r}`}
                    class="cross"
                  />
                )}
                <title>
                  {n.label}
                  {n.failed ? ' — failed' : ''}
                </title>
              </g>
            ) : (
              <g key={n.id} class="switch">
                <rect x={n.x - r * 1.6} y={n.y - r * 0.8} width={r * 3.2} height={r * 1.6} rx={r * 0.4} />
                {labels && (
                  <text x={n.x} y={n.y + 3.5} class="node-label" text-anchor="middle">
                    {n.label.length > 8 ? `${n.label.slice(0, 7)}…` : n.label}
                  </text>
                )}
                <title>{n.label}</title>
              </g>
            ),
          )}
        </g>
      </svg>
    </figure>
  );
}
