/**
 * The sync protocol between real libp2p nodes on loopback, in one process: servers and
 * clients opened through the public API (`RustDHT.open({ network })`). The
 * multi-process tests (multi-process.test.ts) run the same flows through `rustdht serve`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Identity, LevelStore, MemoryStore, RustDHT } from '../../src/node.js';

const opened: RustDHT[] = [];
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rustdht-sync-'));
  dirs.push(dir);
  return dir;
}

async function server(options: { dir?: string; peers?: string[] } = {}): Promise<RustDHT> {
  const dir = options.dir ?? (await tempDir());
  const db = await RustDHT.open({
    store: await LevelStore.open(join(dir, 'store')),
    network: {
      role: 'server',
      dataDir: join(dir, 'peer'),
      listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'],
      peers: options.peers ?? [],
    },
  });
  opened.push(db);
  return db;
}

async function client(peers: string[]): Promise<RustDHT> {
  const db = await RustDHT.open({ store: new MemoryStore(), network: { role: 'client', peers } });
  opened.push(db);
  return db;
}

function tcpAddress(db: RustDHT): string {
  const address = db.network!.status().addresses.find((a) => a.includes('/tcp/') && !a.includes('/ws'));
  if (address === undefined) throw new Error('no tcp address');
  return address;
}

/** Polls `read` until it returns what `expected` accepts; fails after `ms`. */
async function eventually<T>(read: () => Promise<T> | T, accept: (value: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T;
  do {
    last = await read();
    if (accept(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 20));
  } while (Date.now() < deadline);
  throw new Error(`not reached in ${ms} ms; last value: ${JSON.stringify(last)}`);
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close().catch(() => {})));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('sync protocol over libp2p', () => {
  it('a write on one client reaches a subscriber on another, and the outbox empties once the server acked', async () => {
    const s = await server();
    const a = await client([tcpAddress(s)]);
    const b = await client([tcpAddress(s)]);
    await Promise.all([a.network!.whenConnected(), b.network!.whenConnected()]);
    const seen: unknown[] = [];
    b.get('room').get('topic').on((value) => seen.push(value));
    await eventually(() => s.network!.counters().messagesIn, (n) => n >= 3);
    await a.get('room').put({ topic: 'hello' });
    await eventually(() => seen, (values) => values.includes('hello'));
    await a.network!.whenSynced();
    expect(a.outbox.size).toBe(0);
    const peer = a.network!.status().peers[0]!;
    expect(peer.role).toBe('server');
    expect(peer.transport).toBe('tcp');
    expect(peer.peerId).toBe(s.network!.peerId);
    expect(a.network!.status().state).toBe('idle');
  });

  it('a subscriber gets only the souls it watches', async () => {
    const s = await server();
    const a = await client([tcpAddress(s)]);
    const b = await client([tcpAddress(s)]);
    await Promise.all([a.network!.whenConnected(), b.network!.whenConnected()]);
    const seen: unknown[] = [];
    b.get('watched').get('v').on((value) => seen.push(value));
    await new Promise((resolve) => setTimeout(resolve, 100));
    // One batch touching both souls: B must get `watched` and nothing of `other`.
    await a.get('watched').put({ v: 1, link: { v: 2 } });
    await a.get('other').put({ secret: 'not for b' });
    await a.network!.whenSynced();
    await eventually(() => seen, (values) => values.includes(1));
    expect(await b.get('other').once({ local: true })).toBeUndefined();
    const linked = (await a.get('watched').meta({ local: true })) as { props: Record<string, { value: unknown }> };
    const child = (linked.props.link!.value as { '#': string })['#'];
    expect(await b.get(child).once({ local: true })).toBeUndefined();
  });

  it('once() reads through to the servers; signed data arrives verified', async () => {
    const s = await server();
    const a = await client([tcpAddress(s)]);
    const me = Identity.generate();
    await a.user(me).get('profile').put({ name: 'Ada' });
    await a.network!.whenSynced();
    const c = await client([tcpAddress(s)]);
    await c.network!.whenConnected();
    expect(await c.user(me).get('profile').get('name').once()).toBe('Ada');
    const meta = (await c.user(me).get('profile').get('name').meta({ local: true })) as { signer?: string };
    expect(meta.signer).toBe(me.publicKey);
  });

  it('servers replicate through their change logs, and a restarted server catches up', async () => {
    const dir2 = await tempDir();
    const s1 = await server();
    let s2 = await server({ dir: dir2, peers: [tcpAddress(s1)] });
    await s2.network!.whenConnected();
    const a = await client([tcpAddress(s1)]);
    await a.get('doc').put({ rev: 1 });
    await a.network!.whenSynced();
    await eventually(() => s2.get('doc').get('rev').once({ local: true }), (v) => v === 1);
    const s2Id = s2.network!.peerId;
    await s2.close();
    await a.get('doc').put({ rev: 2, extra: 'written while s2 was down' });
    await a.network!.whenSynced();
    s2 = await server({ dir: dir2, peers: [tcpAddress(s1)] });
    expect(s2.network!.peerId).toBe(s2Id);
    const caughtUp = await eventually(() => s2.get('doc').once({ local: true }), (v) => (v as { rev?: number } | undefined)?.rev === 2);
    expect(caughtUp).toEqual({ rev: 2, extra: 'written while s2 was down' });
  });

  it('goOffline() hangs up and queues writes; goOnline() redials and sends them', async () => {
    const s = await server();
    const a = await client([tcpAddress(s)]);
    await a.network!.whenConnected();
    await a.network!.goOffline();
    expect(a.network!.online).toBe(false);
    expect(a.network!.status()).toMatchObject({ state: 'offline', peers: [] });
    await a.get('note').put({ text: 'written offline' });
    expect(a.outbox.size).toBe(1);
    // Still offline a while later: nothing redials on its own.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(a.network!.status().peers).toEqual([]);
    expect(await s.get('note').get('text').once({ local: true })).toBeUndefined();
    a.network!.goOnline();
    await a.network!.whenConnected();
    await a.network!.whenSynced();
    expect(await s.get('note').get('text').once({ local: true })).toBe('written offline');
  });

  it('hangUp(address) stops dialling that address and hangs up its peer; others stay; dial() again reconnects', async () => {
    const s1 = await server();
    const s2 = await server();
    const a = await client([tcpAddress(s1), tcpAddress(s2)]);
    await a.network!.whenConnected({ count: 2 });
    await a.network!.hangUp(tcpAddress(s1));
    expect(a.network!.status().peers.map((p) => p.peerId)).toEqual([s2.network!.peerId]);
    // Not redialled a while later (a drop would be redialled after 250 ms).
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(a.network!.status().peers.map((p) => p.peerId)).toEqual([s2.network!.peerId]);
    expect(a.network!.status().state).toBe('idle');
    await a.network!.hangUp(tcpAddress(s2));
    expect(a.network!.status()).toMatchObject({ state: 'offline', peers: [] });
    expect(a.network!.online).toBe(true); // not offline on purpose: dial() works at once
    a.network!.dial(tcpAddress(s1));
    await a.network!.whenConnected();
    expect(a.network!.status().peers.map((p) => p.peerId)).toEqual([s1.network!.peerId]);
  });

  it('two peers that wrote while apart converge by the HAM rule when they meet', async () => {
    const s = await server();
    const x = await client([]);
    const y = await client([]);
    await x.get('k').put({ v: 'from x' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await y.get('k').put({ v: 'from y' });
    x.get('k').on(() => {});
    y.get('k').on(() => {});
    x.network!.dial(tcpAddress(s));
    y.network!.dial(tcpAddress(s));
    await Promise.all([x.network!.whenSynced(), y.network!.whenSynced()]);
    await eventually(() => x.get('k').get('v').once({ local: true }), (v) => v === 'from y');
    await eventually(() => y.get('k').get('v').once({ local: true }), (v) => v === 'from y');
    expect(await s.get('k').get('v').once({ local: true })).toBe('from y');
  });
});
