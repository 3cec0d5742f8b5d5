/**
 * Real `rustdht serve` processes for the multi-process tests: each runs the built CLI
 * (`node dist/cli/main.js serve`, so `npm run build` first) on loopback, in a temp data
 * directory, on free ports, with JSON logs. `startServer` resolves once the server said
 * it is ready (its 'ready' log line) and /health answers.
 *
 * No leaked processes: every child is tracked; `stopAllServers()` (call it in afterAll)
 * kills whatever still runs and removes the temp dirs, and a process 'exit' hook
 * SIGKILLs survivors should the test worker die first.
 *
 * Also here: `runCli` (a client command: get/put/watch/--help, with a deadline),
 * `spawnCli` (a long-running one, e.g. watch), free-port probes and `waitFor` (poll a
 * condition with a deadline: the tests never sleep a fixed time to wait for something).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI. */
export const CLI_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../../dist/cli/main.js');

/** True when `npm run build` produced the CLI. */
export function cliBuilt(): boolean {
  return existsSync(CLI_PATH);
}

// ---------------------------------------------------------------------------------------
// Polling

/** Thrown by a `waitFor` check: stop waiting at once (e.g. the process died), fail with this. */
export class GiveUp extends Error {
  override readonly name = 'GiveUp';
}

/**
 * Calls `check` until it returns something other than undefined/false (returned), or
 * throws after `timeoutMs` with `what` and the last error `check` threw. A check that
 * throws GiveUp ends the wait at once with that error.
 */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 50 } = options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      last = error;
    }
    if (Date.now() >= deadline) {
      const why = last === undefined ? '' : ` (last error: ${last instanceof Error ? last.message : String(last)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Rejects with a clear message when `promise` does not settle within `timeoutMs`. */
export async function withDeadline<T>(what: string, promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------
// Ports

/** A TCP port free on 127.0.0.1 right now (the OS picks it; we release it at once). */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** A UDP port free on 127.0.0.1 right now (for webrtc-direct). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const socket = createSocket('udp4');
    socket.unref();
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolvePort(port));
    });
  });
}

/** Distinct free TCP ports (probed one after another while the others are still held). */
async function freeTcpPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freeTcpPort());
  return [...ports];
}

// ---------------------------------------------------------------------------------------
// Servers

export interface StartServerOptions {
  /** Multiaddrs (with /p2p/) to pass as --bootstrap. */
  readonly bootstrap?: readonly string[];
  /** Extra `serve` flags. */
  readonly args?: readonly string[];
  /** Also listen on WebSockets and WebRTC-Direct (default false: TCP only, fastest to start). */
  readonly allTransports?: boolean;
  /** How long to wait for 'ready' (default 30 s). */
  readonly readyTimeoutMs?: number;
  /** A name for error messages and logs. */
  readonly name?: string;
}

export interface HealthBody {
  readonly status: string;
  readonly peerId: string;
  readonly addresses: readonly string[];
  readonly peers: { readonly count: number; readonly list: ReadonlyArray<{ peerId: string; role?: string; transport?: string }> } | number;
  readonly uptimeSeconds: number;
  readonly store: { readonly bytes: number };
  readonly outboxSize: number;
  readonly [field: string]: unknown;
}

export interface ServerProcess {
  readonly name: string;
  readonly dataDir: string;
  readonly httpPort: number;
  readonly peerId: string;
  /** Every address of the ready line / health, with /p2p/<peerId>. */
  readonly addresses: readonly string[];
  /** The TCP address (what Node clients dial). */
  readonly tcpAddress: string;
  /** stdout lines of every run, in order (JSON log lines). */
  readonly logs: string[];
  readonly stderr: string[];
  /** The 'ready' log record of the current run. */
  readonly ready: Record<string, unknown>;
  readonly running: boolean;
  readonly pid: number | undefined;
  /** Sends `signal` and resolves with the exit code (null when killed by a signal) once the process exited. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** SIGKILL, resolves once it exited. */
  kill9(): Promise<void>;
  /** Starts the server again: same data dir, same ports, same (or new) bootstrap list. */
  restart(options?: { bootstrap?: readonly string[] }): Promise<void>;
  health(): Promise<{ status: number; body: HealthBody }>;
  metrics(): Promise<{ status: number; text: string }>;
  /** Log records (parsed JSON lines) whose msg matches. */
  records(msg?: string | RegExp): Array<Record<string, unknown>>;
}

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const servers = new Set<ServerHandle>();

process.once('exit', () => {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((done) => child.once('exit', (code) => done(code)));
}

/** Reads a child's stream line by line. */
export function lines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (stream === null) return;
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    rest += chunk;
    let nl: number;
    while ((nl = rest.indexOf('\n')) !== -1) {
      const line = rest.slice(0, nl).replace(/\r$/, '');
      rest = rest.slice(nl + 1);
      onLine(line);
    }
  });
  stream.on('end', () => {
    if (rest !== '') onLine(rest);
    rest = '';
  });
}

function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export async function httpGet(port: number, path: string, timeoutMs = 5000): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: response.status, text: await response.text() };
}

class ServerHandle implements ServerProcess {
  readonly name: string;
  readonly dataDir: string;
  readonly httpPort: number;
  readonly logs: string[] = [];
  readonly stderr: string[] = [];
  readonly #listen: readonly string[];
  readonly #args: readonly string[];
  readonly #readyTimeoutMs: number;
  #bootstrap: readonly string[];
  #child: ChildProcess | undefined;
  #ready: Record<string, unknown> = {};
  #peerId = '';
  #addresses: string[] = [];

  constructor(name: string, dataDir: string, httpPort: number, listen: readonly string[], bootstrap: readonly string[], args: readonly string[], readyTimeoutMs: number) {
    this.name = name;
    this.dataDir = dataDir;
    this.httpPort = httpPort;
    this.#listen = listen;
    this.#bootstrap = bootstrap;
    this.#args = args;
    this.#readyTimeoutMs = readyTimeoutMs;
  }

  get peerId(): string {
    return this.#peerId;
  }

  get addresses(): readonly string[] {
    return this.#addresses;
  }

  get tcpAddress(): string {
    const tcp = this.#addresses.find((a) => a.includes('/tcp/') && !a.includes('/ws') && a.startsWith('/ip4/127.0.0.1/'))
      ?? this.#addresses.find((a) => a.includes('/tcp/') && !a.includes('/ws'));
    if (tcp === undefined) throw new Error(`${this.name} has no TCP address among ${JSON.stringify(this.#addresses)}`);
    return tcp;
  }

  get ready(): Record<string, unknown> {
    return this.#ready;
  }

  get running(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  records(msg?: string | RegExp): Array<Record<string, unknown>> {
    const all = this.logs.map(parseJson).filter((r): r is Record<string, unknown> => r !== undefined);
    if (msg === undefined) return all;
    return all.filter((r) => (typeof msg === 'string' ? r['msg'] === msg : typeof r['msg'] === 'string' && msg.test(r['msg'])));
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const argv = [CLI_PATH, 'serve', '--data', this.dataDir, '--http', String(this.httpPort), '--log-format', 'json', '--log-level', 'debug'];
    for (const address of this.#listen) argv.push('--listen', address);
    for (const address of this.#bootstrap) argv.push('--bootstrap', address);
    argv.push(...this.#args);
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUSTDHT_DEBUG: '1' } });
    track(child);
    this.#child = child;
    const startLine = this.logs.length;
    let readyRecord: Record<string, unknown> | undefined;
    lines(child.stdout, (line) => {
      this.logs.push(line);
      const record = parseJson(line);
      if (readyRecord === undefined && record !== undefined && record['msg'] === 'ready') readyRecord = record;
    });
    lines(child.stderr, (line) => this.stderr.push(line));
    let exitedEarly: number | null | undefined;
    void exited(child).then((code) => (exitedEarly = code));
    const output = (): string => `\n--- stdout ---\n${this.logs.slice(startLine).join('\n')}\n--- stderr ---\n${this.stderr.join('\n')}`;
    try {
      await waitFor(`${this.name}'s ready line`, () => {
        if (exitedEarly !== undefined) throw new GiveUp(`${this.name} exited with ${String(exitedEarly)} before it was ready`);
        return readyRecord;
      }, { timeoutMs: this.#readyTimeoutMs, intervalMs: 25 });
      const health = await waitFor(`${this.name}'s /health`, async () => {
        const { status, body } = await this.health();
        // 503 with a degraded body is an answer too (e.g. a disk check that cannot be met).
        return status === 200 || (status === 503 && body.status === 'degraded') ? body : undefined;
      }, { timeoutMs: 5000 });
      this.#ready = readyRecord!;
      const fromReady = Array.isArray(readyRecord!['addresses']) ? (readyRecord!['addresses'] as unknown[]).filter((a): a is string => typeof a === 'string') : [];
      const addresses = fromReady.length !== 0 ? fromReady : [...health.addresses];
      this.#peerId = typeof readyRecord!['peerId'] === 'string' ? readyRecord!['peerId'] : health.peerId;
      this.#addresses = addresses.map((a) => (a.includes('/p2p/') ? a : `${a}/p2p/${this.#peerId}`));
    } catch (error) {
      child.kill('SIGKILL');
      await exited(child);
      throw new Error(`${error instanceof Error ? error.message : String(error)}${output()}`, { cause: error });
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    const child = this.#child;
    if (child === undefined) return null;
    if (!this.running) return child.exitCode;
    child.kill(signal);
    try {
      return await withDeadline(`${this.name} to exit after ${signal}`, exited(child), timeoutMs);
    } catch (error) {
      child.kill('SIGKILL');
      await exited(child);
      throw error;
    }
  }

  async kill9(): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.running) return;
    child.kill('SIGKILL');
    await exited(child);
  }

  async restart(options: { bootstrap?: readonly string[] } = {}): Promise<void> {
    if (this.running) await this.stop();
    if (options.bootstrap !== undefined) this.#bootstrap = options.bootstrap;
    await this.start();
  }

  async health(): Promise<{ status: number; body: HealthBody }> {
    const { status, text } = await httpGet(this.httpPort, '/health');
    return { status, body: JSON.parse(text) as HealthBody };
  }

  metrics(): Promise<{ status: number; text: string }> {
    return httpGet(this.httpPort, '/metrics');
  }
}

/** Starts a `rustdht serve` on loopback (free ports, temp data dir) and waits until it is ready. */
export async function startServer(options: StartServerOptions = {}): Promise<ServerProcess> {
  if (!cliBuilt()) throw new Error(`${CLI_PATH} is missing: run \`npm run build\` in sdk-ts first`);
  const name = options.name ?? `server-${servers.size + 1}`;
  const dataDir = await mkdtemp(join(tmpdir(), `rustdht-${name}-`));
  tempDirs.add(dataDir);
  // A port found free is released before the server binds it, and another process (an
  // outgoing connection's ephemeral port, another test's server) may take it meanwhile:
  // a start that fails with EADDRINUSE is tried again on other ports.
  for (let attempt = 1; ; attempt++) {
    const [httpPort, tcpPort, wsPort] = await freeTcpPorts(3);
    const listen = [`/ip4/127.0.0.1/tcp/${tcpPort!}`];
    if (options.allTransports === true) {
      listen.push(`/ip4/127.0.0.1/tcp/${wsPort!}/ws`, `/ip4/127.0.0.1/udp/${await freeUdpPort()}/webrtc-direct`);
    }
    const handle = new ServerHandle(name, dataDir, httpPort!, listen, options.bootstrap ?? [], options.args ?? [], options.readyTimeoutMs ?? 30_000);
    servers.add(handle);
    try {
      await handle.start();
      return handle;
    } catch (error) {
      servers.delete(handle);
      if (attempt >= 3 || !String((error as Error)?.message).includes('EADDRINUSE')) throw error;
    }
  }
}

/** Kills every server and CLI child still running and removes the temp data dirs. For afterAll. */
export async function stopAllServers(): Promise<void> {
  await Promise.all(
    [...servers].map(async (server) => {
      try {
        await server.stop('SIGTERM', 5000);
      } catch {
        await server.kill9();
      }
    }),
  );
  servers.clear();
  await Promise.all(
    [...children].map(async (child) => {
      child.kill('SIGKILL');
      await exited(child);
    }),
  );
  await Promise.all([...tempDirs].map((dir) => rm(dir, { recursive: true, force: true })));
  tempDirs.clear();
}

// ---------------------------------------------------------------------------------------
// CLI client commands

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs `rustdht ...args` to completion (SIGKILLed after `timeoutMs`: then code null). */
export async function runCli(args: readonly string[], options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliResult> {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  track(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) => child.once('close', (c, s) => done([c, s])));
  clearTimeout(timer);
  return { code, signal, stdout, stderr, ms: Date.now() - started };
}

export interface SpawnedCli {
  readonly child: ChildProcess;
  readonly stdoutLines: string[];
  readonly stderrLines: string[];
  /** Resolves once a stdout line satisfies `match` (checked against lines already printed too). */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Sends `signal` (default SIGINT) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a long-running CLI command (e.g. `watch`), reading its output line by line. */
export function spawnCli(args: readonly string[]): SpawnedCli {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  const stdoutLines: string[] = [];
  const stderrLines: string[] = [];
  lines(child.stdout, (line) => stdoutLines.push(line));
  lines(child.stderr, (line) => stderrLines.push(line));
  return {
    child,
    stdoutLines,
    stderrLines,
    waitForLine: (match, timeoutMs = 15_000) =>
      waitFor(`a line of rustdht ${args.join(' ')} (stdout so far: ${JSON.stringify(stdoutLines)})`, () => {
        const line = stdoutLines.find(match);
        if (line !== undefined) return line;
        if (child.exitCode !== null) throw new GiveUp(`exited with ${child.exitCode}; stderr: ${stderrLines.join('\n')}`);
        return undefined;
      }, { timeoutMs }),
    stop: async (signal = 'SIGINT') => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      try {
        return await withDeadline('the CLI to exit', exited(child), 10_000);
      } catch (error) {
        child.kill('SIGKILL');
        await exited(child);
        throw error;
      }
    },
  };
}
