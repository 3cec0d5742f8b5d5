import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Mutation testing narrowed to some test files (scripts/mutation/ts.sh --tests): the
// settings of vitest.config.ts's `sdk` project, with only the files listed in
// RUSTDHT_MUTATION_TESTS (comma-separated globs, relative to sdk-ts/). StrykerJS reruns the
// related test files for every "static" mutant, so a narrowed list is what makes a large
// network module affordable; leave out tests that start `rustdht serve` (they run dist/,
// not the mutated sources, and cannot kill a mutant).
const include = (process.env['RUSTDHT_MUTATION_TESTS'] ?? '').split(',').filter((glob) => glob !== '');
if (include.length === 0) throw new Error('vitest.narrow.config.ts: set RUSTDHT_MUTATION_TESTS to the test files to run (comma-separated)');

export default defineConfig({
  root: dirname(fileURLToPath(import.meta.url)),
  test: {
    include,
    exclude: ['test/browser/**', '**/node_modules/**', '**/dist/**'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
