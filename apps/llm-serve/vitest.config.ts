import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@tessera/source'] },
  ssr: { resolve: { conditions: ['@tessera/source'] } },
  test: {
    name: '@tessera/llm-serve',
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    // Starting a server and a browser in beforeAll can outlast vitest's 10 s hook default on a loaded CI machine.
    hookTimeout: 120_000,
    // Model-code deadlines are wall time; 5 s keeps honest calls clear of them while every package's tests share two
    // cores (tests of the deadline itself set their own budgets).
    env: { TESSERA_MODEL_CODE_TIMEOUT_MS: '5000' },
  },
});
