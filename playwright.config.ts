import { execFileSync } from 'node:child_process';
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
// The preview server's port: RUSTDHT_SMOKE_PORT, else one free on loopback now. A fixed
// port (4183 until 2026-12-07) failed a whole run once something else answered on it. Set
// in the environment, it is the one the preview server (vite.config.ts) and Playwright's
// workers (which load this file again) use too.
const sdkPort = Number(process.env.RUSTDHT_SMOKE_PORT ?? freeLoopbackPort());
process.env.RUSTDHT_SMOKE_PORT = String(sdkPort);

/** A TCP port nothing listens on at 127.0.0.1 (the OS's pick for port 0), found in a child: this file is read synchronously. */
function freeLoopbackPort(): number {
  const probe = "const s = require('node:net').createServer(); s.listen(0, '127.0.0.1', () => { process.stdout.write(String(s.address().port)); s.close(); });";
  return Number(execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8' }));
}

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
