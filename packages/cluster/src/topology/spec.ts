/**
 * Topologies as data: every built-in is a TopologySpec, and users load their own from JSON or YAML with the same
 * fields (validated, errors name the field). Bandwidths are GB/s (1e9 B/s) per direction.
 */
import {
  type Backend,
  type DeviceProperties,
  FIGURE_QUALITIES,
  type FigureQuality,
  findDeviceModel,
  TesseraError,
} from '@tessera/device';
import { parse as parseYaml } from 'yaml';

export interface ScaleUpSpec {
  /** `switch`: every device has one link to a switch fabric (NVSwitch, Unified Bus); `mesh`: a link per device pair (HCCS). */
  kind: 'switch' | 'mesh';
  /** Per device (switch) or per pair (mesh), per direction. */
  bandwidthGBs: number;
  /** Latency of one traversal of the fabric, µs. */
  latencyUs: number;
  /** The switches reduce in-network (NVLink SHARP / NVLS). */
  inSwitchReduction?: boolean;
  /** Nodes that share one scale-up domain (1: the node; 48: a CloudMatrix384 supernode). */
  domainNodes?: number;
  /** Within a multi-node domain, crossing nodes goes through a second switch tier: bandwidth factor and extra latency. */
  crossNodeBandwidthFactor?: number;
  crossNodeLatencyUs?: number;
  /** Dies sharing a package (910C: 2) get a direct on-package link of this bandwidth. */
  packageLinkGBs?: number;
  /**
   * One-sided writes (puts) a rank can issue into this fabric, millions of messages per second — the message-rate
   * bound of the one-sided all-to-all (see the collective model). Absent: no published figure, no bound.
   */
  messageRateM?: number;
}

export interface ScaleOutSpec {
  /** Rail-optimised fat-tree: device i of every node hangs off leaf i; leaves meet at a non-blocking spine. */
  kind: 'fat-tree';
  /** NIC bandwidth per device, per direction. */
  nicGBs: number;
  latencyUs: number;
  /** Leaf-to-spine oversubscription (1 = non-blocking). */
  oversubscription?: number;
  /** RDMA writes per second the NIC issues, millions (its datasheet's message rate). Absent: no bound. */
  messageRateM?: number;
}

/**
 * A system's power beyond its accelerators: host CPUs and memory, NICs and DPUs, NVSwitch / UB switch chips, optics,
 * fans or pumps — whatever the published system figure covers. A system is the unit the figure is published for: a
 * DGX/HGX server, a GB200 NVL72 rack, a whole CloudMatrix384 supernode. Accelerator board power (the device's
 * `boardPowerW`) × devicesPerSystem + overheadW = the system's power; where a published system figure exists, the
 * overhead is derived from it that way (`publishedSystemW`), so that the sum reproduces it.
 */
export interface SystemPowerSpec {
  /** Watts per system beyond its accelerators' board power (≥ 0). */
  overheadW: number;
  /** Accelerators (ranks) per system; default: one scale-up domain, devicesPerNode × (scaleUp.domainNodes ?? 1). */
  devicesPerSystem?: number;
  /** The published whole-system figure the overhead was derived from, W; absent when the overhead is an estimate. */
  publishedSystemW?: number;
  /** `datasheet` (the vendor's), `second-hand` (an analyst's, as reported) or `estimate` (ours; the source says how). */
  quality: FigureQuality;
  /** Where the figure comes from, and the derivation of the overhead. */
  source: string;
}

export interface TopologySpec {
  name: string;
  description?: string;
  /** The backend of every rank; `webgpu` is the local WebGPU adapter (real hardware, see `webgpu-local`). */
  backend: 'nvidia-sim' | 'ascend-sim' | 'webgpu';
  /**
   * Device catalogue id of every rank, or `auto` (AUTO_DEVICE): the backend's own device, the first of its catalogue,
   * taken when the cluster is created — the webgpu backend's catalogue is the adapter, known only at run time.
   */
  device: string;
  nodes: number;
  /** Ranks per node (dies on Ascend 910C, each its own device). */
  devicesPerNode: number;
  /** Dies per package (910C: 2); ranks 2k and 2k+1 share a package. */
  diesPerPackage?: number;
  scaleUp: ScaleUpSpec;
  scaleOut?: ScaleOutSpec;
  /** System power beyond the accelerators, with its source (see SystemPowerSpec and `systemPower`). */
  power?: SystemPowerSpec;
  /** Source of each figure, keyed by field. */
  sources?: Record<string, string>;
}

