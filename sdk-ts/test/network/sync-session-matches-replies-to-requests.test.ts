/**
 * One sync session (network/sync-session.ts) from the side that asks, over an in-memory
 * channel with a hand-driven peer (helpers/session-harness.ts):
 *
 * - HELLO first, unasked; the peer's hello sets its role and the largest message it takes
 *   (at least 1,024 bytes, whatever it claims); which protocol features the peer has;
 * - requests get fresh ids, replies are matched by id, an ERROR reply rejects with
 *   RemoteError; a request times out (its own limit, the session's, 30 s by default),
 *   aborts with its signal, fails when it cannot be sent, and rejects with ClosedError when
 *   the session ends or has ended;
 * - a followed feed hears its entries (before and after the OK), until it is refused;
 * - what is sent is counted, charged to the peer's send queue until the channel took it,
 *   and never larger than the peer takes; past the queue's bound the session ends with
 *   wire/slow-consumer;
 * - the end is reported once (handler, whenClosed, whenReady), whatever ends it.
 *
 * Why: the sync conformance suite checks the protocol through whole databases, where a
 * session's bookkeeping (ids, timers, byte counts, the end) is rarely what decides a test
 * (mutation testing: scripts/mutation/README.md).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClosedError, RustDHTError } from '../../src/api/errors.js';
import { PeerSendQueue } from '../../src/network/peers/send-queue.js';
import { RemoteError } from '../../src/network/sync-session.js';
import { MAX_FRAME_MESSAGE_OVERHEAD, SYNC_PROTOCOL, SYNC_PROTOCOL_1_0, SYNC_PROTOCOL_1_1, encodeMessage, type WireMessage } from '../../src/network/wire/messages.js';
import { lengthPrefixed } from '../../src/network/wire/framing.js';
import type { FeedEntryMessage, HelloMessage } from './helpers/raw-peer.js';
import { readyPair, sessionPair, settle } from './helpers/session-harness.js';
import { waitFor } from './helpers/server-process.js';

afterEach(() => {
  vi.restoreAllMocks();
});

const frame = (length: number): Uint8Array => new Uint8Array(length).fill(7);

describe('HELLO', () => {
  it('is sent first, unasked, with our role and maxMessageBytes; the peer\'s sets its role and message limit', async () => {
    const { session, peer } = sessionPair({ localRole: 'client', limits: { maxMessageBytes: 50_000 } });
    const hello = await peer.next((m): m is HelloMessage => m.type === 'hello', 'hello');
    expect(hello).toEqual({ type: 'hello', id: 0, role: 'client', maxMessageBytes: 50_000 });
    expect(peer.messages[0]).toBe(hello);
    expect(session.remoteRole).toBeUndefined();
    expect(session.remoteMaxMessageBytes).toBe(50_000);
    await peer.hello({ role: 'server', maxMessageBytes: 20_000 });
    expect(await session.whenReady()).toBe('server');
    expect(session.remoteRole).toBe('server');
    expect(session.remoteMaxMessageBytes).toBe(20_000);
  });

  it('a peer that claims to take less than 1,024 bytes is still sent messages of 1,024', async () => {
    const { session } = await readyPair({ maxMessageBytes: 10 });
    expect(session.remoteMaxMessageBytes).toBe(1024);
    expect(session.fits(1024 - MAX_FRAME_MESSAGE_OVERHEAD)).toBe(true);
    expect(session.fits(1024 - MAX_FRAME_MESSAGE_OVERHEAD + 1)).toBe(false);
  });

  it('the session ending before the hello: whenReady rejects with ClosedError', async () => {
    const { session, peer } = sessionPair();
    const ready = session.whenReady();
    peer.stop();
    await expect(ready).rejects.toBeInstanceOf(ClosedError);
  });

  it('lastHeardAt: creation time, then when bytes last came', async () => {
    const now = vi.spyOn(Date, 'now').mockReturnValue(1000);
    const { session, peer } = sessionPair();
    expect(session.lastHeardAt).toBe(1000);
    now.mockReturnValue(5000);
    await peer.hello();
    await session.whenReady();
    expect(session.lastHeardAt).toBe(5000);
  });
});

describe('protocol features', () => {
  const cases = [
    [SYNC_PROTOCOL_1_0, false, false],
    [SYNC_PROTOCOL_1_1, true, false],
    [SYNC_PROTOCOL, true, true],
    [undefined, true, true],
  ] as const;
  for (const [protocol, partialReads, speaksDht] of cases) {
    it(`${protocol ?? 'an in-process channel'}: partial reads ${partialReads}, DHT ${speaksDht}`, () => {
      const { session, peer } = sessionPair(protocol === undefined ? {} : { protocol });
      expect(session.partialReads).toBe(partialReads);
      expect(session.speaksDht).toBe(speaksDht);
      peer.stop();
    });
  }
});

describe('requests and replies', () => {
  it('fresh ids; each reply settles its own request, in any order; an ERROR reply rejects with RemoteError', async () => {
    const { session, peer } = await readyPair();
    const first = session.request({ type: 'get', soul: 'a', keys: [] });
    const second = session.request({ type: 'subscribe', souls: ['b'] });
    const third = session.request({ type: 'feed', since: 3 });
    const asked = await waitFor('three requests', () => (peer.messages.length >= 4 ? peer.messages.slice(1) : undefined), { intervalMs: 2 });
    expect(asked).toEqual([
      { type: 'get', id: 1, soul: 'a', keys: [] },
      { type: 'subscribe', id: 2, souls: ['b'] },
      { type: 'feed', id: 3, since: 3 },
    ]);
    await peer.send({ type: 'ok', id: 2 });
    await peer.send({ type: 'node', id: 1, frame: frame(3) });
    await peer.send({ type: 'error', id: 3, code: 'feed/unavailable', message: 'no change log' });
    expect(await second).toEqual({ type: 'ok', id: 2 });
    expect(await first).toEqual({ type: 'node', id: 1, frame: frame(3) });
    const error = await third.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as RemoteError).name).toBe('RemoteError');
    expect((error as RemoteError).code).toBe('feed/unavailable');
    expect((error as RemoteError).message).toBe('peer-1 refused the feed: no change log');
  });

  it('each reply type answers a request: NODE_PART, ACK, ACK_AT, DIGEST_REPLY, MEMBERS with an id', async () => {
    const { session, peer, handler } = await readyPair();
    const replies: WireMessage[] = [
      { type: 'node-part', id: 1, next: '', skipped: [], frame: frame(1) },
      { type: 'ack', id: 2, outcomes: [] },
      { type: 'ack-at', id: 3, reached: 1, owners: 3, outcomes: [] },
      { type: 'digest-reply', id: 4, answer: { kind: 'souls', souls: ['x'] } },
      { type: 'members', id: 5, records: [] },
    ];
    const asked = replies.map(() => session.request({ type: 'get', soul: 's', keys: [] }));
    for (const reply of replies) await peer.send(reply);
    expect(await Promise.all(asked)).toEqual(replies);
    expect(handler.events).toEqual([]);
  });

  it('times out after its timeoutMs (network/timeout); a reply after that is dropped', async () => {
    const { session, peer, handler } = await readyPair();
    const error = await session.request({ type: 'get', soul: 's', keys: [] }, { timeoutMs: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RustDHTError);
    expect((error as RustDHTError).code).toBe('network/timeout');
    expect((error as RustDHTError).message).toBe('peer-1 did not answer a get within 20 ms.');
    await peer.send({ type: 'ok', id: 1 });
    await settle();
    expect(handler.refusals).toEqual([]);
    expect(session.closed).toBe(false);
  });

  it("without its own limit, the session's requestTimeoutMs; without that, 30 s", async () => {
    const { session } = await readyPair({ requestTimeoutMs: 15 });
    const error = await session.request({ type: 'get', soul: 's', keys: [] }).catch((e: unknown) => e);
    expect((error as RustDHTError).message).toBe('peer-1 did not answer a get within 15 ms.');

    const pair = await readyPair();
    const timers = vi.spyOn(globalThis, 'setTimeout');
    void pair.session.request({ type: 'get', soul: 's', keys: [] }).catch(() => {});
    expect(timers.mock.calls.map((call) => call[1])).toContain(30_000);
    pair.peer.stop();
  });

  it('aborted by its signal: rejects with the reason, the timer gone; a later reply is dropped', async () => {
    const { session, peer } = await readyPair();
    const controller = new AbortController();
    const asked = session.request({ type: 'get', soul: 's', keys: [] }, { signal: controller.signal, timeoutMs: 30 });
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(asked).rejects.toBe(reason);
    await peer.send({ type: 'ok', id: 1 });
    // The timer was cleared: nothing rejects (or throws) when it would have fired.
    await new Promise((resolve) => setTimeout(resolve, 50));
  });

  it('answered before its signal aborts: resolves, and the abort changes nothing', async () => {
    const { session, peer } = await readyPair();
    const controller = new AbortController();
    const asked = session.request({ type: 'get', soul: 's', keys: [] }, { signal: controller.signal });
    await peer.send({ type: 'ok', id: 1 });
    expect(await asked).toEqual({ type: 'ok', id: 1 });
    controller.abort();
  });

  it('a request that cannot be sent (too large for the peer) rejects with why; the session goes on', async () => {
    const { session, peer } = await readyPair({ maxMessageBytes: 2000 });
    const error = await session.request({ type: 'put', frame: frame(5000) }).catch((e: unknown) => e);
    expect((error as RustDHTError).code).toBe('wire/too-large');
    expect((error as RustDHTError).message).toMatch(/^a put of \d+ bytes is more than peer-1 takes \(2000\)\.$/);
    expect(session.closed).toBe(false);
    const next = session.request({ type: 'get', soul: 's', keys: [] });
    await peer.send({ type: 'ok', id: 2 });
    expect(await next).toEqual({ type: 'ok', id: 2 });
  });

  it('pending when the session ends: rejects with ClosedError; asked after: rejects at once, nothing sent', async () => {
    const { session, peer, handler } = await readyPair();
    const asked = session.request({ type: 'get', soul: 's', keys: [] }, { timeoutMs: 300 });
    await waitFor('the GET', () => peer.messages.find((m) => m.type === 'get'), { intervalMs: 2 });
    peer.stop();
    const error = await asked.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClosedError);
    expect((error as ClosedError).code).toBe('network/closed');
    expect((error as ClosedError).message).toBe('the connection to peer-1 closed.');
    const sent = peer.messages.length;
    const late = await session.request({ type: 'get', soul: 't', keys: [] }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(ClosedError);
    expect((late as ClosedError).code).toBe('network/closed');
    expect((late as ClosedError).message).toBe('the connection to peer-1 is closed.');
    expect(peer.messages.length).toBe(sent);
    await session.whenClosed();
    expect(handler.closedCount).toBe(1);
    // The timer of the rejected request was cleared with it.
    await new Promise((resolve) => setTimeout(resolve, 350));
  });
});

describe('follow (FEED)', () => {
  const entry = (id: number, seq: number): FeedEntryMessage => ({ type: 'feed-entry', id, seq, frame: frame(2) });

  it('entries of the feed, before and after its OK, reach onEntry; onStarted hears the feed id first', async () => {
    const { session, peer, handler } = await readyPair();
    const heard: number[] = [];
    let started: number | undefined;
    const following = session.follow(5, (e) => heard.push(e.seq), (feed) => (started = feed));
    expect(started).toBe(1);
    const feed = await waitFor('the FEED', () => peer.messages.find((m) => m.type === 'feed'));
    expect(feed).toEqual({ type: 'feed', id: 1, since: 5 });
    await peer.send(entry(1, 6));
    await peer.send({ type: 'ok', id: 1 });
    await following;
    await peer.send(entry(1, 7));
    await waitFor('both entries', () => heard.length === 2);
    expect(heard).toEqual([6, 7]);
    expect(handler.refusals).toEqual([]);
  });

  it('a FEED takes a fresh id like any request: two follows and a request after them get 1, 2, 3, each answered on its own', async () => {
    const { session, peer, handler } = await readyPair();
    const first: number[] = [];
    const second: number[] = [];
    const feeds: number[] = [];
    const followingA = session.follow(0, (e) => first.push(e.seq), (feed) => feeds.push(feed));
    const followingB = session.follow(10, (e) => second.push(e.seq), (feed) => feeds.push(feed));
    const asked = session.request({ type: 'get', soul: 's', keys: [] });
    expect(feeds).toEqual([1, 2]);
    const sent = await waitFor('three requests', () => (peer.messages.length >= 4 ? peer.messages.slice(1) : undefined), { intervalMs: 2 });
    expect(sent).toEqual([
      { type: 'feed', id: 1, since: 0 },
      { type: 'feed', id: 2, since: 10 },
      { type: 'get', id: 3, soul: 's', keys: [] },
    ]);
    await peer.send({ type: 'node', id: 3, frame: frame(1) });
    await peer.send({ type: 'ok', id: 2 });
    await peer.send({ type: 'ok', id: 1 });
    await Promise.all([followingA, followingB]);
    expect(await asked).toEqual({ type: 'node', id: 3, frame: frame(1) });
    await peer.send(entry(2, 11));
    await peer.send(entry(1, 1));
    await waitFor('both entries', () => first.length + second.length === 2);
    expect(first).toEqual([1]);
    expect(second).toEqual([11]);
    expect(handler.refusals).toEqual([]);
  });

  it('a refused FEED rejects, and entries for it are unsolicited from then on', async () => {
    const { session, peer, handler } = await readyPair();
    const heard: number[] = [];
    const following = session.follow(0, (e) => heard.push(e.seq));
    await peer.send({ type: 'error', id: 1, code: 'feed/unavailable', message: 'none' });
    await expect(following).rejects.toBeInstanceOf(RemoteError);
    await peer.send(entry(1, 1));
    await waitFor('the refusal', () => handler.refusals.length > 0);
    expect(handler.refusals).toEqual([{ code: 'feed/unsolicited', message: 'a FEED_ENTRY for no feed this peer follows on the session.' }]);
    expect(heard).toEqual([]);
    expect(session.closed).toBe(false);
  });
});

describe('sending', () => {
  it('notify sends the message; what is sent is counted and charged to the queue until the channel took it', async () => {
    const sendQueue = new PeerSendQueue();
    sendQueue.bytes = 100; // another session of the same peer
    const { session, peer, counters } = await readyPair({ sendQueue, channel: { windowBytes: 1 } });
    const before = counters.snapshot();
    const event: WireMessage = { type: 'event', id: 0, frame: frame(300) };
    const length = lengthPrefixed(encodeMessage(event)).length;
    const sent = session.notify(event);
    expect(session.queuedBytes).toBe(length);
    expect(session.peerQueuedBytes).toBe(100 + length);
    await sent;
    expect(session.queuedBytes).toBe(0);
    expect(session.peerQueuedBytes).toBe(100);
    expect(await waitFor('the EVENT', () => peer.messages.find((m) => m.type === 'event'))).toEqual(event);
    const after = counters.snapshot();
    expect(after.messagesOut - before.messagesOut).toBe(1);
    expect(after.bytesOut - before.bytesOut).toBe(length);
  });

  it('a channel that fails the send: the bytes are credited back all the same', async () => {
    const { session, theirs } = await readyPair({ channel: { windowBytes: 1 } });
    const sent = session.notify({ type: 'event', id: 0, frame: frame(300) });
    expect(session.queuedBytes).toBeGreaterThan(0);
    theirs.abort(new Error('gone'));
    await sent.catch(() => {});
    expect(session.queuedBytes).toBe(0);
    expect(session.peerQueuedBytes).toBe(0);
  });

  it('a message that cannot be encoded rejects, nothing sent', async () => {
    const { session, peer, counters } = await readyPair();
    const out = counters.snapshot().messagesOut;
    await expect(session.notify({ type: 'ok', id: -1 })).rejects.toMatchObject({ code: 'wire/malformed' });
    expect(counters.snapshot().messagesOut).toBe(out);
    expect(session.queuedBytes).toBe(0);
    peer.stop();
  });

  it('up to the peer\'s limit (+ the 5-byte prefix) is sent; one byte more is refused as wire/too-large', async () => {
    const { session, peer } = await readyPair({ maxMessageBytes: 2000 });
    // The largest EVENT whose framed length is 2,005 bytes.
    let size = 1990;
    while (lengthPrefixed(encodeMessage({ type: 'event', id: 0, frame: frame(size + 1) })).length <= 2005) size++;
    expect(lengthPrefixed(encodeMessage({ type: 'event', id: 0, frame: frame(size) })).length).toBe(2005);
    await session.notify({ type: 'event', id: 0, frame: frame(size) });
    await expect(session.notify({ type: 'event', id: 0, frame: frame(size + 1) })).rejects.toMatchObject({ code: 'wire/too-large' });
    await waitFor('the EVENT', () => peer.messages.find((m) => m.type === 'event'));
    expect(peer.messages.filter((m) => m.type === 'event')).toHaveLength(1);
    expect(session.closed).toBe(false);
  });

  it('after the session closed: sends nothing, resolves', async () => {
    const { session, peer, counters } = await readyPair();
    await session.close();
    const out = counters.snapshot().messagesOut;
    await session.notify({ type: 'event', id: 0, frame: frame(1) });
    expect(counters.snapshot().messagesOut).toBe(out);
    peer.stop();
  });

  it("up to the peer's send-queue bound is queued; one byte past it and the session ends", async () => {
    const event: WireMessage = { type: 'event', id: 0, frame: frame(100) };
    const length = lengthPrefixed(encodeMessage(event)).length;
    const sendQueue = new PeerSendQueue(1000);
    const { session, handler } = await readyPair({ sendQueue });
    sendQueue.bytes = 1000 - length; // exactly room for one
    await session.notify(event);
    expect(session.closed).toBe(false);
    sendQueue.bytes = 1000 - length + 1;
    await expect(session.notify(event)).rejects.toMatchObject({ code: 'wire/busy' });
    expect(session.closed).toBe(true);
    expect(handler.refusals).toHaveLength(1);
  });

  it('past the bound: wire/busy to the sender, and the session ends with wire/slow-consumer, its farewell sent however full the queue is', async () => {
    const event: WireMessage = { type: 'event', id: 0, frame: frame(100) };
    const sendQueue = new PeerSendQueue(1000);
    const { session, peer, handler } = await readyPair({ sendQueue });
    sendQueue.bytes = 999;
    const refused = await session.notify(event).catch((e: unknown) => e);
    expect((refused as RustDHTError).code).toBe('wire/busy');
    expect((refused as RustDHTError).message).toBe('not sent: more than 1000 bytes waiting for this peer to read them.');
    expect(session.closed).toBe(true);
    expect(handler.refusals).toEqual([{ code: 'wire/slow-consumer', message: 'more than 1000 bytes waiting for this peer to read them.' }]);
    const farewell = await peer.ended();
    expect(farewell).toEqual({ type: 'error', id: 0, code: 'wire/slow-consumer', message: 'more than 1000 bytes waiting for this peer to read them.' });
  });
});

describe('the end', () => {
  it('close(): the channel closes, the end is reported once, a second close does nothing', async () => {
    const { session, peer, handler } = await readyPair();
    let closed = false;
    void session.whenClosed().then(() => (closed = true));
    await session.close();
    expect(session.closed).toBe(true);
    expect(handler.closedCount).toBe(1);
    await settle();
    expect(closed).toBe(true);
    await session.close();
    await peer.ended();
    await settle();
    expect(handler.closedCount).toBe(1);
  });

  it('end(code, message): the peer is told why (ERROR id 0) and the session ends; on an ended session it does nothing', async () => {
    const { session, peer, handler } = await readyPair();
    session.end('wire/slow-consumer', 'too slow');
    expect(session.closed).toBe(true);
    expect(await peer.ended()).toEqual({ type: 'error', id: 0, code: 'wire/slow-consumer', message: 'too slow' });
    await session.whenClosed();
    session.end('other', 'again');
    expect(handler.refusals).toEqual([{ code: 'wire/slow-consumer', message: 'too slow' }]);
    expect(handler.closedCount).toBe(1);
  });

  it('a peer that reads nothing does not keep the session waiting for its farewell; nothing else is sent meanwhile', async () => {
    const { session, handler, counters } = sessionPair({ silentPeer: true, channel: { windowBytes: 1 } });
    session.end('wire/slow-consumer', 'not reading');
    const out = counters.snapshot().messagesOut;
    await session.notify({ type: 'event', id: 0, frame: frame(1) });
    expect(counters.snapshot().messagesOut).toBe(out);
    await session.whenClosed();
    expect(handler.closedCount).toBe(1);
  });
});
