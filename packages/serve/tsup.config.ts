import { defineConfig } from 'tsup';

export default defineConfig({
  // sweep-worker: the module sweepProjections' worker threads load, beside index.js (src/sweep/sweep.ts).
  entry: { index: 'src/index.ts', 'sweep-worker': 'src/sweep/worker.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
});