const GBIT = 1 / 8; // GB/s per Gb/s

const NVIDIA_SOURCES = {
  dgx: 'NVIDIA DGX A100 / DGX H100 system architecture white papers; NVSwitch: every GPU reaches every other at its full NVLink bandwidth',
  nvlink:
    'NVLink bandwidth per GPU is quoted bidirectional (A100 600 GB/s, H100 900 GB/s, B200 1.8 TB/s); per direction is half',
  nics: 'DGX A100: 8× 200 Gb/s HDR InfiniBand; DGX H100: 8× 400 Gb/s NDR; one NIC per GPU on its own rail',
  latency:
    'fabric latencies: ≈ 0.5 µs per NVSwitch traversal and ≈ 1.5 µs per InfiniBand switch path (order of magnitude of published port-to-port latencies); protocol latencies are separate (see the collective model)',
};

/**
 * NVIDIA ConnectX-7 (400 Gb/s NDR, the NIC of DGX H100 / HGX H200 / H800 systems and of GB200 NVL72 compute trays):
 * "RDMA message rate 330–370 million messages per second" (ConnectX-7 datasheet, product specifications); the lower
 * end is used.
 */
const CX7_MESSAGE_RATE_M = 330;
const CX7_SOURCE = 'ConnectX-7 datasheet: RDMA message rate 330–370 M messages/s (330 used)';

/**
 * CloudMatrix384's one-sided path (vector cores writing straight into peers' memory over the Unified Bus, "AIV-Direct"
 * in arXiv 2506.12708 §4): no message rate is published. FITTED to one measurement — the paper's FusedDispatch at EP8
 * (116 µs, 128 tokens × top-8 per die): the die issues 7 × (128 + 1) = 903 writes in 116 − 4.6 µs of modelled
 * latency ⇒ 8.1 M writes/s per die. Validated against the paper's EP256 dispatch and EP8/EP256 combine, which it never
 * saw (packages/cluster/README.md). It describes the operator's per-write cost, not a UB link property.
 */
const UB_MESSAGE_RATE_M = 8.1;

/**
 * System power. Derivation everywhere: overhead = published system figure − accelerators per system × the device
 * catalogue's board power (A100 400 W, H100/H200 700 W, B200 1,000 W: NVIDIA datasheets; 910C 400 W per die: our
 * estimate). So accelerators + overhead reproduce the published figure by construction — a test checks the
 * arithmetic, not the model.
 */
