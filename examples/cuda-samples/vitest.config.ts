import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@tessera/source'] },
  ssr: { resolve: { conditions: ['@tessera/source'] } },
  test: { name: '@tessera/examples-cuda-samples', include: ['test/**/*.test.ts'], testTimeout: 60_000 },
});
