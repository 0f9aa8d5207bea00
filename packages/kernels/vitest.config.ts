import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@tessera/source'] },
  ssr: { resolve: { conditions: ['@tessera/source'] } },
  // The numerics also run on the webgpu adapter (llvmpipe in CI): a launch there blocks the test's thread until the GPU
  // is done, and on a loaded 2-core machine shader compiles can stall for minutes. Generous, so no test is timed.
  test: { name: '@tessera/kernels', include: ['test/**/*.test.ts'], testTimeout: 600_000 },
});
