/**
 * More of how a database's network is put together (network/network-parts.ts), each test
 * starting its own peers (in-process libp2p nodes and raw peers on channel pairs):
 *
 * - a SUBSCRIBE its server refuses is reported at the subscriber (the server's id and
 *   code, counted); one cut off by its session closing is not a refusal; with its last
 *   server gone the client is offline;
 * - hanging up on a peer, or going offline, ends the libp2p connection too, not only
 *   the sync sessions;
 * - a read made while offline on purpose is local at once (it does not wait for a first
 *   connection that is not being dialled);
 * - a read made while its only server is redialled after a lost connection is local at
 *   once (only a first connection is waited for);
 * - a write at a DHT server reaches each soul's owner, each server given only the first
 *   server's address (the others known through the membership gossip, and dialled: a
 *   cluster this small is a full mesh), and one that leaves is no longer dialled;
 * - a DHT server refuses (and reports) a peer's malformed member record and an EVENT
 *   of a soul neither it nor an owner subscription of its asked for;
 * - a client subscribed at a DHT server that does not own the soul gets the owner's
 *   writes (the server's owner subscription), which ends when the client leaves; a client ignores a MEMBERS push and
 *   refuses an unsolicited EVENT;
 * - a DHT server that stops says goodbye (MEMBERS) to its servers, not its clients;
 * - fetch's refusal of a bad soul says what it takes; whenConnected's abort keeps the
 *   signal's reason as its cause, and a stop rejects it as closed (not as an abort);
 * - a server following a chosen server's feed reports an entry that does not decode;
 * - a DHT server whose peer server vanished (no goodbye) counts it down after the grace
 *   period: the last session with a peer ending tells the membership.
 *
 * Why: these wires survived mutation testing (scripts/mutation/README.md).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createChannelPair } from '../../src/network/transport/memory-channel.js';
import type { NetworkEvent } from '../../src/network/types.js';
import { MemoryStore } from '../../src/node.js';
import { addressOf, singlePeers, startPeers, type InProcessPeers, type Peer } from './helpers/in-process-peers.js';
import { RawPeer } from './helpers/raw-peer.js';
import { openReplica } from '../unit/replica-helpers.js';
import { waitFor } from './helpers/server-process.js';

const opened: { close(options: { timeoutMs: number }): Promise<unknown> }[] = [];
const raw: RawPeer[] = [];
let cluster: InProcessPeers | undefined;
afterEach(async () => {
  for (const peer of raw.splice(0)) peer.stop();
  await Promise.allSettled(opened.splice(0).map((db) => db.close({ timeoutMs: 0 })));
  await cluster?.close();
  cluster = undefined;
});

const { server, client } = singlePeers(opened);
const rejects = (db: Peer): Extract<NetworkEvent, { type: 'reject' }>[] => {
  const seen: Extract<NetworkEvent, { type: 'reject' }>[] = [];
  db.network.on((event) => void (event.type === 'reject' && seen.push(event)));
  return seen;
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A raw server on a channel pair handed to `db` as one it dialled. */
async function rawServer(db: Peer, peerId: string): Promise<RawPeer> {
  const [ours, theirs] = createChannelPair();
  db.network.attach(theirs, { peerId, transport: 'other', address: '/memory/raw', dialled: true });
  const peer = new RawPeer(ours);
  raw.push(peer);
  await peer.hello({ role: 'server' });
  return peer;
}