const POWER = {
  dgxA100: {
    overheadW: 6500 - 8 * 400,
    devicesPerSystem: 8,
    publishedSystemW: 6500,
    quality: 'datasheet',
    source:
      'NVIDIA DGX A100 datasheet (2020): "System power usage 6.5 kW max". Overhead = 6,500 − 8 × 400 W (A100 SXM max TDP) = 3,300 W: 2 AMD EPYC 7742 CPUs, 6 NVSwitches, ConnectX-6 NICs, NVMe, fans',
  },
  dgxH100: {
    overheadW: 10200 - 8 * 700,
    devicesPerSystem: 8,
    publishedSystemW: 10200,
    quality: 'datasheet',
    source:
      'NVIDIA DGX H100/H200 User Guide, power specifications: "10.2 kW max" (6 × 3.3 kW supplies, 4+2 redundant). Overhead = 10,200 − 8 × 700 W (H100 SXM max TDP) = 4,600 W: 2 Intel Xeon CPUs, 4 NVSwitches, ConnectX-7 NICs, NVMe, fans',
  },
  hgxH200: {
    overheadW: 10200 - 8 * 700,
    devicesPerSystem: 8,
    publishedSystemW: 10200,
    quality: 'datasheet',
    source:
      'HGX H200 is a baseboard sold in OEM servers, with no system figure of its own; NVIDIA\'s own H200 server, DGX H200, is "10.2 kW max" (DGX H100/H200 User Guide). Overhead = 10,200 − 8 × 700 W (H200 SXM max TDP) = 4,600 W. OEM servers differ',
  },
  hgxH800: {
    overheadW: 10200 - 8 * 700,
    devicesPerSystem: 8,
    quality: 'estimate',
    source:
      "ESTIMATE: no published system figure for HGX H800 servers; taken equal to DGX H100's overhead (10.2 kW max − 8 × 700 W = 4,600 W), the same baseboard class with 700 W GPUs, the same host class and 8 ConnectX-7 NICs",
  },
  nvl72: {
    overheadW: 145000 - 72 * 1000,
    devicesPerSystem: 72,
    publishedSystemW: 145000,
    quality: 'second-hand',
    source:
      'SECOND-HAND: SemiAnalysis (April 2025), as reported by TechPowerUp and WinBuzzer: GB200 NVL72 ≈ 145 kW whole-system power (the rack plus its share of the scale-out network and optics; NVIDIA publishes no total — the rack alone is commonly quoted ≈ 120 kW). Overhead = 145,000 − 72 × 1,000 W (B200, HGX configuration, the catalogue device) = 73,000 W: 36 Grace CPUs, 9 NVLink switch trays, NICs and optics, power shelves, and the extra ≈ 200 W per GPU that GB200 configures (1,200 W)',
  },
  atlas800tA2: {
    overheadW: 6500 - 8 * 400,
    devicesPerSystem: 8,
    quality: 'estimate',
    source:
      "ESTIMATE: Huawei's Atlas 800T A2 system power was not found; overhead taken equal to DGX A100's (6.5 kW max − 8 × 400 W = 3,300 W): an air-cooled 8-accelerator server with 200 Gb/s NICs per accelerator (Atlas 800T A2: 4 Kunpeng 920 CPUs, 8 × 200 GE RoCE, no switch chips — HCCS is a direct mesh)",
  },
  cloudmatrix384: {
    overheadW: 559000 - 768 * 400,
    devicesPerSystem: 768,
    publishedSystemW: 559000,
    quality: 'second-hand',
    source:
      "SECOND-HAND: SemiAnalysis (April 2025), as reported by TechPowerUp and WinBuzzer: CloudMatrix384 ≈ 559 kW whole system (16 racks: 12 compute × 32 NPUs, 4 network; 6,912 800G LPO optical transceivers). Huawei publishes no figure. Overhead = 559,000 − 768 dies × 400 W (the catalogue's 910C per-die ESTIMATE) = 251,800 W: 192 Kunpeng CPUs, 336 L1 + 112 L2 UB switch chips, the optics, cooling. The split between dies and overhead inherits the die estimate; the total does not",
  },
} as const satisfies Record<string, SystemPowerSpec>;

