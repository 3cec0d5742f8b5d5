/**
 * How the outbox leaves for a server (network/duties/outbox-sender.ts), one PUT at a
 * time, against a scripted session (helpers/outbox-sender-harness.ts):
 *
 * - the entries of one macrotask leave as one PUT whose frame the engine joins, in
 *   outbox order, cut where the peer's message limit or 1,000 updates would be passed;
 *   a lone entry goes as it is, without an engine call;
 * - an entry no message can carry is reported (wire/too-large) and dropped, not retried;
 * - at most 2,048 entries are in flight; the window opens as ACKs come back;
 * - an ACK takes each entry out of the outbox; an entry is never in flight twice;
 * - a drain asked for while one runs makes the running one read the outbox again;
 *   a failure to read the outbox is reported; nothing is sent on an ended session, to
 *   a closed database, or after close(), and close() releases a drain waiting for the
 *   window.
 *
 * Why: these are the sender's own rules; the tests that run it end to end (sync
 * conformance, write-refusals) would pass with most of them broken (mutation testing
 * showed it: scripts/mutation/README.md).
 */
import { describe, expect, it } from 'vitest';
import { RustDHTError } from '../../src/api/errors.js';
import { ack, entryFrame, harness, nextMacrotask, until } from './helpers/outbox-sender-harness.js';

