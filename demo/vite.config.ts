import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import wasmPlugin from 'vite-plugin-wasm';

// vite-plugin-wasm's typings for its ESM entry are written as CommonJS; at run time the
// default export is the plugin factory.
const wasm = wasmPlugin as unknown as () => Plugin;

// The demo is an app like any other that depends on `rustdht`: the package's browser
// export → its bundled WebAssembly engine, loaded by vite-plugin-wasm, which needs
// top-level await (target esnext). `vite build` writes demo/dist, which
// `rustdht serve --demo demo/dist` serves at / next to /health.
const root = dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root,
  // Relative asset URLs: the page works wherever its directory is served.
  base: './',
  plugins: [wasm()],
  build: {
    target: 'esnext',
    outDir: 'dist',
    emptyOutDir: true,
    // libp2p is most of the page (about 1 MB minified, 300 kB gzipped): expected.
    chunkSizeWarningLimit: 1500,
  },
  // `npm run dev -w demo`: the page alone (no /health there: paste a server address).
  server: { host: '127.0.0.1', port: 5173 },
  clearScreen: false,
});
