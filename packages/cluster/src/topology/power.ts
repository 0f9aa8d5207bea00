/**
 * Power of a deployment: N devices of a topology, the systems (servers, racks, supernodes) they occupy, and the kW
 * that draws — accelerators at their board power plus each occupied system's overhead (hosts, switches, optics,
 * cooling as far as the published figure covers them). Every figure carries its source and quality; the report's
 * quality is the worst of its inputs'.
 */
import { type DeviceProperties, type FigureQuality, getBackend, TesseraError } from '@tessera/device';
import { resolveTopology } from '../cluster';
import { type TopologySpec, topologyDevice } from './spec';

export interface SystemPowerReport {
  topology: string;
  device: string;
  /** Devices deployed (N). */
  ranks: number;
  devicesPerNode: number;
  devicesPerSystem: number;
  /** Nodes the N devices occupy: ⌈N / devicesPerNode⌉. */
  nodes: number;
  /** Systems (servers, racks, supernodes) they occupy: ⌈N / devicesPerSystem⌉. */
  systems: number;
  /** One device's board power, kW. */
  perDeviceKW: number;
  /** A full system's power shared over its devices, kW: what one device costs all-in. */
  perDeviceAllInKW: number;
  /**
   * A full node's power, kW: its devices plus the system overhead split evenly over the system's nodes (an even split
   * is our assumption where a system has several nodes: CloudMatrix384's network racks serve all 48 nodes).
   */
  perNodeKW: number;
  /** A full system's power, kW: devicesPerSystem × board power + overhead. */
  perSystemKW: number;
  /** N × board power, kW. */
  acceleratorsKW: number;
  /** systems × overhead, kW: a partly filled system still runs its hosts, switches and fans. */
  overheadKW: number;
  /** acceleratorsKW + overheadKW. */
  totalKW: number;
  /** The published system figure the overhead was derived from, kW (absent where the overhead is an estimate). */
  publishedSystemKW?: number;
  /** The worst of the device's and the overhead's quality (datasheet < second-hand < estimate). */
  quality: FigureQuality;
  deviceQuality: FigureQuality;
  overheadQuality: FigureQuality;
  sources: { device: string; overhead: string };
}

const RANK: Record<FigureQuality, number> = { datasheet: 0, 'second-hand': 1, estimate: 2 };

/** Accelerators per system of a topology: its `power.devicesPerSystem`, or one scale-up domain. */
export function devicesPerSystem(spec: TopologySpec): number {
  return spec.power?.devicesPerSystem ?? spec.devicesPerNode * (spec.scaleUp.domainNodes ?? 1);
}

/**
 * The power of N devices of `spec`, each a `device` (its catalogue entry). Synchronous; `systemPower` looks the device
 * up in the registry for you. N defaults to the whole topology; it may exceed it (N devices then occupy more systems
 * of the same kind — a planning question, not a cluster to simulate).
 */
function noPower(spec: TopologySpec): TesseraError {
  return new TesseraError('Unsupported', `systemPower: topology '${spec.name}' has no system power (power).`, {
    hint: 'Give the topology a power: { overheadW, quality, source } field (see the topology docs of @tessera/cluster).',
  });
}

export function systemPowerOf(spec: TopologySpec, device: DeviceProperties, ranks?: number): SystemPowerReport {
  const n = ranks ?? spec.nodes * spec.devicesPerNode;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new TesseraError(
      'InvalidValue',
      `systemPower: 'ranks' must be a positive integer, got ${JSON.stringify(n)}.`,
    );
  }
  if (device.boardPowerW === undefined) {
    throw new TesseraError('Unsupported', `systemPower: device '${device.id}' has no board power (boardPowerW).`, {
      hint: 'Give the device spec boardPowerW with powerSource and powerQuality.',
    });
  }
  const power = spec.power;
  if (!power) throw noPower(spec);
  const perSystem = devicesPerSystem(spec);
  const nodesPerSystem = perSystem / spec.devicesPerNode;
  // Sums in watts, then kW: watts are integers for every built-in, so the sums are exact.
  const boardW = device.boardPowerW;
  const systems = Math.ceil(n / perSystem);
  const perSystemW = perSystem * boardW + power.overheadW;
  const deviceQuality = device.powerQuality ?? 'estimate';
  const quality = RANK[deviceQuality] >= RANK[power.quality] ? deviceQuality : power.quality;
  return {
    topology: spec.name,
    device: device.id,
    ranks: n,
    devicesPerNode: spec.devicesPerNode,
    devicesPerSystem: perSystem,
    nodes: Math.ceil(n / spec.devicesPerNode),
    systems,
    perDeviceKW: boardW / 1000,
    perDeviceAllInKW: perSystemW / perSystem / 1000,
    perNodeKW: (spec.devicesPerNode * boardW + power.overheadW / nodesPerSystem) / 1000,
    perSystemKW: perSystemW / 1000,
    acceleratorsKW: (n * boardW) / 1000,
    overheadKW: (systems * power.overheadW) / 1000,
    totalKW: (n * boardW + systems * power.overheadW) / 1000,
    ...(power.publishedSystemW !== undefined ? { publishedSystemKW: power.publishedSystemW / 1000 } : {}),
    quality,
    deviceQuality,
    overheadQuality: power.quality,
    sources: { device: device.powerSource ?? '(no source given)', overhead: power.source },
  };
}

/**
 * `systemPower('dgx-h100', 64)`: the power of N devices of a topology (a built-in name, `name xN`, a JSON/YAML path or
 * a spec), with the device's board power looked up in the registry (`getBackend(spec.backend)`), or given.
 */
export async function systemPower(
  topology: string | TopologySpec,
  ranks?: number,
  options: { device?: DeviceProperties } = {},
): Promise<SystemPowerReport> {
  const spec = resolveTopology(topology);
  if (!spec.power) throw noPower(spec); // before looking the device up: that may open one (webgpu-local)
  const device = options.device ?? topologyDevice(await getBackend(spec.backend), spec);
  return systemPowerOf(spec, device, ranks);
}
