/**
 * Hinted hand-off is bounded (network/dht/dht.ts `hintRefusal`, DhtOptions.maxHints): a
 * server holds at most maxHints souls that their owners have not taken yet. Past it, a
 * client's write naming a soul the server does not own is refused with `quota/hints`, a
 * refusal for now — the writer keeps the write in its outbox and sends it again — while
 * writes of souls the server owns still go through. Once the owners take the hints, the
 * refused write lands. Nothing is lost, and a coordinator whose owners stay unreachable
 * does not grow without bound.
 *
 * Two servers in one process (helpers/in-process-peers.ts), R = 1, the client on A; B
 * refuses every write (its writeGate: a full disk) until the test opens it, so A's
 * hand-off of B's souls cannot complete and they stay hints on A.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { NetworkEvent } from '../../src/network/types.js';
import { ownersOf } from './helpers/dht-cluster.js';
import { startPeers, type InProcessPeers } from './helpers/in-process-peers.js';
import { waitFor } from './helpers/server-process.js';

const MAX_HINTS = 3;

let peers: InProcessPeers | undefined;
afterEach(async () => {
  await peers?.close();
  peers = undefined;
}, 60_000);

describe('hinted hand-off', () => {
  it('past maxHints a coordinator refuses writes of souls it does not own for now, takes its own, and takes the rest once owners confirm', async () => {
    let ownerFull = true;
    peers = await startPeers({
      servers: 2,
      clients: 1,
      dht: { replicas: 1, maxHints: MAX_HINTS },
      serverNetwork: (index) => (index === 1 ? { writeGate: () => (ownerFull ? { code: 'storage/full', message: 'the test says the disk is full.' } : undefined) } : {}),
    });
    const [a, b] = peers.servers as [NonNullable<InProcessPeers['servers'][0]>, NonNullable<InProcessPeers['servers'][0]>];
    const client = peers.clients[0]!;
    await peers.whenConnected(AbortSignal.timeout(20_000));
    await waitFor('both servers to count 2 members', () => [a, b].every((s) => s.network.status().dht?.members === 2), { timeoutMs: 20_000, intervalMs: 50 });
    const members = [a.network.peerId, b.network.peerId];
    const soulsOwnedBy = (owner: string, count: number, tag: string): string[] => {
      const souls: string[] = [];
      for (let i = 0; souls.length < count; i++) if (ownersOf(`${tag}/${i}`, members, 1)[0] === owner) souls.push(`${tag}/${i}`);
      return souls;
    };
    const refusals: string[] = [];
    client.network.on((event: NetworkEvent) => {
      if (event.type === 'reject') refusals.push(event.code);
    });

    // MAX_HINTS writes of B's souls: A takes them (it coordinates) and holds them as hints.
    const hinted = soulsOwnedBy(b.network.peerId, MAX_HINTS + 1, 'hint');
    for (const soul of hinted.slice(0, MAX_HINTS)) await client.get(soul).put({ soul });
    await client.network.whenSynced({ signal: AbortSignal.timeout(20_000) });
    await waitFor('A to hold 3 hints', () => a.network.dht!.handoff.pendingSouls === MAX_HINTS, { timeoutMs: 10_000, intervalMs: 50 });

    // One more: refused for now, kept in the client's outbox.
    const over = hinted[MAX_HINTS]!;
    await client.get(over).put({ soul: over });
    await waitFor('the client to hear quota/hints', () => refusals.includes('quota/hints'), { timeoutMs: 10_000, intervalMs: 50 });
    expect(client.outbox.size).toBe(1);
    expect(await a.get(over).get('soul').once({ local: true })).toBeUndefined();

    // A soul A owns is not a hint: it is taken at once.
    const own = soulsOwnedBy(a.network.peerId, 1, 'own')[0]!;
    await client.get(own).put({ soul: own });
    await waitFor('A to store its own soul', async () => (await a.get(own).get('soul').once({ local: true })) === own, { timeoutMs: 10_000, intervalMs: 50 });
    expect(a.network.dht!.handoff.pendingSouls).toBe(MAX_HINTS);

    // B takes writes again: A hands the hints off, and the refused write lands on retry.
    ownerFull = false;
    await client.network.whenSynced({ signal: AbortSignal.timeout(45_000) });
    expect(client.outbox.size).toBe(0);
    for (const soul of hinted) {
      await waitFor(`B to hold ${soul}`, async () => (await b.get(soul).get('soul').once({ local: true })) === soul, { timeoutMs: 20_000, intervalMs: 100 });
    }
  }, 90_000);
});
