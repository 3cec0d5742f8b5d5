import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Every *.test.ts under test/: unit and conformance tests exercise src/ directly;
// package tests exercise the packed build the way an application installs it (they need
// `npm run build` first, which scripts/test.sh does). test/browser/ holds Playwright
// specs (*.spec.ts), run by the top-level playwright.config.ts (project sdk), not here.
//
// The unit tests run a second time with every database their helpers open backed by a
// store (RUSTDHT_TEST_STORE=memory), so the whole API is also exercised with nodes
// loaded lazily from storage instead of held in memory from the start.
export default defineConfig({
  root: dirname(fileURLToPath(import.meta.url)),
  test: {
    exclude: ['test/browser/**', '**/node_modules/**', '**/dist/**'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'sdk', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'unit on a store', include: ['test/unit/**/*.test.ts'], env: { RUSTDHT_TEST_STORE: 'memory' } },
      },
    ],
  },
});
