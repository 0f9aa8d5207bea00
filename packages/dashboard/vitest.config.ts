import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@tessera/source'] },
  ssr: { resolve: { conditions: ['@tessera/source'] } },
  test: { name: '@tessera/dashboard', include: ['test/**/*.test.ts'], testTimeout: 120_000 },
});
