/**
 * What the outbox sender (network/duties/outbox-sender.ts) does with each answer to a
 * PUT, against a scripted session (helpers/outbox-sender-harness.ts) and fake timers:
 *
 * - an update refused for now (in the ACK, or an ERROR reply) keeps its entry in the
 *   outbox, is reported and counted, and is sent again after 1 s, then 2 s, …; a PUT taken
 *   whole starts the delays over; however many PUTs are refused, one timer;
 * - a joined PUT refused for now (in part or whole) is sent again entry by entry, so each
 *   entry's fate is its own; one refused for good leaves the outbox, reported once per
 *   update with the range of entries it was in;
 * - a timeout (no answer) keeps the entries, unreported, and sends them again;
 * - a write waiting for a durability level goes as PUT_AT to a 1.2 peer (PUT to older
 *   ones), and what the server reported reaches the waits: its owners and how many hold
 *   it, the server alone for a plain ACK, nothing reached when refused for good;
 * - no timer is left behind by a sender that closed, on an ended session, or once the
 *   network stops.
 *
 * Why: issue 11 (a write refused for now is never lost) and the durability levels rest on
 * these rules; the end-to-end tests (write-refusals, durability-levels) see only their sum.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RustDHTError } from '../../src/api/errors.js';
import { RemoteError } from '../../src/network/sync-session.js';
import { ack, harness, nextMacrotask, until, type Harness } from './helpers/outbox-sender-harness.js';

beforeEach(() => {
  // setImmediate stays real: the sender's joined PUT leaves after the macrotask.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  // No jitter: the backoff waits exactly 1 s, 2 s, 4 s …
  vi.spyOn(Math, 'random').mockReturnValue(0.5);
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** Moves the clock `ms` on and lets whatever that started run. */
async function advance(ms: number): Promise<void> {
  vi.advanceTimersByTime(ms);
  await nextMacrotask();
  await nextMacrotask();
}

async function sent(h: Harness, ...ids: number[]): Promise<void> {
  h.outbox.add(...ids);
  await h.sender.drain();
  await nextMacrotask();
}

/** Waits for the sender to take in the answer to the last PUT. */
async function answered(): Promise<void> {
  for (let i = 0; i < 5; i++) await nextMacrotask();
}

const kept = (what: string, code: string) => ({ type: 'reject', peerId: 'scripted-server', code, message: `the peer refused an update of ${what} (kept in the outbox and sent again later).` });

