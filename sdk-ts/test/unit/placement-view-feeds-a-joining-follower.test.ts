/**
 * What a DHT server feeds a follower that is not a member here yet (network/dht/
 * placement-view.ts `partFor`): a server coming back or joining starts following feeds
 * before its member record reaches every server, and entries it was sent nothing of are
 * behind its cursor for good. So it gets the part it owns among the members and itself;
 * a member gets its part among the members, as before — but from the backlog nothing of an
 * entry none of whose souls it owns together with this server (what this server holds of souls it no
 * longer owns goes to their owners by its hand-off). Checked against the engine's
 * placement computed independently (`ownersUnder`).
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine/load-node.js';
import { parseJson } from '../../src/engine/reports.js';
import type { MemberTable } from '../../src/network/dht/member-table.js';
import { ownersUnder, PlacementView } from '../../src/network/dht/placement-view.js';

const R = 3;
const NOW = 1_700_000_000_000;

async function peerIds(n: number): Promise<string[]> {
  return Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()));
}

/** A member table that lists `members` (sorted, as MemberTable does) at version 1. */
function tableOf(members: readonly string[]): MemberTable {
  const live = [...members].sort().map((peerId) => ({ peerId }));
  return { version: 1, live: () => live } as unknown as MemberTable;
}

/** The souls a frame carries updates of. */
function soulsIn(frame: Uint8Array | undefined): Set<string> {
  if (frame === undefined) return new Set();
  const probe = new engine.Engine(undefined);
  try {
    return new Set(parseJson(probe.ingest(frame, NOW)).changes.map(([soul]) => soul));
  } finally {
    probe.free();
  }
}

describe('PlacementView.partFor', () => {
  it('a follower not yet a member gets the souls it owns once it is one; a member its own part', async () => {
    const [self, joining, ...others] = await peerIds(12);
    const members = [self!, ...others];
    const view = new PlacementView(engine, tableOf(members), R, self!);
    const souls = Array.from({ length: 400 }, (_, i) => `joining/${i}`);
    const frame = engine.encodeUpdates(souls.flatMap((soul, i) => [soul, 'n', i]), new Float64Array(souls.map((_, i) => NOW - i)));

    expect(view.isMember(joining!)).toBe(false);
    const withIt = ownersUnder(engine, [...members, joining!].sort(), R, souls);
    const itsSouls = new Set(souls.filter((_, i) => withIt[i]!.includes(joining!)));
    expect(itsSouls.size).toBeGreaterThan(0);
    expect(itsSouls.size).toBeLessThan(souls.length);
    expect(soulsIn(view.partFor(frame, joining!))).toEqual(itsSouls);

    // A member that owns some of these souls together with this server (the next test has one that does not).
    const without = ownersUnder(engine, [...members].sort(), R, souls);
    const member = others.find((peerId) => without.some((owners) => owners.includes(peerId) && owners.includes(self!)))!;
    expect(member).toBeDefined();
    expect(soulsIn(view.partFor(frame, member))).toEqual(new Set(souls.filter((_, i) => without[i]!.includes(member))));
    // Not a peer id at all: nothing.
    expect(view.partFor(frame, 'not-a-peer-id')).toBeUndefined();
  });

  it('from the backlog, a member is fed nothing of an entry none of whose souls it owns together with this server', async () => {
    const souls = Array.from({ length: 2_000 }, (_, i) => `moved/${i}`);
    // Random peer ids until one member owns souls both with this server and without it
    // (XOR placement: a member far from this server in id space shares none with it).
    let found: { self: string; others: string[]; member: string; owners: string[][] } | undefined;
    for (let attempt = 0; attempt < 50 && found === undefined; attempt++) {
      const [self, ...others] = await peerIds(12);
      const owners = ownersUnder(engine, [self!, ...others].sort(), R, souls);
      const member = others.find(
        (peerId) => owners.some((list) => list.includes(peerId) && list.includes(self!)) && owners.filter((list) => list.includes(peerId) && !list.includes(self!)).length >= 20,
      );
      if (member !== undefined) found = { self: self!, others, member, owners };
    }
    expect(found).toBeDefined();
    const { self, others, member, owners } = found!;
    const view = new PlacementView(engine, tableOf([self, ...others]), R, self);
    const notShared = souls.filter((_, i) => owners[i]!.includes(member) && !owners[i]!.includes(self)).slice(0, 20);
    const shared = souls.find((_, i) => owners[i]!.includes(member) && owners[i]!.includes(self))!;
    const frameOf = (list: readonly string[]) => engine.encodeUpdates(list.flatMap((soul, i) => [soul, 'n', i]), new Float64Array(list.map((_, i) => NOW - i)));

    // Only souls the member owns without this server: nothing from the backlog (the
    // hand-off carries them); a live entry still goes.
    expect(view.partFor(frameOf(notShared), member, true)).toBeUndefined();
    expect(soulsIn(view.partFor(frameOf(notShared), member, false))).toEqual(new Set(notShared));
    // One soul they own together: the member's whole part, as before.
    expect(soulsIn(view.partFor(frameOf([...notShared, shared]), member, true))).toEqual(new Set([...notShared, shared]));
    // A server that is not a member itself owns nothing yet, and withholds nothing.
    const outsider = new PlacementView(engine, tableOf(others), R, self);
    expect(soulsIn(outsider.partFor(frameOf(notShared), member, true)).size).toBeGreaterThan(0);
  });
});
