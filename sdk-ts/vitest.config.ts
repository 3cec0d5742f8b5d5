import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Every *.test.ts under test/: unit and conformance tests exercise src/ directly;
// package tests exercise the packed build the way an application installs it (they need
// `npm run build` first, which scripts/test.sh does). test/browser/ holds Playwright
// specs (*.spec.ts), run by playwright.config.ts, not here.
export default defineConfig({
  root: dirname(fileURLToPath(import.meta.url)),
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/browser/**', '**/node_modules/**', '**/dist/**'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
