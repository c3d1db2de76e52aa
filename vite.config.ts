import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// `npm start` serves index.html (the demo); `npm run build` emits the library into dist/.
export default defineConfig({
  server: { port: 5173, strictPort: false, fs: { allow: ['.'] } },
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    outDir: 'dist',
    sourcemap: true,
    lib: {
      entry: { index: resolve(import.meta.dirname, 'src/index.ts') },
      formats: ['es'],
    },
    rollupOptions: { external: [/^webgpu$/, /^node:/] },
  },
});
