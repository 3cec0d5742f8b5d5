// StrykerJS: mutation testing of the SDK (sdk-ts) with its vitest suite (scripts/mutation/ts.sh
// runs it on a module or a diff; too slow for every CI run on two cores).
//
// Tests that drive separate `rustdht serve` processes run the built dist/, not the
// mutated sources: a mutant only those tests could catch survives here. Read survivors
// in network code with that in mind (see scripts/mutation/README.md).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  // At the repository root, so the sandbox keeps the tsconfig chain (sdk-ts extends ../).
  // ts.sh --tests narrows the run to some test files (sdk-ts/vitest.narrow.config.ts).
  vitest: { configFile: process.env.RUSTDHT_MUTATION_TESTS ? 'sdk-ts/vitest.narrow.config.ts' : 'sdk-ts/vitest.config.ts', related: true },
  ignorePatterns: ['target', '.tools', 'demo', 'test-results', 'playwright-report', 'bench-results', 'docs/api', '.rustdht', 'deploy'],
  coverageAnalysis: 'perTest',
  // Two cores: one mutant at a time keeps timings (and timeouts) meaningful.
  concurrency: 1,
  timeoutMS: 20_000,
  timeoutFactor: 2,
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'target/stryker/mutation.json' },
  htmlReporter: { fileName: 'target/stryker/mutation.html' },
  tempDirName: 'target/stryker/tmp',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 75, break: null },
};
