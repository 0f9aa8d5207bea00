/**
 * @tessera/cluster — topologies up to CloudMatrix384, NCCL/HCCL-style collectives on simulated devices, a flow-level
 * network model, device meshes with SPMD launch, and fault injection.
 */
// Registers the backends the built-in topologies use, before anything can create a cluster (webgpu: lazily).
import './register-backends';

export { Cluster, type ClusterOptions, createCluster, resolveTopology } from './cluster';
export {
  type ByteFlow,
  CollectiveCostModel,
  type CollectiveEstimate,
  type CostOptions,
  IN_SWITCH_EFFICIENCY,
  LINK_EFFICIENCY,
  ONE_SIDED_LAUNCH_US,
  PROTOCOL_CONSTANTS,
  PROTOCOLS,
  type Protocol,
} from './collectives/cost';
export { REDUCE_OPS, type ReduceOp } from './collectives/functional';
export { ALGORITHMS, type Algorithm, buildPlan, type CollectiveOp, candidateAlgorithms } from './collectives/plans';
export { type CollectiveOptions, type CollectiveResult, Communicator } from './communicator';
export { type Coords, DeviceMesh, type SpmdContext } from './mesh';
export { evaluatePhase, type Flow, type PhaseCost } from './network/flows';
export { type Link, type LinkKind, TopologyGraph } from './topology/graph';
export { devicesPerSystem, type SystemPowerReport, systemPower, systemPowerOf } from './topology/power';
export {
  AUTO_DEVICE,
  BUILTIN_TOPOLOGIES,
  builtinTopology,
  LOCAL_TOPOLOGIES,
  parseTopologySpec,
  type ScaleOutSpec,
  type ScaleUpSpec,
  type SystemPowerSpec,
  type TopologySpec,
  topologyDevice,
  validateTopologySpec,
} from './topology/spec';
