/**
 * Validation of device specs given as JSON (user-added devices): every field checked, with errors that name the
 * field and say what is expected. Backends call this from `addDevice`.
 */
import { DTYPES, type DType } from '../dtype/dtype';
import { TesseraError } from '../errors';
import { type DeviceProperties, FIGURE_QUALITIES, type FigureQuality } from './properties';

type Obj = Record<string, unknown>;

function fail(source: string, field: string, want: string, got: unknown): never {
  throw new TesseraError('InvalidValue', `${source}: field '${field}' must be ${want}, got ${JSON.stringify(got)}.`, {
    hint: 'See the device catalogue docs of the backend for a complete example spec.',
  });
}

function num(o: Obj, f: string, source: string, opts: { int?: boolean; min?: number } = {}): number {
  const v = o[f];
  const min = opts.min ?? 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (opts.int && !Number.isInteger(v))) {
    fail(source, f, `${opts.int ? 'an integer' : 'a number'} ≥ ${min}`, v);
  }
  return v;
}

function str(o: Obj, f: string, source: string): string {
  const v = o[f];
  if (typeof v !== 'string' || v.trim() === '') fail(source, f, 'a non-empty string', v);
  return v;
}

function obj(o: Obj, f: string, source: string): Obj {
  const v = o[f];
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(source, f, 'an object', v);
  return v as Obj;
}

function triple(o: Obj, f: string, source: string): [number, number, number] {
  const v = o[f];
  if (!Array.isArray(v) || v.length !== 3 || v.some((x) => !Number.isInteger(x) || x < 1)) {
    fail(source, f, 'three integers ≥ 1', v);
  }
  return v as [number, number, number];
}

function rates(o: Obj, f: string, source: string): Record<string, number> {
  const r = obj(o, f, source);
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(r)) {
    if (![...DTYPES, 'tf32', 'bool'].includes(k))
      fail(source, `${f}.${k}`, `a dtype key (${DTYPES.join(', ')}, tf32)`, k);
    if (typeof v !== 'number' || !(v > 0)) fail(source, `${f}.${k}`, 'a positive number (TFLOPS)', v);
    out[k] = v;
  }
  return out;
}

/** The optional board-power figure: a positive number of watts, with its source and quality, or nothing at all. */
function power(o: Obj, source: string): Pick<DeviceProperties, 'boardPowerW' | 'powerSource' | 'powerQuality'> {
  if (o.boardPowerW === undefined) {
    for (const f of ['powerSource', 'powerQuality'] as const) {
      if (o[f] !== undefined) fail(source, f, 'absent when boardPowerW is (it describes boardPowerW)', o[f]);
    }
    return {};
  }
  const w = o.boardPowerW;
  if (typeof w !== 'number' || !Number.isFinite(w) || w <= 0)
    fail(source, 'boardPowerW', 'a positive number of watts', w);
  const q = o.powerQuality;
  if (!FIGURE_QUALITIES.includes(q as FigureQuality)) {
    fail(source, 'powerQuality', `one of ${FIGURE_QUALITIES.map((x) => `"${x}"`).join(', ')} (with boardPowerW)`, q);
  }
  return { boardPowerW: w, powerSource: str(o, 'powerSource', source), powerQuality: q as FigureQuality };
}

/**
 * Checks a device spec and returns it as DeviceProperties. `defaults` fills fields the spec leaves out (a backend
 * passes its vendor-wide SIMT limits), so a user spec can be short.
 */
