import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import wasmPlugin from 'vite-plugin-wasm';

// vite-plugin-wasm's typings for its ESM entry are written as CommonJS, so under NodeNext
// TypeScript sees a namespace; at runtime the default export is the plugin factory.
const wasm = wasmPlugin as unknown as () => Plugin;

// Builds the smoke page like any app that depends on `rustdht`: the package's default
// (browser) export condition → pkg/bundler → the .wasm via vite-plugin-wasm, which needs
// top-level await, hence target esnext.
const port = Number(process.env.RUSTDHT_SMOKE_PORT ?? 4183);
const root = dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root,
  plugins: [wasm()],
  build: {
    target: 'esnext',
    outDir: 'dist',
    emptyOutDir: true,
    // Pages: the smoke test (index.html), the storage conformance suite (storage.html,
    // which imports the adapters and the suite from source), offline-reload.html and cache.html.
    rolldownOptions: {
      input: {
        index: join(root, 'index.html'),
        storage: join(root, 'storage.html'),
        // A database on IndexedDB across page reloads (offline-reload.spec.ts).
        'offline-reload': join(root, 'offline-reload.html'),
        // The default store, persistence and the capped cache (cache.spec.ts).
        cache: join(root, 'cache.html'),
        network: join(root, 'network.html'), // browser peers over the network (network.spec.ts)
      },
    },
  },
  preview: { host: '127.0.0.1', port, strictPort: true },
  clearScreen: false,
});
