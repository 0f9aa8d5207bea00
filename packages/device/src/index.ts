/**
 * @tessera/device — the CUDA-like device API and the portable kernel language.
 *
 *   const rt = await createRuntime({ backend: 'nvidia-sim', devices: 'h100' });
 *   const dev = rt.device(0);
 *   const x = dev.alloc('f32', n);  dev.upload(x, values);
 *   dev.launch(myKernel, { grid: cdiv(n, 1024) }, { x, n });
 */

export * from './dtype/dtype';
export {
  bf16BitsFromF32,
  FP8_E4M3_MAX,
  FP8_E5M2_MAX,
  f16BitsFromF32,
  f32FromBf16Bits,
  f32FromF16Bits,
  f32FromFp8e4m3Bits,
  f32FromFp8e5m2Bits,
  fp8e4m3BitsFromF32,
  fp8e5m2BitsFromF32,
  roundBf16,
  roundF16,
  roundTf32,
} from './dtype/float-formats';
export * from './errors';
export {
  COST_DTYPES,
  type CostDType,
  type CostRecord,
  compulsoryBytes,
  type KernelResources,
  type ProgramClass,
  ProgramCost,
} from './kernel/cost';
export { dotF32, dotF32Js } from './kernel/dot';
export { type ExecMode, executeLaunch } from './kernel/execute';
export {
  type ArgsOf,
  deviceFunction,
  isKernel,
  type Kernel,
  type ParamSpec,
  type ParamSpecs,
  type SimtArgsOf,
  type SimtKernel,
  simtKernel,
  type TileKernel,
  tileKernel,
} from './kernel/kernel';
export type {
  Dim3,
  GlobalArray,
  Operand,
  SharedArray,
  SharedDType,
  SimtContext,
  TensorDesc,
  Tile,
  TileContext,
} from './kernel/language';
export { erf, rint } from './kernel/math';
export { DeviceBuffer, type DeviceCopy } from './memory/buffer';
export type {
  Backend,
  CopyDescriptor,
  CopyKind,
  ExecutorLaunch,
  KernelExecutor,
  KernelMeasurement,
  KernelTiming,
  LaunchDescriptor,
} from './runtime/backend';
export { type CopyOptions, Device, type LaunchConfig, type LaunchResult } from './runtime/device';
export { type MemoryEvents, noteDeviceCopy, noteDeviceWrite } from './runtime/memory-events';
export { type Activity, type ActivityKind, Profiler } from './runtime/profiler';
export {
  type DeviceProperties,
  FIGURE_QUALITIES,
  type FigureQuality,
  type HostLink,
  type OnChipMemory,
  type SubUnit,
  type Vendor,
} from './runtime/properties';
export {
  createBackend,
  findDeviceModel,
  getBackend,
  listBackends,
  registerBackend,
  removeBackend,
} from './runtime/registry';
export { createRuntime, Runtime, type RuntimeOptions } from './runtime/runtime';
export { validateDeviceSpec } from './runtime/spec';
export { Event, Stream } from './runtime/stream';

/** Ceiling division for grid sizes: `cdiv(1000, 256)` = 4. */
export function cdiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}
export { clearCostCache, costAnalysisStats } from './compiler/cost';
export { CompileError } from './compiler/frontend/stager';
export { type BufferSpec, fakeBuffer, inspectKernel, type KernelInspection } from './compiler/inspect';
export { type KernelIR, printIR } from './compiler/ir';
export { type CompiledKernel, compileKernel, compileStats, PASSES } from './compiler/pipeline';
export {
  clearSanitizerReports,
  disableSanitizer,
  enableSanitizer,
  formatSanitizerSummary,
  type MemoryAccess,
  parseSanitizerTools,
  SANITIZER_TOOLS,
  type SanitizerActor,
  type SanitizerKind,
  type SanitizerOptions,
  type SanitizerReport,
  type SanitizerSummary,
  type SanitizerTool,
  sanitizerReports,
  sanitizerSummary,
  sanitizerTools,
} from './sanitizer/index';
