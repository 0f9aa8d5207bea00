export { Backends } from './backends';
export {
  type BenchResult,
  benchAttention,
  benchCopy,
  benchDecode,
  benchGemm,
  benchRowwise,
  gemmPeakTflops,
} from './commands/bench';
export {
  busBwFactor,
  type CollPerfOptions,
  type CollPerfResult,
  type CollPerfRow,
  collPerf,
  parseCollPerfArgs,
} from './commands/coll-perf';
export { type DeviceJson, deviceJson, devicesCommand } from './commands/devices';
export { createProgram, type Io, run } from './program';
