/**
 * Multi-process networking (issue point 6): three real `rustdht serve` processes
 * bootstrapped to each other (s2 → s1, s3 → s1 + s2, then s1 restarted → s2 + s3: a full
 * mesh, each following the servers it was configured with), SDK peers in this
 * process connected to one server each, and the CLI client commands.
 *
 * Needs the build (`npm run build`): the servers and the CLI run from dist/.
 * Every wait is a poll or a promise with a deadline; nothing sleeps a fixed time.
 * The cases run in order and share the servers: (c) stops s2 and (d) restarts it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPTIONS } from '../../src/cli/args.js';
import { Identity, RustDHT } from '../../src/node.js';
import type { PropertyMeta } from '../../src/api/values.js';
import {
  freeTcpPort,
  runCli,
  spawnCli,
  startServer,
  stopAllServers,
  waitFor,
  withDeadline,
  type HealthBody,
  type ServerProcess,
} from './helpers/server-process.js';

const run = randomUUID().slice(0, 8);
const soulOf = (name: string): string => `mp-${run}/${name}`;

let s1: ServerProcess;
let s2: ServerProcess;
let s3: ServerProcess;
const opened: RustDHT[] = [];

function peerIdsOf(health: HealthBody): string[] {
  const peers = health.peers;
  return typeof peers === 'number' ? [] : peers.list.map((p) => p.peerId);
}

function peerCountOf(health: HealthBody): number {
  const peers = health.peers;
  return typeof peers === 'number' ? peers : peers.count;
}

/** Waits until `server`'s /health lists (at least) the peers `ids`. */
async function waitForPeers(server: ServerProcess, ids: readonly string[], timeoutMs = 20_000): Promise<HealthBody> {
  return waitFor(`${server.name} to list peers ${ids.join(', ')}`, async () => {
    const { status, body } = await server.health();
    const listed = peerIdsOf(body);
    return status === 200 && ids.every((id) => listed.includes(id)) ? body : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

/** A client database in this process, connected to `addresses` (none: dial later). */
async function openClient(addresses: readonly string[]): Promise<RustDHT> {
  const db = await RustDHT.open({ store: 'memory', network: { role: 'client', peers: addresses, readTimeoutMs: 3000 } });
  opened.push(db);
  if (addresses.length !== 0) await withDeadline(`a client to connect to ${addresses.join(', ')}`, db.network!.whenConnected({ count: addresses.length }), 15_000);
  return db;
}

async function closeClient(db: RustDHT): Promise<void> {
  opened.splice(opened.indexOf(db), 1);
  await db.close();
}

/** Resolves with the first value of `soul`.`key` that satisfies `match`, seen by an `on` subscriber. */
function nextValue(db: RustDHT, soul: string, key: string, match: (value: unknown) => boolean, timeoutMs = 15_000): Promise<unknown> {
  let stop: (() => void) | undefined;
  const seen = new Promise<unknown>((resolve) => {
    stop = db.get(soul).get(key).on((value) => {
      if (match(value)) resolve(value);
    });
  });
  return withDeadline(`${soul}.${key} to arrive at the subscriber`, seen, timeoutMs).finally(() => stop?.());
}

/** Parses Prometheus text: samples by metric name. */
function samples(text: string): Map<string, Array<{ labels: string; value: number }>> {
  const result = new Map<string, Array<{ labels: string; value: number }>>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match === null) continue;
    const list = result.get(match[1]!) ?? [];
    list.push({ labels: match[2] ?? '', value: Number(match[3]) });
    result.set(match[1]!, list);
  }
  return result;
}

beforeAll(async () => {
  s1 = await startServer({ name: 's1' });
  s2 = await startServer({ name: 's2', bootstrap: [s1.tcpAddress] });
  s3 = await startServer({ name: 's3', bootstrap: [s1.tcpAddress, s2.tcpAddress] });
  // s1 learns of the others' addresses only now: restarted with them. A server follows
  // the change logs of the servers its operator configured, not of whoever dials in
  // and says 'server' (so without this, s1 would never hear of writes made on s3).
  await s1.restart({ bootstrap: [s2.tcpAddress, s3.tcpAddress] });
  await Promise.all([
    waitForPeers(s1, [s2.peerId, s3.peerId]),
    waitForPeers(s2, [s1.peerId, s3.peerId]),
    waitForPeers(s3, [s1.peerId, s2.peerId]),
  ]);
}, 90_000);

afterAll(async () => {
  await Promise.allSettled(opened.splice(0).map((db) => db.close()));
  await stopAllServers();
}, 60_000);

describe('three rustdht serve processes', () => {
  it('(f) /health and /metrics describe a running server', async () => {
    const { status, body } = await s1.health();
    expect(status).toBe(200);
    expect(body.status).toBe('ok');
    expect(body.peerId).toBe(s1.peerId);
    expect(body.addresses.length).toBeGreaterThan(0);
    for (const address of body.addresses) expect(address).toContain(`/p2p/${s1.peerId}`);
    expect(typeof body.uptimeSeconds).toBe('number');
    expect(body.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(typeof body.store.bytes).toBe('number');
    expect(typeof body.outboxSize).toBe('number');
    // Exactly the two other servers (no client is connected yet).
    expect(peerCountOf(body)).toBe(2);
    expect(peerIdsOf(body).sort()).toEqual([s2.peerId, s3.peerId].sort());
    if (typeof body.peers !== 'number') for (const peer of body.peers.list) expect(peer.role).toBe('server');

    const metrics = await s1.metrics();
    expect(metrics.status).toBe(200);
    for (const name of ['rustdht_peers', 'rustdht_messages_total', 'rustdht_updates_total', 'rustdht_rejects_total', 'rustdht_store_bytes']) {
      expect(metrics.text, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    const parsed = samples(metrics.text);
    const peers = (parsed.get('rustdht_peers') ?? []).reduce((sum, s) => sum + s.value, 0);
    expect(peers).toBe(2);
    const messagesIn = parsed.get('rustdht_messages_total')?.find((s) => s.labels.includes('direction="in"'))?.value ?? 0;
    expect(messagesIn).toBeGreaterThan(0); // hellos, feeds, subscriptions between servers
    expect(parsed.get('rustdht_store_bytes')?.[0]?.value).toBeGreaterThanOrEqual(0);
  });

  it('(a) a write on a client of s1 reaches an `on` subscriber that is a client of s3', async () => {
    const a = await openClient([s1.tcpAddress]);
    const b = await openClient([s3.tcpAddress]);
    const soul = soulOf('chat');
    const arrived = nextValue(b, soul, 'msg', (v) => v === 'hello from A');
    await a.get(soul).get('msg').put('hello from A');
    await withDeadline('A\'s outbox to be acknowledged by s1', a.network!.whenSynced(), 15_000);
    expect(await arrived).toBe('hello from A');
    // And back: B writes, A (subscribed through s1) sees it.
    const back = nextValue(a, soul, 'reply', (v) => v === 'hi A, B here');
    await b.get(soul).get('reply').put('hi A, B here');
    expect(await back).toBe('hi A, B here');
    // The metrics of s1 counted both applied updates (A's put, B's reply via s3's feed;
    // counted once the store has them, which may be just after the push to A).
    await waitFor('s1 to count 2 applied updates', async () => {
      const applied = samples((await s1.metrics()).text).get('rustdht_updates_total')?.find((x) => x.labels.includes('outcome="applied"'))?.value ?? 0;
      return applied >= 2;
    }, { timeoutMs: 5000, intervalMs: 100 });
    await closeClient(a);
    await closeClient(b);
  });

  it('(b) signed writes replicate across servers and verify on the other side', async () => {
    const a = await openClient([s1.tcpAddress]);
    const b = await openClient([s3.tcpAddress]);
    const ann = Identity.generate();
    const space = `~${ann.publicKey}`;
    const arrived = nextValue(b, space, 'name', (v) => v === 'Ann');
    await a.user(ann).put({ name: 'Ann', bio: 'signed' });
    expect(await arrived).toBe('Ann');
    const meta = (await b.get(space).get('name').meta({ local: true })) as PropertyMeta | undefined;
    expect(meta?.value).toBe('Ann');
    expect(meta?.signer).toBe(ann.publicKey);
    expect(typeof meta?.signature).toBe('string');
    expect(meta!.signature!.length).toBeGreaterThan(0);
    // The signature is the writer's: B's copy matches A's exactly.
    const mine = (await a.get(space).get('name').meta({ local: true })) as PropertyMeta;
    expect(meta).toEqual(mine);
    // A fresh reader of s2 (never subscribed) fetches the signed node, signer intact.
    const c = await openClient([s2.tcpAddress]);
    const fetched = await waitFor('s2 to serve the signed node', async () => {
      const m = (await c.get(space).get('bio').meta()) as PropertyMeta | undefined;
      return m?.value === 'signed' ? m : undefined;
    }, { timeoutMs: 15_000, intervalMs: 100 });
    expect(fetched.signer).toBe(ann.publicKey);
    await Promise.all([closeClient(a), closeClient(b), closeClient(c)]);
    ann.dispose();
  });

  it('(g) CLI client commands against running servers', async () => {
    const soul = soulOf('cli');
    const watched = soulOf('watched');
    const deadPort = await freeTcpPort();
    // Independent commands run side by side (each CLI process spends seconds loading libp2p).
    const watch = spawnCli(['watch', watched, '--peer', s3.tcpAddress, '--json']);
    try {
      const [put, unknown, dead, help] = await Promise.all([
        runCli(['put', soul, 'name=Ann', 'age=37', '--peer', s1.tcpAddress, '--json']),
        runCli(['get', soulOf('no-such-soul'), '--peer', s1.tcpAddress, '--timeout', '8000']),
        // Nothing listens on this port: a clear error, non-zero, within the timeout.
        runCli(['get', soul, '--peer', `/ip4/127.0.0.1/tcp/${deadPort}/p2p/${s1.peerId}`, '--timeout', '2000'], { timeoutMs: 20_000 }),
        runCli(['serve', '--help']),
      ]);

      expect(put.code, put.stderr).toBe(0);
      const putJson = JSON.parse(put.stdout.trim()) as { soul: string; keys: string[]; acknowledged: boolean };
      expect(putJson.soul).toBe(soul);
      expect(putJson.keys.sort()).toEqual(['age', 'name']);
      expect(putJson.acknowledged).toBe(true);

      expect(unknown.code, unknown.stderr).toBe(1);
      expect(unknown.stderr).toMatch(/^rustdht: \S+: .*not found/im);
      expect(unknown.stdout.trim()).toBe('');

      expect(dead.code, `${dead.stderr} (killed by the test's deadline if null)`).toBe(2);
      expect(dead.stderr).toMatch(/^rustdht: cli\/unreachable: could not reach any peer/m);
      expect(dead.stdout.trim()).toBe('');

      expect(help.code).toBe(0);
      for (const flag of new Set([...Object.keys(OPTIONS.serve), 'data', 'listen', 'bootstrap', 'http', 'log-format'])) {
        expect(help.stdout, `serve --help mentions --${flag}`).toContain(`--${flag}`);
      }

      // put → get round trip, the whole node and one property.
      const [got, one] = await Promise.all([
        runCli(['get', soul, '--peer', s1.tcpAddress, '--json']),
        runCli(['get', soul, 'name', '--peer', s1.tcpAddress]),
      ]);
      expect(got.code, got.stderr).toBe(0);
      expect(JSON.parse(got.stdout.trim())).toEqual({ name: 'Ann', age: 37 });
      expect(one.code, one.stderr).toBe(0);
      expect(one.stdout).toBe('Ann\n');

      // watch (a client of s3) prints a line when an SDK client of s1 writes.
      const writer = await openClient([s1.tcpAddress]);
      await writer.get(watched).put({ status: 'first' });
      const first = JSON.parse(await watch.waitForLine((l) => l.includes('first'), 20_000)) as { soul: string; value: unknown };
      expect(first).toMatchObject({ soul: watched, value: { status: 'first' } });
      await writer.get(watched).get('status').put('second');
      const second = JSON.parse(await watch.waitForLine((l) => l.includes('second'), 20_000)) as { value: unknown };
      expect(second.value).toEqual({ status: 'second' });
      await closeClient(writer);
    } finally {
      const code = await watch.stop('SIGINT');
      expect(code).toBe(0);
    }
  });

  // Written while s2 is down (c), read back from s2 after its restart (d).
  const whileDown = soulOf('while-s2-was-down');

  it('(c) with s2 stopped (SIGTERM → exit 0), s1 and s3 keep serving', async () => {
    const s2Id = s2.peerId;
    expect(await s2.stop('SIGTERM')).toBe(0);
    expect(s2.running).toBe(false);
    await waitFor('s1 and s3 to drop s2', async () => {
      const [h1, h3] = await Promise.all([s1.health(), s3.health()]);
      return h1.status === 200 && h3.status === 200 && !peerIdsOf(h1.body).includes(s2Id) && !peerIdsOf(h3.body).includes(s2Id);
    }, { timeoutMs: 15_000, intervalMs: 100 });

    const a = await openClient([s1.tcpAddress]);
    const b = await openClient([s3.tcpAddress]);
    const toB = nextValue(b, whileDown, 'fromA', (v) => v === 'written on s1');
    const toA = nextValue(a, whileDown, 'fromB', (v) => v === 'written on s3');
    await a.get(whileDown).put({ fromA: 'written on s1', n: 1 });
    await b.get(whileDown).get('fromB').put('written on s3');
    expect(await toB).toBe('written on s1');
    expect(await toA).toBe('written on s3');
    await Promise.all([a.network!.whenSynced(), b.network!.whenSynced()]);
    for (const server of [s1, s3]) expect((await server.health()).status).toBe(200);
    await Promise.all([closeClient(a), closeClient(b)]);
  });

  it('(d) s2 restarts with the same data dir and peer id, and catches up with what it missed', async () => {
    const idBefore = s2.peerId;
    // Same data dir and ports; it dials s1 and s3 itself (s3 also redials it, with backoff).
    await s2.restart({ bootstrap: [s1.tcpAddress, s3.tcpAddress] });
    expect(s2.peerId).toBe(idBefore);
    expect((await s2.health()).body.peerId).toBe(idBefore);
    await waitForPeers(s2, [s1.peerId]);

    // A client of s2 only: everything it reads comes from s2's store.
    const c = await openClient([s2.tcpAddress]);
    expect(c.network!.status().peers.map((p) => p.peerId)).toEqual([s2.peerId]);
    const caughtUp = await waitFor('s2 to have caught up with the writes made while it was down', async () => {
      const value = (await c.get(whileDown).once()) as Record<string, unknown> | undefined;
      return value?.['fromA'] === 'written on s1' && value['fromB'] === 'written on s3' ? value : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200 });
    expect(caughtUp).toMatchObject({ fromA: 'written on s1', fromB: 'written on s3', n: 1 });
    await closeClient(c);

    const got = await runCli(['get', whileDown, '--peer', s2.tcpAddress, '--json']);
    expect(got.code, got.stderr).toBe(0);
    expect(JSON.parse(got.stdout.trim())).toEqual({ fromA: 'written on s1', fromB: 'written on s3', n: 1 });
    // The mesh is whole again.
    await waitForPeers(s2, [s1.peerId, s3.peerId]);
  });

  it('(e) two clients that wrote the same property offline agree on HAM\'s winner once reconnected', async () => {
    const soul = soulOf('offline-conflict');
    const x = await openClient([]);
    const y = await openClient([]);
    expect(x.network!.status().state).toBe('offline');
    await x.get(soul).get('color').put('red (X, earlier)');
    const xMeta = (await x.get(soul).get('color').meta({ local: true })) as PropertyMeta;
    // Y writes strictly later (states are wall-clock ms).
    await waitFor('the clock to move past X\'s write', () => Date.now() > xMeta.state + 1, { intervalMs: 1 });
    await y.get(soul).get('color').put('blue (Y, later)');
    const yMeta = (await y.get(soul).get('color').meta({ local: true })) as PropertyMeta;
    expect(yMeta.state).toBeGreaterThan(xMeta.state);
    expect(x.outbox.size).toBe(1);
    expect(y.outbox.size).toBe(1);

    // The later writer comes online first, then the earlier one, through different servers.
    y.network!.dial(s3.tcpAddress);
    await withDeadline('Y to connect and sync', y.network!.whenConnected().then(() => y.network!.whenSynced()), 15_000);
    x.network!.dial(s1.tcpAddress);
    await withDeadline('X to connect and sync', x.network!.whenConnected().then(() => x.network!.whenSynced()), 15_000);

    for (const [name, db] of [['X', x], ['Y', y]] as const) {
      const winner = await waitFor(`${name} to converge on Y's later write`, async () => {
        const meta = (await db.get(soul).get('color').meta()) as PropertyMeta | undefined;
        return meta?.value === 'blue (Y, later)' ? meta : undefined;
      }, { timeoutMs: 15_000, intervalMs: 100 });
      expect(winner.state).toBe(yMeta.state);
    }
    // Every server agrees too: a reader connected to each one alone reads Y's write.
    for (const server of [s1, s2, s3]) {
      const reader = await openClient([server.tcpAddress]);
      const held = await waitFor(`${server.name} to hold Y's write`, async () => {
        const meta = (await reader.get(soul).get('color').meta()) as PropertyMeta | undefined;
        return meta?.value === 'blue (Y, later)' ? meta : undefined;
      }, { timeoutMs: 15_000, intervalMs: 100 });
      expect(held.state).toBe(yMeta.state);
      await closeClient(reader);
    }
  });
});
