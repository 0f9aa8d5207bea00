import { defineConfig } from 'vitest/config';

// One root configuration: `pnpm vitest` here runs every package's project in one process; `pnpm test` runs them
// through turbo, package by package, each with its own vitest.config.ts (defineProject).
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'examples/*'],
  },
});
