/**
 * docs/running-servers.md and deploy/, checked against the CLI and real servers:
 *
 * - every `rustdht …` command line in the docs, the systemd unit's ExecStart and the
 *   Dockerfile's command parses with the CLI's own parser (what makes it exit 64);
 * - the one-server and three-server command lines run as real processes (ports moved
 *   to free ones, data directories to temp dirs, nothing else changed), followed by the
 *   page's client commands; /health and /metrics match the page's field and metric tables;
 * - deploy/rustdht.service passes `systemd-analyze verify` (where systemd-analyze exists)
 *   and runs the documented command; deploy/Dockerfile's ports, command and health check
 *   agree with the CLI's defaults, and its context (.dockerignore) holds what `npm pack`
 *   writes.
 *
 * Needs the build (`npm run build`): servers and CLI run from dist/cli.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, parseCommandLine, type Invocation } from '../../src/cli/args.js';
import { METRIC_NAMES } from '../../src/server/metrics.js';
import { CLI_PATH, freeTcpPort, freeUdpPort, GiveUp, httpGet, runCli, waitFor, withDeadline } from '../network/helpers/server-process.js';
import { cliLines, codeBlocks, codeSpans, docFiles, markedBlock, REPO, rustdhtArgv, sectionTableRows, shellCommands, shellWords } from './markdown.js';

const DOC = 'running-servers.md';
const UNIT = join(REPO, 'deploy', 'rustdht.service');
const DOCKERFILE = join(REPO, 'deploy', 'Dockerfile');
/** A real peer id, for the docs' `/p2p/12D3KooW...` placeholders. */
const PEER_ID = '12D3KooWGh3i9ScnBVPmjvhSVUpfe8zsNPTrH7YfArMHPD5eKh8J';
const run = promisify(execFile);

/** The placeholder peer id written as `12D3KooW...` or `12D3KooW…`, made real. */
function withPeerIds(argv: readonly string[]): string[] {
  return argv.map((arg) => arg.replace(/12D3KooW(?:\.\.\.|…)/g, PEER_ID));
}

