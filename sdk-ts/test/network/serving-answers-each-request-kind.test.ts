/**
 * What a peer answers (network/serving/serving.ts), built as network-parts.ts builds it,
 * over a real replica (a LocalReplica on a MemoryStore, through replicaForNetwork),
 * scripted sessions and, for a DHT server, a scripted DHT:
 *
 * - MEMBERS_SYNC: nobody (no DHT) or the DHT's membership answer; DIGEST: "not now, not a
 *   member" (no DHT) or the DHT's anti-entropy answer;
 * - PUT: admitted first — a server this peer chose is exempt from the quota and from the
 *   DHT's hint bound, anyone else may be refused by either (nothing merged then); the
 *   write gate sees the peer, the frame's size and whether it writes owned spaces only;
 * - PUT_AT: ACK_AT of 1 of 1 without a DHT, the DHT's replication count with one (given
 *   the frame and the level);
 * - GET: on a DHT server, a client's read goes to the soul's owners first (the level, a
 *   deadline 1 s ahead to reach them, then a bounded read of those keys from the owner
 *   sessions, `needed` of them; a refusal is an event); a member's read does not; a peer
 *   without a DHT reads locally;
 * - SUBSCRIBE: EVENTs for the watched souls; on a DHT server the owners are told of the
 *   interest (and of its end); FEED: only a server with a change log, each entry cut by
 *   the DHT's route for the follower;
 * - forget(session) ends its subscriptions and feeds; stop() ends everyone's.
 *
 * Why: the network tests reach Serving only through whole networks, where most of these
 * wires never decide an outcome (mutation testing: scripts/mutation/README.md).
 */
import { describe, expect, it } from 'vitest';
import { RustDHTError } from '../../src/api/errors.js';
import { replicaForNetwork } from '../../src/api/replica-for-network.js';
import { CounterSet } from '../../src/network/counters.js';
import type { Dht } from '../../src/network/dht/dht.js';
import type { ReplicaForNetwork } from '../../src/network/replica-port.js';
import { Serving, type ServingOptions } from '../../src/network/serving/serving.js';
import type { IncomingRequest, SyncSession } from '../../src/network/sync-session.js';
import type { NetworkEvent, WriteRequest } from '../../src/network/types.js';
import type { WireMessage } from '../../src/network/wire/messages.js';
import { resolveWireLimits } from '../../src/network/wire/rate-limiter.js';
import { MemoryStore } from '../../src/node.js';
import { openReplica, put } from '../unit/replica-helpers.js';
import { waitFor } from './helpers/server-process.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const settle = async (rounds = 10): Promise<void> => {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setTimeout(resolve, 0));
};

/** A session as Serving sees one: what it was sent, and (as an owner) how it answers a GET. */
class ScriptedSession {
  readonly sent: WireMessage[] = [];
  readonly asked: { type: string; soul?: string; keys?: readonly string[] }[] = [];
  readonly timeouts: number[] = [];
  closed = false;
  readonly remoteMaxMessageBytes = 1 << 20;
  readonly peerQueuedBytes = 0;
  readonly speaksDht = true;
  readonly partialReads = false;
  constructor(
    readonly peerId: string,
    readonly answer: (message: { type: string; soul?: string }, signal: AbortSignal) => Promise<unknown> = async () => {
      throw new Error('not an owner');
    },
  ) {}

  fits(): boolean {
    return true;
  }

  async notify(message: WireMessage): Promise<void> {
    this.sent.push(message);
  }

  end(): void {
    this.closed = true;
  }

  request(message: { type: string; soul?: string; keys?: readonly string[] }, options: { signal: AbortSignal; timeoutMs: number }): Promise<unknown> {
    this.asked.push(message);
    this.timeouts.push(options.timeoutMs);
    return this.answer(message, options.signal);
  }

  of(type: string): WireMessage[] {
    return this.sent.filter((message) => message.type === type);
  }
}

const asSession = (session: ScriptedSession): SyncSession => session as unknown as SyncSession;
/** A reply that never comes, unless the request is aborted. */
const never = (_: unknown, signal: AbortSignal): Promise<unknown> => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

/** A write of `soul.key = value` as another peer sends it (its outbox frame). */
async function frameOf(writes: [soul: string, key: string, value: unknown][]): Promise<Uint8Array> {
  const writer = await openReplica(new MemoryStore());
  await writer.write(() => writes.flat(), undefined);
  for await (const entry of writer.outbox.pending()) return entry.frame;
  throw new Error('no outbox entry');
}

