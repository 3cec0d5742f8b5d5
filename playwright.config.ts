import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './scripts/chromium.mjs';

// Every browser test, in Debian's Chromium (/usr/bin/chromium, or $RUSTDHT_CHROMIUM):
// nothing is downloaded. Two projects:
//   sdk   sdk-ts/test/browser: pages built by Vite from the SDK's sources, served by
//         `vite preview` on loopback (the webServer below); some also start `rustdht serve`.
//   demo  demo/test: the demo page (demo/dist, built by scripts/bootstrap.sh) served by
//         `rustdht serve --demo demo/dist` processes the tests start themselves.
// Screenshots, traces and attachments land in test-results/, the HTML report in
// playwright-report/ (both at the top level). `npx playwright test --project demo` runs one.
const here = dirname(fileURLToPath(import.meta.url));
const vite = JSON.stringify(join(here, 'node_modules', 'vite', 'bin', 'vite.js'));
const sdkViteConfig = JSON.stringify(join(here, 'sdk-ts', 'test', 'browser', 'vite.config.ts'));
const sdkPort = Number(process.env.RUSTDHT_SMOKE_PORT ?? 4183);
process.env.RUSTDHT_SMOKE_PORT = String(sdkPort); // the preview server reads it too

export default defineConfig({
  testMatch: '*.spec.ts',
  outputDir: join(here, 'test-results'),
  forbidOnly: Boolean(process.env.CI),
  retries: 0,
  reporter: [['list'], ['html', { open: 'never', outputFolder: join(here, 'playwright-report') }]],
  use: {
    browserName: 'chromium',
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: CHROMIUM_PATH,
      args: [...CHROMIUM_ARGS],
    },
  },
  projects: [
    {
      name: 'sdk',
      testDir: join(here, 'sdk-ts', 'test', 'browser'),
      use: { baseURL: `http://127.0.0.1:${sdkPort}` },
    },
    {
      name: 'demo',
      testDir: join(here, 'demo', 'test'),
    },
  ],
  webServer: {
    // The sdk project's pages (the demo project starts its own servers).
    command: `node ${vite} build --config ${sdkViteConfig} --logLevel warn && node ${vite} preview --config ${sdkViteConfig}`,
    cwd: join(here, 'sdk-ts'),
    url: `http://127.0.0.1:${sdkPort}/`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
