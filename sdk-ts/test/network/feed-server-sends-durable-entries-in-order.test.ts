/**
 * A server feeding its change log to followers (network/serving/feed-server.ts), against
 * scripted sessions and a scripted replica (change log, applied batches, flush), with the
 * real DurabilityBarrier over a flush the test can fail:
 *
 * - FEED: refused (feed/unavailable) by a client or by a server without a change log;
 *   otherwise OK, then the backlog after `since` (read after a flush), then live batches
 *   once durable, each entry once and in seq order (a batch applied while the backlog is
 *   read, and also in it, is not sent twice); a batch without a seq or whose commit failed
 *   is not fed; nothing once the session ended or was forgotten, or the server stopped;
 * - each follower gets its own part of an entry (`route`; nothing when it owns none); an
 *   entry too large for the follower, or one that cannot be sent, is counted
 *   feed/entry-too-large; a backlog that cannot be read is counted (feed/failed);
 * - FEED_ACK: only for the feed the session follows (else feed/unknown-ack); `whenAcked`
 *   resolves once the follower acknowledged that seq, rejects when its signal fires;
 * - the backlog leaves at half the rate a follower with these limits admits
 *   (5 × messagesPerSecond entries, bytesPerSecond / 2 bytes, per second);
 * - backlog parts go several to a FEED_ENTRY (at the seq of the last entry it covers),
 *   within the join limits; a 1.2 follower is sent marks (an empty frame at seq S:
 *   nothing up to S is for it) for entries it was not sent, in the backlog and live.
 *
 * Why: the sync conformance suite checks FEED end to end; these rules survived mutation
 * there (scripts/mutation/README.md).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RustDHTError } from '../../src/api/errors.js';
import { CounterSet } from '../../src/network/counters.js';
import type { AppliedBatch } from '../../src/network/replica-port.js';
import { DurabilityBarrier } from '../../src/network/serving/durability.js';
import { FEED_MARK_DELAY_MS, FEED_MARK_EVERY_ENTRIES } from '../../src/network/serving/feed-marks.js';
import { FeedServer, type FeedRoute, type ReplicaForFeedServer } from '../../src/network/serving/feed-server.js';
import type { JoinLimits } from '../../src/network/serving/joined-parts.js';
import type { SyncSession } from '../../src/network/sync-session.js';
import type { WireMessage } from '../../src/network/wire/messages.js';
import { DEFAULT_WIRE_LIMITS, type ResolvedWireLimits } from '../../src/network/wire/rate-limiter.js';

const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const frame = (label: string, size = label.length): Uint8Array => {
  const bytes = new Uint8Array(size);
  bytes.set(new TextEncoder().encode(label).subarray(0, size));
  return bytes;
};
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes).replace(/\0+$/, '');

class ScriptedSession {
  readonly peerId: string;
  closed = false;
  /** A 1.2 follower: it is sent marks (FEED_ENTRY with an empty frame). */
  speaksDht = false;
  maxFrameBytes = Number.POSITIVE_INFINITY;
  /** notify() rejects for entries with this label. */
  failFor: string | undefined;
  readonly sent: string[] = [];
  constructor(peerId: string) {
    this.peerId = peerId;
  }

  fits(bytes: number): boolean {
    return bytes <= this.maxFrameBytes;
  }

  async notify(message: WireMessage): Promise<void> {
    if (message.type === 'feed-entry') {
      if (text(message.frame) === this.failFor) throw new Error('too large');
      this.sent.push(`${message.id}:${message.seq}:${text(message.frame)}`);
    } else this.sent.push(`${message.type} ${message.id}`);
  }
}

