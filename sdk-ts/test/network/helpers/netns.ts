/**
 * Real network partitions for the process tests, made with Linux network namespaces
 * (`ip netns`), veth pairs and bridges; nothing is added to the host's own namespace.
 *
 *   switch namespace:   brA ── trA ═══ trB ── brB        (trA/trB: one veth pair, the "cable")
 *                        │                     │
 *                       pN ...                pN ...      (one veth per node, in its side's bridge)
 *                        │                     │
 *   node namespaces:   eth0 10.X.0.1, .2      eth0 .3, .4
 *
 * `cut()` sets the cable's ends down (`ip link set … down`): the two sides stop hearing
 * each other silently, as when a cable or a switch goes, with no reset and no error;
 * `heal()` sets them up again. `destroy()` deletes every namespace it made (with them
 * their links); it runs from afterAll and, should the test worker die first, from a
 * process 'exit' hook.
 *
 * Processes run inside a namespace with `ip netns exec NS node …` (the same pid and the
 * same file system as any child, only the network differs): `startNamespacedServer`
 * starts `rustdht serve` on a node's address and follows its JSON log (ready, peers
 * connected and disconnected); `runInNamespace` runs a script to completion.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_PATH, GiveUp, lines, waitFor, withDeadline } from './server-process.js';

// ---------------------------------------------------------------------------------------
// Support

/** Whether this process can make network namespaces, and if not, why not. */
export function namespaceSupport(): { readonly ok: true } | { readonly ok: false; readonly reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces are Linux only (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'making network namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN); this test runs as a normal user' };
  const probe = `rdt-probe-${process.pid}`;
  try {
    ip(['netns', 'add', probe]);
  } catch (error) {
    const cause = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: /ENOENT/.test(cause) ? "the `ip` command (iproute2) is not installed" : `\`ip netns add\` failed: ${cause}` };
  }
  try {
    ip(['-n', probe, 'link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1']);
    ip(['-n', probe, 'link', 'add', 'probebr', 'type', 'bridge']);
  } catch (error) {
    return { ok: false, reason: `veth pairs or bridges cannot be made: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    try {
      ip(['netns', 'del', probe]);
    } catch {
      // reported by the next attempt, if any
    }
  }
  return { ok: true };
}

function ip(args: readonly string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(' ')}: ${stderr !== undefined && stderr !== '' ? stderr : error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

// ---------------------------------------------------------------------------------------
// The lab

export type Side = 'a' | 'b';

export interface LabNode {
  /** Its namespace. */
  readonly ns: string;
  /** Its IPv4 address (on eth0). */
  readonly address: string;
  readonly side: Side;
}

/** Namespaces made and not yet deleted, across labs: the exit hook deletes them. */
const liveNamespaces = new Set<string>();

process.once('exit', () => {
  for (const ns of liveNamespaces) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
    } catch {
      // best effort at exit
    }
  }
});

export class PartitionLab {
  readonly nodes: readonly LabNode[];
  readonly #switch: string;
  readonly #namespaces: string[] = [];
  #cut = false;

  private constructor(prefix: string, subnet: number, sides: readonly [number, number]) {
    this.#switch = `${prefix}-sw`;
    const nodes: LabNode[] = [];
    let n = 0;
    for (const [side, count] of [['a', sides[0]], ['b', sides[1]]] as const) {
      for (let i = 0; i < count; i++) {
        n++;
        nodes.push({ ns: `${prefix}-n${n}`, address: `10.${subnet}.0.${n}`, side });
      }
    }
    this.nodes = nodes;
  }

  /**
   * Makes the namespaces and links: `sides[0]` nodes on side a, `sides[1]` on side b, all
   * in 10.`subnet`.0.0/24 (namespaces are private, so no host network can clash). On
   * failure, whatever was made is deleted again before the error is thrown.
   */
  static create(options: { prefix: string; sides: readonly [number, number]; subnet?: number }): PartitionLab {
    const lab = new PartitionLab(options.prefix, options.subnet ?? 213, options.sides);
    try {
      lab.#build();
    } catch (error) {
      lab.destroy();
      throw error;
    }
    return lab;
  }

  #addNamespace(ns: string): void {
    ip(['netns', 'add', ns]);
    this.#namespaces.push(ns);
    liveNamespaces.add(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  }

  #build(): void {
    const sw = this.#switch;
    this.#addNamespace(sw);
    for (const bridge of ['brA', 'brB']) {
      ip(['-n', sw, 'link', 'add', bridge, 'type', 'bridge']);
      ip(['-n', sw, 'link', 'set', bridge, 'up']);
    }
    // The cable between the two sides.
    ip(['-n', sw, 'link', 'add', 'trA', 'type', 'veth', 'peer', 'name', 'trB']);
    ip(['-n', sw, 'link', 'set', 'trA', 'master', 'brA', 'up']);
    ip(['-n', sw, 'link', 'set', 'trB', 'master', 'brB', 'up']);
    this.nodes.forEach((node, i) => {
      this.#addNamespace(node.ns);
      const port = `p${i + 1}`;
      // Made in the switch namespace with its other end straight in the node's: the
      // host's namespace never holds either end.
      ip(['-n', sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.ns]);
      ip(['-n', sw, 'link', 'set', port, 'master', node.side === 'a' ? 'brA' : 'brB', 'up']);
      ip(['-n', node.ns, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0']);
      ip(['-n', node.ns, 'link', 'set', 'eth0', 'up']);
    });
  }

  get isCut(): boolean {
    return this.#cut;
  }

  /** Cuts the cable between the sides (both ends down). */
  cut(): void {
    ip(['-n', this.#switch, 'link', 'set', 'trA', 'down']);
    ip(['-n', this.#switch, 'link', 'set', 'trB', 'down']);
    this.#cut = true;
  }

  /** Connects the sides again. */
  heal(): void {
    ip(['-n', this.#switch, 'link', 'set', 'trA', 'up']);
    ip(['-n', this.#switch, 'link', 'set', 'trB', 'up']);
    this.#cut = false;
  }

  /** Deletes every namespace of this lab (and so their links). Idempotent; kill the processes in them first. */
  destroy(): void {
    const errors: string[] = [];
    for (const ns of this.#namespaces.splice(0).reverse()) {
      try {
        ip(['netns', 'del', ns]);
      } catch (error) {
        errors.push(error instanceof Error ? error.message : String(error));
      }
      liveNamespaces.delete(ns);
    }
    if (errors.length !== 0) throw new Error(`could not delete every namespace: ${errors.join('; ')}`);
  }
}

// ---------------------------------------------------------------------------------------
// Processes in namespaces

const children = new Set<ChildProcess>();

process.once('exit', () => {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
});

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((done) => child.once('exit', (code) => done(code)));
}

/** `ip netns exec NS node ...args`, tracked (killed at exit). */
function spawnInNamespace(ns: string, args: readonly string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs `node script ...args` in `ns` with `input` on stdin; SIGKILLed after `timeoutMs` (code null). */
export async function runInNamespace(ns: string, script: string, args: readonly string[], input: string, timeoutMs = 30_000): Promise<RunResult> {
  const started = performance.now();
  const child = spawnInNamespace(ns, [script, ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin!.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((done) => child.once('close', (c) => done(c)));
  clearTimeout(timer);
  return { code, stdout, stderr, ms: Math.round(performance.now() - started) };
}

export interface NamespacedServer {
  readonly name: string;
  readonly node: LabNode;
  readonly dataDir: string;
  readonly peerId: string;
  /** Its TCP address, with /p2p/. */
  readonly address: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  readonly logs: readonly string[];
  readonly stderr: readonly string[];
  /** Parsed log records, in order. */
  records(msg?: string): Array<Record<string, unknown>>;
  /** The peers with a connection to it now that said they are servers, from its log. */
  connectedServers(): Set<string>;
  /** When (performance.now()) its log said `peer` disconnected, after `since`; undefined if it has not. */
  disconnectedAt(peer: string, since: number): number | undefined;
  /** SIGTERM (then SIGKILL after `timeoutMs`); resolves once it exited. */
  stop(timeoutMs?: number): Promise<void>;
}

const dataDirs = new Set<string>();
const started = new Set<NamespacedServer>();

/**
 * Starts `rustdht serve` in `node`'s namespace, listening on its address (TCP `port`),
 * and resolves once its 'ready' line came. HTTP stays on the namespace's loopback.
 */
export async function startNamespacedServer(node: LabNode, options: { name: string; port: number; bootstrap?: readonly string[]; args?: readonly string[]; readyTimeoutMs?: number }): Promise<NamespacedServer> {
  const dataDir = await mkdtemp(join(tmpdir(), `rustdht-netns-${options.name}-`));
  dataDirs.add(dataDir);
  const argv = [CLI_PATH, 'serve', '--data', dataDir, '--listen', `/ip4/${node.address}/tcp/${options.port}`, '--http', '0', '--log-format', 'json', '--log-level', 'debug'];
  for (const address of options.bootstrap ?? []) argv.push('--bootstrap', address);
  argv.push(...(options.args ?? []));
  const child = spawnInNamespace(node.ns, argv);
  child.stdin!.end();
  const logs: string[] = [];
  const stderr: string[] = [];
  /** Parsed records with the moment they arrived. */
  const parsed: Array<{ at: number; record: Record<string, unknown> }> = [];
  lines(child.stdout, (line) => {
    logs.push(line);
    try {
      const record: unknown = JSON.parse(line);
      if (record !== null && typeof record === 'object') parsed.push({ at: performance.now(), record: record as Record<string, unknown> });
    } catch {
      // not a log record
    }
  });
  lines(child.stderr, (line) => stderr.push(line));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  let ready: Record<string, unknown>;
  try {
    ready = await waitFor(`${options.name}'s ready line`, () => {
      if (!running()) throw new GiveUp(`${options.name} exited with ${String(child.exitCode ?? child.signalCode)} before it was ready`);
      return parsed.find((p) => p.record['msg'] === 'ready')?.record;
    }, { timeoutMs: options.readyTimeoutMs ?? 60_000, intervalMs: 25 });
  } catch (error) {
    child.kill('SIGKILL');
    await exited(child);
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- stdout ---\n${logs.join('\n')}\n--- stderr ---\n${stderr.join('\n')}`, { cause: error });
  }
  const peerId = String(ready['peerId']);
  const addresses = Array.isArray(ready['addresses']) ? (ready['addresses'] as unknown[]).map(String) : [];
  const tcp = addresses.find((a) => a.startsWith(`/ip4/${node.address}/tcp/`)) ?? `/ip4/${node.address}/tcp/${options.port}`;
  const address = tcp.includes('/p2p/') ? tcp : `${tcp}/p2p/${peerId}`;
  const server: NamespacedServer = {
    name: options.name,
    node,
    dataDir,
    peerId,
    address,
    get pid() {
      return child.pid;
    },
    get running() {
      return running();
    },
    logs,
    stderr,
    records: (msg) => parsed.map((p) => p.record).filter((r) => msg === undefined || r['msg'] === msg),
    connectedServers: () => {
      const connected = new Set<string>();
      for (const { record } of parsed) {
        if (record['msg'] === 'peer connected' && record['role'] === 'server') connected.add(String(record['peer']));
        if (record['msg'] === 'peer disconnected') connected.delete(String(record['peer']));
      }
      return connected;
    },
    disconnectedAt: (peer, since) => parsed.find((p) => p.at >= since && p.record['msg'] === 'peer disconnected' && p.record['peer'] === peer)?.at,
    stop: async (timeoutMs = 10_000) => {
      if (!running()) return;
      child.kill('SIGTERM');
      try {
        await withDeadline(`${options.name} to exit`, exited(child), timeoutMs);
      } catch {
        child.kill('SIGKILL');
        await exited(child);
      }
    },
  };
  started.add(server);
  return server;
}

/**
 * Stops every namespaced server started (those of a start that failed half-way too) and
 * removes their data directories. For afterAll, before the lab is destroyed.
 */
export async function stopNamespacedServers(): Promise<void> {
  await Promise.allSettled([...started].map((server) => server.stop()));
  started.clear();
  await Promise.all([...dataDirs].map((dir) => rm(dir, { recursive: true, force: true })));
  dataDirs.clear();
}
