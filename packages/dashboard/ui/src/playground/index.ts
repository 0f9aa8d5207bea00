/**
 * The kernel playground's engine: the visitor's program (parse) → its IR, generated code and WGSL (inspect), its
 * modelled time on every catalogue device (model), a functional run on one simulated device with the sanitizer (run),
 * and a run on the visitor's own GPU through WebGPU (webgpu). The same behind a Web Worker with deadlines (worker,
 * client; the worker's module is worker-entry.ts). Browser-safe: no Node built-ins, no `process`, no `require`.
 */
export { DEFAULT_DEADLINES, PlaygroundClient, type WorkerLike } from './client';
export {
  findSimulatedDevice,
  listPlaygroundDevices,
  type PlaygroundDeviceInfo,
  type PlaygroundVendor,
  type SimulatedDevice,
  simulatedDevices,
  simulatorBackends,
} from './devices';
export {
  type Comparison,
  checkResult,
  checkRunLimits,
  compare,
  defaultTolerance,
  hostInputs,
  runWork,
  type Verdict,
} from './inputs';
export { inspectPlayground, type PlaygroundInspection } from './inspect';
export { type CostTotals, type DeviceModelRow, type ModelReport, modelAcrossDevices } from './model';
export { PLAYGROUND_SCOPE, parsePlayground } from './parse';
export {
  type PlaygroundSanitizerReport,
  type RunOptions,
  type RunReport,
  runPlayground,
  type SanitizerResult,
} from './run';
export {
  BLOCK_REDUCE_TEMPLATE,
  OFF_BY_ONE_TEMPLATE,
  PLAYGROUND_TEMPLATES,
  type PlaygroundTemplate,
  SOFTMAX_TEMPLATE,
  VECTOR_ADD_TEMPLATE,
} from './templates';
export {
  type BufferInit,
  type Dim3,
  type IssueKind,
  PLAYGROUND_LIMITS,
  type PlaygroundBuffer,
  type PlaygroundCheck,
  PlaygroundError,
  type PlaygroundIssue,
  type PlaygroundProgram,
  type ReferenceFn,
  type ScalarValue,
} from './types';
export { runOnWebGpu, type WebGpuLike, type WebGpuOptions, type WebGpuReport } from './webgpu';
export {
  handlePlaygroundRequest,
  type PlaygroundRequest,
  type PlaygroundResponse,
  type PlaygroundResults,
  type PortLike,
  type ProgramSummary,
  servePlayground,
} from './worker';
