import { resolve } from 'node:path';
import { defineConfig } from 'vite';

const external = [/^webgpu$/, /^node:/];
// Minified class names would break every error's `name` (HmiError sets it from new.target.name),
// the dashboard's checks by name and the worker's error registry keyed by class name: keep them
// for every class at once, so a new error class cannot be forgotten (test/build/dist-errors.test.ts).
const output = { keepNames: true } as const;

// `npm start` serves index.html (the demo); `npm run build` emits the library into dist/:
// index.js (the API, no side effects), dashboard.js (registers <hmi-dashboard>), worker.js
// (the runtime's module Worker) and models/ (copied from public/), all addressed relative to
// each other so dist/ works copied anywhere behind any static server.
export default defineConfig({
  // HMI_E2E=1 (Playwright's server): no hot reload, so an edit elsewhere never reloads a page mid-test.
  server: { port: 5173, strictPort: false, fs: { allow: ['.'] }, ...(process.env.HMI_E2E === '1' ? { hmr: false } : {}) },
  // Pre-bundled up front: the worker's imports are found only when it starts, and a dependency
  // discovered that late makes the dev server reload the page mid-load.
  optimizeDeps: { include: ['comlink', 'idb-keyval', '@huggingface/tokenizers', 'uplot'] },
  // Relative asset URLs: the worker is found next to the module that starts it, not at the site root.
  base: './',
  worker: {
    format: 'es',
    // One self-contained worker.js: its lazy chunks would otherwise land in dist/ under ambiguous names.
    rollupOptions: { external, output: { ...output, entryFileNames: '[name].js', codeSplitting: false } },
  },
  build: {
    target: 'es2022',
    outDir: 'dist',
    sourcemap: true,
    lib: {
      entry: {
        index: resolve(import.meta.dirname, 'src/index.ts'),
        dashboard: resolve(import.meta.dirname, 'src/ui/dashboard.ts'),
        node: resolve(import.meta.dirname, 'src/node.ts'),
      },
      formats: ['es'],
      fileName: (_format, name) => `${name}.js`,
    },
    rollupOptions: { external, output },
  },
});
