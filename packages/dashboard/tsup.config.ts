import { defineConfig } from 'tsup';

// The Node side only (src/): Vite builds the browser app (ui/) into dist/ui afterwards, so tsup must not clean dist.
export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: false,
  target: 'node20',
});
