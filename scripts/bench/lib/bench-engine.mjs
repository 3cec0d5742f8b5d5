// The benchmark's own build of the engine: the crate compiled with the cargo feature
// `bench`, which adds the exports only benchmarks call (`verifySignature`,
// `verifySignatures`, `hamDecide`: rows 3 and 4b). The package's engine (`rustdht/engine`)
// does not carry them. `node scripts/build-wasm.mjs --bench` builds it into
// target/wasm-bench/pkg/ (never shipped); run.mjs does so before the rows that need it.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BENCH_GLUE = join(ROOT, 'target', 'wasm-bench', 'pkg', 'rustdht_core.js');

/** The bench build's module (CommonJS nodejs glue, instantiated on load). */
export function benchEngine() {
  if (!existsSync(BENCH_GLUE)) {
    throw new Error(`${relative(ROOT, BENCH_GLUE)} is missing: build the benchmark's engine first (node scripts/build-wasm.mjs --bench)`);
  }
  return createRequire(import.meta.url)(BENCH_GLUE);
}
