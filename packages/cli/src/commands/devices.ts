/** `tessera devices`: every simulated device (or a real adapter: `--backend webgpu`) and its properties, as a table or JSON. */
import type { Backend, DeviceProperties } from '@tessera/device';
import { fmtBytes, table } from '../format';

export interface DeviceJson {
  id: string;
  backend: string;
  name: string;
  vendor: string;
  architecture: string;
  compute_units: number;
  compute_unit_name: string;
  clock_ghz: number;
  memory_bytes: number;
  memory_bandwidth_gbs: number;
  l2_bytes: number;
  /** Dense matrix-unit TFLOPS by dtype (f32: IEEE FP32 on vector units where the matrix unit lacks it). */
  peak_tflops: Record<string, number>;
  /** Elementwise tera-ops/s by dtype. */
  vector_tops: Record<string, number>;
  dtypes: readonly string[];
  host_link: string;
  /** Board power, W (the vendor's maximum), with its source and quality; null when the device has none. */
  board_power_w: number | null;
  power_source: string | null;
  /** `datasheet`, `second-hand` or `estimate`. */
  power_quality: string | null;
  sources: Record<string, string>;
}

export function deviceJson(backend: Backend, d: DeviceProperties): DeviceJson {
  const round = (o: Partial<Record<string, number>>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round((v ?? 0) * 10) / 10]));
  return {
    id: d.id,
    backend: backend.name,
    name: d.name,
    vendor: d.vendor,
    architecture: d.architecture,
    compute_units: d.computeUnits,
    compute_unit_name: d.computeUnitName,
    clock_ghz: Math.round(d.clockGHz * 1000) / 1000,
    memory_bytes: d.memoryBytes,
    memory_bandwidth_gbs: d.memoryBandwidthGBs,
    l2_bytes: d.l2Bytes,
    peak_tflops: round(d.peakTflops.matrix),
    vector_tops: round(d.peakTflops.vector),
    dtypes: d.dtypes,
    host_link: `${d.hostLink.name} (${d.hostLink.pinnedGBs} GB/s pinned)`,
    board_power_w: d.boardPowerW ?? null,
    power_source: d.powerSource ?? null,
    power_quality: d.powerQuality ?? null,
    sources: d.sources,
  };
}

/** Marks after a power figure that is not the vendor's own. */
const QUALITY_MARK: Record<string, string> = { 'second-hand': '*', estimate: '~' };

export function devicesCommand(backends: readonly Backend[], json: boolean): string {
  const list = backends.flatMap((b) => b.catalog().map((d) => deviceJson(b, d)));
  if (json) return JSON.stringify(list, null, 2);
  const rows = list.map((d) => [
    d.id,
    d.name,
    d.backend,
    `${d.compute_units} ${d.compute_unit_name}s`,
    `${d.clock_ghz.toFixed(2)} GHz`,
    fmtBytes(d.memory_bytes),
    `${(d.memory_bandwidth_gbs / 1000).toFixed(2)} TB/s`,
    fmtBytes(d.l2_bytes),
    `${d.peak_tflops.bf16 ?? '-'}`,
    `${d.peak_tflops.fp8e4m3 ?? '-'}`,
    `${d.peak_tflops.i8 ?? '-'}`,
    d.host_link.split(' (')[0]!,
    d.board_power_w === null ? '-' : `${d.board_power_w} W${QUALITY_MARK[d.power_quality ?? ''] ?? ''}`,
  ]);
  const head = [
    'ID',
    'Name',
    'Backend',
    'Units',
    'Clock',
    'Memory',
    'HBM BW',
    'L2',
    'BF16 TF',
    'FP8 TF',
    'INT8 TOPS',
    'Host link',
    'Power',
  ];
  // A real adapter's figures (webgpu) are the catalogue's when it is a known product, else estimates: say which.
  const estimated = list.filter((d) => /^estimate/i.test(d.sources.peakTflops ?? '')).map((d) => d.id);
  const note = estimated.length
    ? `\n${estimated.join(', ')}: a WebGPU adapter, which reports no peak rates or bandwidth — its figures are estimates (see their sources).`
    : '';
  return `${table(head, rows)}\nDense peak figures from datasheets; power is board power (max), * second-hand, ~ our estimate; \`tessera devices --json\` lists every figure with its source.${note}`;
}