/** What `soul` holds on a replica that wrote `soul.key = value` (a NODE's frame). */
async function nodeFrameOf(soul: string, key: string, value: unknown): Promise<Uint8Array> {
  const writer = await openReplica(new MemoryStore());
  await put(writer, soul, key, value);
  return replicaForNetwork(writer).nodeFrame(soul);
}

/** A scripted DHT: what Serving asks of it is logged; the answers are the test's. */
function scriptedDht(options: { members?: string[]; owners?: ScriptedSession[]; hint?: { code: string; message: string }; forwards?: boolean } = {}) {
  const log: string[] = [];
  const deadlines: number[] = [];
  const routed: { frame: Uint8Array; follower: string }[] = [];
  const hintSouls: string[][] = [];
  let needed = 1;
  const dht = {
    ownerSubscriptions: { interest: (soul: string, watched: boolean) => log.push(`interest ${soul} ${watched}`) },
    route: (frame: Uint8Array, follower: string) => (routed.push({ frame, follower }), bytes(`routed for ${follower}`)),
    ownerSessions: (soul: string) => (log.push(`owner sessions ${soul}`), (options.owners ?? []).map(asSession)),
    hintRefusal: (souls: () => readonly string[]) => {
      hintSouls.push([...souls()]);
      return options.hint;
    },
    placement: { isMember: (peerId: string) => (options.members ?? []).includes(peerId) },
    readFromOwners: (soul: string, level: string | undefined, read: (needed: number) => Promise<void>) => {
      log.push(`read from owners ${soul} ${level}`);
      return read(needed);
    },
    reachOwners: async (soul: string, deadline: number) => {
      log.push(`reach owners ${soul}`);
      deadlines.push(deadline - Date.now());
    },
    replicate: async (frame: Uint8Array, level: string) => (log.push(`replicate ${frame.length} ${level}`), { reached: 2, owners: 3 }),
    // A frame this server would pass on to its owners (not stored here): the checked outcomes.
    checkForForwarding: (frame: Uint8Array) => (log.push(`check ${frame.length}`), options.forwards === true ? { outcomes: [{ outcome: 'applied' }], applied: 1, ignored: 0, historical: 0, deferred: 0, rejected: 0 } : undefined),
    forward: async (frame: Uint8Array, level: string) => (log.push(`forward ${frame.length} ${level}`), { reached: 3, owners: 3 }),
    membership: { answer: async (message: { id: number }) => ({ type: 'members', id: message.id, records: [bytes('a member')] }) },
    antiEntropy: { answer: async (_: SyncSession, message: { id: number }) => ({ type: 'digest-reply', id: message.id, answer: { kind: 'not-now', reason: 'scripted' } }) },
  };
  return { dht: dht as unknown as Dht, log, deadlines, routed, hintSouls, setNeeded: (n: number) => (needed = n) };
}

async function serving(
  options: Partial<Omit<ServingOptions, 'replica' | 'counters' | 'emit' | 'limits'>> & { changeLog?: boolean; owned?: (soul: string) => boolean; servers?: string[] } = {},
) {
  const local = await openReplica(new MemoryStore(), options.changeLog === true ? { changeLog: true } : {});
  const port = replicaForNetwork(local);
  const owned = options.owned;
  const replica: ReplicaForNetwork = owned === undefined ? port : Object.create(port, { spaceOwner: { value: (soul: string) => (owned(soul) ? 'owner-key' : undefined) } });
  const events: NetworkEvent[] = [];
  const counters = new CounterSet();
  const servers = options.servers ?? [];
  const s = new Serving({
    replica,
    counters,
    role: options.role ?? 'server',
    limits: resolveWireLimits({}),
    quota: options.quota,
    writeGate: options.writeGate,
    dht: options.dht,
    emit: (event) => events.push(event),
    isServer: (session) => servers.includes(session.peerId),
  });
  const request = (session: ScriptedSession, message: Record<string, unknown>) => s.request(asSession(session), message as unknown as IncomingRequest);
  return { serving: s, request, replica: port, events, counters };
}

const NO_DHT = undefined;

