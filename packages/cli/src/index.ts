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
export { type DeviceJson, deviceJson, devicesCommand } from './commands/devices';
export { createProgram, type Io, run } from './program';
