/**
 * The sync conformance suite: what any transport must let the sync protocol
 * (`/rustdht/sync/1.0.0`) do, checked end to end against real databases. Like the
 * storage suite (test/storage/conformance.ts), it is a function run once per transport
 * (sync-conformance.test.ts: libp2p streams over loopback TCP, and the in-memory pair).
 *
 * The peers under test are RustDHT databases opened through the public API (a server
 * with a change log, and a client); the tests talk to them as a RawPeer that writes
 * messages or raw bytes by hand over a channel of the transport, and assert exactly what
 * comes back: HELLO, GET/NODE, GET_PART/NODE_PART (whole nodes in parts; 1.0 peers get
 * none), PUT/ACK per outcome, SUBSCRIBE/EVENT filtering,
 * UNSUBSCRIBE, FEED catch-up and live entries, the order of ACK/EVENT/FEED_ENTRY/NODE and
 * the store commit (and of an UNSUBSCRIBE's OK after the EVENTs before it), limits (message size, rate, subscriptions,
 * flow control of a peer whose requests wait), bad input (garbage, a first
 * message that is not HELLO, unknown version or type, a second HELLO, a garbage frame,
 * unsolicited EVENTs), and two SDK databases syncing through the server.
 *
 * One file of more than 400 lines on purpose: it is the protocol's checklist, read as one.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeUpdates } from '../../src/engine/load-node.js';
import type { Network } from '../../src/network/peer-network.js';
import type { Channel } from '../../src/network/transport/channel.js';
import { lengthPrefixed } from '../../src/network/wire/framing.js';
import { encodeMessage, SYNC_PROTOCOL_1_0, type WireMessage } from '../../src/network/wire/messages.js';
import { encodeVarint } from '../../src/network/wire/varint.js';
import { Identity, MemoryStore, RustDHT, type StorageOperation } from '../../src/node.js';
import { RawPeer, isEvent, type AckMessage, type ErrorMessage, type FeedEntryMessage, type NodeMessage, type NodePartMessage } from './helpers/raw-peer.js';
import { waitFor } from './helpers/server-process.js';

export interface SyncTransport {
  readonly name: string;
  /** Where a peer under test listens, if the transport needs it to (e.g. loopback TCP). */
  readonly listen: readonly string[];
  /**
   * Opens a channel to `peer` over this transport (what the peer accepts as a dialled-in
   * session); `protocol`: the sync protocol version it speaks (default: the newest).
   */
  connect(peer: Network, protocol?: string): Promise<Channel>;
  /** Joins two databases' networks over this transport; resolves once both sessions are ready. */
  join(client: Network, server: Network): Promise<void>;
  /** Releases what connect() and join() created. */
  cleanup(): Promise<void>;
}

/** A MemoryStore whose commits can be held open: what a slow disk looks like to the database. */
export class GatedStore extends MemoryStore {
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  /** Batches that reached the store and wait for the gate. */
  waiting = 0;

  hold(): void {
    this.#gate ??= new Promise((resolve) => (this.#open = resolve));
  }

  release(): void {
    this.#open?.();
    this.#gate = undefined;
  }

  override async batch(operations: readonly StorageOperation[]): Promise<void> {
    const gate = this.#gate;
    if (gate !== undefined) {
      this.waiting++;
      await gate;
      this.waiting--;
    }
    return super.batch(operations);
  }
}

const MAX_MESSAGE_BYTES = 256 * 1024;
const MESSAGES_PER_SECOND = 300;

type Update = readonly [soul: string, key: string, value: unknown, state: number];

/** One frame of `updates` (unsigned), as a peer would send it. */
function frameOf(updates: readonly Update[]): Uint8Array {
  return encodeUpdates(updates.flatMap(([soul, key, value]) => [soul, key, value]), Float64Array.from(updates.map((update) => update[3])));
}