describe('serving', () => {
  it('MEMBERS_SYNC and DIGEST: nobody and "not a member" without a DHT, the DHT\'s own answers with one', async () => {
    const peer = new ScriptedSession('peer');
    const plain = await serving({ dht: NO_DHT });
    expect(await plain.request(peer, { type: 'members-sync', id: 4, known: [] })).toEqual({ type: 'members', id: 4, records: [] });
    expect(await plain.request(peer, { type: 'digest', id: 5, view: new Uint8Array(0), ask: { kind: 'souls' } })).toEqual({
      type: 'digest-reply',
      id: 5,
      answer: { kind: 'not-now', reason: 'not-member' },
    });
    const { dht } = scriptedDht();
    const withDht = await serving({ dht });
    expect(await withDht.request(peer, { type: 'members-sync', id: 6, known: [] })).toEqual({ type: 'members', id: 6, records: [bytes('a member')] });
    expect(await withDht.request(peer, { type: 'digest', id: 7, view: new Uint8Array(0), ask: { kind: 'souls' } })).toEqual({
      type: 'digest-reply',
      id: 7,
      answer: { kind: 'not-now', reason: 'scripted' },
    });
  });

  it('PUT: merged and ACKed; PUT_AT: ACK_AT of 1 of 1 without a DHT, the DHT\'s count (given the frame and level) with one', async () => {
    const peer = new ScriptedSession('peer');
    const frame = await frameOf([['public/a', 'x', 1]]);
    const plain = await serving({ dht: NO_DHT });
    expect(await plain.request(peer, { type: 'put', id: 1, frame })).toMatchObject({ type: 'ack', id: 1, outcomes: [{ outcome: 'applied' }] });
    expect(new TextDecoder().decode(await plain.replica.nodeFrame('public/a'))).toContain('x');
    expect(await plain.request(peer, { type: 'put-at', id: 2, level: 'quorum', frame })).toMatchObject({ type: 'ack-at', id: 2, reached: 1, owners: 1 });

    const { dht, log } = scriptedDht();
    const withDht = await serving({ dht });
    expect(await withDht.request(peer, { type: 'put-at', id: 3, level: 'all', frame })).toMatchObject({ type: 'ack-at', id: 3, reached: 2, owners: 3 });
    expect(log).toEqual([`check ${frame.length}`, `replicate ${frame.length} all`]);

    // Souls the DHT passes on (dht/forward.ts): checked, forwarded, not merged here.
    const other = await frameOf([['public/b', 'y', 2]]);
    const passing = scriptedDht({ forwards: true });
    const forwarding = await serving({ dht: passing.dht });
    expect(await forwarding.request(peer, { type: 'put-at', id: 4, level: 'quorum', frame: other })).toEqual({ type: 'ack-at', id: 4, reached: 3, owners: 3, outcomes: [{ outcome: 'applied' }] });
    expect(passing.log).toEqual([`check ${other.length}`, `forward ${other.length} quorum`]);
    expect((await forwarding.replica.nodeFrame('public/b')).length).toBeLessThan(16);
  });

  it('PUT from a peer: refused by the DHT\'s hint bound (the frame\'s souls, nothing merged) and by its quota; a server chosen here is exempt from both', async () => {
    const frame = await frameOf([['public/a', 'x', 1], ['public/b', 'y', 2]]);
    const hint = { code: 'dht/hints-full', message: 'too many hints held for other owners' };
    const { dht, hintSouls } = scriptedDht({ hint });
    const s = await serving({ dht, servers: ['chosen'], quota: { peerBytesPerSecond: 1, totalBytesPerSecond: 1 } });
    const stranger = new ScriptedSession('stranger');
    const refusal = await s.request(stranger, { type: 'put', id: 1, frame }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(RustDHTError);
    expect(refusal).toMatchObject({ code: 'dht/hints-full', message: 'too many hints held for other owners' });
    expect(hintSouls).toEqual([['public/a', 'public/b']]);
    expect((await s.replica.nodeFrame('public/a')).length).toBe(0);

    // The server this one chose: neither the hint bound nor the quota (1 byte per second) applies.
    // (A full bucket lets one write of any size through: the second would be over.)
    const chosen = new ScriptedSession('chosen');
    expect(await s.request(chosen, { type: 'put', id: 2, frame })).toMatchObject({ type: 'ack', id: 2 });
    expect(await s.request(chosen, { type: 'put', id: 3, frame })).toMatchObject({ type: 'ack', id: 3 });
    expect(hintSouls).toHaveLength(1);
    expect((await s.replica.nodeFrame('public/a')).length).not.toBe(0);

    // Without a hint refusal, the quota still refuses a stranger.
    const quota = await serving({ dht: scriptedDht().dht, quota: { peerBytesPerSecond: 1, totalBytesPerSecond: 1_000_000 } });
    expect(await quota.request(stranger, { type: 'put', id: 3, frame })).toMatchObject({ type: 'ack', id: 3 });
    await expect(quota.request(stranger, { type: 'put', id: 4, frame })).rejects.toMatchObject({ code: 'quota/peer' });
    const noDht = await serving({ dht: NO_DHT, quota: { peerBytesPerSecond: 1, totalBytesPerSecond: 1_000_000 } });
    expect(await noDht.request(stranger, { type: 'put', id: 5, frame })).toMatchObject({ type: 'ack', id: 5 });
    await expect(noDht.request(stranger, { type: 'put', id: 6, frame })).rejects.toMatchObject({ code: 'quota/peer' });
  });

  it('the write gate sees the peer, the frame\'s size and whether every soul written is in an owned space', async () => {
    const seen: { peerId: string; bytes: number; ownedOnly: boolean }[] = [];
    const writeGate = (write: WriteRequest) => {
      seen.push({ peerId: write.peerId, bytes: write.bytes, ownedOnly: write.ownedOnly() });
      return write.ownedOnly() ? undefined : { code: 'quota/public', message: 'the public space is full' };
    };
    const s = await serving({ dht: NO_DHT, writeGate, owned: (soul) => soul.startsWith('owned/') });
    const peer = new ScriptedSession('writer');
    const owned = await frameOf([['owned/a', 'x', 1], ['owned/b', 'y', 1]]);
    const mixed = await frameOf([['owned/a', 'x', 2], ['public/b', 'y', 2]]);
    const publicOnly = await frameOf([['public/c', 'z', 3]]);
    expect(await s.request(peer, { type: 'put', id: 1, frame: owned })).toMatchObject({ type: 'ack' });
    await expect(s.request(peer, { type: 'put', id: 2, frame: mixed })).rejects.toMatchObject({ code: 'quota/public', message: 'the public space is full' });
    await expect(s.request(peer, { type: 'put-at', id: 3, level: 'one', frame: publicOnly })).rejects.toMatchObject({ code: 'quota/public' });
    expect(seen).toEqual([
      { peerId: 'writer', bytes: owned.length, ownedOnly: true },
      { peerId: 'writer', bytes: mixed.length, ownedOnly: false },
      { peerId: 'writer', bytes: publicOnly.length, ownedOnly: false },
    ]);
    // The gate applies to the servers chosen here too (a full disk is full for everyone).
    const chosen = await serving({ dht: NO_DHT, writeGate, owned: () => false, servers: ['chosen'] });
    await expect(chosen.request(new ScriptedSession('chosen'), { type: 'put', id: 4, frame: publicOnly })).rejects.toMatchObject({ code: 'quota/public' });
  });

  it('GET on a DHT server: a client\'s read asks the owners first (the level, a deadline 1 s ahead, those keys, `needed` of them); a member\'s does not', async () => {
    const answer = await nodeFrameOf('public/a', 'x', 'from the owner');
    const owner = new ScriptedSession('owner-1', async () => ({ type: 'node', id: 1, frame: answer }));
    const silent = new ScriptedSession('owner-2', never);
    const { dht, log, deadlines } = scriptedDht({ members: ['member'], owners: [owner, silent] });
    const s = await serving({ dht });

    const started = Date.now();
    const reply = (await s.request(new ScriptedSession('client'), { type: 'get', id: 1, soul: 'public/a', keys: ['x'], level: 'quorum' })) as { type: string; frame: Uint8Array };
    // `needed` is 1: the silent owner is not waited for.
    expect(Date.now() - started).toBeLessThan(900);
    expect(reply.type).toBe('node');
    expect(new TextDecoder().decode(reply.frame)).toContain('from the owner');
    expect(log).toEqual(['read from owners public/a quorum', 'reach owners public/a', 'owner sessions public/a']);
    expect(deadlines[0]).toBeGreaterThan(900);
    expect(deadlines[0]).toBeLessThanOrEqual(1000);
    expect(owner.asked).toMatchObject([{ type: 'get', soul: 'public/a', keys: ['x'] }]);
    expect(owner.timeouts[0]).toBeGreaterThan(900);
    expect(owner.timeouts[0]).toBeLessThanOrEqual(1000);

    log.length = 0;
    expect(await s.request(new ScriptedSession('member'), { type: 'get', id: 2, soul: 'public/b', keys: [] })).toMatchObject({ type: 'node', id: 2 });
    expect(log).toEqual([]);
  });

  it('GET on a DHT server: owners that never answer hold a read at most about 1 s; a refusing owner is reported', async () => {
    const silent = new ScriptedSession('owner-1', never);
    const { dht } = scriptedDht({ owners: [silent] });
    const s = await serving({ dht });
    const started = Date.now();
    expect(await s.request(new ScriptedSession('client'), { type: 'get', id: 1, soul: 'public/a', keys: ['x'] })).toMatchObject({ type: 'node', id: 1 });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(2500);

    // A slow owner within the bound is waited for.
    const answer = await nodeFrameOf('public/s', 'x', 'slow but in time');
    const slow = new ScriptedSession('owner-2', () => new Promise((resolve) => setTimeout(() => resolve({ type: 'node', id: 1, frame: answer }), 100)));
    const slowDht = scriptedDht({ owners: [slow] });
    const t = await serving({ dht: slowDht.dht });
    const reply = (await t.request(new ScriptedSession('client'), { type: 'get', id: 2, soul: 'public/s', keys: ['x'] })) as { frame: Uint8Array };
    expect(new TextDecoder().decode(reply.frame)).toContain('slow but in time');

    const refusing = new ScriptedSession('owner-3', async () => {
      throw new RustDHTError('store/failed', 'the owner could not read');
    });
    const r = await serving({ dht: scriptedDht({ owners: [refusing] }).dht });
    const events = r.events;
    await r.request(new ScriptedSession('client'), { type: 'get', id: 3, soul: 'public/r', keys: ['x'] });
    expect(events).toContainEqual(expect.objectContaining({ type: 'reject', peerId: 'owner-3', code: 'store/failed' }));
  });

  it('GET without a DHT reads locally (nobody else is asked)', async () => {
    const s = await serving({ dht: NO_DHT, role: 'client' });
    const peer = new ScriptedSession('peer');
    await s.request(peer, { type: 'put', id: 1, frame: await frameOf([['public/a', 'x', 'here']]) });
    const reply = (await s.request(peer, { type: 'get', id: 2, soul: 'public/a', keys: [] })) as { type: string; frame: Uint8Array };
    expect(new TextDecoder().decode(reply.frame)).toContain('here');
    expect(s.events).toEqual([]);
  });

  it('SUBSCRIBE: EVENTs of the watched souls, the owners told of the interest and its end; forget(session) ends them', async () => {
    const { dht, log } = scriptedDht();
    const s = await serving({ dht });
    const subscriber = new ScriptedSession('subscriber');
    const writer = new ScriptedSession('writer');
    expect(await s.request(subscriber, { type: 'subscribe', id: 1, souls: ['public/a', 'public/b'] })).toBeUndefined();
    expect(subscriber.of('ok')).toEqual([{ type: 'ok', id: 1 }]);
    expect(log).toEqual(['interest public/a true', 'interest public/b true']);
    expect(s.serving.publisher.isWatched('public/a')).toBe(true);

    await s.request(writer, { type: 'put', id: 1, frame: await frameOf([['public/a', 'x', 1]]) });
    await waitFor('an EVENT', () => subscriber.of('event').length === 1, { timeoutMs: 2000, intervalMs: 2 });

    expect(await s.request(subscriber, { type: 'unsubscribe', id: 2, souls: ['public/b'] })).toEqual({ type: 'ok', id: 2 });
    expect(log).toContain('interest public/b false');

    s.serving.forget(asSession(subscriber));
    expect(log).toContain('interest public/a false');
    expect(s.serving.publisher.isWatched('public/a')).toBe(false);
    await s.request(writer, { type: 'put', id: 2, frame: await frameOf([['public/a', 'x', 2]]) });
    await settle();
    expect(subscriber.of('event')).toHaveLength(1);
  });

  it('SUBSCRIBE without a DHT: EVENTs, nobody told; stop() ends every subscription', async () => {
    const s = await serving({ dht: NO_DHT });
    const subscriber = new ScriptedSession('subscriber');
    const writer = new ScriptedSession('writer');
    await s.request(subscriber, { type: 'subscribe', id: 1, souls: ['public/a'] });
    expect(await s.request(subscriber, { type: 'unsubscribe', id: 2, souls: ['public/a'] })).toEqual({ type: 'ok', id: 2 });
    await s.request(subscriber, { type: 'subscribe', id: 3, souls: ['public/a'] });
    await s.request(writer, { type: 'put', id: 1, frame: await frameOf([['public/a', 'x', 1]]) });
    await waitFor('an EVENT', () => subscriber.of('event').length === 1, { timeoutMs: 2000, intervalMs: 2 });
    s.serving.stop();
    expect(s.serving.publisher.isWatched('public/a')).toBe(false);
    await s.request(writer, { type: 'put', id: 2, frame: await frameOf([['public/a', 'x', 2]]) });
    await settle();
    expect(subscriber.of('event')).toHaveLength(1);
  });

  it('FEED: refused by a client and by a server without a change log; a server feeds its log, each entry cut by the DHT\'s route for the follower', async () => {
    const follower = new ScriptedSession('follower');
    const client = await serving({ dht: NO_DHT, role: 'client', changeLog: true });
    await expect(client.request(follower, { type: 'feed', id: 1, since: 0 })).rejects.toMatchObject({ code: 'feed/unavailable' });
    const noLog = await serving({ dht: NO_DHT, role: 'server' });
    await expect(noLog.request(follower, { type: 'feed', id: 1, since: 0 })).rejects.toMatchObject({ code: 'feed/unavailable' });

    const writer = new ScriptedSession('writer');
    const plain = await serving({ dht: NO_DHT, role: 'server', changeLog: true });
    const frame = await frameOf([['public/a', 'x', 1]]);
    await plain.request(writer, { type: 'put', id: 1, frame });
    expect(await plain.request(follower, { type: 'feed', id: 2, since: 0 })).toBeUndefined();
    await waitFor('a FEED_ENTRY', () => follower.of('feed-entry').length === 1, { timeoutMs: 2000, intervalMs: 2 });
    expect(follower.of('feed-entry')[0]).toMatchObject({ id: 2, seq: 1 });
    expect(new TextDecoder().decode((follower.of('feed-entry')[0] as { frame: Uint8Array }).frame)).toContain('public/a');

    const { dht, routed } = scriptedDht();
    const withDht = await serving({ dht, role: 'server', changeLog: true });
    const other = new ScriptedSession('member-follower');
    await withDht.request(writer, { type: 'put', id: 1, frame });
    await withDht.request(other, { type: 'feed', id: 3, since: 0 });
    await waitFor('a FEED_ENTRY', () => other.of('feed-entry').length === 1, { timeoutMs: 2000, intervalMs: 2 });
    expect(other.of('feed-entry')[0]).toMatchObject({ id: 3, seq: 1, frame: bytes('routed for member-follower') });
    expect(routed.map((r) => r.follower)).toEqual(['member-follower']);
  });

  it('FEED: forget(session) stops feeding that follower only; stop() stops every feed', async () => {
    const writer = new ScriptedSession('writer');
    const s = await serving({ dht: NO_DHT, role: 'server', changeLog: true });
    const gone = new ScriptedSession('gone');
    const stays = new ScriptedSession('stays');
    await s.request(gone, { type: 'feed', id: 1, since: 0 });
    await s.request(stays, { type: 'feed', id: 1, since: 0 });
    await settle();
    await s.request(writer, { type: 'put', id: 1, frame: await frameOf([['public/a', 'x', 1]]) });
    await waitFor('FEED_ENTRYs', () => gone.of('feed-entry').length === 1 && stays.of('feed-entry').length === 1, { timeoutMs: 2000, intervalMs: 2 });

    s.serving.forget(asSession(gone));
    await s.request(writer, { type: 'put', id: 2, frame: await frameOf([['public/a', 'x', 2]]) });
    await waitFor('the second FEED_ENTRY', () => stays.of('feed-entry').length === 2, { timeoutMs: 2000, intervalMs: 2 });
    expect(gone.of('feed-entry')).toHaveLength(1);

    s.serving.stop();
    await s.request(writer, { type: 'put', id: 3, frame: await frameOf([['public/a', 'x', 3]]) });
    await settle(20);
    expect(stays.of('feed-entry')).toHaveLength(2);
  });
});
