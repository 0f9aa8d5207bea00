import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

// The browser app: ui/ is Vite's root; the build lands in dist/ui, which src/assets.ts serves. Workspace packages are
// bundled from their TypeScript source (the `@tessera/source` condition), so the dashboard builds without waiting for
// their tsup output. Nothing is fetched from a CDN at run time: every script, style and font is in the bundle.
export default defineConfig({
  root: 'ui',
  base: '/',
  plugins: [preact()],
  resolve: { conditions: ['@tessera/source', 'browser', 'module', 'import', 'default'] },
  build: {
    outDir: '../dist/ui',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 2048,
  },
});
