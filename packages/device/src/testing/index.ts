/**
 * Test support for backend authors: the conformance suite, the kernels it runs, reference helpers, and a tiny
 * fictional backend. Importing this entry point needs vitest (a peer dependency).
 */

export { type ConformanceOptions, runConformanceSuite } from './conformance';
export { type FuzzParameters, fuzzParameters, fuzzScale } from './fuzz';
export * as conformanceKernels from './kernels';
export * from './reference';
export { SANITIZER_CORPUS, type SanitizerCase } from './sanitizer-corpus';
export { createTestBackend } from './test-backend';