export const BUILTIN_TOPOLOGIES: Readonly<Record<string, TopologySpec>> = {
  'dgx-a100': {
    name: 'dgx-a100',
    description: 'DGX A100: 8× A100-SXM4 on NVLink3 through NVSwitch, 8× 200 Gb/s HDR InfiniBand',
    backend: 'nvidia-sim',
    device: 'a100',
    nodes: 1,
    devicesPerNode: 8,
    scaleUp: { kind: 'switch', bandwidthGBs: 300, latencyUs: 0.5 },
    scaleOut: { kind: 'fat-tree', nicGBs: 200 * GBIT, latencyUs: 1.5 },
    power: POWER.dgxA100,
    sources: NVIDIA_SOURCES,
  },
  'dgx-h100': {
    name: 'dgx-h100',
    description: 'DGX H100: 8× H100-SXM5 on NVLink4 through 4 NVSwitches with NVLink SHARP, 8× 400 Gb/s NDR InfiniBand',
    backend: 'nvidia-sim',
    device: 'h100',
    nodes: 1,
    devicesPerNode: 8,
    scaleUp: { kind: 'switch', bandwidthGBs: 450, latencyUs: 0.5, inSwitchReduction: true },
    scaleOut: { kind: 'fat-tree', nicGBs: 400 * GBIT, latencyUs: 1.5, messageRateM: CX7_MESSAGE_RATE_M },
    power: POWER.dgxH100,
    sources: { ...NVIDIA_SOURCES, messageRate: CX7_SOURCE },
  },
  'hgx-h200': {
    name: 'hgx-h200',
    description: 'HGX H200: 8× H200 on NVLink4 through NVSwitch with NVLink SHARP, 8× 400 Gb/s NDR',
    backend: 'nvidia-sim',
    device: 'h200',
    nodes: 1,
    devicesPerNode: 8,
    scaleUp: { kind: 'switch', bandwidthGBs: 450, latencyUs: 0.5, inSwitchReduction: true },
    scaleOut: { kind: 'fat-tree', nicGBs: 400 * GBIT, latencyUs: 1.5, messageRateM: CX7_MESSAGE_RATE_M },
    power: POWER.hgxH200,
    sources: { ...NVIDIA_SOURCES, messageRate: CX7_SOURCE },
  },
  'hgx-h800': {
    name: 'hgx-h800',
    description:
      'HGX H800: 8× H800 (an H100 SXM5 with 8 NVLink4 links: 400 GB/s bidirectional per GPU) through NVSwitch, 8× 400 Gb/s ConnectX-7',
    backend: 'nvidia-sim',
    // The H800's SMs, clocks and HBM are the H100 SXM5's; only its NVLink count (8 instead of 18) and FP64 differ.
    device: 'h100',
    nodes: 1,
    devicesPerNode: 8,
    scaleUp: { kind: 'switch', bandwidthGBs: 200, latencyUs: 0.5, inSwitchReduction: true },
    scaleOut: { kind: 'fat-tree', nicGBs: 400 * GBIT, latencyUs: 1.5, messageRateM: CX7_MESSAGE_RATE_M },
    power: POWER.hgxH800,
    sources: {
      ...NVIDIA_SOURCES,
      h800: 'NVIDIA H800 SXM5: NVLink 400 GB/s bidirectional (8 NVLink4 links × 50 GB/s), i.e. 200 GB/s per direction; DeepEP measures "~160 GB/s NVLink maximum bandwidth" on it (github.com/deepseek-ai/DeepEP README)',
      nics: 'one 400 Gb/s ConnectX-7 InfiniBand NIC per GPU (the DeepEP test machines: "each connected to a CX7 InfiniBand 400 Gb/s RDMA network card")',
      messageRate: CX7_SOURCE,
    },
  },
  nvl72: {
    name: 'nvl72',
    description:
      'GB200 NVL72: 72 Blackwell GPUs in one NVLink5 domain (1.8 TB/s bidirectional per GPU) with in-switch reduction',
    backend: 'nvidia-sim',
    device: 'b200',
    nodes: 1,
    devicesPerNode: 72,
    scaleUp: { kind: 'switch', bandwidthGBs: 900, latencyUs: 0.7, inSwitchReduction: true },
    scaleOut: { kind: 'fat-tree', nicGBs: 400 * GBIT, latencyUs: 1.5, messageRateM: CX7_MESSAGE_RATE_M },
    power: POWER.nvl72,
    sources: {
      ...NVIDIA_SOURCES,
      messageRate: CX7_SOURCE,
      nvl72: 'NVIDIA GB200 NVL72 datasheet: 72 GPUs, 130 TB/s aggregate NVLink bandwidth (1.8 TB/s per GPU)',
    },
  },
  'atlas-800t-a2': {
    name: 'atlas-800t-a2',
    description:
      'Atlas 800T A2: 8× Ascend 910B in an HCCS full mesh (56 GB/s per pair, 392 GB/s per chip), 8× 200 Gb/s RoCE',
    backend: 'ascend-sim',
    device: '910b2',
    nodes: 1,
    devicesPerNode: 8,
    scaleUp: { kind: 'mesh', bandwidthGBs: 56, latencyUs: 1 },
    scaleOut: { kind: 'fat-tree', nicGBs: 200 * GBIT, latencyUs: 2 },
    power: POWER.atlas800tA2,
    sources: {
      hccs: 'Atlas 800T A2 HCCS: full mesh of 8 NPUs, 56 GB/s per pair, 392 GB/s per chip (Huawei; arXiv 2506.12708 §3)',
      rdma: '8× 200 Gb/s RoCE NICs per server (one per NPU)',
      latency: 'HCCS hop latency: no public figure; ≈ 1 µs assumed',
    },
  },
  cloudmatrix384: {
    name: 'cloudmatrix384',
    description:
      'CloudMatrix384: 48 nodes × 8 Ascend 910C (768 dies) on a two-tier non-blocking Unified Bus (196 GB/s per die), plus a 200 Gb/s-per-die RDMA plane',
    backend: 'ascend-sim',
    device: '910c',
    nodes: 48,
    devicesPerNode: 16,
    diesPerPackage: 2,
    scaleUp: {
      kind: 'switch',
      bandwidthGBs: 196,
      latencyUs: 0.5,
      domainNodes: 48,
      crossNodeBandwidthFactor: 0.97,
      crossNodeLatencyUs: 1,
      packageLinkGBs: 196,
      messageRateM: UB_MESSAGE_RATE_M,
    },
    scaleOut: { kind: 'fat-tree', nicGBs: 200 * GBIT, latencyUs: 2 },
    power: POWER.cloudmatrix384,
    sources: {
      supernode:
        'arXiv 2506.12708 (Serving Large Language Models on Huawei CloudMatrix384): 48 nodes × 8 910C, 7 L1 UB switch chips per node, L2 UB switches in 7 sub-planes, non-blocking',
      ub: 'Unified Bus: 392 GB/s unidirectional per 910C (7 links per die = 196 GB/s per die); crossing nodes costs < 3 % bandwidth and < 1 µs latency',
      rdma: 'separate RDMA plane: 200 Gb/s per die (RoCE), used for scale-out',
      packageLink:
        'the two dies of a package are linked on-package; no public bandwidth figure: taken equal to a die’s UB bandwidth',
      latency: 'UB switch traversal: ≈ 0.5 µs assumed (the paper gives the < 1 µs cross-node increment only)',
      messageRate:
        'no published UB message rate: 8.1 M one-sided writes/s per die FITTED to the paper’s FusedDispatch at EP8 (116 µs); validated on EP256 dispatch and EP8/EP256 combine',
    },
  },
};

