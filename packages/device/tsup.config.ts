import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'testing/index': 'src/testing/index.ts',
    'reference-backend': 'src/testing/test-backend.ts',
    model: 'src/model/index.ts',
    'pool-worker': 'src/compiler/pool/worker.ts',
    random: 'src/random.ts',
    wgsl: 'src/compiler/wgsl/index.ts',
  },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: ['vitest'],
});
