/**
 * A small Perfetto: one lane per rank, the last steps end to end on the modelled clock, kernels and collectives in
 * two colours (and two patterns: colour is never the only cue), step boundaries as ticks. SVG scaled by a viewBox, so
 * the drawing fits any width without re-layout.
 */
import type { TimelineLayout } from '../data/engine';
import { fmtMs } from '../data/format';

const LANE = 18;
const LABEL = 64;
const WIDTH = 1000;

export function Timeline({ layout }: { layout: TimelineLayout }) {
  const span = layout.spanMs || 1;
  const scale = (WIDTH - LABEL) / span;
  const height = layout.lanes.length * LANE + 22;
  return (
    <svg
      class="timeline"
      viewBox={`0 0 ${WIDTH} ${height}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={`Per-rank timeline of the last ${layout.stepStarts.length} steps: ${fmtMs(span)} modelled`}
      data-testid="timeline"
      style={{ height: `${height}px` }}
    >
      <defs>
        <pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
          <rect width="4" height="4" fill="var(--collective)" />
          <line x1="0" y1="0" x2="0" y2="4" stroke="rgba(255,255,255,.55)" stroke-width="1.5" />
        </pattern>
      </defs>
      {layout.lanes.map((lane, i) => (
        <g key={lane.rank} transform={`translate(0 ${i * LANE})`}>
          <text x="4" y={LANE - 5} class="lane-label">
            rank {lane.rank}
          </text>
          {lane.bars.map((b, j) => (
            <rect
              key={j}
              x={LABEL + b.x0 * scale}
              y={2}
              width={Math.max(0.5, (b.x1 - b.x0) * scale)}
              height={LANE - 4}
              class={`op ${b.kind}`}
              fill={b.kind === 'collective' ? 'url(#hatch)' : undefined}
            >
              <title>
                {b.name} ({b.kind}, step {b.step}): {fmtMs(b.x1 - b.x0)}
              </title>
            </rect>
          ))}
        </g>
      ))}
      {layout.stepStarts.map((s) => (
        <g key={s.step}>
          <line x1={LABEL + s.x * scale} x2={LABEL + s.x * scale} y1={0} y2={height - 18} class="step-tick" />
          <text x={LABEL + s.x * scale + 2} y={height - 5} class="step-label">
            {s.step}
          </text>
        </g>
      ))}
    </svg>
  );
}
