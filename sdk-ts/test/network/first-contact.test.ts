// What a newcomer meets first, against a real `rustdht serve` process: the default set-up
// must not lose writes silently (open({ directory }), close() waiting for the outbox
// and saying what it could not deliver), and every way of getting the address wrong
// must say what is wrong (refused, wrong peer id, a server's HTTP URL instead of a
// multiaddr), fast, from the SDK and from the CLI.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, RustDHT, UndeliveredWritesError, type NetworkEvent } from '../../src/node.js';
import { CLI_PATH, freeTcpPort, runCli, startServer, stopAllServers, waitFor, withDeadline, type ServerProcess } from './helpers/server-process.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
let server: ServerProcess;
let refusedPort: number;
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rustdht-first-contact-'));
  dirs.push(dir);
  return dir;
}

/** A fresh client reads `soul`.`key` from the server (so the server holds it). */
async function serverValue(soul: string, key: string): Promise<unknown> {
  const reader = await RustDHT.open({ store: 'memory', network: { peers: [server.tcpAddress] } });
  try {
    await withDeadline('the reader to connect', reader.network.whenConnected(), 10_000);
    return await reader.get(soul).get(key).once();
  } finally {
    await reader.close();
  }
}

beforeAll(async () => {
  server = await startServer({ name: 'first-contact' });
  // A port nothing listens on: bound once to learn it is free, then released.
  refusedPort = await freeTcpPort();
}, 60_000);

afterAll(async () => {
  await stopAllServers();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
}, 30_000);

