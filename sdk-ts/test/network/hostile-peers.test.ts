/**
 * What a hostile peer cannot make a server do (issue 11, point 5; and the wire part of
 * point 2). The server is a real database with its real network (`RustDHT.open`, a
 * MemoryStore, the server role); each hostile peer is a RawPeer on an in-memory channel
 * pair attached to it (`network.attach`), writing messages by hand:
 *
 * - it cannot mint reason codes: ERRORs with thousands of distinct codes (and a 1 MiB
 *   one) leave a bounded `counters().rejects`, a small /metrics, and events whose codes
 *   come from the fixed set and whose text is cut short;
 * - it cannot make itself a server by saying so: the server never sends it FEED or its
 *   outbox, refuses its FEED_ENTRYs (unsolicited), and holds a flood of them to the rate
 *   limit like PUTs (reads it no faster, refuses nothing); even a server it follows cannot
 *   push entries past the rate limit;
 * - it cannot make the server hold more for it by opening more sessions: at most 4
 *   sessions per peer, one 32 MiB bound on what they all leave unread, and one rate
 *   limit that a new session (or a reconnect) does not refill;
 * - it cannot make the server load or remember a soul or key larger than the engine
 *   takes: GET/SUBSCRIBE/UNSUBSCRIBE of a 3 MiB soul are refused with limit/soul.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeUpdates } from '../../src/engine/load-node.js';
import { KNOWN_CODES, MAX_REPORTED_TEXT_CHARS } from '../../src/network/known-codes.js';
import type { Network } from '../../src/network/peer-network.js';
import { MAX_SESSIONS_PER_PEER } from '../../src/network/peers/peer-table.js';
import { MAX_QUEUED_BYTES_PER_PEER } from '../../src/network/peers/send-queue.js';
import { createChannelPair } from '../../src/network/transport/memory-channel.js';
import type { Channel } from '../../src/network/transport/channel.js';
import type { NetworkEvent } from '../../src/network/types.js';
import { lengthPrefixed } from '../../src/network/wire/framing.js';
import { encodeMessage, type WireMessage } from '../../src/network/wire/messages.js';
import { MemoryStore, RustDHT } from '../../src/node.js';
import { createMetricsRegistry } from '../../src/server/metrics.js';
import { RawPeer, type ErrorMessage } from './helpers/raw-peer.js';
import { waitFor } from './helpers/server-process.js';

const MESSAGES_PER_SECOND = 300;

type Server = RustDHT & { network: Network };

let dir: string;
let server: Server;
const peers: RawPeer[] = [];
const events: NetworkEvent[] = [];
let attached = 0;

function frameOf(soul: string, key: string, value: unknown, state = Date.now()): Uint8Array {
  return encodeUpdates([soul, key, value], Float64Array.of(state));
}

/** A channel to the server, attached as a peer that dialled in (or, `dialled`, one the server chose). */
function channelTo(options: { peerId?: string; dialled?: boolean } = {}): Channel {
  const [ours, theirs] = createChannelPair();
  server.network.attach(theirs, { peerId: options.peerId ?? `hostile-${++attached}`, transport: 'other', address: '/memory/hostile', dialled: options.dialled });
  return ours;
}

async function rawPeer(options: { role?: 'client' | 'server'; peerId?: string; dialled?: boolean } = {}): Promise<RawPeer> {
  const peer = new RawPeer(channelTo(options));
  peers.push(peer);
  await peer.hello({ role: options.role ?? 'client' });
  return peer;
}

const rejects = (code: string): number => server.network.counters().rejects[code] ?? 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rustdht-hostile-'));
  server = (await RustDHT.open({
    store: new MemoryStore(),
    network: { role: 'server', dataDir: dir, listen: [], limits: { messagesPerSecond: MESSAGES_PER_SECOND } },
  })) as Server;
  server.network.on((event) => events.push(event));
});

afterEach(() => {
  for (const peer of peers.splice(0)) peer.stop();
});