function parse(argv: readonly string[], where: string): Invocation {
  try {
    return parseCommandLine(withPeerIds(argv), {});
  } catch (error) {
    throw new Error(`${where}: rustdht ${argv.join(' ')}\n  is refused by the CLI: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** `[Service]` settings of a unit file, by name (a name given twice keeps the last). */
function unitSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (match !== null) settings.set(match[1]!, match[2]!);
  }
  return settings;
}

/** The JSON array of a Dockerfile instruction in exec form (`CMD ["a", "b"]`). */
function execForm(dockerfile: string, instruction: string): string[] {
  const line = dockerfile.split('\n').find((l) => l.startsWith(`${instruction} [`));
  if (line === undefined) throw new Error(`deploy/Dockerfile has no ${instruction} in exec form`);
  return JSON.parse(line.slice(instruction.length + 1)) as string[];
}

describe('command lines in the docs and in deploy/', () => {
  it('every `rustdht …` line in docs/*.md parses', () => {
    const lines = cliLines(docFiles());
    expect(lines.length).toBeGreaterThan(10);
    for (const { where, text, argv } of lines) {
      const invocation = parse(argv, where);
      if (!argv.includes('--help') && !argv.includes('-h')) expect(invocation.command, `${where}: ${text}`).not.toBe('help');
    }
  });

  it('ExecStart lines of the docs\' systemd drop-ins parse', () => {
    const execStarts = codeBlocks(join(REPO, 'docs', DOC))
      .filter((block) => block.lang === 'ini')
      .flatMap((block) => block.code.split('\n').filter((line) => /^ExecStart=./.test(line)).map((line) => ({ block, line })));
    expect(execStarts.length).toBeGreaterThan(0);
    for (const { block, line } of execStarts) {
      const argv = rustdhtArgv(line.slice('ExecStart='.length));
      expect(argv, `${block.doc}:${block.line}: ${line}`).toBeDefined();
      parse(argv!, `${block.doc}:${block.line}`);
    }
  });
});

// ---------------------------------------------------------------------------------------
// Real servers, run from the documented command lines

interface Served {
  readonly name: string;
  readonly child: ChildProcess;
  readonly httpPort: number;
  readonly peerId: string;
  readonly stdout: string[];
  readonly stderr: string[];
}

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];
// Should the worker die before afterAll, no server outlives it.
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

afterAll(async () => {
  await Promise.all([...children].map(async (child) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await withDeadline('a server to stop', new Promise((done) => child.once('exit', done)), 10_000).catch(() => child.kill('SIGKILL'));
  }));
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
}, 60_000);

/**
 * Moves a documented command line onto this machine's free ports and temp dirs: every
 * port (in --http, multiaddrs and http:// URLs) maps to a free port, the same one each
 * time it appears, and every --data directory to a temp dir.
 */
class Localizer {
  readonly #ports = new Map<string, number>();
  readonly #dirs = new Map<string, string>();

  async port(protocol: 'tcp' | 'udp', documented: number): Promise<number> {
    const key = `${protocol}:${documented}`;
    let port = this.#ports.get(key);
    if (port === undefined) {
      const taken = new Set(this.#ports.values());
      do port = protocol === 'tcp' ? await freeTcpPort() : await freeUdpPort();
      while (taken.has(port));
      this.#ports.set(key, port);
    }
    return port;
  }

  async dir(documented: string): Promise<string> {
    let dir = this.#dirs.get(documented);
    if (dir === undefined) {
      dir = await mkdtemp(join(tmpdir(), 'rustdht-docs-data-'));
      tempDirs.push(dir);
      this.#dirs.set(documented, dir);
    }
    return dir;
  }

  async text(text: string): Promise<string> {
    let result = text;
    for (const [whole, protocol, port] of [...text.matchAll(/\/(tcp|udp)\/(\d+)/g)]) {
      result = result.replace(whole, `/${protocol}/${await this.port(protocol as 'tcp' | 'udp', Number(port))}`);
    }
    for (const [whole, host, port] of [...text.matchAll(/^(https?:\/\/[^/:]+):(\d+)/g)]) {
      result = result.replace(whole, `${host}:${await this.port('tcp', Number(port))}`);
    }
    return result;
  }

  async argv(argv: readonly string[]): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      const previous = argv[i - 1];
      if (previous === '--http') out.push(String(await this.port('tcp', Number(arg))));
      else if (previous === '--data') out.push(await this.dir(arg));
      else out.push(await this.text(arg));
    }
    return out;
  }
}

/** Starts `rustdht ...argv` (a serve command) and resolves once its 'ready' log line is out. */
async function serveFrom(name: string, argv: readonly string[]): Promise<Served> {
  const child = spawn(process.execPath, [CLI_PATH, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.push(...chunk.split('\n').filter((l) => l !== '')));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const ready = await waitFor(`${name}'s ready line`, () => {
    if (child.exitCode !== null) throw new GiveUp(`${name} exited with ${child.exitCode}:\n${stdout.join('\n')}\n${stderr.join('')}`);
    for (const line of stdout) {
      try {
        const record = JSON.parse(line) as { msg?: string; peerId?: string; http?: string };
        if (record.msg === 'ready') return record;
      } catch {
        // not a JSON line
      }
    }
    return undefined;
  }, { timeoutMs: 30_000, intervalMs: 50 });
  return { name, child, httpPort: Number(new URL(ready.http!).port), peerId: ready.peerId!, stdout, stderr };
}

interface Health {
  readonly [field: string]: unknown;
  readonly peers: { readonly count: number; readonly list: ReadonlyArray<{ peerId: string; role?: string; transport: string }> };
  readonly state: string;
}

async function health(server: Served): Promise<Health> {
  const { status, text } = await httpGet(server.httpPort, '/health');
  expect(status, text).toBe(200);
  return JSON.parse(text) as Health;
}

/** A dotted path (`peers.count`) in a JSON value. */
function at(value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), value);
}