describe('no silent loss on a default set-up', () => {
  it('open() with neither store nor directory warns once that data lives in memory only; store: "memory" does not', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      await (await RustDHT.open({ store: 'memory' })).close();
      await (await RustDHT.open()).close();
      await (await RustDHT.open()).close();
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    const ours = warnings.filter((w) => (w as Error & { code?: string }).code === 'RUSTDHT_MEMORY_ONLY');
    expect(ours).toHaveLength(1);
    expect(ours[0]!.message).toMatch(/directory/);
  });

  it('open({ directory }) persists to LevelDB there (created when missing) and reopens with the data', async () => {
    const directory = join(await tempDir(), 'nested', 'data');
    const first = await RustDHT.open({ directory });
    await first.get('notes').get('n1').put('kept');
    await first.close();
    const again = await RustDHT.open({ directory });
    expect(await again.get('notes').get('n1').once()).toBe('kept');
    await again.close();
    await expect(RustDHT.open({ directory, store: 'memory' })).rejects.toMatchObject({ code: 'config/invalid' });
    await expect(RustDHT.open({ directory: '' })).rejects.toMatchObject({ code: 'config/invalid' });
  });

  it('close() right after a put waits until the server acknowledged it', async () => {
    const db = await RustDHT.open({ store: 'memory', network: { peers: [server.tcpAddress] } });
    // Not connected yet: the write sits in the outbox when close() is called.
    await db.get('first-contact').get('quick').put('made it');
    const report = await db.close();
    expect(report).toEqual({ undelivered: 0, kept: false });
    expect(await serverValue('first-contact', 'quick')).toBe('made it');
  });

  it('close() with a memory store and no reachable server rejects with the undelivered writes, which can be replayed', async () => {
    const db = await RustDHT.open({ store: 'memory', network: { peers: [`/ip4/127.0.0.1/tcp/${refusedPort}`] } });
    await db.get('first-contact').get('lost').put('unless kept');
    const started = Date.now();
    const error = await db.close({ timeoutMs: 300 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(error).toBeInstanceOf(UndeliveredWritesError);
    const undelivered = error as UndeliveredWritesError;
    expect(undelivered.code).toBe('outbox/undelivered');
    expect(undelivered.report).toEqual({ undelivered: 1, kept: false });
    expect(undelivered.entries).toHaveLength(1);
    expect(db.closed).toBe(true);
    // The frames are the writes themselves: another database takes them as they are.
    const rescue = await RustDHT.open({ store: 'memory' });
    await rescue.receive(undelivered.entries[0]!.frame);
    expect(await rescue.get('first-contact').get('lost').once()).toBe('unless kept');
    await rescue.close();
  });

  it('close() with a directory keeps undelivered writes, and the next open delivers them', async () => {
    const directory = await tempDir();
    const offline = await RustDHT.open({ directory, network: { peers: [`/ip4/127.0.0.1/tcp/${refusedPort}`] } });
    await offline.get('first-contact').get('later').put('delivered on reopen');
    expect(await offline.close({ timeoutMs: 200 })).toEqual({ undelivered: 1, kept: true });

    const online = await RustDHT.open({ directory, network: { peers: [server.tcpAddress] } });
    expect(online.outbox.size).toBe(1);
    await withDeadline('the reopened outbox to drain', online.network.whenSynced(), 15_000);
    expect(await online.close()).toEqual({ undelivered: 0, kept: false });
    expect(await serverValue('first-contact', 'later')).toBe('delivered on reopen');
  });

  it('close() without a network resolves at once, whatever the outbox holds', async () => {
    const db = await RustDHT.open({ store: 'memory' });
    await db.get('offline-only').put({ a: 1 });
    expect(await db.close()).toEqual({ undelivered: 0, kept: false });
    await expect(db.close({ timeoutMs: -1 })).resolves.toEqual({ undelivered: 0, kept: false }); // idempotent: the first result
  });
});

describe('first reads', () => {
  it('once() right after open() waits for the first connection and reads the server’s value', async () => {
    const writer = await RustDHT.open({ store: 'memory', network: { peers: [server.tcpAddress] } });
    await writer.get('first-contact/read').put({ early: 'from the server' });
    await writer.close();
    const db = await RustDHT.open({ store: 'memory', network: { peers: [server.tcpAddress] } });
    expect(db.network.status().peers).toHaveLength(0); // not connected yet
    expect(await db.get('first-contact/read').get('early').once()).toBe('from the server');
    await db.close();
  });

  it('once() right after on() is not answered from before the subscription delivered', async () => {
    const writer = await RustDHT.open({ store: 'memory', network: { peers: [server.tcpAddress] } });
    await writer.get('first-contact/watched').put({ value: 'there' });
    await writer.close();
    const db = await RustDHT.open({ store: 'memory', network: { peers: [server.tcpAddress] } });
    await withDeadline('the reader to connect', db.network.whenConnected(), 10_000);
    const ref = db.get('first-contact/watched').get('value');
    const off = ref.on(() => {});
    expect(await ref.once()).toBe('there');
    off();
    await db.close();
  });

  it('with every address refused, once() answers locally at once', async () => {
    const db = await RustDHT.open({ store: 'memory', network: { peers: [`/ip4/127.0.0.1/tcp/${refusedPort}`], readTimeoutMs: 10_000 } });
    await waitFor('the first dial to fail', () => db.network.dialFailures().size === 1);
    const started = Date.now();
    expect(await db.get('first-contact/nowhere').once()).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(2_000);
    await db.close();
  });
});

describe('unsubscribing', () => {
  it('updates the server sent before it saw an UNSUBSCRIBE are not reported as unsolicited', async () => {
    const watcher = await RustDHT.open({ store: 'memory', network: { peers: [server.tcpAddress] } });
    const writer = await RustDHT.open({ store: 'memory', network: { peers: [server.tcpAddress] } });
    await withDeadline('both to connect', Promise.all([watcher.network.whenConnected(), writer.network.whenConnected()]), 10_000);
    const refusals: string[] = [];
    watcher.network.on((event) => {
      if (event.type === 'reject') refusals.push(`${event.code}: ${event.message}`);
    });
    for (let round = 0; round < 5; round++) {
      const soul = `first-contact/unsubscribe-${round}`;
      let seen = 0;
      const off = watcher.get(soul).get('n').on(() => void seen++);
      await waitFor('the subscription to be in place', async () => {
        await writer.get(soul).get('n').put(-1);
        return seen > 1;
      });
      // A stream of updates, and the unsubscription in the middle of it.
      const writes = (async () => {
        for (let i = 0; i < 150; i++) {
          await writer.get(soul).get('n').put(i);
          await new Promise((r) => setTimeout(r, 1)); // one PUT each, not one joined PUT
        }
      })();
      await waitFor('updates to flow', () => seen > 3, { intervalMs: 1 });
      off();
      await writes;
      await withDeadline('the writer to sync', writer.network.whenSynced(), 10_000);
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(refusals).toEqual([]);
    await writer.close();
    await watcher.close();
  });
});

describe('dial failures say what is wrong', () => {
  async function firstDialFailure(address: string): Promise<Extract<NetworkEvent, { type: 'dial:failed' }>> {
    const db = await RustDHT.open({ store: 'memory', network: { peers: [] } });
    try {
      const failed = new Promise<Extract<NetworkEvent, { type: 'dial:failed' }>>((done) => {
        db.network.on((event) => {
          if (event.type === 'dial:failed') done(event);
        });
      });
      db.network.dial(address);
      return await withDeadline(`a dial:failed event for ${address}`, failed, 10_000);
    } finally {
      await db.close();
    }
  }

  it('a refused connection is network/refused, not a bare "could not reach"', async () => {
    const address = `/ip4/127.0.0.1/tcp/${refusedPort}`;
    const event = await firstDialFailure(address);
    expect(event).toMatchObject({ code: 'network/refused', address });
    expect(event.message).toContain('connection refused');
    expect(event.message).not.toContain('[object');
  });

  it('a wrong /p2p/ id is network/wrong-peer, naming the id the server really has', async () => {
    // A valid peer id that is not the server's: the server's address with another id.
    const stranger = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN';
    expect(stranger).not.toBe(server.peerId);
    const address = server.tcpAddress.replace(server.peerId, stranger);
    const event = await firstDialFailure(address);
    expect(event.code).toBe('network/wrong-peer');
    expect(event.message).toContain(server.peerId);
    expect(event.message).toContain(stranger);
  });

  it('an aborted whenConnected() says why nothing connected, with the signal’s reason as cause', async () => {
    const db = await RustDHT.open({ store: 'memory', network: { peers: [`/ip4/127.0.0.1/tcp/${refusedPort}`] } });
    try {
      await waitFor('the first dial to fail', () => db.network.dialFailures().size === 1);
      const reason = new Error('gave up');
      const stop = new AbortController();
      const waiting = db.network.whenConnected({ signal: stop.signal });
      stop.abort(reason);
      const error = await waiting.then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(AbortError);
      expect((error as AbortError).message).toMatch(/connection refused.*network\/refused/);
      expect((error as AbortError).cause).toBe(reason);
    } finally {
      await db.close({ timeoutMs: 0 });
    }
  });
});

describe('the CLI at first contact', () => {
  it('get --peer an address that refuses fails fast with exit 2, not after --timeout', async () => {
    const started = Date.now();
    const result = await runCli(['get', 'demo', '--peer', `/ip4/127.0.0.1/tcp/${refusedPort}`, '--timeout', '30000']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/connection refused/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('--peer takes the server’s HTTP URL (addresses from /health), and a refused URL fails fast with exit 2', async () => {
    const url = `http://127.0.0.1:${server.httpPort}`;
    const put = await runCli(['put', 'first-contact/cli', 'via=http', '--peer', url]);
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    const get = await runCli(['get', 'first-contact/cli', 'via', '--peer', url]);
    expect(get).toMatchObject({ code: 0, stdout: 'http\n' });

    const started = Date.now();
    const refused = await runCli(['get', 'demo', '--peer', `http://127.0.0.1:${refusedPort}`, '--timeout', '30000']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refused/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('/health: CORS for pages on other origins, and a server with no peers is not "offline"', async () => {
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/health`, { headers: { origin: 'http://example.test' } });
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    const fresh = await startServer({ name: 'lonely' });
    const { body } = await fresh.health();
    expect(body['state']).toBe('idle');
    const preflight = await fetch(`http://127.0.0.1:${server.httpPort}/health`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    await fresh.stop();
  });

  it('the banner’s try: lines run as printed from the repository root', async () => {
    const port = await freeTcpPort();
    const data = await tempDir();
    const child = spawn(process.execPath, [CLI_PATH, 'serve', '--data', data, '--http', '0', '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--log-format', 'pretty'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    try {
      const tries = await waitFor('the banner', () => {
        const lines = [...out.matchAll(/^ {2}(?:try:)?\s+(npx rustdht .+)$/gm)].map((m) => m[1]!);
        return lines.length === 2 ? lines : undefined;
      }, { timeoutMs: 30_000 });
      expect(tries[0]).toMatch(/^npx rustdht put /);
      for (const line of tries) {
        const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
          const shell = spawn('bash', ['-c', line], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
          let stdout = '';
          let stderr = '';
          shell.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
          shell.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
          shell.on('exit', (code) => done({ code, stdout, stderr }));
        });
        expect(result.stderr, line).toBe('');
        expect(result.code, line).toBe(0);
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
});
