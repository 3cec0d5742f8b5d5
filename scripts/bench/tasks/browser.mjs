// Row 9: durable writes to IndexedDB in Chromium (Debian's /usr/bin/chromium, or
// $RUSTDHT_CHROMIUM), driven by playwright-core. Nothing is downloaded.
//
// `buildPages` builds browser/*.html with Vite once per run (like sdk-ts/test/browser:
// the package's browser entry, the engine's .wasm through vite-plugin-wasm) into a
// temporary directory. Each `indexedDB` probe then serves that directory (and GunDB's
// browser files from node_modules/gun) on a loopback port of its own, launches its own
// Chromium with a fresh profile, and runs one measurement in the page: the same
// lib/in-flight.mjs as in Node, timed with the page's clock.
//
// To see where a page's time goes, give the probe a `profile` path:
//   node scripts/bench/probe.mjs browser indexedDB '{"setup":{"dir":"<built pages>"},"db":"rustdht",
//     "signed":false,"window":1000,"timing":{...},"profile":"/tmp/page.cpuprofile"}'

import { createReadStream, existsSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './durable.mjs';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../chromium.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const PAGES = join(HERE, '..', 'browser');
const require = createRequire(import.meta.url);
const GUN_DIR = dirname(require.resolve('gun/package.json'));

// The binary and flags the browser tests use too (scripts/chromium.mjs).
const CHROMIUM = CHROMIUM_PATH;

export async function buildPages() {
  const t0 = performance.now();
  const { build } = await import('vite');
  const { default: wasm } = await import('vite-plugin-wasm');
  const outDir = tempDir('pages');
  await build({
    configFile: false,
    root: PAGES,
    logLevel: 'error',
    plugins: [wasm()],
    build: {
      target: 'esnext', // the engine's module uses top-level await
      minify: false, // readable CPU profiles; the engine's .wasm is what it is either way
      outDir,
      emptyOutDir: true,
      rolldownOptions: { input: { rustdht: join(PAGES, 'rustdht.html'), gun: join(PAGES, 'gun.html') } },
    },
  });
  return { dir: outDir, cleanup: [outDir], buildMs: Math.round(performance.now() - t0) };
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
};

/** Serves `dir` and, under /gun/, GunDB's package directory, on 127.0.0.1 (any free port). */
function serve(dir) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const [base, rest] = path.startsWith('/gun/') ? [GUN_DIR, path.slice(5)] : [dir, path.slice(1) || 'index.html'];
    const file = normalize(join(base, rest));
    if (!file.startsWith(base + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/**
 * One measurement in a fresh Chromium: `db` is 'rustdht' or 'gun' (the page), the rest
 * goes to the page's `window.bench.run`.
 */
export async function indexedDB({ setup, db, signed, window, timing, profile }) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install it with bash scripts/bootstrap.sh --browser (or set RUSTDHT_CHROMIUM)`);
  }
  const { chromium } = await import('playwright-core');
  const server = await serve(setup.dir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  const errors = [];
  try {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (error) => errors.push(String(error?.stack ?? error)));
    await page.goto(`http://127.0.0.1:${server.address().port}/${db}.html`);
    await page.waitForFunction(() => window.bench !== undefined || document.getElementById('status')?.textContent !== 'loading', undefined, { timeout: 30_000 });
    // `profile` (a file path; for investigating, not used by run.mjs): the page's CPU profile.
    const cdp = profile ? await page.context().newCDPSession(page) : undefined;
    if (cdp) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
    }
    const result = await page.evaluate((options) => window.bench.run(options), { signed, window, timing });
    if (cdp) {
      const { profile: cpuProfile } = await cdp.send('Profiler.stop');
      writeFileSync(profile, JSON.stringify(cpuProfile));
      result.profile = profile;
    }
    result.chromium = browser.version();
    return result;
  } catch (error) {
    if (errors.length) error.message += `\npage errors:\n${errors.join('\n')}`;
    throw error;
  } finally {
    await browser.close();
    server.close();
  }
}