/** Runs the client lines of a documented block (curl lines are the test's own /health reads). */
async function clientLines(block: string): Promise<Array<{ argv: string[]; stated: string | undefined }>> {
  return shellCommands(block)
    .map((command) => ({ argv: rustdhtArgv(command), stated: /\s#\s+(.*)$/.exec(command)?.[1]?.trim() }))
    .filter((line): line is { argv: string[]; stated: string | undefined } => line.argv !== undefined);
}

describe('one server, as documented', () => {
  it('runs, answers the client commands, and /health and /metrics match the tables', async () => {
    const ports = new Localizer();
    const [command] = shellCommands(markedBlock(DOC, 'one-server').code);
    const argv = rustdhtArgv(command!)!;
    expect(argv.slice(0, 1)).toEqual(['serve']);
    // The documented command uses the default ports: name them, on loopback and free.
    const defaults = ['--http', String(DEFAULTS.httpPort), ...DEFAULTS.listen.flatMap((address) => ['--listen', address.replace('/ip4/0.0.0.0/', '/ip4/127.0.0.1/')])];
    const server = await serveFrom('one-server', await ports.argv([...argv, ...defaults]));

    const body = await health(server);
    expect(body['status']).toBe('ok');
    expect(body['peerId']).toBe(server.peerId);
    expect(body.state).toBe('idle');
    // The page's example has exactly the real fields, and its table documents each one.
    const example = JSON.parse(markedBlock(DOC, 'health-example').code) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(Object.keys(example).sort());
    const documented = sectionTableRows(DOC, '`GET /health`').flatMap((row) => codeSpans(row[0]!));
    for (const path of documented) expect(at(body, path), `/health field ${path}`).toBeDefined();
    for (const key of Object.keys(body)) expect(documented.some((path) => path.split('.')[0] === key), `/health field ${key} is documented`).toBe(true);
    const cors = await fetch(`http://127.0.0.1:${server.httpPort}/health`);
    expect(cors.headers.get('access-control-allow-origin')).toBe('*');

    const metrics = await httpGet(server.httpPort, '/metrics');
    expect(metrics.status).toBe(200);
    const rows = sectionTableRows(DOC, '`GET /metrics`');
    expect(rows.map((row) => codeSpans(row[0]!)[0]).sort()).toEqual([...METRIC_NAMES].sort());
    for (const row of rows) {
      const [name] = codeSpans(row[0]!);
      expect(metrics.text, `# TYPE ${name} ${row[1]}`).toMatch(new RegExp(`^# TYPE ${name} ${row[1]}$`, 'm'));
      const sample = new RegExp(`^${name}\\{([^}]*)\\}`, 'm').exec(metrics.text);
      // Labels, where the metric has a sample with labels now (per-peer RTTs need peers).
      if (sample !== null) for (const label of codeSpans(row[2]!.replace(/\([^)]*\)/g, ''))) expect(sample[1], `${name} label ${label}`).toContain(`${label}=`);
    }
    const standard = readFileSync(join(REPO, 'docs', DOC), 'utf8').match(/Plus the standard process and Node\.js metrics[^]*?\)/)?.[0] ?? '';
    const standardNames = codeSpans(standard).filter((span) => span.startsWith('rustdht_'));
    expect(standardNames.length).toBeGreaterThan(0);
    for (const name of standardNames) expect(metrics.text, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));

    // From another terminal: put, then get.
    const lines = await clientLines(markedBlock(DOC, 'one-server-try').code);
    expect(lines.map((line) => line.argv[0])).toEqual(['put', 'get']);
    for (const { argv: client } of lines) {
      const result = await runCli(await ports.argv(client));
      expect(result.code, `rustdht ${client.join(' ')}\n${result.stderr}`).toBe(0);
      if (client[0] === 'get') expect(JSON.parse(result.stdout)).toEqual({ hello: 'world' });
    }

    // SIGTERM: a clean stop, exit 0.
    server.child.kill('SIGTERM');
    const code = await withDeadline('the server to stop', new Promise<number | null>((done) => server.child.once('exit', done)), 15_000);
    expect(code, server.stderr.join('')).toBe(0);
    expect(server.stdout.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
  }, 120_000);
});

describe('three servers, as documented', () => {
  it('join into a full mesh, and a write on the first reads back on the third', async () => {
    const ports = new Localizer();
    const commands = shellCommands(markedBlock(DOC, 'three-servers').code);
    expect(commands.length).toBe(3);
    const servers: Served[] = [];
    for (const [i, command] of commands.entries()) servers.push(await serveFrom(`s${i + 1}`, await ports.argv(rustdhtArgv(command)!)));
    for (const server of servers) {
      const others = servers.filter((s) => s !== server).map((s) => s.peerId).sort();
      await waitFor(`${server.name} to be connected to the two others`, async () => {
        const { peers } = await health(server);
        return peers.count === 2 && peers.list.map((p) => p.peerId).sort().join() === others.join() && peers.list.every((p) => p.role === 'server');
      }, { timeoutMs: 30_000, intervalMs: 200 });
    }

    const lines = await clientLines(markedBlock(DOC, 'three-servers-try').code);
    expect(lines.map((line) => line.argv[0])).toEqual(['put', 'get']);
    const [put, get] = lines;
    const written = await runCli(await ports.argv(put!.argv));
    expect(written.code, written.stderr).toBe(0);
    // Replication is asynchronous: the third server has it a moment later.
    const getArgv = await ports.argv(get!.argv);
    await waitFor('the third server to answer the documented get', async () => {
      const result = await runCli(getArgv);
      return result.code === 0 && result.stdout.trim() === get!.stated;
    }, { timeoutMs: 15_000, intervalMs: 200 });
  }, 150_000);
});

// ---------------------------------------------------------------------------------------
// deploy/

describe('deploy/rustdht.service', () => {
  const unit = readFileSync(UNIT, 'utf8');
  const settings = unitSettings(unit);

  it('runs the documented command, on its state directory', () => {
    const execStart = settings.get('ExecStart')!;
    const argv = rustdhtArgv(execStart)!;
    const [documented] = shellCommands(markedBlock(DOC, 'systemd-execstart').code);
    expect(argv).toEqual(rustdhtArgv(documented!));
    const invocation = parse(argv, 'deploy/rustdht.service ExecStart');
    expect(invocation.command).toBe('serve');
    if (invocation.command !== 'serve') return;
    expect(invocation.options.dataDir).toBe(`/var/lib/${settings.get('StateDirectory')}`);
    expect(settings.get('User')).toBe('rustdht');
    expect(settings.get('KillSignal')).toBe('SIGTERM');
  });

  it('passes systemd-analyze verify', async () => {
    // Debian's systemd package, part of this machine kind's image: the unit must be checked, not skipped.
    const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((path) => existsSync(path));
    if (analyze === undefined) throw new Error('systemd-analyze not found: install Debian\'s systemd package to check deploy/rustdht.service');
    // verify checks that ExecStart's program exists: point it at the built CLI.
    accessSync(CLI_PATH, constants.X_OK);
    const dir = await mkdtemp(join(tmpdir(), 'rustdht-docs-unit-'));
    tempDirs.push(dir);
    const program = shellWords(settings.get('ExecStart')!)[0]!;
    await writeFile(join(dir, 'rustdht.service'), unit.replaceAll(program, CLI_PATH));
    const { stdout, stderr } = await run(analyze, ['verify', join(dir, 'rustdht.service')]);
    expect(`${stdout}${stderr}`).toBe('');
  });
});

describe('deploy/Dockerfile', () => {
  const dockerfile = readFileSync(DOCKERFILE, 'utf8');

  it('runs rustdht serve on /data with HTTP on the container\'s interfaces', () => {
    const entrypoint = execForm(dockerfile, 'ENTRYPOINT');
    const cmd = execForm(dockerfile, 'CMD');
    expect(entrypoint).toEqual(['rustdht']);
    const invocation = parse(cmd, 'deploy/Dockerfile CMD');
    expect(invocation.command).toBe('serve');
    if (invocation.command !== 'serve') return;
    expect(invocation.options.dataDir).toBe('/data');
    expect(invocation.options.httpHost).toBe('0.0.0.0');
    expect(dockerfile).toMatch(/^VOLUME \["\/data"\]$/m);
  });

  it('exposes the CLI\'s default ports and checks the default HTTP port', () => {
    const expose = /^EXPOSE (.*)$/m.exec(dockerfile)?.[1]?.split(/\s+/) ?? [];
    const listened = DEFAULTS.listen.map((address) => {
      const [, protocol, port] = /\/(tcp|udp)\/(\d+)/.exec(address)!;
      return protocol === 'udp' ? `${port}/udp` : port!;
    });
    expect(expose.sort()).toEqual([String(DEFAULTS.httpPort), ...listened].sort());
    expect(dockerfile).toContain(`fetch('http://127.0.0.1:${DEFAULTS.httpPort}/health')`);
  });

  it('copies the tarball `npm pack -w sdk-ts --pack-destination deploy` writes, the only file .dockerignore lets in', async () => {
    const copy = /^COPY (\S+) /m.exec(dockerfile)?.[1];
    expect(copy).toBe('deploy/rustdht-*.tgz');
    const ignore = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    expect(ignore).toEqual(['*', `!${copy}`]);
    const documented = shellCommands(codeBlocks(join(REPO, 'docs', DOC)).map((block) => block.code).join('\n')).find((line) => line.startsWith('npm pack '));
    expect(documented).toMatch(/^npm pack -w sdk-ts --pack-destination deploy\b/);
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--loglevel=error', '-w', 'sdk-ts'], { cwd: REPO });
    const [pack] = JSON.parse(stdout) as [{ filename: string }];
    expect(pack.filename).toMatch(/^rustdht-[^/]+\.tgz$/);
  });
});
