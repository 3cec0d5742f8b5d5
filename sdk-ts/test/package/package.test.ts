// Packaging test: the package as users get it, used the way they use it.
//
// `npm pack`s sdk-ts exactly as `npm publish` would, then `npm install`s that tarball
// (npm's default settings: install scripts run under npm's policy, peers installed) into
// a scratch app under the system temp directory, outside the workspace, so nothing can
// resolve into /work/…/node_modules or the source tree. The app installs its bundlers
// from the npm registry as a user's app would (vite and vite-plugin-wasm at the versions
// the workspace uses, webpack 5), with --prefer-offline so the npm cache warmed by the
// workspace's `npm ci` serves most of it. One install serves every case: Node ESM and
// CommonJS, the TypeScript check, `vite build` + `vite preview`, the `vite` dev server
// and webpack, the browser cases in Debian's Chromium (scripts/chromium.mjs).
//
// Catches: a wrong exports map, files missing from the tarball, WASM glue that only
// works from the source tree, a bundler dropping the glue's set-up (a package-level
// `"sideEffects": false` made Rolldown, Vite 8's bundler for builds and for the dev
// server's dependency pre-bundling, drop the call that hands the WebAssembly instance to
// the glue: "Cannot read properties of undefined (reading 'engine_new')"),
// source maps without their sources, and an `engines` field looser than a dependency's.
//
// RUSTDHT_KEEP_PACKAGE_TEST=1 keeps the scratch directory (its path is printed).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../../scripts/chromium.mjs';

const SDK = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REPO = join(SDK, '..');
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const execFileAsync = promisify(execFile);

// The bundlers the scratch app installs. vite and vite-plugin-wasm: the versions the
// workspace's own pages are built with. webpack 5: the other bundler most existing
// apps use, with its own WebAssembly support (experiments.asyncWebAssembly) and its
// own reading of `sideEffects` (the nearest package.json, so it honoured
// pkg/bundler/package.json where Vite did not): between them, both ways bundlers read
// the flag. Pinned, so a run is
// reproducible and served from the npm cache after the first one.
const workspaceVersion = (name: string): string =>
  (JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
const WEBPACK_VERSION = '5.113.0';
const SEMVER_VERSION = '7.8.6'; // for the engines check below

const WORK = mkdtempSync(join(realpathSync(tmpdir()), 'rustdht-package-test-'));
const APP = join(WORK, 'app');
const INSTALLED = join(APP, 'node_modules', 'rustdht');
const VALUE = 'hello from the tarball';

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
}
let pack: PackResult;
let packedFiles: string[] = [];
const timings: [string, number][] = [];

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await work();
  } finally {
    timings.push([label, performance.now() - start]);
  }
}

/**
 * The environment of a user's shell: without what `npm test` (npm_* variables, its
 * node_modules/.bin on PATH) and vitest (NODE_ENV=test, VITEST*) add to ours.
 */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) && !/^npm_config_(cache|registry|userconfig)$/i.test(key)) continue;
    if (/^(VITEST.*|TEST|NODE_ENV|NODE_OPTIONS|INIT_CWD)$/.test(key)) continue;
    env[key] = value;
  }
  env['PATH'] = (process.env['PATH'] ?? '')
    .split(':')
    .filter((dir) => !dir.includes(`${sep}node_modules${sep}.bin`))
    .join(':');
  return env;
}

