/**
 * How a database's network is put together (network/network-parts.ts), seen through the
 * public Network of real databases whose libp2p nodes use the in-memory transport
 * (helpers/in-process-peers.ts), and raw peers on the in-memory channel pair
 * (`network.attach`, helpers/raw-peer.ts), each test starting its own peers:
 *
 * - the role (client unless asked), the state: offline with nobody, idle for a server
 *   that listens, syncing while the outbox waits for a server, idle once it is empty,
 *   offline after stop (idempotent);
 * - a local write is offered to the server's duty session (it lands there), a read
 *   reads through it, a subscription gets its EVENTs, a put waiting for a durability
 *   level is answered;
 * - requests are the serving part's (a raw peer's GET is answered), a peer's refusal is
 *   counted and reported with its peer id, a code from outside the known set reported as
 *   `other` and a long text cut short;
 * - a session that ends leaves the peer table (peer:disconnect, offline);
 * - a peer offline on purpose hangs up on a channel handed to it; a fifth session with
 *   one peer is ended with wire/too-many-sessions;
 * - a read made right after open waits for the first connection; one through a server
 *   that never answers ends at readTimeoutMs (syncing meanwhile); a server this peer
 *   dialled is exempt from the write quota, the same kind of peer dialling in is not;
 * - fetch refuses a soul that is not a non-empty string and an aborted signal, and a
 *   stopped network; whenConnected, aborted (before or while waiting), rejects saying how
 *   many connections it waited for;
 * - a write the server refuses is reported at the writer (the server's id and code) and
 *   kept; a server with no address to listen on is offline until a peer connects; a
 *   connected network that stops is offline with no peers;
 * - two servers: a write at one reaches the other, each counts both as members and
 *   refuses nothing of the other (FEED_ACKs and MEMBERS pushes routed), and one that
 *   stops says goodbye (the other counts one member well before the 20 s timeout);
 * - a quiet peer is pinged (its round-trip time in the status, after ~5 s of quiet);
 * - closing the database stops its network.
 *
 * Why: the network tests use these through whole scenarios where most of the wires never
 * decide an outcome (mutation testing: scripts/mutation/README.md).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError, InvalidValueError } from '../../src/api/errors.js';
import { createChannelPair } from '../../src/network/transport/memory-channel.js';
import type { NetworkEvent } from '../../src/network/types.js';
import { MemoryStore } from '../../src/node.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RustDHT } from '../../src/node.js';
import { addressOf, InProcessRustDHT, singlePeers, startPeers, type InProcessPeers, type Peer } from './helpers/in-process-peers.js';
import { openReplica } from '../unit/replica-helpers.js';
import { RawPeer } from './helpers/raw-peer.js';
import { waitFor } from './helpers/server-process.js';

const opened: { close(options: { timeoutMs: number }): Promise<unknown> }[] = [];
const raw: RawPeer[] = [];
const dirs: string[] = [];
let cluster: InProcessPeers | undefined;
afterEach(async () => {
  for (const peer of raw.splice(0)) peer.stop();
  await Promise.allSettled(opened.splice(0).map((db) => db.close({ timeoutMs: 0 })));
  await cluster?.close();
  cluster = undefined;
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

const { server, client } = singlePeers(opened);
const events = (db: Peer): NetworkEvent[] => {
  const seen: NetworkEvent[] = [];
  db.network.on((event) => seen.push(event));
  return seen;
};

let attached = 0;
/** A raw peer on a channel pair handed to `db` (as if it dialled in). */
function attach(db: Peer, peerId = `raw-peer-${++attached}`, dialled = false): RawPeer {
  const [ours, theirs] = createChannelPair();
  db.network.attach(theirs, { peerId, transport: 'other', address: '/memory/raw', ...(dialled ? { dialled } : {}) });
  const peer = new RawPeer(ours);
  raw.push(peer);
  return peer;
}

