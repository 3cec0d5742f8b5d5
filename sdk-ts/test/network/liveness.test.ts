/**
 * A connection carrying a sync session survives a starved peer: the server process is
 * frozen (SIGSTOP) for longer than a ping's timeout, then thawed. The client's pings go
 * unanswered meanwhile, yet it keeps the connection and the session (the liveness rule of
 * network/peers/pinger.ts: dead only after DEAD_AFTER_MS of silence), and the session
 * works afterwards. libp2p's own connection monitor, which this project turns off, drops
 * such a connection on its first late ping (5 s).
 *
 * Needs the build (`npm run build`): the server runs from dist/.
 */
import { afterAll, expect, it } from 'vitest';
import { RustDHT } from '../../src/node.js';
import type { NetworkEvent } from '../../src/network/types.js';
import { DEAD_AFTER_MS } from '../../src/network/peers/pinger.js';
import { startServer, stopAllServers, waitFor, withDeadline } from './helpers/server-process.js';

const opened: RustDHT[] = [];
afterAll(async () => {
  await Promise.all(opened.map((db) => db.close()));
  await stopAllServers();
});

/**
 * How long the server is frozen: long enough to hold a whole libp2p monitor ping (sent
 * every 10 s, timed out after 5 s), short of what our pinger calls dead (a ping sent
 * within the freeze is answered after it, before its 5 s timeout, while DEAD_AFTER_MS runs).
 */
const FROZEN_MS = 17_000;

it('a frozen server is not hung up on for late pings; the session carries on after it thaws', async () => {
  expect(FROZEN_MS).toBeLessThan(DEAD_AFTER_MS);
  const server = await startServer({ name: 'frozen' });
  const db = await RustDHT.open({ store: 'memory', network: { role: 'client', peers: [server.tcpAddress], readTimeoutMs: 5000 } });
  opened.push(db);
  const network = db.network!;
  await withDeadline('the client to connect', network.whenConnected(), 15_000);
  const events: NetworkEvent[] = [];
  network.on((event) => void events.push(event));
  const connectedAt = network.status().peers[0]!.connectedAt;

  process.kill(server.pid!, 'SIGSTOP');
  try {
    // A write while the server is frozen waits in the outbox (the PUT is in flight).
    await db.get('liveness').put({ during: 'freeze' });
    await new Promise((resolve) => setTimeout(resolve, FROZEN_MS));
  } finally {
    process.kill(server.pid!, 'SIGCONT');
  }
  await waitFor('the outbox to drain after the thaw', () => db.outbox.size === 0, { timeoutMs: 15_000 });
  expect(events.filter((event) => event.type === 'peer:disconnect' || event.type === 'peer:connect')).toEqual([]);
  expect(network.status().peers.map((peer) => [peer.peerId, peer.connectedAt])).toEqual([[server.peerId, connectedAt]]);
  // The same session still serves reads.
  const reader = await RustDHT.open({ store: 'memory', network: { role: 'client', peers: [server.tcpAddress], readTimeoutMs: 5000 } });
  opened.push(reader);
  expect(await reader.get('liveness').get('during').once()).toBe('freeze');
}, 60_000);