/** A topology's `device` that stands for the backend's own device: its catalogue's first entry at cluster creation. */
export const AUTO_DEVICE = 'auto';

/** The device of a topology's ranks in `backend`: its catalogue entry, or for `auto` the backend's first device. */
export function topologyDevice(backend: Backend, spec: TopologySpec): DeviceProperties {
  if (spec.device.trim().toLowerCase() !== AUTO_DEVICE) return findDeviceModel(backend, spec.device);
  const first = backend.catalog()[0];
  if (!first)
    throw new TesseraError('InvalidDevice', `Topology '${spec.name}': backend '${backend.name}' has no devices.`);
  return first;
}

/**
 * Host memory between ranks that share one WebGPU adapter: a transfer is a read-back into host memory and an upload
 * from it, through Dawn's staging buffers. ESTIMATE, the same figures as the adapter's host link (backend-webgpu's
 * properties: 10 GB/s, 20 µs per leg); no WebGPU query exists.
 */
const HOST_MEMORY_LINK = { bandwidthGBs: 10, latencyUs: 40 };

/**
 * Topologies of the hardware this process runs on, not systems one can buy: no power figures, not projection targets
 * (`BUILTIN_TOPOLOGIES` lists those), and their device is the backend's own (`auto`). `builtinTopology` resolves them
 * as it resolves the built-ins; `webgpu-localxN` is N ranks sharing the one adapter (tensor parallelism on one GPU:
 * each rank has its own memory, collectives go through host memory; every rank is shown the adapter's whole capacity).
 */
