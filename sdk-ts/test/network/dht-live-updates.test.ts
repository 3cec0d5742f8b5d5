/**
 * `on()` across the DHT (in-process servers, R = 2): a client watching a soul through a
 * server that does not own it hears writes made through another server that does not
 * own it either (its server subscribes at the owners on its behalf:
 * dht/owner-subscriptions.ts), and keeps hearing them after one of the owners leaves
 * and ownership moves. A client that does not watch the soul hears nothing of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPeers, type InProcessPeers, type Peer } from './helpers/in-process-peers.js';
import { waitFor } from './helpers/server-process.js';

const SERVERS = 6;
let peers: InProcessPeers;
let watcher: Peer;
let writer: Peer;
let bystander: Peer;

beforeAll(async () => {
  // Clients dial servers round robin: watcher → 0, writer → 1, bystander → 2.
  peers = await startPeers({ servers: SERVERS, clients: 3, dht: { replicas: 2 } });
  [watcher, writer, bystander] = peers.clients as [Peer, Peer, Peer];
  await Promise.all(peers.clients.map((client) => client.network.whenConnected({ signal: AbortSignal.timeout(20_000) })));
  await waitFor('membership to settle', () => peers.servers.every((server) => server.network.status().dht?.members === SERVERS), { timeoutMs: 20_000 });
}, 40_000);

afterAll(async () => {
  await peers?.close();
}, 30_000);

describe('live updates through servers that do not own the soul', () => {
  it('a watcher hears a write made through another server; ownership moving does not drop it', async () => {
    const ids = peers.servers.map((server) => server.network.peerId);
    const placement = peers.servers[0]!.network.dht!.placement;
    // A soul neither the watcher's server (0) nor the writer's (1) nor the bystander's (2)
    // owns, picked while server 0 counts every member: a view that lost members (a busy
    // machine's missed pings) may give all souls to those three, so the search is bounded
    // and waits for the view rather than spinning on it.
    let soul = '';
    await waitFor(
      "a soul servers 0-2 do not own, as server 0's full member list places it",
      () => {
        if (placement.members.length !== SERVERS) return false;
        for (let i = 0; i < 1000; i++) {
          const candidate = `live/${Date.now()}-${i}`;
          const owners = placement.ownersOf([candidate])[0]!;
          if (![ids[0], ids[1], ids[2]].some((id) => owners.includes(id!))) {
            soul = candidate;
            return true;
          }
        }
        return false;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    const heard: unknown[] = [];
    watcher.get(soul).get('n').on((value) => void heard.push(value));
    const bystanderHeard: unknown[] = [];
    bystander.get(`${soul}/other`).on((value) => void bystanderHeard.push(value));

    let n = 0;
    await waitFor(
      'the watcher to hear the writer',
      async () => {
        // Subscriptions travel on their own: any probe heard will do.
        await writer.get(soul).put({ n: ++n });
        return heard.some((value) => typeof value === 'number');
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );

    // One owner leaves (a graceful stop: its goodbye record moves ownership at once).
    const owners = placement.ownersOf([soul])[0]!;
    const leaving = peers.servers[ids.indexOf(owners[0]!)]!;
    await leaving.close({ timeoutMs: 0 });
    await waitFor('ownership to move', () => !peers.servers[0]!.network.dht!.placement.ownersOf([soul])[0]!.includes(owners[0]!), { timeoutMs: 10_000 });
    const after = peers.servers[0]!.network.dht!.placement.ownersOf([soul])[0]!;
    expect(after).not.toContain(owners[0]);

    await writer.get(soul).put({ n: 1000 });
    await waitFor('the watcher to hear the write after ownership moved', () => heard.includes(1000), { timeoutMs: 15_000, intervalMs: 50 });
    expect(bystanderHeard.filter((value) => value !== undefined)).toEqual([]);
  }, 45_000);
});
