/**
 * docs/getting-started.md, run as a reader would run it:
 *
 * - hello.mjs, twice, in a scratch app: its output must be what the page prints;
 * - sync.mjs and the `rustdht get` after it, against a real `rustdht serve` process;
 * - the Vite app (vite.config.ts, index.html, src/main.ts): type-checked as the files
 *   on the page (tsc, Bundler resolution, Vite's vanilla-ts settings), built with
 *   `vite build`, then loaded in Chromium against the same server (the page's server
 *   URL being the one thing changed), where it must show a topic written by the CLI
 *   and send one typed into its form.
 *
 * Needs the build (`npm run build`): the examples import the package's dist/, and the
 * server and CLI run from dist/cli. Chromium: $RUSTDHT_CHROMIUM or /usr/bin/chromium
 * (npm test's bootstrap installs it).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../../scripts/chromium.mjs';
import { runCli, startServer, stopAllServers, waitFor, type ServerProcess } from '../network/helpers/server-process.js';
import { fileBlock, markedBlock, REPO, rustdhtArgv, shellCommands, statedRuns } from './markdown.js';
import { describeRun, runNode, scratchApp, type ScratchApp } from './scratch.js';

const DOC = 'getting-started.md';
const DOCUMENTED_SERVER = 'http://127.0.0.1:7400';
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const VITE = join(REPO, 'node_modules', 'vite', 'bin', 'vite.js');
const run = promisify(execFile);

const apps: ScratchApp[] = [];
let server: ServerProcess;
let serverUrl: string;

async function newApp(prefix: string, packages?: Parameters<typeof scratchApp>[1]): Promise<ScratchApp> {
  const app = await scratchApp(prefix, packages);
  apps.push(app);
  return app;
}

beforeAll(async () => {
  // WebSockets too: the browser example dials /ws.
  server = await startServer({ name: 'getting-started', allTransports: true });
  serverUrl = `http://127.0.0.1:${server.httpPort}`;
}, 60_000);

afterAll(async () => {
  await stopAllServers();
  await Promise.all(apps.map((app) => app.remove()));
}, 60_000);

describe('getting started, in Node', () => {
  it('hello.mjs prints what the page says, and its second run starts from the disk', async () => {
    const app = await newApp('hello');
    await app.write('hello.mjs', fileBlock(DOC, 'hello.mjs').code);
    const runs = statedRuns(markedBlock(DOC, 'hello-output').code);
    expect(runs.length).toBe(2);
    for (const { command, output } of runs) {
      expect(command).toBe('node hello.mjs');
      const result = await runNode(app.dir, ['hello.mjs']);
      expect(result.code, describeRun(command, result)).toBe(0);
      expect(result.stdout.trimEnd().split('\n')).toEqual(output);
    }
  });

  it('the Node default warns once that it keeps nothing; store: "memory" does not', async () => {
    const app = await newApp('memory');
    await app.write('default.mjs', "import { RustDHT } from 'rustdht';\nawait (await RustDHT.open()).close();\nawait (await RustDHT.open()).close();\n");
    await app.write('memory.mjs', "import { RustDHT } from 'rustdht';\nawait (await RustDHT.open({ store: 'memory' })).close();\n");
    const warned = await runNode(app.dir, ['default.mjs']);
    expect(warned.code, describeRun('default.mjs', warned)).toBe(0);
    expect(warned.stderr.match(/RUSTDHT_MEMORY_ONLY/g)?.length, warned.stderr).toBe(1);
    const quiet = await runNode(app.dir, ['memory.mjs']);
    expect(quiet.code, describeRun('memory.mjs', quiet)).toBe(0);
    expect(quiet.stderr).not.toContain('RUSTDHT_MEMORY_ONLY');
  });

  it('sync.mjs writes through a real server, and `rustdht get` reads it back from the server', async () => {
    const app = await newApp('sync');
    await app.write('sync.mjs', fileBlock(DOC, 'sync.mjs').code);
    const commands = shellCommands(markedBlock(DOC, 'sync-run').code);
    expect(commands.length).toBe(2);
    // node sync.mjs, with the server's URL as the documented optional argument.
    expect(commands[0]).toMatch(/^node sync\.mjs\b/);
    const synced = await runNode(app.dir, ['sync.mjs', serverUrl]);
    expect(synced.code, describeRun('node sync.mjs', synced)).toBe(0);
    const lines = synced.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`connected to ${server.peerId}`);
    const topic = /^topic: (set by process \d+)$/.exec(lines.find((line) => line.startsWith('topic:')) ?? '')?.[1];
    expect(topic, synced.stdout).toBeDefined();
    expect(lines.at(-1)).toBe('closed: { undelivered: 0, kept: false }');

    // npx rustdht get rooms/lobby --peer http://127.0.0.1:7400 (this test's server's port).
    const argv = rustdhtArgv(commands[1]!.replaceAll(DOCUMENTED_SERVER, serverUrl));
    expect(argv?.slice(0, 2)).toEqual(['get', 'rooms/lobby']);
    const got = await runCli(argv!);
    expect(got.code, got.stderr).toBe(0);
    expect(JSON.parse(got.stdout)).toEqual({ topic });
  }, 90_000);
});

describe('getting started, in the browser', () => {
  let app: ScratchApp;
  const files = ['vite.config.ts', 'index.html', 'src/main.ts'];

  beforeAll(async () => {
    app = await newApp('vite', ['rustdht', 'vite', 'vite-plugin-wasm']);
    for (const file of files) await app.write(file, fileBlock(DOC, file).code);
  });

  it('type-checks: src/main.ts as in a Vite app (Bundler resolution), and vite.config.ts', async () => {
    // Vite's vanilla-ts template's compiler options for src/.
    await app.write('tsconfig.json', JSON.stringify({
      compilerOptions: {
        target: 'ES2022', useDefineForClassFields: true, module: 'ESNext', lib: ['ES2022', 'DOM', 'DOM.Iterable'],
        types: ['vite/client'], skipLibCheck: true, moduleResolution: 'bundler', allowImportingTsExtensions: true,
        verbatimModuleSyntax: true, moduleDetection: 'force', noEmit: true, strict: true, noUnusedLocals: true,
        noUnusedParameters: true, noFallthroughCasesInSwitch: true, noUncheckedSideEffectImports: true,
      },
      include: ['src'],
    }));
    await app.write('tsconfig.node.json', JSON.stringify({
      compilerOptions: { target: 'ES2023', lib: ['ES2023'], module: 'ESNext', moduleResolution: 'bundler', types: [], skipLibCheck: true, noEmit: true, strict: true, verbatimModuleSyntax: true },
      include: ['vite.config.ts'],
    }));
    for (const project of ['tsconfig.json', 'tsconfig.node.json']) {
      try {
        await run(process.execPath, [TSC, '-p', project], { cwd: app.dir });
      } catch (error) {
        const { stdout, stderr } = error as { stdout?: string; stderr?: string };
        throw new Error(`tsc -p ${project} failed:\n${stdout ?? ''}${stderr ?? ''}`);
      }
    }
  });

  it('builds with vite, and the page syncs with a real server in Chromium', async () => {
    // The one change: the page's server URL is this test's server.
    const main = fileBlock(DOC, 'src/main.ts').code;
    expect(main).toContain(`'${DOCUMENTED_SERVER}'`);
    await app.write('src/main.ts', main.replace(`'${DOCUMENTED_SERVER}'`, `'${serverUrl}'`));
    try {
      await run(process.execPath, [VITE, 'build', '--logLevel', 'warn'], { cwd: app.dir });
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`vite build failed:\n${stdout ?? ''}${stderr ?? ''}`);
    }
    const assets = await readdir(join(app.dir, 'dist', 'assets'));
    expect(assets.some((name) => name.endsWith('.wasm')), assets.join(', ')).toBe(true);

    if (!existsSync(CHROMIUM_PATH)) {
      console.warn(`getting-started: no Chromium at ${CHROMIUM_PATH}; the Vite app was built but not run`);
      return;
    }
    const put = await runCli(['put', 'rooms/lobby', 'topic=from the CLI', '--peer', serverUrl]);
    expect(put.code, put.stderr).toBe(0);

    const site = await serveDirectory(join(app.dir, 'dist'));
    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      const logged: string[] = [];
      page.on('console', (message) => logged.push(message.text()));
      await page.goto(`http://127.0.0.1:${(site.address() as AddressInfo).port}/`);
      await page.waitForFunction(() => document.querySelector('#topic')?.textContent === 'from the CLI', null, { timeout: 20_000 });
      expect(logged).toContain('topic at load: from the CLI');

      await page.fill('#topic-input', 'from the page');
      await page.click('#topic-form button');
      await page.waitForFunction(() => document.querySelector('#topic')?.textContent === 'from the page', null, { timeout: 5000 });
      await waitFor('the server to have the page\'s topic', async () => {
        const got = await runCli(['get', 'rooms/lobby', 'topic', '--peer', serverUrl]);
        return got.code === 0 && got.stdout.trim() === 'from the page';
      }, { timeoutMs: 15_000, intervalMs: 200 });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
      await new Promise((done) => site.close(done));
    }
  }, 120_000);
});

const TYPES: Readonly<Record<string, string>> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

/** The built app over HTTP on a free loopback port, as any static host serves it. */
async function serveDirectory(root: string): Promise<Server> {
  const site = createServer((request, response) => {
    const path = normalize(new URL(request.url ?? '/', 'http://localhost').pathname).replace(/^(\.\.[/\\])+/, '');
    const file = join(root, path.endsWith('/') ? `${path}index.html` : path);
    readFile(file).then(
      (body) => {
        response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
        response.end(body);
      },
      () => {
        response.writeHead(404);
        response.end();
      },
    );
  });
  await new Promise<void>((listening) => site.listen(0, '127.0.0.1', listening));
  return site;
}