function setup(options: { role?: 'server' | 'client'; log?: boolean; snapshot?: boolean; limits?: ResolvedWireLimits; route?: FeedRoute; join?: JoinLimits } = {}) {
  const log: { seq: number; frame: Uint8Array }[] = [];
  const listeners = new Set<(batch: AppliedBatch) => void>();
  let failFlush: unknown;
  let failRead: unknown;
  /** Called as the backlog is read, before each entry is yielded; the read waits for what it returns. */
  const hooks: { onRead?: (seq: number) => Promise<void> | void } = {};
  let flushes = 0;
  const replica = {
    changeLog:
      options.log === false
        ? undefined
        : {
            // What is logged while it is read is read too, unless `snapshot` (the log as the read began).
            async *after(since: number) {
              if (failRead !== undefined) throw failRead;
              const entries = options.snapshot === true ? [...log] : log;
              for (let i = 0; i < entries.length; i++) {
                const entry = entries[i]!;
                if (entry.seq <= since) continue;
                await hooks.onRead?.(entry.seq);
                yield entry;
              }
            },
          },
    onApplied(listener: (batch: AppliedBatch) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async flush() {
      flushes++;
      if (failFlush !== undefined) throw failFlush;
    },
    // Backlog parts joined into one frame: here their labels, joined by "+".
    engineModule: { joinFrames: (frames: Uint8Array[]) => [frame(frames.map(text).join('+')), frames.length], frameUpdateCount: (part: Uint8Array) => text(part).split('+').length },
  };
  const counters = new CounterSet();
  const durability = new DurabilityBarrier(replica);
  const server = new FeedServer(replica as unknown as ReplicaForFeedServer, counters, options.role ?? 'server', durability, options.limits ?? DEFAULT_WIRE_LIMITS, options.route, options.join ?? { parts: 1, bytes: 1, updates: 1 });
  /** A batch applied here: logged (when it has a seq) and heard by the listeners. */
  const apply = (seq: number | undefined, label: string, feedLive?: false): void => {
    if (seq !== undefined) log.push({ seq, frame: frame(label) });
    for (const listener of [...listeners]) listener(feedLive === false ? { frame: frame(label), changes: [], seq, feedLive } : { frame: frame(label), changes: [], seq });
  };
  const session = (peerId = 'follower'): ScriptedSession & SyncSession => new ScriptedSession(peerId) as ScriptedSession & SyncSession;
  return {
    server,
    log,
    counters,
    hooks,
    apply,
    session,
    listeners: () => listeners.size,
    flushes: () => flushes,
    failFlush: (error: unknown) => (failFlush = error),
    failRead: (error: unknown) => (failRead = error),
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('feed server', () => {
  it('FEED is refused by a client and by a server without a change log', async () => {
    for (const f of [setup({ role: 'client' }), setup({ log: false })]) {
      const s = f.session();
      await expect(f.server.open(s, { type: 'feed', id: 1, since: 0 })).rejects.toMatchObject({
        code: 'feed/unavailable',
        message: 'this peer keeps no change log (only servers with a store do).',
      });
      expect(s.sent).toEqual([]);
    }
  });

  it('OK, then the backlog after `since`, then live batches once durable; each once, in order', async () => {
    const f = setup();
    f.apply(1, 'one');
    f.apply(2, 'two');
    f.apply(3, 'three');
    const s = f.session();
    // A batch applied while the backlog is read is in the log too: sent once (by the
    // backlog; its live copy, durable once the backlog is through, is not sent again).
    f.hooks.onRead = (seq) => {
      if (seq === 2) f.apply(4, 'four');
    };
    expect(await f.server.open(s, { type: 'feed', id: 7, since: 1 })).toBeUndefined();
    await macrotask();
    await macrotask();
    expect(s.sent).toEqual(['ok 7', '7:2:two', '7:3:three', '7:4:four']);
    // One without a seq (not logged) is not fed, nor waited for (no commit).
    await macrotask();
    const flushes = f.flushes();
    f.apply(undefined, 'no-seq');
    await macrotask();
    expect(f.flushes()).toBe(flushes);
    // Live: sent once durable.
    f.apply(5, 'five');
    expect(s.sent).toHaveLength(4);
    await macrotask();
    expect(s.sent).toEqual(['ok 7', '7:2:two', '7:3:three', '7:4:four', '7:5:five']);
    expect(f.counters.snapshot().rejects).toEqual({});
  });

  it('a batch durable while the backlog is still read waits for it: sent after it, once', async () => {
    for (const snapshot of [false, true]) {
      // snapshot: the read does not see the batch, only its live copy does.
      const f = setup({ snapshot });
      f.apply(1, 'one');
      f.apply(2, 'two');
      f.apply(3, 'three');
      let go!: () => void;
      const gate = new Promise<void>((resolve) => (go = resolve));
      f.hooks.onRead = (seq) => {
        if (seq !== 2) return;
        f.apply(4, 'four');
        return gate;
      };
      const s = f.session();
      await f.server.open(s, { type: 'feed', id: 1, since: 0 });
      // Batch 4 is durable now, with the backlog held at entry 2.
      await macrotask();
      await macrotask();
      expect(s.sent).toEqual(['ok 1', '1:1:one']);
      go();
      await macrotask();
      expect(s.sent).toEqual(['ok 1', '1:1:one', '1:2:two', '1:3:three', '1:4:four']);
    }
  });

  it('the backlog is read after a flush; a batch applied meanwhile is sent after it; a failed commit is not fed', async () => {
    const f = setup();
    f.apply(1, 'one');
    const s = f.session();
    await f.server.open(s, { type: 'feed', id: 2, since: 0 });
    expect(f.flushes()).toBe(1);
    // Applied before the backlog is through (the flush is still pending): waits, then follows it.
    f.apply(2, 'two');
    await macrotask();
    await macrotask();
    expect(s.sent).toEqual(['ok 2', '2:1:one', '2:2:two']);

    f.failFlush(new Error('disk gone'));
    f.apply(3, 'lost');
    await macrotask();
    expect(s.sent).toHaveLength(3);
  });

  it('nothing once the session ended or was forgotten, or the server stopped', async () => {
    const f = setup();
    f.apply(1, 'one');
    f.apply(2, 'two');
    const ended = f.session('a');
    f.hooks.onRead = (seq) => {
      if (seq === 2) ended.closed = true;
    };
    await f.server.open(ended, { type: 'feed', id: 1, since: 0 });
    await macrotask();
    expect(ended.sent).toEqual(['ok 1', '1:1:one']);

    f.hooks.onRead = undefined;
    const forgotten = f.session('b');
    const stopped = f.session('c');
    await f.server.open(forgotten, { type: 'feed', id: 2, since: 2 });
    await f.server.open(stopped, { type: 'feed', id: 3, since: 2 });
    await macrotask();
    f.server.forget(forgotten);
    f.apply(3, 'three');
    await macrotask();
    expect(forgotten.sent).toEqual(['ok 2']);
    expect(stopped.sent).toEqual(['ok 3', '3:3:three']);
    // A forgotten session's FEED_ACK names no feed of its.
    f.server.acked(forgotten, 2, 3);
    expect(f.counters.snapshot().rejects).toEqual({ 'feed/unknown-ack': 1 });

    // Heard, but forgotten before it was durable: not sent either.
    const late = f.session('d');
    await f.server.open(late, { type: 'feed', id: 4, since: 3 });
    await macrotask();
    f.apply(4, 'four');
    f.server.forget(late);
    await macrotask();
    expect(late.sent).toEqual(['ok 4']);
    // Forgetting a session never fed is harmless.
    f.server.forget(f.session('never'));

    f.server.stop();
    expect(f.listeners()).toBe(0);
    f.apply(4, 'four');
    await macrotask();
    expect(stopped.sent).toEqual(['ok 3', '3:3:three', '3:4:four']);
  });

  it("each follower gets its own part of an entry; too large or unsendable is counted; an unreadable backlog too", async () => {
    // What the route was told of each entry it cut for 'a': read from the backlog, or live.
    const asked: string[] = [];
    const f = setup({
      route: (whole, follower, backlog) => {
        if (follower === 'a') asked.push(`${text(whole)} ${backlog ? 'backlog' : 'live'}`);
        return follower === 'none' ? undefined : follower === 'empty' ? new Uint8Array(0) : frame(`${text(whole)}@${follower}`);
      },
    });
    f.apply(1, 'one');
    const a = f.session('a');
    await f.server.open(a, { type: 'feed', id: 1, since: 0 });
    const none = f.session('none');
    await f.server.open(none, { type: 'feed', id: 2, since: 0 });
    const empty = f.session('empty');
    await f.server.open(empty, { type: 'feed', id: 3, since: 0 });
    await macrotask();
    expect([a.sent, none.sent, empty.sent]).toEqual([['ok 1', '1:1:one@a'], ['ok 2'], ['ok 3']]);
    // Live entries too; and what went unsent still counts as sent (it is not sent again).
    f.apply(2, 'two');
    await macrotask();
    expect([a.sent, none.sent, empty.sent]).toEqual([['ok 1', '1:1:one@a', '1:2:two@a'], ['ok 2'], ['ok 3']]);
    expect(asked).toEqual(['one backlog', 'two live']);
    expect(f.counters.snapshot().rejects).toEqual({});

    const g = setup();
    g.apply(1, 'big');
    g.apply(2, 'bad');
    g.apply(3, 'fine');
    const s = g.session();
    s.maxFrameBytes = 3;
    s.failFor = 'bad';
    await g.server.open(s, { type: 'feed', id: 4, since: 0 });
    await macrotask();
    // 'big' is 3 bytes: fits exactly; 'fine' (4) does not.
    expect(s.sent).toEqual(['ok 4', '4:1:big']);
    expect(g.counters.snapshot().rejects).toEqual({ 'feed/entry-too-large': 2 });

    const h = setup();
    h.failRead(new RustDHTError('storage/io', 'unreadable'));
    const t = h.session();
    await h.server.open(t, { type: 'feed', id: 5, since: 0 });
    await macrotask();
    const u = setup();
    u.failRead(new Error('no code'));
    await u.server.open(u.session(), { type: 'feed', id: 6, since: 0 });
    await macrotask();
    expect([h.counters.snapshot().rejects, u.counters.snapshot().rejects]).toEqual([{ 'storage/io': 1 }, { 'feed/failed': 1 }]);
    // It listens no more.
    expect([h.listeners(), u.listeners()]).toEqual([0, 0]);
    // A session already ended when the backlog fails is not counted.
    const v = setup();
    v.failRead(new Error('gone'));
    const w = v.session();
    w.closed = true;
    await v.server.open(w, { type: 'feed', id: 7, since: 0 });
    await macrotask();
    expect(v.counters.snapshot().rejects).toEqual({});
  });

  it('FEED_ACK: only for the followed feed; whenAcked resolves at that seq, rejects when its signal fires', async () => {
    const f = setup();
    const s = f.session('p');
    const other = f.session('p');
    await f.server.open(s, { type: 'feed', id: 9, since: 0 });
    const resolved: number[] = [];
    void f.server.whenAcked('p', 3).then(() => resolved.push(3));
    void f.server.whenAcked('p', 5).then(() => resolved.push(5));
    f.server.acked(s, 8, 4);
    f.server.acked(other, 9, 4);
    expect(f.counters.snapshot().rejects).toEqual({ 'feed/unknown-ack': 2 });
    expect(f.server.ackedSeq('p')).toBe(0);
    f.server.acked(s, 9, 4);
    await macrotask();
    expect(resolved).toEqual([3]);
    expect(f.server.ackedSeq('p')).toBe(4);
    // An older ack changes nothing.
    f.server.acked(s, 9, 2);
    expect(f.server.ackedSeq('p')).toBe(4);
    f.server.acked(s, 9, 5);
    await macrotask();
    expect(resolved).toEqual([3, 5]);
    // At or below the acked seq: at once.
    await f.server.whenAcked('p', 5);
    expect(f.server.ackedSeq('q')).toBe(0);

    const stop = new AbortController();
    const waiting = f.server.whenAcked('p', 8, stop.signal);
    const other7 = f.server.whenAcked('p', 7);
    stop.abort(new Error('stopped'));
    await expect(waiting).rejects.toThrow('stopped');
    f.server.acked(s, 9, 7);
    await other7;
    // The aborted waiter is gone: acking past it resolves nothing twice, throws nothing.
    f.server.acked(s, 9, 9);
    const aborted = new AbortController();
    aborted.abort(new Error('already'));
    await expect(f.server.whenAcked('p', 10, aborted.signal)).rejects.toThrow('already');
    // A signal that fires after its waiter resolved does nothing.
    const late = new AbortController();
    const resolvedFirst = f.server.whenAcked('p', 10, late.signal);
    f.server.acked(s, 9, 10);
    await resolvedFirst;
    late.abort(new Error('late'));
  });

  it('the backlog leaves at 5 × messagesPerSecond entries and bytesPerSecond / 2 bytes per second', async () => {
    vi.useFakeTimers();
    const f = setup({ limits: { maxMessageBytes: 1 << 20, messagesPerSecond: 2, bytesPerSecond: 1 << 30 } });
    for (let seq = 1; seq <= 13; seq++) f.apply(seq, `e${seq}`);
    const s = f.session();
    await f.server.open(s, { type: 'feed', id: 1, since: 0 });
    await vi.advanceTimersByTimeAsync(1);
    // 10 entries a second, a burst of 10: ten now, the next a tenth of a second later.
    expect(s.sent).toHaveLength(11);
    await vi.advanceTimersByTimeAsync(100);
    expect(s.sent).toHaveLength(12);
    await vi.advanceTimersByTimeAsync(100);
    expect(s.sent).toHaveLength(13);
    // Ended while entry 13 waits for its turn: it is not sent.
    s.closed = true;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(s.sent).toHaveLength(13);
    expect(f.counters.snapshot().rejects).toEqual({});

    // 1000 bytes a second of 500-byte entries: two now, the next half a second later.
    const g = setup({ limits: { maxMessageBytes: 1 << 20, messagesPerSecond: 1000, bytesPerSecond: 2000 } });
    for (let seq = 1; seq <= 4; seq++) g.log.push({ seq, frame: frame(`b${seq}`, 500) });
    const t = g.session();
    await g.server.open(t, { type: 'feed', id: 2, since: 0 });
    await vi.advanceTimersByTimeAsync(1);
    expect(t.sent).toEqual(['ok 2', '2:1:b1', '2:2:b2']);
    await vi.advanceTimersByTimeAsync(500);
    expect(t.sent).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(500);
    expect(t.sent).toHaveLength(5);
  });

  it('backlog parts go several to a FEED_ENTRY, at the seq of the last entry they cover; live batches one each', async () => {
    const route: FeedRoute = (whole) => (text(whole).startsWith('x') ? undefined : whole);
    const f = setup({ route, join: { parts: 3, bytes: 12, updates: 100 } });
    for (const [seq, label] of ['a1', 'a2', 'x3', 'a4', 'a5', 'big-entry-6', 'a7', 'x8'].entries()) f.apply(seq + 1, label);
    const s = f.session();
    await f.server.open(s, { type: 'feed', id: 1, since: 0 });
    await macrotask();
    await macrotask();
    // Three parts (x3 has none: covered by the seq); a part that would pass 12 bytes
    // starts the next; the last frame covers x8, which has no part.
    expect(s.sent).toEqual(['ok 1', '1:4:a1+a2+a4', '1:5:a5', '1:6:big-entry-6', '1:8:a7']);
    f.apply(9, 'a9');
    f.apply(10, 'a10');
    await macrotask();
    expect(s.sent.slice(5)).toEqual(['1:9:a9', '1:10:a10']);
    expect(f.counters.snapshot().rejects).toEqual({});

    // At most `updates` updates to a frame (the follower's engine takes a batch of that
    // many): here 3, the "+" in a label counting one more.
    const g = setup({ join: { parts: 10, bytes: 1_000, updates: 3 } });
    for (const [seq, label] of ['u1', 'u2+u3', 'u4', 'u5+u6+u7+u8', 'u9'].entries()) g.apply(seq + 1, label);
    const t = g.session();
    await g.server.open(t, { type: 'feed', id: 2, since: 0 });
    await macrotask();
    await macrotask();
    // A part over the limit alone still goes (it was one batch here).
    expect(t.sent).toEqual(['ok 2', '2:2:u1+u2+u3', '2:3:u4', '2:4:u5+u6+u7+u8', '2:5:u9']);
  });

  it('a 1.2 follower is sent a mark for the entries it was not sent: at the end of the backlog, and live within FEED_MARK_DELAY_MS', async () => {
    vi.useFakeTimers();
    const route: FeedRoute = (whole) => (text(whole).startsWith('x') ? undefined : whole);
    const f = setup({ route, join: { parts: 2, bytes: 1_000, updates: 100 } });
    for (const [seq, label] of ['a1', 'a2', 'x3', 'x4'].entries()) f.apply(seq + 1, label);
    const dht = f.session('dht');
    dht.speaksDht = true;
    const old = f.session('old');
    await f.server.open(dht, { type: 'feed', id: 1, since: 0 });
    await f.server.open(old, { type: 'feed', id: 2, since: 0 });
    await vi.advanceTimersByTimeAsync(1);
    // a1 and a2 fill a frame (sent at 2); x3 and x4 follow no part: the backlog ends with
    // a mark at 4. A follower that does not speak 1.2 gets no mark (an empty frame would
    // be malformed there).
    expect(dht.sent).toEqual(['ok 1', '1:2:a1+a2', '1:4:']);
    expect(old.sent).toEqual(['ok 2', '2:2:a1+a2']);
    // Live: an entry with no part, and a PUT_AT not fed live, are marked once, a delay later…
    f.apply(5, 'a5-not-live', false);
    await vi.advanceTimersByTimeAsync(1);
    expect(dht.sent).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(FEED_MARK_DELAY_MS);
    expect(dht.sent.slice(3)).toEqual(['1:5:']);
    // … unless an entry sent after them moves the cursor past them first.
    f.apply(6, 'x6');
    f.apply(7, 'a7');
    await vi.advanceTimersByTimeAsync(FEED_MARK_DELAY_MS + 1);
    expect(dht.sent.slice(4)).toEqual(['1:7:a7']);
    expect(old.sent).toEqual(['ok 2', '2:2:a1+a2', '2:7:a7']);
    // Many passed over: a mark every FEED_MARK_EVERY_ENTRIES, without waiting.
    for (let seq = 8; seq < 8 + FEED_MARK_EVERY_ENTRIES; seq++) f.apply(seq, `x${seq}`);
    await vi.advanceTimersByTimeAsync(1);
    expect(dht.sent.slice(5)).toEqual([`1:${7 + FEED_MARK_EVERY_ENTRIES}:`]);
    expect(f.counters.snapshot().rejects).toEqual({});
  });
});
