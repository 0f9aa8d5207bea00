/**
 * uPlot in a Preact component: created once per `options` identity, fed new data with setData (no re-creation while
 * a feed streams), sized to its container by a ResizeObserver (so it follows the layout on a narrow screen and wakes
 * up when a hidden view is shown). The fixed height keeps the page from shifting as data arrives.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartProps {
  /** Everything but width/height (the container decides those). */
  options: Omit<uPlot.Options, 'width' | 'height'>;
  data: uPlot.AlignedData;
  height?: number;
  /** Receives the uPlot instance (for PNG export). */
  onReady?: (plot: uPlot) => void;
  label: string;
  testId?: string;
}

export function Chart({ options, data, height = 220, onReady, label, testId }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(data);
  latest.current = data;

  useEffect(() => {
    const el = box.current!;
    const width = Math.max(200, el.clientWidth || 600);
    const p = new uPlot({ ...options, width, height } as uPlot.Options, latest.current, el);
    plot.current = p;
    onReady?.(p);
    const ro = new ResizeObserver(() => {
      const w = el.clientWidth;
      if (w > 0 && Math.abs(w - p.width) > 1) p.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      p.destroy();
      plot.current = null;
    };
  }, [options, height]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  // What is drawn, as attributes: the series' labels and how many points each has (for tests and assistive tools).
  const labels = options.series.slice(1).map((s) => String(s.label ?? ''));
  const points = data.slice(1).map((col) => (col as ArrayLike<number | null>).length - countNulls(col));
  return (
    <div
      class="chart"
      ref={box}
      style={{ minHeight: `${height + 40}px` }}
      role="img"
      aria-label={label}
      data-testid={testId}
      data-series={labels.join('|')}
      data-points={points.join(',')}
    />
  );
}

function countNulls(col: ArrayLike<number | null | undefined>): number {
  let n = 0;
  for (let i = 0; i < col.length; i++) if (col[i] === null || col[i] === undefined) n++;
  return n;
}
