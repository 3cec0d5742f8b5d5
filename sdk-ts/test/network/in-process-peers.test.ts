/**
 * 50 peers in one process (helpers/in-process-peers.ts: real databases and networks on
 * libp2p's in-memory transport): 3 servers in a mesh and 47 clients spread over them.
 * One client's write reaches every subscriber, whichever server it is connected to
 * (through the servers' change-log feeds), and nobody who did not subscribe to it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPeers, type InProcessPeers, type Peer } from './helpers/in-process-peers.js';
import { waitFor } from './helpers/server-process.js';

const SERVERS = 3;
const CLIENTS = 47;

let peers: InProcessPeers;

beforeAll(async () => {
  const started = performance.now();
  peers = await startPeers({ servers: SERVERS, clients: CLIENTS });
  await peers.whenConnected(AbortSignal.timeout(20_000));
  console.log(`[in-process peers] ${SERVERS + CLIENTS} peers started and connected in ${Math.round(performance.now() - started)} ms`);
}, 30_000);

afterAll(async () => {
  await peers?.close();
}, 30_000);

describe(`${SERVERS + CLIENTS} peers in one process`, () => {
  it('every client and server is connected: clients to one server each, servers to each other', () => {
    expect(peers.servers).toHaveLength(SERVERS);
    expect(peers.clients).toHaveLength(CLIENTS);
    for (const client of peers.clients) expect(client.network.status().peers.map((peer) => peer.role)).toEqual(['server']);
    for (const server of peers.servers) {
      const roles = server.network.status().peers.map((peer) => peer.role);
      expect(roles.filter((role) => role === 'server')).toHaveLength(SERVERS - 1);
      expect(roles.filter((role) => role === 'client').length).toBeGreaterThanOrEqual(Math.floor(CLIENTS / SERVERS));
    }
  });

  it("a client's write reaches every subscriber, through whichever server, and no one else", async () => {
    const [writer, bystander, ...subscribers] = peers.clients as [Peer, Peer, ...Peer[]];
    const room = `in-process/room-${Date.now()}`;
    const seen = new Map<Peer, unknown[]>(subscribers.map((db) => [db, []]));
    for (const db of subscribers) db.get(room).get('message').on((value) => void seen.get(db)!.push(value));
    // The bystander watches something else: the write must not reach it.
    bystander.get(`${room}/elsewhere`).on(() => {});

    // Subscriptions travel on their own: probe until every subscriber hears the writer.
    let probe = 0;
    await waitFor(
      'every subscriber to hear a probe',
      async () => {
        await writer.get(room).put({ message: `probe ${++probe}` });
        return subscribers.every((db) => seen.get(db)!.length !== 0);
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );

    const started = performance.now();
    await writer.get(room).put({ message: 'hello, 45 subscribers' });
    await waitFor('every subscriber to see the write', () => subscribers.every((db) => seen.get(db)!.includes('hello, 45 subscribers')), { timeoutMs: 10_000, intervalMs: 5 });
    console.log(`[in-process peers] one write reached ${subscribers.length} subscribers on ${SERVERS} servers in ${Math.round(performance.now() - started)} ms`);

    // Through every server: each holds it, and subscribers on each saw it.
    for (const server of peers.servers) {
      await waitFor('each server to hold the write', async () => (await server.get(room).get('message').once({ local: true })) === 'hello, 45 subscribers');
    }
    await writer.network.whenSynced();
    expect(writer.outbox.size).toBe(0);
    expect(await bystander.get(room).once({ local: true })).toBeUndefined();
  });
});
