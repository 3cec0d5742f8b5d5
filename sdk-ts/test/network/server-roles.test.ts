/**
 * Which peers a server replicates with is its own decision, from its configuration
 * (network.peers / --bootstrap, dial()), not what a peer says in its HELLO. Real
 * databases and networks on libp2p's in-memory transport (helpers/in-process-peers.ts):
 *
 * - A and B list each other (addresses without /p2p/, so only the dial says who they
 *   are): writes on either reach the other;
 * - C lists A, A does not list C: C follows A (A's writes reach C), A does not follow C
 *   (what C's clients write stays on C) although C says 'server' in its HELLO and
 *   announces itself with a valid signed member record: A and B run a closed
 *   membership (network.dht.trustedMembers: none but themselves), so C's record is
 *   refused there (`member/untrusted`). (With an open membership, the default, a server
 *   with a valid record is a member: test/network/dht-placement.test.ts.)
 * - once A's operator dials C, A follows C too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeUpdates } from '../../src/engine/load-node.js';
import { MemoryStore } from '../../src/node.js';
import { InProcessRustDHT, type Peer } from './helpers/in-process-peers.js';
import { waitFor } from './helpers/server-process.js';

const opened: Peer[] = [];
let a: Peer;
let b: Peer;
let c: Peer;

/** An update of `soul`.v, as a client would send it. */
function frame(soul: string, value: string): Uint8Array {
  return encodeUpdates([soul, 'v', value], Float64Array.of(Date.now()));
}

function addressOf(db: Peer, withPeerId: boolean): string {
  const address = db.network.status().addresses[0]!;
  return withPeerId ? address : address.replace(/\/p2p\/[^/]+$/, '');
}

async function server(peers: readonly string[] = [], trustedMembers?: readonly string[]): Promise<Peer> {
  const db = await InProcessRustDHT.open({ store: new MemoryStore(), network: { role: 'server', peers, dht: { trustedMembers } } });
  opened.push(db);
  return db;
}

/** Resolves once `reader` holds `soul`.v === value (locally: only replication puts it there). */
function arrives(reader: Peer, soul: string, value: string): Promise<unknown> {
  return waitFor(`${soul} to reach ${reader.network.peerId}`, async () => ((await reader.get(soul).get('v').once({ local: true })) === value ? true : undefined), { timeoutMs: 5000, intervalMs: 20 });
}

beforeAll(async () => {
  a = await server([], []);
  b = await server([addressOf(a, false)], []);
  // B's session (it dialled A) is A's duty session for B before A's own dial of B is up:
  // A's dial, once ready, must still make B a server to A.
  await a.network.whenConnected();
  a.network.dial(addressOf(b, false));
  c = await server([addressOf(a, true)]);
  await Promise.all([a.network.whenConnected({ count: 2 }), b.network.whenConnected(), c.network.whenConnected()]);
});

afterAll(async () => {
  await Promise.allSettled(opened.map((db) => db.close({ timeoutMs: 0 })));
});

describe('servers replicate with the servers they list', () => {
  it('two servers that list each other (no /p2p/ in the addresses) replicate both ways', async () => {
    // As if from a client of each (a server's own writes also leave as PUTs to the servers it lists).
    await a.receive(frame('from-a', 'a'));
    await b.receive(frame('from-b', 'b'));
    await Promise.all([arrives(b, 'from-a', 'a'), arrives(a, 'from-b', 'b')]);
  });

  it('a server that dials in and says "server" is followed by nobody who did not list it; once listed, it is', async () => {
    await a.get('a-to-c').put({ v: 'a' });
    await arrives(c, 'a-to-c', 'a');
    // As if from a client of C (C's own writes go to A as PUTs, like any client's).
    await c.receive(frame('c-to-a', 'c'));
    // A marker written after C's write, through A's own feed to C: C's write had as long to reach A.
    await a.get('marker').put({ v: 'm' });
    await arrives(c, 'marker', 'm');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await a.get('c-to-a').once({ local: true })).toBeUndefined();
    expect(a.network.status().peers.find((peer) => peer.peerId === c.network.peerId)?.role).toBe('server'); // what it claims

    a.network.dial(addressOf(c, true));
    await arrives(a, 'c-to-a', 'c');
  });
});
