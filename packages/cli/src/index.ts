// Registers the simulated backends, so `run` and `createProgram` find them in the registry.
import './register-backends';

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
export { startUiServer, type UiServer, type UiServerOptions } from './ui/server';
