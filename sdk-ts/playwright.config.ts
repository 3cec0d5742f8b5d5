import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from '@playwright/test';

// Playwright drives the system Chromium (Debian's /usr/bin/chromium): nothing is
// downloaded. The page is built by Vite and served by `vite preview` on loopback.
const here = dirname(fileURLToPath(import.meta.url));
const vite = JSON.stringify(join(here, '..', 'node_modules', 'vite', 'bin', 'vite.js'));
const viteConfig = JSON.stringify(join(here, 'test', 'browser', 'vite.config.ts'));
const port = Number(process.env.RUSTDHT_SMOKE_PORT ?? 4183);
process.env.RUSTDHT_SMOKE_PORT = String(port); // the preview server reads it too

export default defineConfig({
  testDir: 'test/browser',
  testMatch: '*.spec.ts',
  outputDir: 'test-results',
  forbidOnly: Boolean(process.env.CI),
  retries: 0,
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    browserName: 'chromium',
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.RUSTDHT_CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox', // runs as root in CI containers
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-gpu',
        '--disable-quic',
        '--disable-sync',
      ],
    },
  },
  webServer: {
    command: `node ${vite} build --config ${viteConfig} --logLevel warn && node ${vite} preview --config ${viteConfig}`,
    cwd: here,
    url: `http://127.0.0.1:${port}/`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