export const LOCAL_TOPOLOGIES: Readonly<Record<string, TopologySpec>> = {
  'webgpu-local': {
    name: 'webgpu-local',
    description: "this machine's WebGPU adapter (Dawn): a real GPU, or Mesa's llvmpipe software rasteriser on the CPU",
    backend: 'webgpu',
    device: AUTO_DEVICE,
    nodes: 1,
    devicesPerNode: 1,
    scaleUp: { kind: 'switch', ...HOST_MEMORY_LINK },
    sources: {
      device: "the webgpu backend's catalogue: the one adapter of the process (its id from the adapter's name)",
      scaleUp:
        'ESTIMATE: ranks sharing the adapter (webgpu-localxN) exchange data through host memory — a read-back and an upload of 10 GB/s and 20 µs each, as the adapter’s host link',
    },
  },
};

/**
 * Resolves a topology name: a built-in (`dgx-h100`), a built-in times N nodes (`dgx-h100x4`, `atlas-800t-a2x2`), a
 * local topology (`webgpu-local`), or N ranks sharing a local one's device (`webgpu-localx2`).
 */
export function builtinTopology(name: string): TopologySpec {
  const key = name.trim().toLowerCase();
  const direct = BUILTIN_TOPOLOGIES[key] ?? LOCAL_TOPOLOGIES[key];
  if (direct) return direct;
  const m = /^(.+)x(\d+)$/.exec(key);
  const local = m ? LOCAL_TOPOLOGIES[m[1]!] : undefined;
  if (m && local) {
    const count = Number(m[2]);
    if (!Number.isInteger(count) || count < 1 || count > 64) {
      throw new TesseraError(
        'InvalidValue',
        `Topology '${name}': the number of ranks sharing the device must be 1..64.`,
      );
    }
    return {
      ...local,
      name: key,
      description: `${count} ranks sharing ${local.description}, linked through host memory`,
      devicesPerNode: local.devicesPerNode * count,
    };
  }
  const base = m ? BUILTIN_TOPOLOGIES[m[1]!] : undefined;
  if (m && base) {
    const count = Number(m[2]);
    if (!Number.isInteger(count) || count < 1 || count > 1024) {
      throw new TesseraError('InvalidValue', `Topology '${name}': the node count must be 1..1024.`);
    }
    if (!base.scaleOut)
      throw new TesseraError('InvalidValue', `Topology '${m[1]}' has no scale-out network to join ${count} of them.`);
    const domains = base.nodes * count;
    return {
      ...base,
      name: key,
      description: `${count}× ${base.description} over a rail-optimised fat-tree`,
      nodes: domains,
      // Each copy keeps its own scale-up domain; copies talk over the scale-out network.
      scaleUp: { ...base.scaleUp, domainNodes: base.scaleUp.domainNodes ?? 1 },
    };
  }
  throw new TesseraError('InvalidValue', `Unknown topology '${name}'.`, {
    hint: `Built in: ${Object.keys(BUILTIN_TOPOLOGIES).join(', ')} — append xN for N of them on a fat-tree (dgx-h100x4); local: ${Object.keys(LOCAL_TOPOLOGIES).join(', ')} (xN: N ranks sharing the device); or load a JSON/YAML spec.`,
  });
}

function fail(source: string, field: string, want: string, got: unknown): never {
  throw new TesseraError('InvalidValue', `${source}: '${field}' must be ${want}, got ${JSON.stringify(got)}.`, {
    hint: 'See the topology docs of @tessera/cluster for a complete example.',
  });
}

function positive(o: Record<string, unknown>, f: string, source: string, int = false): number {
  const v = o[f];
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (int && !Number.isInteger(v))) {
    fail(source, f, int ? 'a positive integer' : 'a positive number', v);
  }
  return v;
}

function validatePower(raw: unknown, source: string, devicesPerNode: number): void {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    fail(source, 'power', 'an object { overheadW, quality, source, devicesPerSystem?, publishedSystemW? }', raw);
  const p = raw as Record<string, unknown>;
  const where = `${source} power`;
  if (typeof p.overheadW !== 'number' || !Number.isFinite(p.overheadW) || p.overheadW < 0)
    fail(where, 'overheadW', 'a number of watts ≥ 0', p.overheadW);
  if (!FIGURE_QUALITIES.includes(p.quality as FigureQuality))
    fail(where, 'quality', FIGURE_QUALITIES.map((q) => `"${q}"`).join(', '), p.quality);
  if (typeof p.source !== 'string' || p.source.trim() === '')
    fail(where, 'source', 'a non-empty string (where the figure comes from)', p.source);
  if (p.devicesPerSystem !== undefined) {
    const d = positive(p, 'devicesPerSystem', where, true);
    if (d % devicesPerNode !== 0)
      fail(where, 'devicesPerSystem', `a multiple of devicesPerNode (${devicesPerNode}): a system is whole nodes`, d);
  }
  if (p.publishedSystemW !== undefined) {
    const w = positive(p, 'publishedSystemW', where);
    if (w < p.overheadW) fail(where, 'publishedSystemW', `at least overheadW (${p.overheadW})`, w);
  }
}

