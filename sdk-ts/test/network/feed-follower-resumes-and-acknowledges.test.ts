/**
 * Following a peer server's change log (network/duties/feed-follower.ts), against a
 * scripted session and replica:
 *
 * - the feed starts after the stored cursor ("F" peerId, 8 bytes big-endian; any seq up
 *   to 2^53), from 0 when there is none, and from 0 with the failure reported when it
 *   cannot be read; a cursor record of the wrong length is store/corrupt;
 * - entries are merged in order, each once: one at or below the cursor is skipped, a
 *   merged one moves the cursor (staged with the batch) and is counted; a refused one is
 *   reported and does not move it; nothing is merged once the replica closed;
 * - a 1.2 peer hears FEED_ACK with the highest seq stored, at most once per macrotask,
 *   not on an ended session nor before the feed's id is known; an older peer hears none;
 * - more than 64 MiB of entries waiting to be merged ends the session (feed/overloaded)
 *   and drops the entry that went over, so the cursor never passes it;
 * - a FEED the peer refuses goes to `requestFailed`;
 * - a mark (1.2: an empty frame at seq S) merges nothing and moves the cursor to S once
 *   every entry before it is stored; from a peer that does not speak 1.2 it is refused.
 *
 * Why: multi-process tests run the feed through `rustdht serve` (dist/, not the sources),
 * and the in-process ones see only that servers end up in sync (mutation testing:
 * scripts/mutation/README.md).
 */
import { describe, expect, it } from 'vitest';
import { RustDHTError } from '../../src/api/errors.js';
import { CounterSet } from '../../src/network/counters.js';
import { MAX_PENDING_FEED_BYTES, decodeFeedCursor, encodeFeedCursor, feedCursorKey, followFeed, type FeedFollowerOptions } from '../../src/network/duties/feed-follower.js';
import type { ReceivedBatch } from '../../src/network/replica-port.js';
import type { SyncSession } from '../../src/network/sync-session.js';

type Entry = { readonly seq: number; readonly frame: Uint8Array };

class ScriptedSession {
  readonly peerId = 'peer-server';
  closed = false;
  speaksDht = true;
  since: number | undefined;
  onEntry: ((entry: Entry) => void) | undefined;
  onStarted: ((feed: number) => void) | undefined;
  readonly notified: unknown[] = [];
  ended: { code: string; message: string } | undefined;
  /** follow() fails with this, once set. */
  refuse: unknown;

  async follow(since: number, onEntry: (entry: Entry) => void, onStarted?: (feed: number) => void): Promise<void> {
    if (this.refuse !== undefined) throw this.refuse;
    this.since = since;
    this.onEntry = onEntry;
    this.onStarted = onStarted;
  }

  async notify(message: unknown): Promise<void> {
    this.notified.push(message);
  }

  end(code: string, message: string): void {
    this.ended = { code, message };
  }
}

const macrotask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));
const applied: ReceivedBatch = { outcomes: [{ outcome: 'applied' }], applied: 1, ignored: 0, historical: 0, deferred: 0, rejected: 0 };

/** An entry whose frame claims to be `bytes` long and carries its seq (the scripted replica decodes nothing else). */
const entry = (seq: number, bytes = 8): Entry => ({ seq, frame: { length: bytes, 0: seq } as unknown as Uint8Array });

function setup(options: { stored?: Uint8Array; readFails?: unknown } = {}) {
  const session = new ScriptedSession();
  const records = new Map<string, Uint8Array>();
  const key = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
  if (options.stored !== undefined) records.set(key(feedCursorKey(session.peerId)), options.stored);
  const received: number[] = [];
  const refusedBy = new Map<number, unknown>();
  const gates = new Map<number, Promise<void>>();
  const replica = {
    closed: false,
    async readRecord(k: Uint8Array) {
      if (options.readFails !== undefined) throw options.readFails;
      return records.get(key(k));
    },
    stageRecord(k: Uint8Array, value: Uint8Array) {
      records.set(key(k), value);
    },
    async receive(frame: Uint8Array) {
      const seq = frame[0]!;
      await gates.get(seq);
      if (refusedBy.has(seq)) throw refusedBy.get(seq);
      received.push(seq);
      return applied;
    },
  };
  const refused: { peerId: string; code: string; message: string }[] = [];
  const failed: unknown[] = [];
  const counters = new CounterSet();
  const follow = followFeed(session as unknown as SyncSession, {
    replica: replica as unknown as FeedFollowerOptions['replica'],
    counters,
    refused: (peerId, code, message) => refused.push({ peerId, code, message }),
    requestFailed: (s, error) => failed.push([s.peerId, error]),
  });
  const deliver = (...entries: Entry[]): void => {
    for (const e of entries) session.onEntry!(e);
  };
  const cursor = (): number | undefined => {
    const stored = records.get(key(feedCursorKey(session.peerId)));
    return stored === undefined ? undefined : decodeFeedCursor(stored);
  };
  return { session, replica, received, refusedBy, gates, refused, failed, counters, follow, deliver, cursor };
}