describe('network parts', () => {
  it('a client is a client unless asked, offline with nobody; a server that listens is idle with nobody', async () => {
    const s = await server();
    expect(s.network.status().role).toBe('server');
    expect(s.network.status().state).toBe('idle');
    const c = await client([]);
    expect(c.network.status().role).toBe('client');
    expect(c.network.status().state).toBe('offline');
  });

  it('a client\'s write reaches its server (syncing until acknowledged, then idle); a read reads through; a subscription gets EVENTs; a durability level is answered', async () => {
    const s = await server();
    const a = await client([addressOf(s)]);
    const b = await client([addressOf(s)]);
    await Promise.all([a.network.whenConnected(), b.network.whenConnected()]);
    await waitFor('idle', () => a.network.status().state === 'idle', { timeoutMs: 5000, intervalMs: 2 });
    const states: string[] = [];
    a.network.on((event) => void (event.type === 'state' && states.push(event.state)));
    const seen: unknown[] = [];
    b.get('room').get('topic').on((value) => seen.push(value));
    await waitFor('the subscription', () => s.network.counters().messagesIn >= 3, { timeoutMs: 5000, intervalMs: 2 });

    await a.get('room').put({ topic: 'hello' });
    await a.network.whenSynced();
    expect(states).toContain('syncing');
    await waitFor('idle again', () => a.network.status().state === 'idle', { timeoutMs: 5000, intervalMs: 2 });
    expect(await s.get('room').get('topic').once({ local: true })).toBe('hello');
    await waitFor('the EVENT', () => seen.includes('hello'), { timeoutMs: 5000, intervalMs: 2 });

    // A read through the network: a third client has nothing locally.
    const c = await client([addressOf(s)]);
    await c.network.whenConnected();
    expect(await c.get('room').get('topic').once({ local: true })).toBeUndefined();
    expect(await c.get('room').get('topic').once()).toBe('hello');

    // A put waiting until a server holds it: answered by the server's ACK_AT.
    await a.get('level').put({ v: 1 }, { durability: 'one' });
    expect(await s.get('level').get('v').once({ local: true })).toBe(1);
  });

  it('a raw peer\'s requests are answered; its refusals are counted and reported with its id, an unknown code as other, a long text cut short', async () => {
    const s = await server();
    const seen = events(s);
    const peer = attach(s, 'raw-asker');
    await peer.hello();
    expect(await peer.request({ type: 'get', soul: 'nothing', keys: [] })).toMatchObject({ type: 'node' });
    expect(await peer.request({ type: 'put', frame: new Uint8Array([1, 2, 3]) })).toMatchObject({ type: 'error' });

    // The bad PUT was refused and reported with the peer's id and its (known) code.
    await waitFor('the PUT refusal', () => seen.some((event) => event.type === 'reject'), { timeoutMs: 5000, intervalMs: 2 });
    expect(seen.find((event) => event.type === 'reject')).toMatchObject({ type: 'reject', peerId: 'raw-asker', code: 'decode/version' });
    // Its farewell ERROR names a code from outside the known set and a long text.
    await peer.send({ type: 'error', id: 0, code: 'made/up-code', message: 'x'.repeat(5000) });
    await waitFor('the farewell', () => seen.some((event) => event.type === 'reject' && event.code !== 'decode/version'), { timeoutMs: 5000, intervalMs: 2 });
    const reject = seen.find((event) => event.type === 'reject' && event.code !== 'decode/version') as Extract<NetworkEvent, { type: 'reject' }>;
    expect(reject.peerId).toBe('raw-asker');
    expect(reject.code).toBe('other');
    expect(reject.message.length).toBeLessThan(1000);
    // Counted as reported: a known code as itself, any other as `other`.
    expect(s.network.counters().rejects).toMatchObject({ 'decode/version': 1, other: 1 });
  });

  it('a session that ends leaves the peer table: peer:disconnect, and a client goes offline', async () => {
    const s = await server();
    const c = await client([addressOf(s)]);
    const seen = events(c);
    await c.network.whenConnected();
    expect(c.network.status().peers).toHaveLength(1);
    await c.network.hangUp(addressOf(s));
    await waitFor('disconnected', () => seen.some((event) => event.type === 'peer:disconnect'), { timeoutMs: 5000, intervalMs: 2 });
    expect(c.network.status().peers).toHaveLength(0);
    expect(c.network.status().state).toBe('offline');
  });

  it('offline on purpose, a peer hangs up on a channel handed to it; a fifth session with one peer is ended (wire/too-many-sessions)', async () => {
    const s = await server();
    const peers = [1, 2, 3, 4].map(() => attach(s, 'many'));
    await Promise.all(peers.map((peer) => peer.hello()));
    const fifth = attach(s, 'many');
    expect(await fifth.ended()).toMatchObject({ type: 'error', code: 'wire/too-many-sessions' });

    const c = await client([]);
    await c.network.goOffline();
    const hungUp = attach(c, 'caller');
    await hungUp.ended();
    expect(c.network.status().peers).toHaveLength(0);
  });

  it('fetch refuses a bad soul, an aborted signal and a stopped network; whenConnected, aborted, names what it waited for', async () => {
    const c = await client([]);
    await expect(c.network.fetch('')).rejects.toBeInstanceOf(InvalidValueError);
    await expect(c.network.fetch(7 as unknown as string)).rejects.toMatchObject({ code: 'soul/invalid' });
    await expect(c.network.fetch('soul', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    // An abort before or while waiting: a rejection (never a throw) that says what it waited for.
    await expect(c.network.whenConnected({ signal: AbortSignal.abort() })).rejects.toThrow(/^stopped waiting for a connection: /);
    await expect(c.network.whenConnected({ count: 2, signal: AbortSignal.timeout(20) })).rejects.toThrow(/^stopped waiting for 2 connections: /);
    await expect(c.network.whenSynced({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    await c.network.stop();
    await c.network.stop();
    expect(c.network.status().state).toBe('offline');
    await expect(c.network.fetch('soul')).rejects.toMatchObject({ code: 'network/closed' });
  });

  it('a read made right after open waits for the first connection; a peer is listed with its role, transport (memory is "other") and address', async () => {
    const s = await server();
    await s.get('early').put({ v: 'there' });
    const c = await client([addressOf(s)]);
    expect(await c.get('early').get('v').once()).toBe('there');
    const [peer] = c.network.status().peers;
    expect(peer).toMatchObject({ peerId: s.network.peerId, role: 'server', transport: 'other' });
    expect(peer!.address).toBe(addressOf(s));
  });

  it('a read through a server that never answers ends at readTimeoutMs, the state syncing meanwhile', async () => {
    const c = await client([], { readTimeoutMs: 150 });
    const silent = attach(c, 'silent-server', true);
    await silent.hello({ role: 'server' });
    await c.network.whenConnected();
    const states: string[] = [];
    c.network.on((event) => void (event.type === 'state' && states.push(event.state)));
    const started = Date.now();
    expect(await c.get('nowhere').once()).toBeUndefined();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(1500);
    expect(states).toEqual(['syncing', 'idle']);
    expect(silent.messages.some((m) => m.type === 'get' || m.type === 'get-part')).toBe(true);
  });

  it('a server this peer dialled (a server it chose) is exempt from the write quota; the same peer dialling in is not', async () => {
    const s = await InProcessRustDHT.open({ store: new MemoryStore(), network: { role: 'server', peers: [], quota: { peerBytesPerSecond: 1 } } });
    opened.push(s);
    const writer = await openReplica(new MemoryStore());
    await writer.write(() => ['quota', 'v', 1], undefined);
    let frame: Uint8Array | undefined;
    for await (const entry of writer.outbox.pending()) frame = entry.frame;
    const chosen = attach(s, 'chosen-server', true);
    await chosen.hello({ role: 'server' });
    const stranger = attach(s, 'stranger-server');
    await stranger.hello({ role: 'server' });
    // A full bucket lets one write through; the second is over 1 byte per second.
    for (let i = 0; i < 3; i++) expect(await chosen.request({ type: 'put', frame: frame! })).toMatchObject({ type: 'ack' });
    expect(await stranger.request({ type: 'put', frame: frame! })).toMatchObject({ type: 'ack' });
    expect(await stranger.request({ type: 'put', frame: frame! })).toMatchObject({ type: 'error', code: 'quota/peer' });
  });

  it('a write the server refuses is reported at the writer with the server\'s id and code, and kept', async () => {
    const s = await InProcessRustDHT.open({
      store: new MemoryStore(),
      network: { role: 'server', peers: [], writeGate: () => ({ code: 'storage/full', message: 'the test says the disk is full.' }) },
    });
    opened.push(s);
    const c = await client([addressOf(s)]);
    const seen = events(c);
    await c.network.whenConnected();
    await c.get('refused').put({ v: 1 });
    await waitFor('the refusal', () => seen.some((event) => event.type === 'reject'), { timeoutMs: 5000, intervalMs: 2 });
    expect(seen.find((event) => event.type === 'reject')).toMatchObject({ peerId: s.network.peerId, code: 'storage/full' });
    expect(c.network.status().outboxSize).toBe(1);
  });

  it('a server with no address to listen on is offline until a peer connects', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'rustdht-parts-'));
    dirs.push(dataDir);
    const s = await RustDHT.open({ store: new MemoryStore(), network: { role: 'server', dataDir, listen: [] } });
    opened.push(s);
    expect(s.network!.status().state).toBe('offline');
    const [ours, theirs] = createChannelPair();
    s.network!.attach(theirs, { peerId: 'raw-client', transport: 'other', address: '/memory/raw' });
    const peer = new RawPeer(ours);
    raw.push(peer);
    await peer.hello();
    await waitFor('idle', () => s.network!.status().state === 'idle', { timeoutMs: 5000, intervalMs: 2 });
  });

  it('a connected network that stops is offline with no peers, and its server sees it go', async () => {
    const s = await server();
    const c = await client([addressOf(s)]);
    await c.network.whenConnected();
    await waitFor('idle', () => c.network.status().state === 'idle', { timeoutMs: 5000, intervalMs: 2 });
    await c.network.stop();
    expect(c.network.status().state).toBe('offline');
    expect(c.network.status().peers).toEqual([]);
    await waitFor('the server saw it go', () => s.network.status().peers.length === 0, { timeoutMs: 5000, intervalMs: 2 });
  });

  it('two servers: a write at one reaches the other, both count two members and refuse nothing of each other; one that stops says goodbye at once', async () => {
    cluster = await startPeers({ servers: 2, clients: 0 });
    const [a, b] = cluster.servers as [Peer, Peer];
    const refusals: NetworkEvent[] = [];
    for (const s of [a, b]) s.network.on((event) => void (event.type === 'reject' && refusals.push(event)));
    await cluster.whenConnected(AbortSignal.timeout(10_000));
    await waitFor('two members each', () => [a, b].every((s) => s.network.status().dht?.members === 2), { timeoutMs: 10_000, intervalMs: 10 });
    await a.get('shared').put({ v: 'from a' });
    await waitFor('the write at b', async () => (await b.get('shared').get('v').once({ local: true })) === 'from a', { timeoutMs: 10_000, intervalMs: 10 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(refusals).toEqual([]);
    await a.network.stop();
    // The leaving record, not a timeout, tells b (DEAD_AFTER_MS is 20 s).
    await waitFor('b to count one member', () => b.network.status().dht?.members === 1, { timeoutMs: 3000, intervalMs: 10 });
  });

  it('a quiet peer is pinged: its round-trip time shows in the status', async () => {
    const s = await server();
    const c = await client([addressOf(s)]);
    await c.network.whenConnected();
    await waitFor('a round-trip time', () => typeof c.network.status().peers[0]?.rttMs === 'number', { timeoutMs: 9000, intervalMs: 20 });
  }, 15_000);

  it('closing the database stops its network', async () => {
    const s = await server();
    const c = await client([addressOf(s)]);
    await c.network.whenConnected();
    await c.close({ timeoutMs: 0 });
    await waitFor('the server saw it go', () => s.network.status().peers.length === 0, { timeoutMs: 5000, intervalMs: 2 });
    expect(() => c.network.dial(addressOf(s))).toThrow();
  });
});
