import type { Device } from '@tessera/device';
import type { ExampleResult } from './check';
import { runMatmul } from './matmul';
import { runReduction } from './reduction';
import { runSimtReduction } from './simt-reduction';
import { runSimtVectorAdd } from './simt-vector-add';
import { runSoftmax } from './softmax';
import { runVectorAdd } from './vector-add';

export type { ExampleResult } from './check';
export { matmul } from './matmul';
export { sumReduce } from './reduction';
export { simtReduce } from './simt-reduction';
export { simtVectorAdd } from './simt-vector-add';
export { softmax } from './softmax';
export { vectorAdd } from './vector-add';

/** Every example, each checking its own result. */
export const examples: ReadonlyArray<(dev: Device) => ExampleResult> = [
  runVectorAdd,
  runMatmul,
  runReduction,
  runSoftmax,
  runSimtVectorAdd,
  runSimtReduction,
];