describe('feed follower', () => {
  it('the cursor record: "F" then the peer id; 8 bytes big-endian, any seq up to 2^53; another length is store/corrupt', () => {
    expect([...feedCursorKey('ab')]).toEqual([0x46, 0x61, 0x62]);
    for (const seq of [0, 1, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
      expect(decodeFeedCursor(encodeFeedCursor(seq))).toBe(seq);
    }
    expect([...encodeFeedCursor(2 ** 32 + 258)]).toEqual([0, 0, 0, 1, 0, 0, 1, 2]);
    // A view into a larger buffer reads its own bytes.
    const inside = new Uint8Array(12);
    inside.set(encodeFeedCursor(7), 2);
    expect(decodeFeedCursor(inside.subarray(2, 10))).toBe(7);
    expect(() => decodeFeedCursor(new Uint8Array(7))).toThrow(
      expect.objectContaining({ code: 'store/corrupt', message: 'the store is damaged (a feed cursor record that is not 8 bytes); restore it from a backup or from peers.' }),
    );
  });

  it('starts after the stored cursor, from 0 without one, and from 0 (reported) when it cannot be read', async () => {
    const resumed = setup({ stored: encodeFeedCursor(41) });
    await resumed.follow;
    expect(resumed.session.since).toBe(41);
    expect(resumed.refused).toEqual([]);

    const fresh = setup();
    await fresh.follow;
    expect(fresh.session.since).toBe(0);

    const broken = setup({ readFails: new RustDHTError('storage/io', 'disk gone') });
    await broken.follow;
    expect(broken.session.since).toBe(0);
    expect(broken.refused).toEqual([{ peerId: 'peer-server', code: 'storage/io', message: 'could not read the feed cursor: disk gone' }]);
    const corrupt = setup({ stored: new Uint8Array(3) });
    await corrupt.follow;
    expect(corrupt.session.since).toBe(0);
    expect(corrupt.refused).toMatchObject([{ code: 'store/corrupt' }]);
  });

  it('merges entries in order, each once; the cursor moves with each; a refused one is reported and does not move it', async () => {
    const f = setup({ stored: encodeFeedCursor(3) });
    await f.follow;
    f.refusedBy.set(6, new RustDHTError('signature/invalid', 'bad'));
    f.deliver(entry(2), entry(3), entry(4), entry(5), entry(5), entry(6));
    await macrotask();
    expect(f.received).toEqual([4, 5]);
    expect(f.cursor()).toBe(5);
    f.deliver(entry(7));
    await macrotask();
    expect(f.received).toEqual([4, 5, 7]);
    expect(f.cursor()).toBe(7);
    expect(f.counters.snapshot().updates.applied).toBe(3);
    expect(f.refused).toEqual([{ peerId: 'peer-server', code: 'signature/invalid', message: 'a feed entry was refused: bad' }]);
  });

  it('nothing is merged, and nothing reported, once the replica closed', async () => {
    const f = setup();
    await f.follow;
    f.replica.closed = true;
    f.deliver(entry(1));
    await macrotask();
    expect(f.received).toEqual([]);
    expect(f.cursor()).toBeUndefined();

    const g = setup();
    await g.follow;
    let open!: () => void;
    g.gates.set(1, new Promise((resolve) => (open = resolve)));
    g.refusedBy.set(1, new RustDHTError('storage/io', 'closing'));
    g.deliver(entry(1));
    await macrotask();
    g.replica.closed = true;
    open();
    await macrotask();
    expect(g.refused).toEqual([]);
  });

  it('a 1.2 peer hears FEED_ACK of the highest seq stored, once per macrotask, not on an ended session', async () => {
    const f = setup();
    await f.follow;
    f.session.onStarted!(9);
    f.deliver(entry(1), entry(2), entry(3));
    await macrotask();
    expect(f.session.notified).toEqual([{ type: 'feed-ack', id: 0, feed: 9, seq: 3 }]);
    f.deliver(entry(4));
    await macrotask();
    expect(f.session.notified).toEqual([
      { type: 'feed-ack', id: 0, feed: 9, seq: 3 },
      { type: 'feed-ack', id: 0, feed: 9, seq: 4 },
    ]);
    f.session.closed = true;
    f.deliver(entry(5));
    await macrotask();
    expect(f.session.notified).toHaveLength(2);
  });

  it('no FEED_ACK to a peer older than 1.2, nor before the feed has an id', async () => {
    const old = setup();
    await old.follow;
    old.session.speaksDht = false;
    old.session.onStarted!(4);
    old.deliver(entry(1));
    await macrotask();
    const early = setup();
    await early.follow;
    early.deliver(entry(1));
    await macrotask();
    expect([...old.session.notified, ...early.session.notified]).toEqual([]);
    expect([old.cursor(), early.cursor()]).toEqual([1, 1]);
  });

  it('more than 64 MiB of entries waiting: the session ends (feed/overloaded) and the entry that went over is not merged', async () => {
    const f = setup({ stored: encodeFeedCursor(10) });
    await f.follow;
    let open!: () => void;
    f.gates.set(11, new Promise((resolve) => (open = resolve)));
    // Exactly the bound waits; one byte more does not.
    f.deliver(entry(11, MAX_PENDING_FEED_BYTES - 8), entry(12, 8));
    expect(f.session.ended).toBeUndefined();
    f.deliver(entry(13, 1));
    expect(f.session.ended).toEqual({ code: 'feed/overloaded', message: `more than ${MAX_PENDING_FEED_BYTES} bytes of feed entries waiting to be stored; resuming from seq 10 later.` });
    open();
    await macrotask();
    expect(f.received).toEqual([11, 12]);
    expect(f.cursor()).toBe(12);
    // Once merged, their bytes no longer count.
    f.session.ended = undefined;
    f.deliver(entry(14, MAX_PENDING_FEED_BYTES));
    expect(f.session.ended).toBeUndefined();
  });

  it('a FEED the peer refuses goes to requestFailed', async () => {
    const refusal = new RustDHTError('feed/unavailable', 'no change log');
    const session = new ScriptedSession();
    session.refuse = refusal;
    const failed: unknown[] = [];
    await followFeed(session as unknown as SyncSession, {
      replica: { closed: false, readRecord: async () => undefined } as unknown as FeedFollowerOptions['replica'],
      counters: new CounterSet(),
      refused: () => {},
      requestFailed: (s, error) => failed.push([s.peerId, error]),
    });
    expect(failed).toEqual([['peer-server', refusal]]);
  });

  it('a mark merges nothing and moves the cursor once the entries before it are stored; an older peer may not send one', async () => {
    const f = setup();
    let open!: () => void;
    f.gates.set(3, new Promise<void>((resolve) => (open = resolve)));
    await macrotask();
    f.session.onStarted!(1);
    f.deliver(entry(3), entry(9, 0));
    await macrotask();
    // Entry 3 is still merging: the mark waits behind it.
    expect(f.cursor()).toBeUndefined();
    open();
    await macrotask();
    expect(f.received).toEqual([3]);
    expect(f.cursor()).toBe(9);
    expect(f.session.notified.at(-1)).toMatchObject({ type: 'feed-ack', feed: 1, seq: 9 });
    // An entry at or below the mark is one we have.
    f.deliver(entry(8));
    await macrotask();
    expect(f.received).toEqual([3]);

    const g = setup();
    g.session.speaksDht = false;
    await macrotask();
    g.deliver(entry(4, 0));
    await macrotask();
    expect(g.cursor()).toBeUndefined();
    expect(g.refused).toEqual([expect.objectContaining({ code: 'wire/malformed' })]);
  });
});