afterAll(async () => {
  await server?.close({ timeoutMs: 0 }).catch(() => {}); // its own writes had no server to go to
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('reason codes come from a fixed set', () => {
  it('the set holds every code of the engine (core-rs/src/error.rs) and of the wire', async () => {
    const engine = await readFile(new URL('../../../core-rs/src/error.rs', import.meta.url), 'utf8');
    const wire = await readFile(new URL('../../src/network/wire/wire-error.ts', import.meta.url), 'utf8');
    const codes = [...engine.matchAll(/"([a-z]+\/[a-z-]+)"/g), ...wire.matchAll(/'(wire\/[a-z-]+)'/g)].map((match) => match[1]!);
    expect(codes.length).toBeGreaterThan(20);
    expect(codes.filter((code) => !KNOWN_CODES.includes(code))).toEqual([]);
  });

  it('2,000 distinct ERROR codes and a 1 MiB one: rejects keeps a bounded set of keys, /metrics stays small, events and text are bounded', async () => {
    const before = rejects('other');
    const eventsBefore = events.length;
    const count = 2000;
    // Each connection-level ERROR ends its session (the sender closes after it), so each comes on a session of its own.
    await Promise.all(
      Array.from({ length: count + 1 }, async (_, i) => {
        const peer = new RawPeer(channelTo());
        peers.push(peer);
        await peer.hello();
        const code = i === count ? 'x'.repeat(1024 * 1024) : `made-up/${i}-${Math.random().toString(36).slice(2)}`;
        await peer.send({ type: 'error', id: 0, code, message: `peer text ${'y'.repeat(5000)}` });
      }),
    );
    await waitFor('every ERROR to be counted', () => rejects('other') - before >= count + 1, { timeoutMs: 20_000 });

    const counted = server.network.counters().rejects;
    for (const code of Object.keys(counted)) expect(KNOWN_CODES.includes(code) || code === 'other', code).toBe(true);
    expect(Object.keys(counted).length).toBeLessThanOrEqual(KNOWN_CODES.length + 1);

    const registry = createMetricsRegistry(
      { status: () => server.network.status(), counters: () => server.network.counters(), storeBytes: () => 0, uptimeSeconds: () => 1 },
      { defaultMetrics: false },
    );
    const text = await registry.metrics();
    expect(text.length).toBeLessThan(16 * 1024);
    const other = /^rustdht_rejects_total\{reason="other"\} (\d+)$/m.exec(text);
    expect(Number(other?.[1])).toBeGreaterThanOrEqual(count + 1);

    const refusals = events.slice(eventsBefore).filter((event): event is Extract<NetworkEvent, { type: 'reject' }> => event.type === 'reject');
    expect(refusals.length).toBeGreaterThanOrEqual(count + 1);
    for (const event of refusals) {
      expect(KNOWN_CODES.includes(event.code) || event.code === 'other').toBe(true);
      expect(event.message.length).toBeLessThanOrEqual(MAX_REPORTED_TEXT_CHARS + 40);
    }
  }, 60_000);

  it('a flood of connection-level ERRORs counts once: the session ends after the first', async () => {
    const peer = await rawPeer();
    const before = rejects('other');
    const bytes = Buffer.concat(Array.from({ length: 500 }, (_, i) => lengthPrefixed(encodeMessage({ type: 'error', id: 0, code: `flood/${i}`, message: '' }))));
    await peer.sendBytes(bytes);
    await peer.ended();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(rejects('other') - before).toBe(1);
  });
});

describe("a peer's role is the server's decision, not its HELLO's", () => {
  it('a peer that dialled in and says "server" gets no FEED and no outbox', async () => {
    const peer = await rawPeer({ role: 'server' });
    // Something in the server's own outbox, which it would PUT to a server of its own.
    await server.get(`role-${attached}`).put({ written: 'on the server' });
    // A round trip: the server has taken the HELLO and its duties by the time it answers.
    expect(await peer.request({ type: 'get', soul: 'anything', keys: [] })).toMatchObject({ type: 'node' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(peer.messages.filter((m) => m.type === 'feed' || m.type === 'put')).toEqual([]);
    expect(server.network.status().peers.find((p) => p.role === 'server')).toBeDefined(); // it is reported as what it claims
  });

  it('its FEED_ENTRYs are refused as feed/unsolicited and not applied', async () => {
    const peer = await rawPeer({ role: 'server' });
    const soul = `unsolicited-feed-${attached}`;
    const before = rejects('feed/unsolicited');
    for (let id = 1; id <= 3; id++) await peer.send({ type: 'feed-entry', id, seq: id, frame: frameOf(soul, 'pushed', id) });
    await waitFor('the entries to be refused', () => rejects('feed/unsolicited') - before === 3);
    expect(await server.get(soul).once({ local: true })).toBeUndefined();
    expect(peer.closed).toBe(false);
  });

  it('a flood of FEED_ENTRYs is held to the rate limit like PUTs: read no faster than it, nothing refused for it', async () => {
    const total = 3000;
    const flood = async (make: (i: number) => WireMessage): Promise<{ served: number; seconds: number }> => {
      const peer = await rawPeer({ role: 'server' });
      const served = (): number => rejects('feed/unsolicited') + server.network.counters().updates.applied;
      const servedBefore = served();
      const started = performance.now();
      await peer.sendBytes(Buffer.concat(Array.from({ length: total }, (_, i) => lengthPrefixed(encodeMessage(make(i))))));
      // Far more than the limit takes in this time (a burst of 600, then 300 a second).
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const outcome = { served: served() - servedBefore, seconds: (performance.now() - started) / 1000 };
      expect(peer.closed).toBe(false);
      peer.stop();
      return outcome;
    };
    const limitedBefore = rejects('wire/rate-limited');
    const heldBefore = server.network.counters().heldBack;
    const soul = `flood-${attached}`;
    const entries = await flood((i) => ({ type: 'feed-entry', id: 1, seq: i + 1, frame: frameOf(soul, `k${i}`, i) }));
    const puts = await flood((i) => ({ type: 'put', id: i + 1, frame: frameOf(soul, `p${i}`, i) }));
    for (const outcome of [entries, puts]) {
      // A burst of twice the rate, then the rate: the rest waits, unread.
      expect(outcome.served).toBeGreaterThan(0);
      expect(outcome.served).toBeLessThanOrEqual(2 * MESSAGES_PER_SECOND + MESSAGES_PER_SECOND * outcome.seconds + 50);
    }
    expect(rejects('wire/rate-limited')).toBe(limitedBefore);
    expect(server.network.counters().heldBack).toBeGreaterThan(heldBefore);
    expect(await server.get(soul).get('k0').once({ local: true })).toBeUndefined();
  });

  it('a flood paced above the limit is read at the limit: nothing refused, and an honest peer is served meanwhile', async () => {
    // 10 rounds a second of 3 × the per-round rate, for 3 s: what the limiter refills is
    // read, the rest waits in the transport (when such floods were refused instead, the
    // server read, decoded and answered every message of them).
    const peer = await rawPeer();
    const perRound = Math.round((3 * MESSAGES_PER_SECOND) / 10);
    const limitedBefore = rejects('wire/rate-limited');
    let sent = 0;
    const started = performance.now();
    while (performance.now() - started < 3000) {
      void peer.sendBytes(Buffer.concat(Array.from({ length: perRound }, () => lengthPrefixed(encodeMessage({ type: 'get', id: ++sent, soul: 'paced', keys: [] }))))).catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    const answered = peer.messages.filter((m) => m.type === 'node').length;
    expect(answered).toBeGreaterThan(0);
    expect(answered).toBeLessThanOrEqual(2 * MESSAGES_PER_SECOND + MESSAGES_PER_SECOND * seconds + 50);
    expect(answered).toBeLessThan(sent);
    expect(peer.messages.filter((m) => m.type === 'error')).toEqual([]);
    expect(rejects('wire/rate-limited')).toBe(limitedBefore);
    expect(peer.closed).toBe(false);
    // An honest peer is served while the flooder waits.
    const honest = await rawPeer();
    expect(await honest.request({ type: 'get', soul: 'paced', keys: [] })).toMatchObject({ type: 'node' });
  }, 40_000);

  it('a server it chose to follow cannot push entries past the rate limit either: the session ends, nothing queues without bound', async () => {
    const peer = await rawPeer({ role: 'server', dialled: true });
    const feed = await peer.next((m) => m.type === 'feed', 'the FEED of a server the server chose');
    await peer.send({ type: 'ok', id: feed.id });
    const soul = `followed-flood-${attached}`;
    const total = 20_000;
    const appliedBefore = server.network.counters().updates.applied;
    const started = performance.now();
    await peer.sendBytes(Buffer.concat(Array.from({ length: total }, (_, i) => lengthPrefixed(encodeMessage({ type: 'feed-entry', id: feed.id, seq: i + 1, frame: frameOf(soul, `k${i}`, i) })))));
    expect((await peer.ended())?.code).toBe('wire/rate-limited');
    const seconds = (performance.now() - started) / 1000;
    await server.flush();
    const applied = server.network.counters().updates.applied - appliedBefore;
    // Entries answer our own FEED, like EVENTs: ten times the message rate, a burst of twice
    // that. The session takes a burst a few dozen messages a macrotask, so the bucket
    // refills while it reads: the bound is the burst plus the rate over that time.
    expect(applied).toBeGreaterThan(0);
    expect(applied).toBeLessThanOrEqual(20 * MESSAGES_PER_SECOND + 10 * MESSAGES_PER_SECOND * seconds + 500);
    expect(applied).toBeLessThan(total);
  }, 30_000);
});

describe('what one peer can make the server hold', () => {
  it(`at most ${MAX_SESSIONS_PER_PEER} sessions per peer: the next ones end with wire/too-many-sessions`, async () => {
    const peerId = `many-sessions-${++attached}`;
    const sessions = await Promise.all(Array.from({ length: 10 }, () => rawPeer({ peerId }).catch(() => undefined)));
    const all = peers.slice(-10);
    await waitFor('the extra sessions to end', () => all.filter((p) => p.closed).length === 10 - MAX_SESSIONS_PER_PEER);
    const ended = await Promise.all(all.filter((p) => p.closed).map((p) => p.ended()));
    for (const error of ended) expect(error?.code).toBe('wire/too-many-sessions');
    expect(sessions.length).toBe(10);
    expect(server.network.status().peers.filter((p) => p.peerId === peerId)).toHaveLength(1);
  });

  it('one rate limit per peer, across its sessions and after they end: a new stream is no fresh burst', async () => {
    const gets = (from: number, count: number): Buffer => Buffer.concat(Array.from({ length: count }, (_, i) => lengthPrefixed(encodeMessage({ type: 'get', id: from + i, soul: 'burst', keys: [] }))));
    const answeredWithin = async (peer: RawPeer, from: number, count: number, ms: number): Promise<number> => {
      await peer.sendBytes(gets(from, count));
      await new Promise((resolve) => setTimeout(resolve, ms));
      return peer.messages.filter((m) => m.type === 'node' && m.id >= from).length;
    };
    const burst = 2 * MESSAGES_PER_SECOND;
    const peerId = `reconnecting-${++attached}`;
    // The first session spends the burst…
    const first = await rawPeer({ peerId });
    expect(await answeredWithin(first, 1, burst, 500)).toBeGreaterThanOrEqual(burst);
    first.stop();
    await waitFor('the first session to end', () => first.closed);
    // …and a second one, the same peer on a new stream, finds it spent: the rate only.
    const second = await rawPeer({ peerId });
    const again = await answeredWithin(second, 10_000, burst, 500);
    expect(again).toBeLessThanOrEqual(MESSAGES_PER_SECOND * 1.5 + 50);
    // Another peer id has a burst of its own.
    const other = await rawPeer();
    expect(await answeredWithin(other, 20_000, burst, 500)).toBeGreaterThanOrEqual(burst);
  });

  it(`replies a peer does not read: at most ${MAX_QUEUED_BYTES_PER_PEER / 2 ** 20} MiB across all its sessions, then wire/slow-consumer`, async () => {
    const soul = `big-${++attached}`;
    // A node of about 900 KB: each GET of it is a reply of that size.
    await server.get(soul).put({ blob: 'z'.repeat(900_000) });
    await server.flush();
    const peerId = `stalled-${attached}`;
    const before = server.network.counters().bytesOut;
    const slowBefore = rejects('wire/slow-consumer');
    // Four sessions of one peer that send GETs and never read (no onBytes listener: the
    // channel keeps what arrives, and the server's sends wait).
    const channels = Array.from({ length: MAX_SESSIONS_PER_PEER }, () => channelTo({ peerId }));
    for (const channel of channels) {
      await channel.send(lengthPrefixed(encodeMessage({ type: 'hello', id: 0, role: 'client', maxMessageBytes: 4 * 1024 * 1024 })));
      const gets = Array.from({ length: 40 }, (_, i) => lengthPrefixed(encodeMessage({ type: 'get', id: i + 1, soul, keys: [] })));
      await channel.send(Buffer.concat(gets));
    }
    await waitFor('the stalled sessions to be ended', () => rejects('wire/slow-consumer') > slowBefore, { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sent = server.network.counters().bytesOut - before;
    // Without the bound: 4 × 40 × 900 KB = 144 MB queued for one peer that reads nothing.
    expect(sent).toBeLessThanOrEqual(MAX_QUEUED_BYTES_PER_PEER + 4 * 1024 * 1024);
    for (const channel of channels) channel.abort(new Error('test done'));
  }, 30_000);
});

describe('soul and key limits are checked at the wire', () => {
  const huge = 'h'.repeat(3 * 1024 * 1024);

  it('GET, SUBSCRIBE and UNSUBSCRIBE of a 3 MiB soul: ERROR limit/soul, nothing loaded or remembered, the session goes on', async () => {
    const peer = await rawPeer();
    const resident = (await server.storage.usage()).residentNodes;
    const before = rejects('limit/soul');
    for (const request of [
      { type: 'get', soul: huge, keys: [] },
      { type: 'subscribe', souls: ['fine', huge] },
      { type: 'unsubscribe', souls: [huge] },
    ] as const) {
      expect(await peer.request(request)).toMatchObject({ type: 'error', code: 'limit/soul' });
    }
    expect(rejects('limit/soul') - before).toBe(3);
    expect((await server.storage.usage()).residentNodes).toBe(resident);
    // Not subscribed to 'fine' either: the request was refused as a whole.
    await server.get('fine').put({ v: 1 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(peer.messages.filter((m) => m.type === 'event')).toEqual([]);
    expect(await peer.request({ type: 'get', soul: 'fine', keys: [] })).toMatchObject({ type: 'node' });
  });

  it('a key over the engine limit: limit/key; more than 1,000 keys in one GET: limit/keys', async () => {
    const peer = await rawPeer();
    expect(await peer.request({ type: 'get', soul: 'doc', keys: ['k'.repeat(2048)] })).toMatchObject({ type: 'error', code: 'limit/key' });
    expect(await peer.request({ type: 'get', soul: 'doc', keys: Array.from({ length: 1001 }, (_, i) => `k${i}`) })).toMatchObject({ type: 'error', code: 'limit/keys' });
    expect(await peer.request({ type: 'get', soul: 'doc', keys: ['k'.repeat(1024)] })).toMatchObject({ type: 'node' });
  });
});