/** What `frame` holds of `soul`, read back through a fresh offline database. */
async function contentOf(frame: Uint8Array, soul: string): Promise<unknown> {
  const db = await RustDHT.open({ store: 'memory' });
  try {
    await db.receive(frame);
    return await db.get(soul).once({ local: true });
  } finally {
    await db.close();
  }
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function syncConformance(transport: SyncTransport): void {
  describe(`sync protocol over ${transport.name}`, () => {
    const run = randomUUID().slice(0, 8);
    const soul = (name: string): string => `conformance-${run}/${name}`;
    const opened: RustDHT[] = [];
    const peers: RawPeer[] = [];
    let dir: string;
    let store: GatedStore;
    let server: RustDHT & { network: Network };
    let client: RustDHT & { network: Network };

    async function connect(to: Network = server.network, protocol?: string): Promise<RawPeer> {
      const peer = new RawPeer(await transport.connect(to, protocol));
      peers.push(peer);
      return peer;
    }

    async function ready(options: { role?: 'client' | 'server'; maxMessageBytes?: number; to?: Network } = {}): Promise<RawPeer> {
      const peer = await connect(options.to);
      await peer.hello(options);
      return peer;
    }

    async function put(peer: RawPeer, updates: readonly Update[]): Promise<AckMessage> {
      const reply = await peer.request({ type: 'put', frame: frameOf(updates) });
      expect(reply.type).toBe('ack');
      return reply as AckMessage;
    }

    async function rejectsGrow(network: Network, code: string, run: () => Promise<void>): Promise<void> {
      const before = network.counters().rejects[code] ?? 0;
      await run();
      await waitFor(`rejects["${code}"] to grow`, () => (network.counters().rejects[code] ?? 0) > before, { timeoutMs: 5000, intervalMs: 10 });
    }

    /** A protocol violation: the peer answers with a connection-level ERROR `code` and closes. */
    async function endsWith(code: string, send: (peer: RawPeer) => Promise<void>, options: { hello?: boolean } = {}): Promise<RawPeer> {
      const peer = options.hello === false ? await connect() : await ready();
      await rejectsGrow(server.network, code, async () => {
        await send(peer);
        expect((await peer.ended())?.code).toBe(code);
      });
      return peer;
    }

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'rustdht-conformance-'));
      store = new GatedStore();
      const limits = { maxMessageBytes: MAX_MESSAGE_BYTES, messagesPerSecond: MESSAGES_PER_SECOND };
      // The raw peers each open a connection of their own, many a second from loopback:
      // past libp2p's 5 new connections per second per host unless loopback is exempt.
      server = await RustDHT.open({ store, network: { role: 'server', dataDir: dir, listen: transport.listen, limits, exemptLoopback: true } });
      client = await RustDHT.open({ store: 'memory', network: { role: 'client', listen: transport.listen, limits, exemptLoopback: true } });
      opened.push(server, client);
    });

    afterAll(async () => {
      store?.release();
      for (const peer of peers) peer.stop();
      await transport.cleanup();
      await Promise.allSettled(opened.map((db) => db.close()));
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    describe('HELLO', () => {
      it('each side sends HELLO first, unasked: role and maxMessageBytes', async () => {
        const peer = await connect();
        const hello = await peer.next((m) => m.type === 'hello', "the server's hello");
        expect(hello).toEqual({ type: 'hello', id: 0, role: 'server', maxMessageBytes: MAX_MESSAGE_BYTES });
        const clientHello = await (await connect(client.network)).next((m) => m.type === 'hello', "the client's hello");
        expect(clientHello).toMatchObject({ role: 'client' });
        await peer.send({ type: 'hello', id: 0, role: 'client', maxMessageBytes: 4096 });
        expect(await peer.request({ type: 'get', soul: soul('nothing'), keys: [] })).toMatchObject({ type: 'node' });
      });
    });

    describe('GET / NODE', () => {
      it('a soul the peer does not hold: an empty NODE', async () => {
        const peer = await ready();
        const reply = (await peer.request({ type: 'get', soul: soul('unknown'), keys: [] })) as NodeMessage;
        expect(reply.type).toBe('node');
        expect(reply.frame.length).toBe(0);
      });

      it('what the peer holds: the whole node, or the keys asked for', async () => {
        const peer = await ready();
        const now = Date.now();
        await put(peer, [[soul('doc'), 'a', 1, now], [soul('doc'), 'b', 'two', now]]);
        const whole = (await peer.request({ type: 'get', soul: soul('doc'), keys: [] })) as NodeMessage;
        expect(await contentOf(whole.frame, soul('doc'))).toEqual({ a: 1, b: 'two' });
        const some = (await peer.request({ type: 'get', soul: soul('doc'), keys: ['b', 'missing'] })) as NodeMessage;
        expect(await contentOf(some.frame, soul('doc'))).toEqual({ b: 'two' });
      });
    });

    describe('GET_PART / NODE_PART: a whole node in parts (1.1)', () => {
      const PEER_LIMIT = 64 * 1024;
      let parts: string;
      const smallKeys = Array.from({ length: 3000 }, (_, i) => `k${String(i).padStart(5, '0')}`);

      beforeAll(async () => {
        parts = soul('parts');
        for (let i = 0; i < smallKeys.length; i += 1000) {
          await server.get(parts).put(Object.fromEntries(smallKeys.slice(i, i + 1000).map((key) => [key, `value of ${key}`])));
        }
        // 40 kB each: one a part for a peer taking 64 KiB; 100 kB: more than it takes at all.
        await server.get(parts).put({ big1: 'b'.repeat(40_000), big2: 'c'.repeat(40_000), huge: 'h'.repeat(100_000) });
      });

      /** Every part from "" on: the messages, and what they hold. */
      async function readParts(peer: RawPeer): Promise<{ replies: NodePartMessage[]; node: Record<string, unknown> }> {
        const replies: NodePartMessage[] = [];
        const node: Record<string, unknown> = {};
        let after = '';
        do {
          const reply = await peer.request({ type: 'get-part', soul: parts, after });
          expect(reply.type).toBe('node-part');
          const part = reply as NodePartMessage;
          replies.push(part);
          if (part.frame.length !== 0) Object.assign(node, await contentOf(part.frame, parts));
          after = part.next;
          expect(replies.length).toBeLessThan(100);
        } while (after !== '');
        return { replies, node };
      }

      it("each part within the reader's message limit and 1,000 updates; all of the node but what no message can carry, which is named", async () => {
        const peer = await ready({ maxMessageBytes: PEER_LIMIT });
        let result!: Awaited<ReturnType<typeof readParts>>;
        await rejectsGrow(server.network, 'wire/too-large', async () => {
          result = await readParts(peer);
        });
        const { replies, node } = result;
        for (const part of replies) {
          expect(encodeMessage(part).length).toBeLessThanOrEqual(PEER_LIMIT);
          expect(Object.keys(part.frame.length === 0 ? {} : ((await contentOf(part.frame, parts)) as object)).length).toBeLessThanOrEqual(1000);
        }
        expect(replies.length).toBeGreaterThanOrEqual(5);
        expect(replies.flatMap((part) => part.skipped)).toEqual(['huge']);
        expect(Object.keys(node).sort()).toEqual(['big1', 'big2', ...smallKeys].sort());
        expect(node['big2']).toBe('c'.repeat(40_000));
        // A part's cursor can start anywhere: after the last key, nothing and no next part.
        expect(await peer.request({ type: 'get-part', soul: parts, after: 'zzz' })).toMatchObject({ type: 'node-part', next: '', skipped: [] });
        const unknown = (await peer.request({ type: 'get-part', soul: soul('unknown'), after: '' })) as NodePartMessage;
        expect([unknown.type, unknown.next, unknown.frame.length]).toEqual(['node-part', '', 0]);
      });

      it('the same node in one NODE is still refused as too large; a GET of its keys is answered', async () => {
        const peer = await ready({ maxMessageBytes: PEER_LIMIT });
        expect(await peer.request({ type: 'get', soul: parts, keys: [] })).toMatchObject({ type: 'error', code: 'wire/too-large' });
        const some = (await peer.request({ type: 'get', soul: parts, keys: ['big1', 'k00001'] })) as NodeMessage;
        expect(await contentOf(some.frame, parts)).toEqual({ big1: 'b'.repeat(40_000), k00001: 'value of k00001' });
      });

      it("SUBSCRIBE: the current state in EVENTs within the reader's limits", async () => {
        const peer = await ready({ maxMessageBytes: PEER_LIMIT });
        const id = peer.id();
        await peer.send({ type: 'subscribe', id, souls: [parts] });
        const node: Record<string, unknown> = {};
        await waitFor('the whole node in EVENTs', async () => {
          // Taken off the list before any await, so none arriving meanwhile is lost.
          const events = peer.all(isEvent);
          peer.messages.splice(0, peer.messages.length, ...peer.messages.filter((m) => !events.includes(m as never)));
          for (const event of events) {
            expect(encodeMessage(event).length).toBeLessThanOrEqual(PEER_LIMIT);
            const content = (await contentOf(event.frame, parts)) as object;
            expect(Object.keys(content).length).toBeLessThanOrEqual(1000);
            Object.assign(node, content);
          }
          return Object.keys(node).length === smallKeys.length + 2;
        }, { timeoutMs: 10_000 });
        expect(node['huge']).toBeUndefined();
      });

      it("a live batch larger than the reader's limit: EVENTs within it carry all of the batch but what no message can carry", async () => {
        const live = soul('live-large');
        const peer = await ready({ maxMessageBytes: PEER_LIMIT });
        expect(await peer.request({ type: 'subscribe', souls: [live] })).toMatchObject({ type: 'ok' });
        // One batch: 3 × 30 kB (over 64 KiB together, each fits), 500 small, one of 100 kB (fits no message).
        const batch = { l1: 'x'.repeat(30_000), l2: 'y'.repeat(30_000), l3: 'z'.repeat(30_000), huge: 'h'.repeat(100_000), ...Object.fromEntries(smallKeys.slice(0, 500).map((key) => [key, key])) };
        const node: Record<string, unknown> = {};
        await rejectsGrow(server.network, 'wire/too-large', async () => {
          await server.get(live).put(batch);
          await waitFor('the live batch in EVENTs', async () => {
            const events = peer.all(isEvent);
            peer.messages.splice(0, peer.messages.length, ...peer.messages.filter((m) => !events.includes(m as never)));
            for (const event of events) {
              expect(encodeMessage(event).length).toBeLessThanOrEqual(PEER_LIMIT);
              Object.assign(node, (await contentOf(event.frame, live)) as object);
            }
            return Object.keys(node).length === 503;
          }, { timeoutMs: 10_000 });
        });
        expect(node['huge']).toBeUndefined();
        expect([node['l1'], node['l3'], node[smallKeys[499]!]]).toEqual(['x'.repeat(30_000), 'z'.repeat(30_000), smallKeys[499]]);
      });

      it('a GET_PART naming a soul or key longer than the engine takes is refused before anything is read', async () => {
        const peer = await ready();
        expect(await peer.request({ type: 'get-part', soul: 's'.repeat(2000), after: '' })).toMatchObject({ type: 'error', code: 'limit/soul' });
        expect(await peer.request({ type: 'get-part', soul: parts, after: 'k'.repeat(2000) })).toMatchObject({ type: 'error', code: 'limit/key' });
      });

      it('a database reads a whole node with GET_PART from a 1.1 peer, with one GET from a 1.0 peer', async () => {
        const reader = await RustDHT.open({ store: 'memory', network: { role: 'client', listen: transport.listen, exemptLoopback: true } });
        opened.push(reader);
        for (const [protocol, expected] of [[SYNC_PROTOCOL_1_0, 'get'], [undefined, 'get-part']] as const) {
          // The raw peer plays a server the reader's fetch asks (every peer, with no chosen server).
          const peer = await connect(reader.network, protocol);
          await peer.hello({ role: 'server' });
          await waitFor('the session to be ready', () => reader.network.status().peers.length > 0);
          const fetching = reader.network.fetch(soul('legacy'), { timeoutMs: 5000 });
          const request = await peer.next((m) => m.type === 'get' || m.type === 'get-part', 'the read request');
          expect(request.type).toBe(expected);
          await peer.send(request.type === 'get' ? { type: 'node', id: request.id, frame: new Uint8Array(0) } : { type: 'node-part', id: request.id, next: '', skipped: [], frame: new Uint8Array(0) });
          await fetching;
          peer.stop();
          await waitFor('the session to end', () => reader.network.status().peers.length === 0);
        }
      });
    });

    describe('PUT / ACK', () => {
      it('one outcome per update, in frame order: applied, ignored, historical, deferred, rejected with its code', async () => {
        const peer = await ready();
        const owner = Identity.generate();
        const now = Date.now();
        await put(peer, [[soul('outcomes'), 'x', 'current', now]]);
        const before = server.network.counters().updates;
        const ack = await put(peer, [
          [soul('outcomes'), 'new', 'fresh', now],
          [soul('outcomes'), 'x', 'current', now],
          [soul('outcomes'), 'x', 'older', now - 1000],
          [soul('outcomes'), 'later', 'from the near future', now + 60_000],
          [`~${owner.publicKey}`, 'name', 'not signed by its owner', now],
        ]);
        owner.dispose();
        expect(ack.outcomes.map((o) => o.outcome)).toEqual(['applied', 'ignored', 'historical', 'deferred', 'rejected']);
        expect((ack.outcomes[4] as { code: string }).code).toMatch(/^(signature|namespace)\//);
        const after = server.network.counters().updates;
        for (const kind of ['applied', 'ignored', 'historical', 'deferred', 'rejected'] as const) expect(after[kind] - before[kind], kind).toBe(1);
        // Only what was applied is there; the deferred update waits for its time.
        const reply = (await peer.request({ type: 'get', soul: soul('outcomes'), keys: [] })) as NodeMessage;
        expect(await contentOf(reply.frame, soul('outcomes'))).toEqual({ x: 'current', new: 'fresh' });
      });
    });

    describe('SUBSCRIBE / EVENT', () => {
      it('SUBSCRIBE: OK, then an EVENT with the current state of each soul', async () => {
        const writer = await ready();
        await put(writer, [[soul('current'), 'v', 1, Date.now()]]);
        const subscriber = await ready();
        expect(await subscriber.request({ type: 'subscribe', souls: [soul('current'), soul('empty')] })).toMatchObject({ type: 'ok' });
        const event = await subscriber.next(isEvent, 'the current state');
        expect(await contentOf(event.frame, soul('current'))).toEqual({ v: 1 });
        await pause(50);
        expect(subscriber.all(isEvent)).toHaveLength(1); // nothing for the soul nobody wrote
      });

      it('a subscriber gets the changes of the souls it watches, nothing of the others, even from one batch', async () => {
        const [watched, other, probe] = [soul('watched'), soul('not-watched'), soul('probe')];
        const subscriber = await ready();
        expect(await subscriber.request({ type: 'subscribe', souls: [watched, probe] })).toMatchObject({ type: 'ok' });
        const writer = await ready();
        const now = Date.now();
        await put(writer, [[watched, 'v', 1, now], [other, 'secret', 'not for the subscriber', now]]);
        await put(writer, [[other, 'secret', 'still not', now + 1]]);
        await put(writer, [[probe, 'round', 1, now]]);
        await subscriber.next(isEvent, 'the probe');
        await waitFor('the probe event', async () => {
          for (const event of subscriber.all(isEvent)) if ((await contentOf(event.frame, probe)) !== undefined) return true;
          return false;
        });
        const events = subscriber.all(isEvent);
        expect(events.length).toBeGreaterThanOrEqual(2);
        for (const event of events) expect(await contentOf(event.frame, other)).toBeUndefined();
        expect(await Promise.all(events.map((event) => contentOf(event.frame, watched)))).toContainEqual({ v: 1 });
      });

      it('UNSUBSCRIBE: OK, and no EVENT for that soul after it', async () => {
        const [gone, probe] = [soul('unsubscribed'), soul('unsubscribe-probe')];
        const subscriber = await ready();
        await subscriber.request({ type: 'subscribe', souls: [gone, probe] });
        expect(await subscriber.request({ type: 'unsubscribe', souls: [gone] })).toMatchObject({ type: 'ok' });
        const writer = await ready();
        await put(writer, [[gone, 'v', 'after the unsubscribe', Date.now()]]);
        await put(writer, [[probe, 'v', 'probe', Date.now()]]);
        await subscriber.next(isEvent, 'the probe');
        for (const event of subscriber.all(isEvent)) expect(await contentOf(event.frame, gone)).toBeUndefined();
      });
    });

    describe('FEED', () => {
      const isEntry = (id: number) => (m: WireMessage): m is FeedEntryMessage => m.type === 'feed-entry' && m.id === id;

      it('from 0: OK, then the change log in seq order; from a seq: only what follows it; then live entries', async () => {
        const writer = await ready();
        const feedSoul = soul('feed');
        const now = Date.now();
        const follower = await ready({ role: 'server' });
        const ours = async (id: number, count: number): Promise<FeedEntryMessage[]> =>
          waitFor(`${count} feed entries of ours`, async () => {
            const found: FeedEntryMessage[] = [];
            for (const entry of follower.all(isEntry(id))) if ((await contentOf(entry.frame, feedSoul)) !== undefined) found.push(entry);
            return found.length >= count ? found : undefined;
          });
        /** What the entries of feed `id` hold of the soul, merged, once it holds `keys`. */
        const merged = async (id: number, keys: string[]): Promise<Record<string, unknown>> =>
          waitFor(`feed ${id} to carry ${keys.join(', ')}`, async () => {
            const all: Record<string, unknown> = {};
            for (const entry of follower.all(isEntry(id))) Object.assign(all, (await contentOf(entry.frame, feedSoul)) ?? {});
            return keys.every((key) => key in all) ? all : undefined;
          });
        const inOrder = (id: number): void => {
          const seqs = follower.all(isEntry(id)).map((entry) => entry.seq);
          expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
          expect(new Set(seqs).size).toBe(seqs.length);
        };
        // Written while a feed is live: one entry each (one property per entry), at their own seqs.
        const live = follower.id();
        await follower.send({ type: 'feed', id: live, since: 0 });
        expect(await follower.reply(live)).toMatchObject({ type: 'ok' });
        await pause(50);
        for (let i = 1; i <= 3; i++) await put(writer, [[feedSoul, `r${i}`, i, now + i]]);
        const written = await ours(live, 3);
        expect(await Promise.all(written.map((entry) => contentOf(entry.frame, feedSoul)))).toEqual([{ r1: 1 }, { r2: 2 }, { r3: 3 }]);
        inOrder(live);

        // From 0: the backlog (entries may be joined, several to a FEED_ENTRY) carries all three.
        const all = follower.id();
        await follower.send({ type: 'feed', id: all, since: 0 });
        expect(await follower.reply(all)).toMatchObject({ type: 'ok' });
        expect(await merged(all, ['r1', 'r2', 'r3'])).toEqual({ r1: 1, r2: 2, r3: 3 });
        inOrder(all);

        // From r1's seq: only what follows it.
        const since = written[0]!.seq;
        const later = follower.id();
        await follower.send({ type: 'feed', id: later, since });
        expect(await follower.reply(later)).toMatchObject({ type: 'ok' });
        expect(await merged(later, ['r2', 'r3'])).toEqual({ r2: 2, r3: 3 });
        expect(follower.all(isEntry(later)).every((entry) => entry.seq > since)).toBe(true);
        inOrder(later);

        // Then live entries, on every feed.
        await put(writer, [[feedSoul, 'r4', 4, now + 4]]);
        for (const id of [live, all, later]) {
          const entries = await waitFor(`r4 on feed ${id}`, async () => {
            const found = follower.all(isEntry(id));
            return (await contentOf(found.at(-1)!.frame, feedSoul)) !== undefined && 'r4' in ((await contentOf(found.at(-1)!.frame, feedSoul)) as object) ? found : undefined;
          });
          expect(await contentOf(entries.at(-1)!.frame, feedSoul)).toEqual({ r4: 4 });
          expect(entries.at(-1)!.seq).toBeGreaterThan(written[2]!.seq);
          inOrder(id);
        }
      });

      it('to a peer that keeps no change log: ERROR feed/unavailable', async () => {
        const peer = await ready({ role: 'server', to: client.network });
        expect(await peer.request({ type: 'feed', since: 0 })).toMatchObject({ type: 'error', code: 'feed/unavailable' });
      });
    });

    describe('limits', () => {
      it('a length prefix above maxMessageBytes: ERROR wire/too-large before any body, channel closed', async () => {
        await endsWith('wire/too-large', (peer) => peer.sendBytes(encodeVarint(MAX_MESSAGE_BYTES + 1)));
      });

      it('never sends more than our HELLO allows: a NODE too large for us is ERROR wire/too-large, and the session goes on', async () => {
        const writer = await ready();
        await put(writer, [[soul('large'), 'text', 'x'.repeat(4000), Date.now()]]);
        const small = await ready({ maxMessageBytes: 1024 });
        expect(await small.request({ type: 'get', soul: soul('large'), keys: [] })).toMatchObject({ type: 'error', code: 'wire/too-large' });
        expect(await small.request({ type: 'get', soul: soul('unknown'), keys: [] })).toMatchObject({ type: 'node' });
      });

      it('more requests per second than the limit: held back, not refused — each answered in turn, at no more than the rate; the session lives', async () => {
        const peer = await ready();
        const count = 1000;
        const bytes = Buffer.concat(Array.from({ length: count }, (_, i) => lengthPrefixed(encodeMessage({ type: 'get', id: 1000 + i, soul: soul('flood'), keys: [] }))));
        const heldBefore = server.network.counters().heldBack;
        const limitedBefore = server.network.counters().rejects['wire/rate-limited'] ?? 0;
        const started = performance.now();
        await peer.sendBytes(bytes);
        await waitFor('every request to be answered', () => new Set(peer.messages.filter((m) => m.id >= 1000).map((m) => m.id)).size === count, { timeoutMs: 20_000 });
        const seconds = (performance.now() - started) / 1000;
        expect(peer.messages.filter((m) => m.id >= 1000 && m.type !== 'node')).toEqual([]);
        // A burst of twice the rate, then the rate: the rest waited for it.
        expect(seconds).toBeGreaterThanOrEqual((count - 2 * MESSAGES_PER_SECOND) / MESSAGES_PER_SECOND - 0.2);
        expect(server.network.counters().heldBack).toBeGreaterThan(heldBefore);
        expect(server.network.counters().rejects['wire/rate-limited'] ?? 0).toBe(limitedBefore);
        expect(peer.closed).toBe(false);
      });

      it('a peer whose requests wait here is read no further until they are answered (flow control): it is held back, nothing refused or lost', async () => {
        const peer = await ready();
        // 60 PUTs of ~200 KB (12 MB): past the requests a session reads ahead of their
        // answers, and past what any transport window holds for a paused reader.
        const puts = Array.from({ length: 60 }, (_, i) => ({ type: 'put' as const, id: 5000 + i, frame: frameOf([[soul(`held-back/${i}`), 'v', 'x'.repeat(200_000), Date.now()]]) }));
        const refusedBefore = Object.values(server.network.counters().rejects).reduce((sum, n) => sum + n, 0);
        store.hold();
        let sent = 0;
        let sending: Promise<void> | undefined;
        try {
          // One message a send: each waits while the transport holds the peer back.
          sending = (async () => {
            for (const message of puts) {
              await peer.send(message);
              sent++;
            }
          })();
          await waitFor('the commits to reach the store', () => store.waiting > 0);
          await pause(300);
          // Answers wait for the held commits, so the server stopped reading the peer.
          expect(sent).toBeLessThan(puts.length);
        } finally {
          store.release();
        }
        await sending;
        await waitFor('every PUT to be answered', () => puts.every((message) => peer.messages.some((m) => m.id === message.id)), { timeoutMs: 20_000 });
        for (const message of puts) expect(peer.messages.find((m) => m.id === message.id)).toMatchObject({ type: 'ack', outcomes: [{ outcome: 'applied' }] });
        expect(Object.values(server.network.counters().rejects).reduce((sum, n) => sum + n, 0)).toBe(refusedBefore);
        expect(peer.closed).toBe(false);
      });

      it('more than 10,000 subscriptions: ERROR limit/subscriptions', async () => {
        const peer = await ready();
        const souls = (from: number): string[] => Array.from({ length: 6000 }, (_, i) => soul(`many/${from + i}`));
        expect(await peer.request({ type: 'subscribe', souls: souls(0) })).toMatchObject({ type: 'ok' });
        expect(await peer.request({ type: 'subscribe', souls: souls(6000) })).toMatchObject({ type: 'error', code: 'limit/subscriptions' });
      });
    });

    describe('bad input', () => {
      it('garbage after HELLO: ERROR wire/…, channel closed', async () => {
        const peer = await ready();
        await peer.sendBytes(Uint8Array.of(100, 0xee, ...Array.from({ length: 99 }, (_, i) => (i * 37) & 0xff)));
        expect((await peer.ended())?.code).toMatch(/^wire\//);
      });

      it('a first message that is not HELLO: ERROR wire/malformed, channel closed, the request not answered', async () => {
        const peer = await endsWith('wire/malformed', (p) => p.send({ type: 'get', id: 1, soul: soul('doc'), keys: [] }), { hello: false });
        expect(peer.messages.some((m) => m.type === 'node')).toBe(false);
      });

      it('an unknown version: ERROR wire/version, channel closed', async () => {
        const get = encodeMessage({ type: 'get', id: 5, soul: soul('doc'), keys: [] }).slice();
        get[0] = 2;
        const peer = await endsWith('wire/version', (p) => p.sendBytes(lengthPrefixed(get)));
        expect(peer.messages.some((m) => m.id === 5)).toBe(false);
      });

      it('an unknown message type: ERROR wire/unknown-type, channel closed', async () => {
        await endsWith('wire/unknown-type', (peer) => peer.sendBytes(lengthPrefixed(Uint8Array.of(1, 0x7f, 1, 0, 0))));
      });

      it('a second HELLO: ERROR wire/malformed, channel closed', async () => {
        await endsWith('wire/malformed', (peer) => peer.send({ type: 'hello', id: 0, role: 'client', maxMessageBytes: 4096 }));
      });

      it('a PUT whose frame is garbage: ERROR decode/… for that request, and the session goes on', async () => {
        const peer = await ready();
        const reply = await peer.request({ type: 'put', frame: Uint8Array.from({ length: 300 }, (_, i) => (i * 91 + 7) & 0xff) });
        expect(reply).toMatchObject({ type: 'error', code: expect.stringMatching(/^decode\//) });
        expect((await put(peer, [[soul('after-garbage'), 'k', 'fine', Date.now()]])).outcomes).toEqual([{ outcome: 'applied' }]);
        expect(peer.closed).toBe(false);
      });

      it('an EVENT nobody subscribed to: refused as event/unsolicited, nothing taken, the session goes on', async () => {
        const target = soul('unsolicited');
        const peer = await ready({ role: 'server', to: client.network });
        await rejectsGrow(client.network, 'event/unsolicited', () => peer.send({ type: 'event', id: 0, frame: frameOf([[target, 'k', 'pushed', Date.now()]]) }));
        expect(await client.get(target).once({ local: true })).toBeUndefined();
        expect(await peer.request({ type: 'get', soul: target, keys: [] })).toMatchObject({ type: 'node' });
      });
    });

    describe('order of ACK, EVENT, FEED_ENTRY, NODE and the store commit', () => {
      it('none leaves before the batch is durable: with the commit held, the writer, a subscriber, a follower and a reader hear nothing of it', async () => {
        const [target, marker] = [soul('durable'), soul('durable-marker')];
        const isEntry = (m: WireMessage): m is FeedEntryMessage => m.type === 'feed-entry';
        const subscriber = await ready();
        await subscriber.request({ type: 'subscribe', souls: [target] });
        const follower = await ready({ role: 'server' });
        expect(await follower.request({ type: 'feed', since: 0 })).toMatchObject({ type: 'ok' });
        const writer = await ready();
        const reader = await ready();
        // The backlog is through once the marker's entry arrived.
        await put(writer, [[marker, 'v', 1, Date.now()]]);
        await waitFor('the backlog', async () => {
          for (const entry of follower.all(isEntry)) if ((await contentOf(entry.frame, marker)) !== undefined) return true;
          return false;
        });
        const entriesBefore = follower.all(isEntry).length;
        store.hold();
        try {
          const putId = writer.id();
          await writer.send({ type: 'put', id: putId, frame: frameOf([[target, 'v', 'committed?', Date.now()]]) });
          await waitFor('the commit to reach the store', () => store.waiting > 0);
          // Applied in memory by now: a GET would find it there.
          const getId = reader.id();
          await reader.send({ type: 'get', id: getId, soul: target, keys: [] });
          await pause(200);
          expect(writer.messages.some((m) => m.id === putId)).toBe(false);
          expect(subscriber.all(isEvent)).toEqual([]);
          expect(follower.all(isEntry)).toHaveLength(entriesBefore);
          expect(reader.messages.some((m) => m.id === getId)).toBe(false);
          store.release();
          expect(await writer.reply(putId)).toMatchObject({ type: 'ack', outcomes: [{ outcome: 'applied' }] });
          expect(await contentOf((await subscriber.next(isEvent, 'the EVENT')).frame, target)).toEqual({ v: 'committed?' });
          expect(await contentOf(((await reader.reply(getId)) as NodeMessage).frame, target)).toEqual({ v: 'committed?' });
          await waitFor('the FEED_ENTRY', () => follower.all(isEntry).length > entriesBefore);
          expect(await contentOf(follower.all(isEntry).at(-1)!.frame, target)).toEqual({ v: 'committed?' });
        } finally {
          store.release();
        }
      });
      it('an ACK of an update already held waits for the commit that holds it (a second writer is not told "held" before it is durable)', async () => {
        const target = soul('durable-ignored');
        const first = await ready();
        const second = await ready();
        const frame = frameOf([[target, 'v', 'twice', Date.now()]]);
        store.hold();
        try {
          const firstId = first.id();
          await first.send({ type: 'put', id: firstId, frame });
          await waitFor('the commit to reach the store', () => store.waiting > 0);
          // The same update again: the engine finds it held (in memory), which is not yet on disk.
          const secondId = second.id();
          await second.send({ type: 'put', id: secondId, frame });
          await pause(200);
          expect(first.messages.some((m) => m.id === firstId)).toBe(false);
          expect(second.messages.some((m) => m.id === secondId)).toBe(false);
          store.release();
          expect(await first.reply(firstId)).toMatchObject({ type: 'ack', outcomes: [{ outcome: 'applied' }] });
          expect(await second.reply(secondId)).toMatchObject({ type: 'ack', outcomes: [{ outcome: 'ignored' }] });
        } finally {
          store.release();
        }
      });
      it("an UNSUBSCRIBE's OK comes after the EVENTs of batches applied before it (no EVENT of that soul after the OK)", async () => {
        const target = soul('unsubscribe-order');
        const subscriber = await ready();
        await subscriber.request({ type: 'subscribe', souls: [target] });
        const writer = await ready();
        store.hold();
        try {
          const putId = writer.id();
          await writer.send({ type: 'put', id: putId, frame: frameOf([[target, 'v', 'before the unsubscribe', Date.now()]]) });
          await waitFor('the commit to reach the store', () => store.waiting > 0);
          const unsubscribeId = subscriber.id();
          await subscriber.send({ type: 'unsubscribe', id: unsubscribeId, souls: [target] });
          await pause(100);
          store.release();
          await subscriber.reply(unsubscribeId);
          const ok = subscriber.messages.findIndex((m) => m.id === unsubscribeId && m.type === 'ok');
          const event = subscriber.messages.findIndex(isEvent);
          expect(event).toBeGreaterThanOrEqual(0);
          expect(event).toBeLessThan(ok);
        } finally {
          store.release();
        }
      });
    });

    describe('databases over the transport', () => {
      it("a client's write reaches another client's subscriber through the server, and the writer's outbox empties", async () => {
        const a = await RustDHT.open({ store: 'memory', network: { role: 'client' } });
        const b = await RustDHT.open({ store: 'memory', network: { role: 'client' } });
        opened.push(a, b);
        await Promise.all([transport.join(a.network, server.network), transport.join(b.network, server.network)]);
        const room = soul('room');
        const seen: unknown[] = [];
        b.get(room).get('topic').on((value) => seen.push(value));
        // Written until the subscription is in place at the server (it travels on its own).
        await waitFor('the subscription to reach the server', async () => {
          await a.get(room).put({ topic: 'hello' });
          return seen.includes('hello');
        });
        await a.get(room).put({ topic: 'final' });
        await waitFor('the subscriber to see the write', () => seen.includes('final'));
        await a.network.whenSynced();
        expect(a.outbox.size).toBe(0);
        expect(a.network.status().peers.map((peer) => peer.role)).toEqual(['server']);
      });
    });
  });
}