describe('outbox sender: refusals, retries and durability levels', () => {
  it('refused for now in the ACK: kept, reported, counted, sent again after 1 s then 2 s; a PUT taken whole starts over at 1 s', async () => {
    const h = harness();
    await sent(h, 1);
    h.session.puts[0]!.resolve(ack(1, { 0: 'limit/deferred' }));
    await answered();
    expect(h.events).toEqual([kept('outbox entry 1', 'limit/deferred')]);
    expect(h.counters.snapshot().rejects).toEqual({ 'limit/deferred': 1 });
    expect(h.outbox.acknowledged).toEqual([]);
    expect(vi.getTimerCount()).toBe(1);
    await advance(999);
    expect(h.session.puts).toHaveLength(1);
    await advance(1);
    expect(h.session.puts.map((p) => p.ids)).toEqual([[1], [1]]);

    h.session.puts[1]!.resolve(ack(1, { 0: 'clock/too-far-ahead' }));
    await answered();
    await advance(1999);
    expect(h.session.puts).toHaveLength(2);
    await advance(1);
    expect(h.session.puts).toHaveLength(3);

    h.session.puts[2]!.resolve(ack(1));
    await until('the entry to leave the outbox', () => h.outbox.acknowledged.length === 1);
    expect(vi.getTimerCount()).toBe(0);

    await sent(h, 2);
    h.session.puts[3]!.resolve(ack(1, { 0: 'quota/peer' }));
    await answered();
    await advance(999);
    expect(h.session.puts).toHaveLength(4);
    await advance(1);
    expect(h.session.puts.map((p) => p.ids)).toEqual([[1], [1], [1], [2], [2]]);
  });

  it('a joined PUT refused for now in part is sent again entry by entry, each entry with its own fate', async () => {
    const h = harness();
    await sent(h, 1, 2, 3);
    h.session.puts[0]!.resolve(ack(3, { 1: 'limit/deferred' }));
    await answered();
    expect(h.session.puts.map((p) => p.ids)).toEqual([[1, 2, 3], [1], [2], [3]]);
    // The joined PUT's refusal is not reported: its entries' own PUTs say what happened.
    expect(h.events).toEqual([]);
    expect(h.counters.snapshot().rejects).toEqual({});
    expect(vi.getTimerCount()).toBe(0);
    h.session.puts[1]!.resolve(ack(1));
    h.session.puts[2]!.resolve(ack(1, { 0: 'limit/deferred' }));
    h.session.puts[3]!.resolve(ack(1));
    await until('entries 1 and 3 to leave the outbox', () => h.outbox.acknowledged.length === 2);
    expect(h.outbox.acknowledged.sort()).toEqual([1, 3]);
    expect(h.events).toEqual([kept('outbox entry 2', 'limit/deferred')]);
    expect(vi.getTimerCount()).toBe(1);
    await advance(1000);
    expect(h.session.puts.at(-1)!.ids).toEqual([2]);
  });

  it('refused for good in the ACK: each such update reported with the range of entries, and the whole PUT leaves the outbox', async () => {
    const h = harness();
    await sent(h, 1, 2, 3);
    h.session.puts[0]!.resolve(ack(3, { 0: 'signature/invalid', 2: 'namespace/not-owner' }));
    await until('the entries to leave the outbox', () => h.outbox.acknowledged.length === 3);
    expect(h.session.puts).toHaveLength(1);
    expect(h.events).toEqual([
      { type: 'reject', peerId: 'scripted-server', code: 'signature/invalid', message: 'the peer refused an update of outbox entries 1–3 (dropped from the outbox).' },
      { type: 'reject', peerId: 'scripted-server', code: 'namespace/not-owner', message: 'the peer refused an update of outbox entries 1–3 (dropped from the outbox).' },
    ]);
    expect(h.counters.snapshot().rejects).toEqual({ 'signature/invalid': 1, 'namespace/not-owner': 1 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an ERROR reply refused for now: counted, reported, kept, sent again after the backoff', async () => {
    const h = harness();
    await sent(h, 1);
    h.session.puts[0]!.reject(new RemoteError('wire/rate-limited', 'scripted-server refused the put: slow down'));
    await answered();
    expect(h.counters.snapshot().rejects).toEqual({ 'wire/rate-limited': 1 });
    expect(h.events).toEqual([
      { type: 'reject', peerId: 'scripted-server', code: 'wire/rate-limited', message: 'scripted-server refused the put: slow down (outbox entry 1 kept in the outbox and sent again later)' },
    ]);
    expect(h.outbox.acknowledged).toEqual([]);
    await advance(999);
    expect(h.session.puts).toHaveLength(1);
    await advance(1);
    expect(h.session.puts.map((p) => p.ids)).toEqual([[1], [1]]);
  });

  it('an ERROR reply refused for good: a joined PUT goes again entry by entry; the refused entry is reported and leaves the outbox', async () => {
    const h = harness();
    await sent(h, 1, 2, 3);
    h.session.puts[0]!.reject(new RemoteError('limit/batch', 'too many'));
    await answered();
    expect(h.session.puts.map((p) => p.ids)).toEqual([[1, 2, 3], [1], [2], [3]]);
    expect(h.events).toEqual([]);
    h.session.puts[1]!.resolve(ack(1));
    h.session.puts[2]!.reject(new RemoteError('signature/invalid', 'scripted-server refused the put: bad signature'));
    h.session.puts[3]!.resolve(ack(1));
    await until('every entry to leave the outbox', () => h.outbox.acknowledged.length === 3);
    expect(h.events).toEqual([
      { type: 'reject', peerId: 'scripted-server', code: 'signature/invalid', message: 'scripted-server refused the put: bad signature (outbox entry 2 dropped from the outbox)' },
    ]);
    // Counted once, like a refusal inside an ACK (the joined PUT's limit/batch is not: its entries went again).
    expect(h.counters.snapshot().rejects).toEqual({ 'signature/invalid': 1 });
    expect(vi.getTimerCount()).toBe(0);
    expect(h.session.puts).toHaveLength(4);
  });

  it('no answer (a timeout): the joined PUT is kept whole, unreported, and sent again after the backoff', async () => {
    const h = harness();
    await sent(h, 1, 2);
    h.session.puts[0]!.reject(new RustDHTError('network/timeout', 'scripted-server did not answer a put within 30000 ms.'));
    await answered();
    expect(h.events).toEqual([]);
    expect(h.counters.snapshot().rejects).toEqual({});
    expect(h.session.puts).toHaveLength(1);
    await advance(1000);
    expect(h.session.puts.map((p) => p.ids)).toEqual([[1, 2], [1, 2]]);
  });

  it('however many PUTs are refused for now, one timer; then they go again together', async () => {
    const h = harness();
    await sent(h, 1, 2);
    h.session.puts[0]!.resolve(ack(2, { 0: 'limit/deferred', 1: 'limit/deferred' }));
    await answered();
    h.session.puts[1]!.resolve(ack(1, { 0: 'limit/deferred' }));
    h.session.puts[2]!.reject(new RemoteError('storage/full', 'full'));
    await answered();
    expect(vi.getTimerCount()).toBe(1);
    expect(h.events.map((event) => event.type === 'reject' && event.code)).toEqual(['limit/deferred', 'storage/full']);
    await advance(1000);
    expect(h.session.puts.map((p) => p.ids)).toEqual([[1, 2], [1], [2], [1, 2]]);
  });

  it('no timer is left behind by a closed sender, on an ended session, or once the network stops', async () => {
    // close() clears a timer already set.
    const a = harness();
    await sent(a, 1);
    a.session.puts[0]!.resolve(ack(1, { 0: 'limit/deferred' }));
    await answered();
    expect(vi.getTimerCount()).toBe(1);
    a.sender.close();
    expect(vi.getTimerCount()).toBe(0);

    // A refusal that arrives after close(), after the session ended, or after the stop.
    const late = async (end: (h: Harness) => void): Promise<void> => {
      const h = harness();
      await sent(h, 1);
      end(h);
      h.session.puts[0]!.resolve(ack(1, { 0: 'limit/deferred' }));
      await answered();
      expect(h.outbox.acknowledged).toEqual([]);
      expect(vi.getTimerCount()).toBe(0);
    };
    await late((h) => h.sender.close());
    await late((h) => (h.session.closed = true));
    await late((h) => h.stop.abort());
  });

  it('a write waiting for a durability level goes as PUT_AT to a 1.2 peer, and the ACK_AT reaches the waits', async () => {
    const levels: (readonly number[])[] = [];
    const h = harness({ levelOf: (ids) => (levels.push([...ids]), 'quorum') });
    await sent(h, 1, 2);
    expect(levels).toEqual([[1, 2]]);
    const put = h.session.puts[0]!;
    expect(put.message).toEqual({ type: 'put-at', level: 'quorum', frame: put.message.frame });
    put.resolve({ type: 'ack-at', id: 1, reached: 2, owners: 3, outcomes: [{ outcome: 'applied' }, { outcome: 'ignored' }] });
    await until('the entries to leave the outbox', () => h.outbox.acknowledged.length === 2);
    expect(h.reports).toEqual([{ ids: [1, 2], report: { reached: 2, owners: 3 } }]);
  });

  it('an ACK_AT refusing an update for now keeps the entry and reports nothing to the waits', async () => {
    const h = harness({ levelOf: () => 'all' });
    await sent(h, 1);
    h.session.puts[0]!.resolve({ type: 'ack-at', id: 1, reached: 0, owners: 3, outcomes: [{ outcome: 'rejected', code: 'limit/deferred' }] });
    await answered();
    expect(h.outbox.acknowledged).toEqual([]);
    expect(h.reports).toEqual([]);
    expect(h.events).toEqual([kept('outbox entry 1', 'limit/deferred')]);
    expect(vi.getTimerCount()).toBe(1);
  });

  it('what the waits hear: a plain ACK is the server alone; refused for good, nothing reached (ACK, ACK_AT or ERROR)', async () => {
    const h = harness({ levelOf: () => 'one' });
    await sent(h, 1);
    h.session.puts[0]!.resolve(ack(1));
    await sent(h, 2);
    h.session.puts[1]!.resolve(ack(1, { 0: 'signature/invalid' }));
    await sent(h, 3);
    h.session.puts[2]!.resolve({ type: 'ack-at', id: 3, reached: 3, owners: 3, outcomes: [{ outcome: 'rejected', code: 'limit/value' }] });
    await sent(h, 4);
    h.session.puts[3]!.reject(new RemoteError('namespace/not-owner', 'not yours'));
    await until('every entry to leave the outbox', () => h.outbox.acknowledged.length === 4);
    expect(h.reports).toEqual([
      { ids: [1], report: { reached: 1, owners: 1 } },
      { ids: [2], report: { reached: 0, owners: 1 } },
      { ids: [3], report: { reached: 0, owners: 1 } },
      { ids: [4], report: { reached: 0, owners: 1 } },
    ]);
  });

  it('a sender given levelOf but nothing to report to still takes the entries out of the outbox (ACK or ERROR)', async () => {
    const h = harness({ levelOf: () => 'quorum', replicated: false });
    await sent(h, 1);
    h.session.puts[0]!.resolve(ack(1));
    await sent(h, 2);
    h.session.puts[1]!.reject(new RemoteError('signature/invalid', 'bad'));
    await until('the entries to leave the outbox', () => h.outbox.acknowledged.length === 2);
    expect(h.outbox.acknowledged).toEqual([1, 2]);
  });

  it('to a peer older than 1.2, or with no level waited for, a plain PUT, and the waits hear nothing', async () => {
    const old = harness({ levelOf: () => 'quorum' });
    old.session.speaksDht = false;
    await sent(old, 1);
    expect(old.session.puts[0]!.message).toEqual({ type: 'put', frame: old.session.puts[0]!.message.frame });

    const none = harness({ levelOf: () => undefined });
    await sent(none, 1);
    expect(none.session.puts[0]!.message.type).toBe('put');
    none.session.puts[0]!.resolve(ack(1));
    await sent(none, 2);
    none.session.puts[1]!.reject(new RemoteError('signature/invalid', 'bad'));
    await until('the entries to leave the outbox', () => none.outbox.acknowledged.length === 2);
    expect(none.reports).toEqual([]);

    const unasked = harness();
    await sent(unasked, 1);
    expect(unasked.session.puts[0]!.message.type).toBe('put');
  });
});