describe('outbox sender: joining and the window', () => {
  it("one macrotask's entries leave as one PUT holding each in outbox order; the ACK takes each out of the outbox", async () => {
    const h = harness();
    h.outbox.add(1, 2, 3);
    await h.sender.drain();
    expect(h.session.puts).toHaveLength(0);
    expect(h.changes.count).toBe(3);
    await nextMacrotask();
    expect(h.session.puts).toHaveLength(1);
    const [put] = h.session.puts;
    expect(put!.message.type).toBe('put');
    expect(put!.ids).toEqual([1, 2, 3]);
    expect(h.joins.count).toBe(1);
    put!.resolve(ack(3));
    await until('the ACK to take the entries', () => h.outbox.acknowledged.length === 3);
    expect(h.outbox.acknowledged).toEqual([1, 2, 3]);
    await until('the entries to leave flight', () => h.changes.count === 4);
    expect(h.events).toEqual([]);
    expect(h.counters.snapshot().rejects).toEqual({});
    // Nothing stays in flight or keeps the drain busy: a new entry goes at once.
    h.outbox.add(4);
    await h.sender.drain();
    await nextMacrotask();
    expect(h.session.puts.map((p) => p.ids)).toEqual([[1, 2, 3], [4]]);
  });

  it('a lone entry goes as its own frame, without an engine call', async () => {
    const h = harness();
    h.outbox.add(7);
    await h.sender.drain();
    await nextMacrotask();
    expect(h.session.puts).toHaveLength(1);
    expect(h.session.puts[0]!.message.frame).toBe(h.outbox.entries.get(7));
    expect(h.joins.count).toBe(0);
  });

  it('an entry offered again while queued or in flight is sent once', async () => {
    const h = harness();
    const entry = { id: 5, frame: entryFrame(5) };
    h.sender.offer(entry);
    h.sender.offer(entry);
    h.sender.offer({ id: 6, frame: entryFrame(6) });
    expect(h.changes.count).toBe(2);
    await nextMacrotask();
    h.sender.offer(entry);
    await nextMacrotask();
    expect(h.session.puts.map((p) => p.ids)).toEqual([[5, 6]]);
  });

  it("a PUT holds what fits the peer's message limit, the next ones the rest, in order", async () => {
    const h = harness();
    h.outbox.add(1, 2, 3, 4, 5);
    // Frames of one update, all the same length here: two fit, three do not.
    const length = entryFrame(1).length;
    h.session.maxFrameBytes = 2 * length;
    await h.sender.drain();
    await nextMacrotask();
    expect(h.session.puts.map((p) => p.ids)).toEqual([[1, 2], [3, 4], [5]]);
    expect(h.joins.count).toBe(2);
    h.session.maxFrameBytes = 3 * length;
    h.outbox.add(6, 7, 8, 9);
    await h.sender.drain();
    await nextMacrotask();
    expect(h.session.puts.slice(3).map((p) => p.ids)).toEqual([[6, 7, 8], [9]]);
  });

  it('at most 1,000 updates in one PUT', async () => {
    const h = harness();
    h.outbox.add(...Array.from({ length: 1500 }, (_, i) => i + 1));
    await h.sender.drain();
    await nextMacrotask();
    expect(h.session.puts.map((p) => p.ids.length)).toEqual([1000, 500]);
    expect(h.session.puts.flatMap((p) => p.ids)).toEqual(Array.from({ length: 1500 }, (_, i) => i + 1));
  });

  it('an entry larger than any message is reported as wire/too-large and dropped, not sent; the others go', async () => {
    const h = harness();
    h.outbox.entries.set(1, entryFrame(1, 'x'.repeat(100)));
    h.outbox.entries.set(2, entryFrame(2));
    h.session.maxFrameBytes = entryFrame(2).length;
    await h.sender.drain();
    await nextMacrotask();
    expect(h.events).toEqual([{ type: 'reject', peerId: 'scripted-server', code: 'wire/too-large', message: 'outbox entry 1 is larger than a message may be; not sent.' }]);
    expect(h.outbox.acknowledged).toEqual([1]);
    expect(h.session.puts).toHaveLength(1);
    expect(h.session.puts[0]!.message.frame).toBe(h.outbox.entries.get(2));
    expect(h.changes.count).toBe(1);
  });

  it('at most 2,048 entries in flight; the window opens as ACKs come back', async () => {
    const h = harness();
    h.outbox.add(...Array.from({ length: 2050 }, (_, i) => i + 1));
    let drained = false;
    void h.sender.drain().then(() => (drained = true));
    await until('the first PUTs', () => h.session.puts.length !== 0);
    expect(h.session.puts.map((p) => p.ids.length)).toEqual([1000, 1000, 48]);
    expect(h.session.puts.flatMap((p) => p.ids)).toEqual(Array.from({ length: 2048 }, (_, i) => i + 1));
    await nextMacrotask();
    expect(h.session.puts).toHaveLength(3);
    expect(drained).toBe(false);
    // 48 answered: 48 more may go (two are left).
    h.session.puts[2]!.resolve(ack(48));
    await until('the rest to go', () => h.session.puts.length === 4);
    expect(h.session.puts[3]!.ids).toEqual([2049, 2050]);
    await until('the drain to end', () => drained);
  });

  it('with the window full, a drain over entries all in flight ends at once (it waits for the window only to send)', async () => {
    const h = harness();
    h.outbox.add(...Array.from({ length: 2048 }, (_, i) => i + 1));
    await h.sender.drain();
    await until('the PUTs', () => h.session.puts.length === 3);
    let drained = false;
    void h.sender.drain().then(() => (drained = true));
    await until('the second drain to end, no ACK given', () => drained, 20);
    expect(h.outbox.listed).toBe(4096);
    expect(h.session.puts).toHaveLength(3);
  });

  it('once the network stops, the drain lists no more of the outbox', async () => {
    const h = harness();
    h.outbox.add(...Array.from({ length: 2050 }, (_, i) => i + 1));
    let drained = false;
    void h.sender.drain().then(() => (drained = true));
    await until('the first PUTs', () => h.session.puts.length === 3);
    // Entry 2049 is listed, waiting for the window; 2050 is not listed yet.
    h.stop.abort();
    h.session.puts[2]!.resolve(ack(48));
    await until('the drain to end', () => drained);
    await nextMacrotask();
    expect(h.outbox.listed).toBe(2049);
    expect(h.session.puts.slice(3).map((p) => p.ids)).toEqual([[2049]]);
  });

  it('a drain asked for while one runs makes it read the outbox again (an entry that came back from flight meanwhile goes)', async () => {
    const h = harness();
    h.outbox.add(1);
    await h.sender.drain();
    await nextMacrotask();
    expect(h.session.puts).toHaveLength(1);
    // A second drain lists entry 1 (in flight: skipped), then waits before its end.
    let end!: () => void;
    h.outbox.beforeEnd = new Promise((resolve) => (end = resolve));
    let drained = false;
    void h.sender.drain().then(() => (drained = true));
    await nextMacrotask();
    expect(h.outbox.listed).toBe(2);
    // Entry 1 leaves flight unacknowledged (timed out), and someone asks for a drain.
    h.session.puts[0]!.reject(new RustDHTError('network/timeout', 'no answer'));
    await nextMacrotask();
    await h.sender.drain();
    expect(h.outbox.listed).toBe(2);
    h.outbox.beforeEnd = undefined;
    end();
    await until('the running drain to end', () => drained);
    await nextMacrotask();
    // Sent again by the running drain's second pass, not by the retry timer (1 s away).
    expect(h.outbox.listed).toBe(3);
    expect(h.session.puts.map((p) => p.ids)).toEqual([[1], [1]]);
  });

  it('a failure to read the outbox is reported (unless the network stops or the database closed), and the next drain reads it again', async () => {
    const h = harness();
    h.outbox.failure = new RustDHTError('storage/io', 'disk gone');
    await h.sender.drain();
    h.outbox.failure = new Error('not a RustDHTError');
    await h.sender.drain();
    expect(h.events).toEqual([
      { type: 'reject', peerId: 'scripted-server', code: 'storage/io', message: 'could not read the outbox: disk gone' },
      { type: 'reject', peerId: 'scripted-server', code: 'internal', message: 'could not read the outbox: not a RustDHTError' },
    ]);
    h.outbox.failure = undefined;
    h.outbox.add(1);
    await h.sender.drain();
    await nextMacrotask();
    expect(h.session.puts).toHaveLength(1);

    const stopped = harness();
    stopped.outbox.failure = new RustDHTError('storage/io', 'disk gone');
    stopped.stop.abort();
    await stopped.sender.drain();
    const closed = harness();
    closed.outbox.failure = new RustDHTError('storage/io', 'disk gone');
    closed.replica.closed = true;
    await closed.sender.drain();
    expect([...stopped.events, ...closed.events]).toEqual([]);
  });

  it('nothing is sent on an ended session or to a closed database, and the drain stops reading the outbox', async () => {
    const ended = harness();
    ended.outbox.add(1, 2, 3);
    ended.session.closed = true;
    await ended.sender.drain();
    ended.sender.offer({ id: 4, frame: entryFrame(4) });
    await nextMacrotask();
    expect(ended.session.puts).toHaveLength(0);
    expect(ended.outbox.listed).toBe(1);
    expect(ended.changes.count).toBe(0);

    const closed = harness();
    closed.outbox.add(1, 2, 3);
    closed.replica.closed = true;
    await closed.sender.drain();
    await nextMacrotask();
    expect(closed.session.puts).toHaveLength(0);
    expect(closed.outbox.listed).toBe(1);
  });

  it('entries whose session ended before they left come back from flight, unsent and still in the outbox', async () => {
    const h = harness();
    h.outbox.add(1, 2);
    await h.sender.drain();
    expect(h.changes.count).toBe(2);
    h.session.closed = true;
    await nextMacrotask();
    expect(h.session.puts).toHaveLength(0);
    expect(h.changes.count).toBe(3);
    expect(h.outbox.acknowledged).toEqual([]);
    expect(h.events).toEqual([]);
  });

  it('an ACK that comes after the database closed acknowledges nothing (the entries stay for the next start)', async () => {
    const h = harness();
    h.outbox.add(1, 2);
    await h.sender.drain();
    await nextMacrotask();
    h.replica.closed = true;
    h.session.puts[0]!.resolve(ack(2));
    await until('the entries to leave flight', () => h.changes.count === 3);
    expect(h.outbox.acknowledged).toEqual([]);
  });

  it('after close(), nothing is offered, drained or sent again; close() releases a drain waiting for the window', async () => {
    const h = harness();
    h.outbox.add(...Array.from({ length: 2049 }, (_, i) => i + 1));
    let drained = false;
    void h.sender.drain().then(() => (drained = true));
    await until('the first PUTs', () => h.session.puts.length !== 0);
    await nextMacrotask();
    expect(h.session.puts).toHaveLength(3);
    expect(drained).toBe(false);
    h.session.closed = true;
    h.sender.close();
    await until('the waiting drain to end', () => drained);
    expect(h.session.puts).toHaveLength(3);

    const closed = harness();
    closed.sender.close();
    closed.outbox.add(1);
    await closed.sender.drain();
    closed.sender.offer({ id: 2, frame: entryFrame(2) });
    await nextMacrotask();
    expect(closed.outbox.listed).toBe(0);
    expect(closed.session.puts).toHaveLength(0);
    expect(closed.changes.count).toBe(0);
  });

  it('a reply that is not an ACK (no outcomes) counts as taken: the entries leave flight and the outbox', async () => {
    const h = harness();
    h.outbox.add(1, 2);
    await h.sender.drain();
    await nextMacrotask();
    h.session.puts[0]!.resolve({ type: 'ok', id: 1 });
    await until('the entries to leave the outbox', () => h.outbox.acknowledged.length === 2);
    expect(h.events).toEqual([]);
  });
});