export function validateDeviceSpec(
  spec: unknown,
  source: string,
  defaults: Partial<DeviceProperties> = {},
): DeviceProperties {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw new TesseraError('InvalidValue', `${source}: a device spec must be a JSON object.`);
  }
  const o = { ...defaults, ...(spec as Obj) } as Obj;
  const id = str(o, 'id', source).toLowerCase();
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(id)) fail(source, 'id', 'lower-case letters, digits, . _ -', o.id);
  const onChip = obj(o, 'onChip', source);
  const peak = obj(o, 'peakTflops', source);
  const host = obj(o, 'hostLink', source);
  const dtypes = o.dtypes;
  if (!Array.isArray(dtypes) || dtypes.length === 0 || dtypes.some((d) => !(DTYPES as readonly string[]).includes(d))) {
    fail(source, 'dtypes', `a non-empty list of ${DTYPES.join(', ')}`, dtypes);
  }
  const subUnits = o.subUnits;
  if (
    !Array.isArray(subUnits) ||
    subUnits.some((u) => !u || typeof u.name !== 'string' || !(u.perUnit > 0) || !['matrix', 'vector'].includes(u.role))
  ) {
    fail(source, 'subUnits', 'a list of { name, perUnit > 0, role: "matrix" | "vector" }', subUnits);
  }
  const vendor = str(o, 'vendor', source);
  if (!['nvidia', 'huawei', 'tessera'].includes(vendor))
    fail(source, 'vendor', '"nvidia", "huawei" or "tessera"', vendor);
  const sources = o.sources ?? {};
  if (typeof sources !== 'object' || sources === null) fail(source, 'sources', 'an object of field → source', sources);
  const matrix = rates(peak, 'matrix', `${source} peakTflops`);
  const vector = rates(peak, 'vector', `${source} peakTflops`);
  if (Object.keys(vector).length === 0) fail(source, 'peakTflops.vector', 'at least one dtype rate', peak.vector);
  return {
    id,
    name: str(o, 'name', source),
    vendor: vendor as DeviceProperties['vendor'],
    architecture: str(o, 'architecture', source),
    computeCapability: String(o.computeCapability ?? ''),
    computeUnits: num(o, 'computeUnits', source, { int: true, min: 1 }),
    computeUnitName: str(o, 'computeUnitName', source),
    subUnits: subUnits as DeviceProperties['subUnits'],
    clockGHz: num(o, 'clockGHz', source, { min: 0.01 }),
    memoryBytes: num(o, 'memoryBytes', source, { int: true, min: 1 }),
    memoryType: str(o, 'memoryType', source),
    memoryBandwidthGBs: num(o, 'memoryBandwidthGBs', source, { min: 0.001 }),
    l2Bytes: num(o, 'l2Bytes', source, { int: true }),
    onChip: {
      sharedPerUnit: num(onChip, 'sharedPerUnit', `${source} onChip`, { int: true, min: 1 }),
      sharedPerBlock: num(onChip, 'sharedPerBlock', `${source} onChip`, { int: true, min: 1 }),
      sharedPerBlockOptin: num(onChip, 'sharedPerBlockOptin', `${source} onChip`, { int: true, min: 1 }),
      registersPerUnit: num(onChip, 'registersPerUnit', `${source} onChip`, { int: true }),
      sharedAlignment: num(onChip, 'sharedAlignment', `${source} onChip`, { int: true, min: 1 }),
      ...(onChip.l1 !== undefined ? { l1: num(onChip, 'l1', `${source} onChip`, { int: true }) } : {}),
      ...(onChip.l0a !== undefined ? { l0a: num(onChip, 'l0a', `${source} onChip`, { int: true }) } : {}),
      ...(onChip.l0b !== undefined ? { l0b: num(onChip, 'l0b', `${source} onChip`, { int: true }) } : {}),
      ...(onChip.l0c !== undefined ? { l0c: num(onChip, 'l0c', `${source} onChip`, { int: true }) } : {}),
    },
    warpSize: num(o, 'warpSize', source, { int: true, min: 1 }),
    maxThreadsPerBlock: num(o, 'maxThreadsPerBlock', source, { int: true, min: 1 }),
    maxThreadsPerUnit: num(o, 'maxThreadsPerUnit', source, { int: true, min: 1 }),
    maxBlocksPerUnit: num(o, 'maxBlocksPerUnit', source, { int: true, min: 1 }),
    maxBlockDim: triple(o, 'maxBlockDim', source),
    maxGridDim: triple(o, 'maxGridDim', source),
    dtypes: dtypes as DType[],
    peakTflops: { matrix, vector, special: num(peak, 'special', `${source} peakTflops`, { min: 0.000001 }) },
    hostLink: {
      name: str(host, 'name', `${source} hostLink`),
      pinnedGBs: num(host, 'pinnedGBs', `${source} hostLink`, { min: 0.001 }),
      pageableGBs: num(host, 'pageableGBs', `${source} hostLink`, { min: 0.001 }),
      latencyUs: num(host, 'latencyUs', `${source} hostLink`),
    },
    sources: sources as Record<string, string>,
    ...power(o, source),
    ...(typeof o.notes === 'string' ? { notes: o.notes } : {}),
  };
}