describe('network parts: failed requests, hanging up, offline reads, members gone', () => {
  it('a SUBSCRIBE the server refuses is reported with its id and code; one cut off by the session closing is not; the last server gone, the client is offline', async () => {
    const c = await client([]);
    const seen = rejects(c);
    const refusing = await rawServer(c, 'refusing-server');
    await c.network.whenConnected();
    c.get('watched').get('x').on(() => {});
    const subscribe = await refusing.next((m) => m.type === 'subscribe', 'the SUBSCRIBE');
    await refusing.send({ type: 'error', id: subscribe.id, code: 'storage/full', message: 'the test refuses.' });
    await waitFor('the refusal', () => seen.length > 0, { timeoutMs: 5000, intervalMs: 2 });
    expect(seen).toEqual([{ type: 'reject', peerId: 'refusing-server', code: 'storage/full', message: 'refusing-server refused the subscribe: the test refuses.' }]);
    expect(c.network.counters().rejects).toMatchObject({ 'storage/full': 1 });

    // A second server gets the next SUBSCRIBE and goes away before answering it.
    const leaving = await rawServer(c, 'leaving-server');
    await waitFor('two peers', () => c.network.status().peers.length === 2, { timeoutMs: 5000, intervalMs: 2 });
    c.get('other').get('y').on(() => {});
    await leaving.next((m) => m.type === 'subscribe' && m.souls.includes('other'), 'the second SUBSCRIBE');
    leaving.stop();
    await waitFor('the peer gone', () => c.network.status().peers.length === 1, { timeoutMs: 5000, intervalMs: 2 });
    await sleep(50);
    expect(seen).toHaveLength(1);
    // The last server going away leaves the client offline.
    refusing.stop();
    await waitFor('offline', () => c.network.status().state === 'offline', { timeoutMs: 2000, intervalMs: 2 });
  });

  it('hanging up on a peer ends its libp2p connection too; so does going offline', async () => {
    const s = await server();
    const c = await client([addressOf(s)]);
    await c.network.whenConnected();
    expect(c.network.node.getConnections(s.network.node.peerId)).not.toHaveLength(0);
    await c.network.hangUp(addressOf(s));
    expect(c.network.node.getConnections(s.network.node.peerId)).toHaveLength(0);

    const d = await client([addressOf(s)]);
    await d.network.whenConnected();
    expect(d.network.node.getConnections(s.network.node.peerId)).not.toHaveLength(0);
    await d.network.goOffline();
    expect(d.network.node.getConnections(s.network.node.peerId)).toHaveLength(0);
  });

  it('a read made while offline on purpose is local at once, not held for a first connection', async () => {
    const s = await server();
    await s.get('far').put({ v: 'away' });
    const c = await client([addressOf(s)], { readTimeoutMs: 3000 });
    await c.network.goOffline();
    const started = Date.now();
    expect(await c.get('far').get('v').once()).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a read made while its only server is being redialled after a lost connection is local at once', async () => {
    const s = await server();
    await s.get('far').put({ v: 'away' });
    const c = await client([addressOf(s)], { readTimeoutMs: 3000 });
    await c.network.whenConnected();
    // The server hangs up (its libp2p connection): the client redials it, after a backoff.
    await s.network.node.hangUp(c.network.node.peerId);
    await waitFor('the client to lose it', () => c.network.status().peers.length === 0, { timeoutMs: 5000, intervalMs: 2 });
    const started = Date.now();
    expect(await c.get('far').get('v').once()).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a write at a DHT server reaches each soul\'s owner in a cluster where each server was given only the first; one that leaves is no longer dialled', async () => {
    // Each server knows only the first: the second and third find each other through MEMBERS.
    cluster = await startPeers({ servers: 3, clients: 0, bootstrap: 'first', dht: { replicas: 1 } });
    const servers = cluster.servers;
    await waitFor('three members each', () => servers.every((s) => s.network.status().dht?.members === 3), { timeoutMs: 10_000, intervalMs: 10 });
    // A cluster this small is a full mesh: the members found through gossip are dialled.
    await waitFor('a full mesh', () => servers.every((s) => s.network.status().peers.length === 2), { timeoutMs: 5000, intervalMs: 10 });
    const [, writer, third] = servers as [Peer, Peer, Peer];
    const ownerOf = (soul: string): Peer => servers.find((s) => s.network.peerId === writer.network.dht!.placement.ownersOf([soul])[0]![0])!;
    // Four souls owned by each server (placement hashes the random peer ids: picked, not assumed).
    const candidates = Array.from({ length: 300 }, (_, i) => `gossip-${i}`);
    const souls = servers.flatMap((owner) => candidates.filter((soul) => ownerOf(soul) === owner).slice(0, 4));
    expect(souls.filter((soul) => ownerOf(soul) === third)).toHaveLength(4);
    for (const soul of souls) await writer.get(soul).put({ v: soul });
    await waitFor(
      'each soul at its owner',
      async () => (await Promise.all(souls.map(async (soul) => (await ownerOf(soul).get(soul).get('v').once({ local: true })) === soul))).every(Boolean),
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    // The third leaves (a goodbye): the writer stops dialling it, so no dial of it fails.
    await third.network.stop();
    await waitFor('two members at the writer', () => writer.network.status().dht?.members === 2, { timeoutMs: 3000, intervalMs: 10 });
    await sleep(2000);
    expect([...writer.network.dialFailures().keys()]).toEqual([]);
  });

  it('a DHT server refuses a peer\'s bad member record and an EVENT of a soul nobody subscribed to, and reports both', async () => {
    cluster = await startPeers({ servers: 1, clients: 0 });
    const s = cluster.servers[0]!;
    const seen = rejects(s);
    const [ours, theirs] = createChannelPair();
    s.network.attach(theirs, { peerId: 'raw-member', transport: 'other', address: '/memory/raw' });
    const peer = new RawPeer(ours);
    raw.push(peer);
    await peer.hello({ role: 'server' });

    await peer.send({ type: 'members', id: 0, records: [new Uint8Array([1, 2, 3])] });
    await waitFor('the record refused', () => seen.length === 1, { timeoutMs: 5000, intervalMs: 2 });
    expect(seen[0]).toMatchObject({ peerId: 'raw-member', message: expect.stringMatching(/^a member record was refused: /) });
    expect(s.network.status().dht?.members).toBe(1);

    const writer = await openReplica(new MemoryStore());
    await writer.write(() => ['unasked', 'v', 1], undefined);
    let frame: Uint8Array | undefined;
    for await (const entry of writer.outbox.pending()) frame = entry.frame;
    await peer.send({ type: 'event', id: 0, frame: frame! });
    await waitFor('the EVENT refused', () => seen.length === 2, { timeoutMs: 5000, intervalMs: 2 });
    expect(seen[1]).toMatchObject({ peerId: 'raw-member', code: 'event/unsolicited' });
    expect(await s.get('unasked').get('v').once({ local: true })).toBeUndefined();
  });

  it('a client subscribed at a DHT server that does not own the soul gets the owner\'s writes (an owner subscription\'s EVENTs), until it leaves', async () => {
    cluster = await startPeers({ servers: 3, clients: 0, dht: { replicas: 1 } });
    const servers = cluster.servers;
    await cluster.whenConnected(AbortSignal.timeout(10_000));
    await waitFor('three members each', () => servers.every((s) => s.network.status().dht?.members === 3), { timeoutMs: 10_000, intervalMs: 10 });
    const entry = servers[0]!;
    const ownerOf = (soul: string): Peer => servers.find((s) => s.network.peerId === entry.network.dht!.placement.ownersOf([soul])[0]![0])!;
    const soul = Array.from({ length: 50 }, (_, i) => `elsewhere-${i}`).find((candidate) => ownerOf(candidate) !== entry)!;
    const c = await client([addressOf(entry)]);
    await c.network.whenConnected();
    const seen: unknown[] = [];
    c.get(soul).get('v').on((value) => seen.push(value));
    // Written through a client of the owner: the owner's feed carries it only to owners.
    const writer = await client([addressOf(ownerOf(soul))]);
    await writer.network.whenConnected();
    await sleep(200);
    await writer.get(soul).put({ v: 'from the owner' });
    await waitFor('the owner\'s write at the client', () => seen.includes('from the owner'), { timeoutMs: 5000, intervalMs: 5 });
    // The client gone, its subscription goes with it: the server takes no more EVENTs of the soul.
    expect(entry.network.dht!.ownerSubscriptions.accepts(soul)).toBe(true);
    await c.close({ timeoutMs: 0 });
    await waitFor('the owner subscription ended', () => !entry.network.dht!.ownerSubscriptions.accepts(soul), { timeoutMs: 5000, intervalMs: 5 });
  });

  it('a client ignores a MEMBERS push (it has no DHT) and refuses an EVENT it did not ask for', async () => {
    const c = await client([]);
    const seen = rejects(c);
    const peer = await rawServer(c, 'pushing-server');
    await c.network.whenConnected();
    await peer.send({ type: 'members', id: 0, records: [new Uint8Array([1, 2, 3])] });
    expect(await peer.request({ type: 'get', soul: 'nothing', keys: [] })).toMatchObject({ type: 'node' });
    expect(seen).toEqual([]);
    expect(c.network.status().peers).toHaveLength(1);

    // An EVENT it did not subscribe to is refused as such (a client has no owner subscriptions).
    const writer = await openReplica(new MemoryStore());
    await writer.write(() => ['unasked', 'v', 1], undefined);
    let frame: Uint8Array | undefined;
    for await (const entry of writer.outbox.pending()) frame = entry.frame;
    await peer.send({ type: 'event', id: 0, frame: frame! });
    await waitFor('the EVENT refused', () => seen.length === 1, { timeoutMs: 5000, intervalMs: 2 });
    expect(seen[0]).toMatchObject({ peerId: 'pushing-server', code: 'event/unsolicited' });
  });

  it('a DHT server that stops says goodbye to the servers connected to it, not to its clients', async () => {
    cluster = await startPeers({ servers: 1, clients: 0 });
    const s = cluster.servers[0]!;
    const attachRaw = async (peerId: string, role: 'client' | 'server'): Promise<RawPeer> => {
      const [ours, theirs] = createChannelPair();
      s.network.attach(theirs, { peerId, transport: 'other', address: '/memory/raw' });
      const peer = new RawPeer(ours);
      raw.push(peer);
      await peer.hello({ role });
      return peer;
    };
    const rawClient = await attachRaw('raw-client', 'client');
    const rawServer = await attachRaw('raw-server', 'server');
    await waitFor('two peers', () => s.network.status().peers.length === 2, { timeoutMs: 5000, intervalMs: 2 });
    await sleep(50);
    const before = rawServer.messages.filter((m) => m.type === 'members').length;
    await s.network.stop();
    await waitFor('the goodbye', () => rawServer.messages.filter((m) => m.type === 'members').length > before, { timeoutMs: 5000, intervalMs: 2 });
    expect(rawClient.messages.filter((m) => m.type === 'members')).toEqual([]);
  });

  it('fetch says what soul it takes; whenConnected, aborted, keeps the signal\'s reason as the cause, and a stop rejects it as closed', async () => {
    const c = await client([]);
    await expect(c.network.fetch('')).rejects.toThrow('fetch() takes a non-empty string soul.');
    const reason = new Error('the test gave up');
    const error = await c.network.whenConnected({ signal: AbortSignal.abort(reason) }).catch((e: unknown) => e);
    expect((error as Error).cause).toBe(reason);
    // A network that stops while it waits: the stop's own error, not an abort.
    const waiting = c.network.whenConnected().catch((e: unknown) => e);
    await c.network.stop();
    expect(await waiting).toMatchObject({ code: 'network/closed' });
    await expect(c.network.whenConnected()).rejects.toMatchObject({ code: 'network/closed' });
  });

  it('a server that follows a chosen server\'s feed reports a feed entry that does not decode', async () => {
    const s = await server();
    const seen = rejects(s);
    const peer = await rawServer(s, 'feeding-server');
    const feed = await peer.next((m) => m.type === 'feed', 'the FEED request');
    await peer.send({ type: 'feed-entry', id: feed.id, seq: 1, frame: new Uint8Array([9, 9, 9]) });
    await waitFor('the entry refused', () => seen.length > 0, { timeoutMs: 5000, intervalMs: 2 });
    expect(seen[0]).toMatchObject({ peerId: 'feeding-server', message: expect.stringMatching(/^a feed entry was refused: /) });
  });

  it('a DHT server whose peer server vanished (no goodbye) counts it down after the grace period', async () => {
    cluster = await startPeers({ servers: 2, clients: 0 });
    const [a, b] = cluster.servers as [Peer, Peer];
    await cluster.whenConnected(AbortSignal.timeout(10_000));
    await waitFor('two members each', () => [a, b].every((s) => s.network.status().dht?.members === 2), { timeoutMs: 10_000, intervalMs: 10 });
    // b's libp2p node stops under it: its sessions end, with no leaving record.
    await b.network.node.stop();
    // DOWN_GRACE_MS is 1.5 s; the record itself would live for minutes.
    await waitFor('a to count one member', () => a.network.status().dht?.members === 1, { timeoutMs: 4000, intervalMs: 20 });
  });
});