async function run(command: string, args: string[], cwd = APP): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileAsync(command, args, { cwd, env: userEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${e.stderr ?? ''}\n${e.stdout ?? ''}\n${e.message}`);
  }
}

const node = (args: string[]) => run(process.execPath, args);
const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? '';

/** A fenced code block of the packed README whose first line is `// <name>`. */
function readmeBlock(name: string): string {
  const readme = readFileSync(join(INSTALLED, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```(?:js|ts)\n([\s\S]*?)```/g)]
    .map((m) => m[1] ?? '')
    .find((code) => code.startsWith(`// ${name}\n`));
  if (block === undefined) throw new Error(`README.md has no code block starting with "// ${name}"`);
  return block;
}

beforeAll(async () => {
  console.log(`[package test] scratch app: ${APP}`);
  // Nothing above the scratch app may hold packages or a manifest that resolution
  // could fall back on.
  for (let dir = dirname(WORK); dir !== dirname(dir); dir = dirname(dir)) {
    expect(existsSync(join(dir, 'node_modules')) || existsSync(join(dir, 'package.json')), dir).toBe(false);
  }
  mkdirSync(APP);
  const { stdout } = await timed('npm pack', () => run('npm', ['pack', '--json', '--loglevel=error', '--pack-destination', WORK], SDK));
  [pack] = JSON.parse(stdout) as [PackResult];
  packedFiles = pack.files.map((f) => f.path);

  writeFileSync(join(APP, 'package.json'), `${JSON.stringify({ name: 'rustdht-consumer', private: true, type: 'module' }, null, 2)}\n`);
  await timed('npm install (tarball + vite, vite-plugin-wasm, webpack, @types/node, semver)', () =>
    run('npm', [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      join(WORK, pack.filename),
      `vite@${workspaceVersion('vite')}`,
      `vite-plugin-wasm@${workspaceVersion('vite-plugin-wasm')}`,
      `webpack@${WEBPACK_VERSION}`,
      `@types/node@${workspaceVersion('@types/node')}`,
      `semver@${SEMVER_VERSION}`,
    ]),
  );
  // A real copy from the tarball, not a link back into the workspace.
  expect(realpathSync(INSTALLED)).toBe(INSTALLED);
}, 600_000);

afterAll(() => {
  console.log(
    `[package test] timings: ${timings.map(([label, ms]) => `${label} ${(ms / 1000).toFixed(1)} s`).join('; ')}` +
      `; tarball ${(pack?.size / 1e3).toFixed(0)} kB packed, ${(pack?.unpackedSize / 1e6).toFixed(2)} MB unpacked`,
  );
  if (process.env['RUSTDHT_KEEP_PACKAGE_TEST']) console.log(`[package test] kept ${WORK}`);
  else rmSync(WORK, { recursive: true, force: true });
});

describe('the packed rustdht package', () => {
  it('contains the compiled SDK, both WASM builds, the README and the sources its maps point at', () => {
    for (const file of [
      'package.json',
      'README.md',
      'dist/index.d.ts',
      'dist/node.js',
      'dist/browser.js',
      'dist/cli/main.js',
      'src/index.ts',
      'pkg/node/rustdht_core.js',
      'pkg/node/rustdht_core_bg.wasm',
      'pkg/node/package.json',
      'pkg/bundler/rustdht_core.js',
      'pkg/bundler/rustdht_core_bg.js',
      'pkg/bundler/rustdht_core_bg.wasm',
      'pkg/bundler/package.json',
    ]) {
      expect(packedFiles, file).toContain(file);
    }
    expect(packedFiles.filter((f) => f.startsWith('test/') || f.endsWith('.test.ts') || f.startsWith('pkg/size'))).toEqual([]);
    // Every source map's sources are in the package (else debuggers and editors show
    // nothing, and Vite's dev server warns about them).
    const maps = packedFiles.filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(INSTALLED, map), 'utf8')) as { sources: string[] };
      for (const source of sources) {
        const path = relative(INSTALLED, resolve(INSTALLED, dirname(map), source)).split(sep).join('/');
        if (!packedFiles.includes(path)) missing.push(`${map} → ${source}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('has the manifest an npm page and bundlers need', () => {
    const manifest = JSON.parse(readFileSync(join(INSTALLED, 'package.json'), 'utf8')) as Record<string, unknown> & {
      exports: Record<string, unknown>;
      repository: { url: string };
      dependencies: Record<string, string>;
    };
    expect(manifest['license']).toBe('MIT');
    expect(manifest.repository.url).toMatch(/^git\+https:\/\//);
    expect(manifest['homepage']).toMatch(/^https:\/\//);
    expect(manifest['keywords']).toEqual(expect.arrayContaining(['database', 'offline-first', 'webassembly']));
    expect(manifest['engines']).toEqual({ node: expect.any(String) });
    // Each platform gets its own declarations: the Node entry adds LevelStore, the
    // browser entry IndexedDBStore and LocalStorageStore.
    expect(manifest.exports['.']).toEqual({
      node: { types: './dist/node.d.ts', default: './dist/node.js' },
      default: { types: './dist/browser.d.ts', default: './dist/browser.js' },
    });
    expect(manifest.exports['./package.json']).toBe('./package.json');
    // The glue module that instantiates the engine is the one file bundlers must keep
    // for its effect: Rolldown (Vite) reads this list, not pkg/bundler/package.json.
    expect(manifest['sideEffects']).toEqual(expect.arrayContaining(['./pkg/bundler/rustdht_core.js']));
    expect(Object.keys(manifest.dependencies)).toEqual(expect.arrayContaining(['classic-level', 'idb']));
    const readme = readFileSync(join(INSTALLED, 'README.md'), 'utf8');
    for (const needed of ['npm install rustdht', 'vite-plugin-wasm', "target: 'esnext'", "directory: './data'", 'asyncWebAssembly']) {
      expect(readme, needed).toContain(needed);
    }
  });

  it('declares in engines only Node versions every installed dependency declares it supports', async () => {
    const ours = (JSON.parse(readFileSync(join(INSTALLED, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    const semver = createRequire(join(APP, 'package.json'))('semver') as {
      subset(sub: string, dom: string): boolean;
      validRange(range: string): string | null;
    };
    expect(semver.validRange(ours), ours).not.toBeNull();
    // Everything rustdht brings, transitively, including the peers npm installs for it.
    const { stdout } = await run('npm', ['query', '#rustdht *']);
    const tree = JSON.parse(stdout) as { name: string; version: string; engines?: { node?: string } }[];
    expect(tree.length).toBeGreaterThan(50);
    const looser = tree
      .filter((p) => typeof p.engines?.node === 'string' && !semver.subset(ours, p.engines.node))
      .map((p) => `${p.name}@${p.version} needs node ${p.engines?.node}`);
    expect(looser, `engines.node "${ours}" admits versions these dependencies do not`).toEqual([]);
  });

  it('works from plain Node: the README example, then a database on disk across processes', async () => {
    writeFileSync(join(APP, 'app.mjs'), readmeBlock('app.mjs'));
    const readme = await node(['app.mjs']);
    expect(readme.stdout).toContain('on: hello');
    expect(readme.stdout).toContain('once: hello');

    const script = join(APP, 'roundtrip.mjs');
    writeFileSync(
      script,
      `import { RustDHT } from 'rustdht';
const db = await RustDHT.open({ directory: './roundtrip-data' });
const ref = db.get('packaging').get('greeting');
if (process.argv[2] === 'write') await ref.put(${JSON.stringify(VALUE)});
const value = await ref.once();
await db.close();
console.log(JSON.stringify({ value, resolved: import.meta.resolve('rustdht') }));
`,
    );
    await node([script, 'write']);
    const result = JSON.parse(lastLine((await node([script, 'read'])).stdout)) as { value: unknown; resolved: string };
    expect(result.value).toBe(VALUE);
    // The "node" condition, from the installed copy.
    expect(result.resolved).toBe(`file://${join(INSTALLED, 'dist', 'node.js')}`);
  });

  it('works from CommonJS: require("rustdht") gives the same API', async () => {
    // The package is ES modules only; Node loads them for require() (require(esm): on by
    // default from Node 20.19 and 22.12, and every version `engines` admits), which
    // needs a graph without top-level await: this fails with ERR_REQUIRE_ASYNC_MODULE
    // if one creeps into the Node entry.
    const script = join(APP, 'roundtrip.cjs');
    writeFileSync(
      script,
      `const { RustDHT } = require('rustdht');
(async () => {
  const db = await RustDHT.open({ store: 'memory' });
  const ref = db.get('packaging').get('greeting');
  await ref.put(${JSON.stringify(VALUE)});
  const value = await ref.once();
  await db.close();
  console.log(JSON.stringify({ value, resolved: require.resolve('rustdht') }));
})().catch((error) => { console.error(error); process.exit(1); });
`,
    );
    const result = JSON.parse(lastLine((await node([script])).stdout)) as { value: unknown; resolved: string };
    expect(result).toEqual({ value: VALUE, resolved: join(INSTALLED, 'dist', 'node.js') });
  });

  it('gives Node apps LevelStore', async () => {
    const script = join(APP, 'level.mjs');
    writeFileSync(
      script,
      `import { LevelStore } from 'rustdht';
const store = await LevelStore.open('./level-data');
await store.batch([{ type: 'put', key: new Uint8Array([1]), value: new Uint8Array([2, 3]) }]);
const value = await store.get(new Uint8Array([1]));
await store.close();
console.log(JSON.stringify([...value]));
`,
    );
    expect(lastLine((await node([script])).stdout)).toBe('[2,3]');
  });

  it('type-checks for TypeScript apps (NodeNext and Bundler resolution), each platform with its stores', async () => {
    const apps = {
      NodeNext: `import { LevelStore, MemoryStore, RustDHT, StorageQuotaError, type StorageAdapter } from 'rustdht';
export async function main(): Promise<void> {
  const db = await RustDHT.open({ directory: './data' });
  const ref = db.get('room').get('msg');
  const off = ref.on((value) => console.log(value));
  await ref.put('hello');
  off();
  await db.close();
}
export async function open(dir: string): Promise<StorageAdapter> { return dir === '' ? new MemoryStore() : LevelStore.open(dir); }
export const quota: string = new StorageQuotaError('full').code;
`,
      Bundler: `import { IndexedDBStore, LocalStorageStore, MemoryStore, RustDHT, type StorageAdapter } from 'rustdht';
export async function main(): Promise<void> {
  const db = await RustDHT.open();
  const ref = db.get('room').get('msg');
  const off = ref.on((value) => console.log(value));
  await ref.put('hello');
  off();
  await db.close();
}
export async function open(name: string): Promise<StorageAdapter> {
  return name === '' ? new MemoryStore() : name.startsWith('ls:') ? LocalStorageStore.open(name.slice(3)) : IndexedDBStore.open(name, { durability: 'relaxed' });
}
`,
    } as const;
    // Both at once (two cores' worth of tsc).
    const checks = Object.entries(apps).map(async ([moduleResolution, source]) => {
      const module = moduleResolution === 'NodeNext' ? 'NodeNext' : 'ESNext';
      // A Node app has Node's types (@types/node, installed in the app); a browser app
      // built with a bundler has none.
      const types = moduleResolution === 'NodeNext' ? ['node'] : [];
      const file = `typed-${moduleResolution}.ts`;
      writeFileSync(join(APP, file), source);
      const tsconfig = join(APP, `tsconfig.${moduleResolution}.json`);
      writeFileSync(
        tsconfig,
        JSON.stringify({
          compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module, moduleResolution, skipLibCheck: true, types, lib: ['ES2022', 'DOM'] },
          files: [file],
        }),
      );
      await node([TSC, '-p', tsconfig]);
    });
    await Promise.all(checks);
  }, 120_000);
});

// ---------------------------------------------------------------------------------------
// In Chromium: the same page, built by each bundler, must open a database, put, read it
// back with once() and hear it with on(), with no uncaught error and no console error.

const PAGE = `import { RustDHT } from 'rustdht';

const finish = (result) => {
  window.__rustdhtResult = result;
  document.getElementById('out').textContent = JSON.stringify(result);
};
try {
  const db = await RustDHT.open();
  const ref = db.get('package-test').get('greeting');
  const heard = [];
  const heardIt = new Promise((resolve) => ref.on((value) => { heard.push(value); if (value === ${JSON.stringify(VALUE)}) resolve(); }));
  await ref.put(${JSON.stringify(VALUE)});
  const once = await ref.once();
  await heardIt;
  await db.close();
  finish({ ok: true, once, heard });
} catch (error) {
  finish({ ok: false, error: String(error?.stack ?? error) });
}
`;
const html = (script: string) => `<!doctype html>
<html>
  <head><meta charset="utf-8" /><link rel="icon" href="data:," /><title>rustdht package test</title></head>
  <body><pre id="out">running</pre>${script}</body>
</html>
`;

describe('the packed rustdht package in Chromium', () => {
  let browser: Browser;

  beforeAll(async () => {
    writeFileSync(join(APP, 'main.js'), PAGE);
    writeFileSync(join(APP, 'index.html'), html('<script type="module" src="/main.js"></script>'));
    // The README's configuration, as is.
    writeFileSync(join(APP, 'vite.config.js'), readmeBlock('vite.config.js'));
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  async function roundTrip(url: string) {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console.error: ${message.text()} (${message.location().url})`);
      });
      page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
      await page.goto(url);
      const handle = await page.waitForFunction(() => (window as { __rustdhtResult?: unknown }).__rustdhtResult, undefined, {
        timeout: 60_000,
      });
      const result = (await handle.jsonValue()) as { ok: boolean; error?: string; once?: unknown; heard?: unknown[] };
      return { result, problems };
    } finally {
      await context.close();
    }
  }

  function expectRoundTrip({ result, problems }: Awaited<ReturnType<typeof roundTrip>>) {
    expect(result.error).toBeUndefined();
    expect(result).toEqual({ ok: true, once: VALUE, heard: expect.arrayContaining([VALUE]) });
    expect(problems).toEqual([]);
  }

  /** Runs a Vite command in the app until it prints the URL it serves, which it returns. */
  async function startVite(args: string[]): Promise<{ url: string; child: ChildProcess }> {
    const child = spawn(process.execPath, [join(APP, 'node_modules', 'vite', 'bin', 'vite.js'), ...args, '--host', '127.0.0.1', '--port', '0'], {
      cwd: APP,
      env: userEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const url = await new Promise<string>((resolveUrl, reject) => {
      const timer = setTimeout(() => reject(new Error(`vite ${args.join(' ')} printed no URL in 30 s:\n${output}`)), 30_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(output.replace(/\x1b\[[0-9;]*m/g, ''));
        if (match) {
          clearTimeout(timer);
          resolveUrl(match[0]);
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`vite ${args.join(' ')} exited (${code}):\n${output}`));
      });
    });
    return { url, child };
  }

  async function stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;
  }

  it('Vite: vite build, then vite preview', async () => {
    await timed('vite build', () => run(process.execPath, [join(APP, 'node_modules', 'vite', 'bin', 'vite.js'), 'build']));
    const { url, child } = await startVite(['preview', '--strictPort']);
    try {
      expectRoundTrip(await timed('vite preview page', () => roundTrip(url)));
    } finally {
      await stop(child);
    }
  }, 180_000);

  it('Vite: the dev server', async () => {
    const { url, child } = await startVite(['--strictPort']);
    try {
      expectRoundTrip(await timed('vite dev page', () => roundTrip(url)));
    } finally {
      await stop(child);
    }
  }, 180_000);

  it('webpack 5: a production build', async () => {
    // The README's configuration, plus where to write and, to save the ~30 s Terser
    // takes on a small machine, no minifying: tree shaking and sideEffects pruning
    // (what goes wrong in bundlers) are production mode's all the same.
    writeFileSync(join(APP, 'webpack.readme.js'), readmeBlock('webpack.config.js'));
    writeFileSync(
      join(APP, 'webpack.config.js'),
      `import readme from './webpack.readme.js';
export default {
  ...readme,
  mode: 'production',
  output: { path: new URL('./dist-webpack', import.meta.url).pathname, clean: true },
  optimization: { minimize: false },
  performance: { hints: false },
};
`,
    );
    // webpack's Node API, which webpack-cli calls with the same configuration (one
    // package fewer to install).
    writeFileSync(
      join(APP, 'build-webpack.mjs'),
      `import webpack from 'webpack';
import config from './webpack.config.js';
webpack(config, (error, stats) => {
  if (error) throw error;
  console.log(stats.toString({ colors: false, modules: false }));
  if (stats.hasErrors()) process.exitCode = 1;
});
`,
    );
    await timed('webpack build', () => node(['build-webpack.mjs']));
    const out = join(APP, 'dist-webpack');
    writeFileSync(join(out, 'index.html'), html('<script defer src="main.js"></script>'));
    // A static server, as any host would serve dist/ (with application/wasm for .wasm).
    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
    const server: Server = createServer((req, res) => {
      const path = join(out, new URL(req.url ?? '/', 'http://x').pathname.replace(/\/$/, '/index.html'));
      if (!path.startsWith(out) || !existsSync(path)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(readFileSync(path));
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    try {
      const { port } = server.address() as AddressInfo;
      expect(readdirSync(out).some((f) => f.endsWith('.wasm'))).toBe(true);
      expectRoundTrip(await timed('webpack page', () => roundTrip(`http://127.0.0.1:${port}/`)));
    } finally {
      await new Promise((closed) => server.close(closed));
    }
  }, 180_000);
});
