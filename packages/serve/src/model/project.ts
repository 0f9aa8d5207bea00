/** The step projection lives in ../project/; this module keeps the model/ import path working. */
export { projectStep } from '../project/step';
export { earliestStart } from '../project/timeline';
export * from '../project/types';