/** Validates a parsed spec (from JSON or YAML). */
export function validateTopologySpec(raw: unknown, source = 'topology'): TopologySpec {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new TesseraError('InvalidValue', `${source}: a topology must be an object.`);
  const o = raw as Record<string, unknown>;
  if (typeof o.name !== 'string' || !o.name) fail(source, 'name', 'a non-empty string', o.name);
  if (o.backend !== 'nvidia-sim' && o.backend !== 'ascend-sim' && o.backend !== 'webgpu')
    fail(source, 'backend', '"nvidia-sim", "ascend-sim" or "webgpu"', o.backend);
  if (typeof o.device !== 'string' || !o.device)
    fail(
      source,
      'device',
      `a device id (tessera devices lists them), or "${AUTO_DEVICE}" for the backend's own`,
      o.device,
    );
  const nodes = positive(o, 'nodes', source, true);
  const per = positive(o, 'devicesPerNode', source, true);
  if (o.diesPerPackage !== undefined) {
    const d = positive(o, 'diesPerPackage', source, true);
    if (per % d !== 0) fail(source, 'diesPerPackage', `a divisor of devicesPerNode (${per})`, d);
  }
  const su = o.scaleUp as Record<string, unknown> | undefined;
  if (!su || typeof su !== 'object') fail(source, 'scaleUp', 'an object', su);
  if (su.kind !== 'switch' && su.kind !== 'mesh') fail(source, 'scaleUp.kind', '"switch" or "mesh"', su.kind);
  positive(su, 'bandwidthGBs', `${source} scaleUp`);
  positive(su, 'latencyUs', `${source} scaleUp`);
  if (su.domainNodes !== undefined) {
    const dn = positive(su, 'domainNodes', `${source} scaleUp`, true);
    if (nodes % dn !== 0) fail(source, 'scaleUp.domainNodes', `a divisor of nodes (${nodes})`, dn);
  }
  if (su.messageRateM !== undefined) positive(su, 'messageRateM', `${source} scaleUp`);
  if (su.crossNodeBandwidthFactor !== undefined) {
    const f = su.crossNodeBandwidthFactor;
    if (typeof f !== 'number' || !(f > 0 && f <= 1))
      fail(source, 'scaleUp.crossNodeBandwidthFactor', 'a number in (0, 1]', f);
  }
  const so = o.scaleOut as Record<string, unknown> | undefined;
  if (so !== undefined) {
    if (typeof so !== 'object' || so === null || so.kind !== 'fat-tree')
      fail(source, 'scaleOut.kind', '"fat-tree"', so?.kind);
    positive(so, 'nicGBs', `${source} scaleOut`);
    positive(so, 'latencyUs', `${source} scaleOut`);
    if (so.messageRateM !== undefined) positive(so, 'messageRateM', `${source} scaleOut`);
  }
  if (o.power !== undefined) validatePower(o.power, source, per);
  const domains = nodes / ((su.domainNodes as number | undefined) ?? 1);
  if (domains > 1 && !so) fail(source, 'scaleOut', 'present when there is more than one scale-up domain', so);
  return raw as TopologySpec;
}

/** Parses a JSON or YAML topology document (YAML is a superset of JSON). */
export function parseTopologySpec(text: string, source = 'topology'): TopologySpec {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new TesseraError(
      'InvalidValue',
      `${source} is not valid JSON or YAML: ${(e as Error).message.split('\n')[0]}`,
    );
  }
  return validateTopologySpec(raw, source);
}
