/** The shared timing model: backends supply parameters and mappings; see kernel-time.ts for the equations. */
export { modelCopyTime } from './copy-time';
export { type ArchParameters, type LaunchMapping, modelKernelTime, type SimtArchParameters } from './kernel-time';
export { COPY_LATENCY_US, HOST_STAGING_GBS, PCIE_EFFICIENCY, pcieX16 } from './link';
export { rooflineCopyTime, rooflineKernelTime } from './roofline';
export { makespan, type TimedClass, waves } from './schedule';
export { dramTraffic, type Traffic } from './traffic';
