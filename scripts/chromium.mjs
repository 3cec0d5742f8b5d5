// The Chromium every browser test and benchmark drives: Debian's /usr/bin/chromium (or
// $RUSTDHT_CHROMIUM), never a Playwright download, with the same flags everywhere.
// Read by playwright.config.ts (the browser tests) and scripts/bench/tasks/browser.mjs.

export const CHROMIUM_PATH = process.env.RUSTDHT_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox', // runs as root in CI containers
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-gpu',
  '--disable-quic',
  '--disable-sync',
];
