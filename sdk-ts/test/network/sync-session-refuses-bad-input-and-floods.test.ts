/**
 * One sync session (network/sync-session.ts) from the side that is asked, over an
 * in-memory channel with a hand-driven peer (helpers/session-harness.ts):
 *
 * - bytes that are not a message (over our limit, undecodable), a first message that is
 *   not HELLO, a second HELLO: the session ends with a connection-level ERROR, and nothing
 *   after the bad message is taken, not even the rest of its chunk;
 * - requests go to the handler and its reply is sent (none, when it returns none); a
 *   handler that throws, or whose reply cannot be sent, answers that request with ERROR;
 *   a request over the request limits is refused before the handler sees it;
 * - events (EVENT, MEMBERS without id, FEED_ACK) go to the handler; one it fails is a
 *   refusal, the session goes on;
 * - every message passes the rate limit (EVENTs at ten times the rate). A peer the session
 *   may pause (a client to us) is held back: the message over the limit waits, reading
 *   stops, and it is taken when the budget has room; nothing is refused. A peer it may not
 *   pause (a server to us) is refused instead: a request is answered with ERROR
 *   wire/rate-limited, a reply, event or connection-level ERROR is dropped without an
 *   answer; at most 4,096 requests in flight (wire/busy); more than 2,000 refusals in a
 *   burst and the peer is disconnected;
 * - a connection-level ERROR from the peer ends the session.
 *
 * Why: the sync conformance suite checks most of these once, through a whole database;
 * each rule here is one line of the session that it rarely decides alone (mutation
 * testing: scripts/mutation/README.md).
 */
import { describe, expect, it } from 'vitest';
import { RustDHTError } from '../../src/api/errors.js';
import { lengthPrefixed } from '../../src/network/wire/framing.js';
import { encodeMessage, type WireMessage } from '../../src/network/wire/messages.js';
import type { ErrorMessage } from './helpers/raw-peer.js';
import { readyPair, refusedWith, sessionPair, settle, type SessionPair } from './helpers/session-harness.js';
import { waitFor } from './helpers/server-process.js';

const framed = (...messages: WireMessage[]): Uint8Array => new Uint8Array(Buffer.concat(messages.map((m) => lengthPrefixed(encodeMessage(m)))));
const get = (id: number, soul = 's'): WireMessage => ({ type: 'get', id, soul, keys: [] });
const errorsTo = (pair: SessionPair, id: number): ErrorMessage[] => pair.peer.messages.filter((m): m is ErrorMessage => m.type === 'error' && m.id === id);
const replyTo = (pair: SessionPair, id: number): Promise<WireMessage> => waitFor(`the reply to ${id}`, () => pair.peer.messages.find((m) => m.id === id && m.type !== 'hello'), { timeoutMs: 5000, intervalMs: 2 });

/** Each request type, as a peer may send it. */
const REQUESTS: readonly WireMessage[] = [
  { type: 'get', id: 11, soul: 's', keys: ['k'] },
  { type: 'get-part', id: 12, soul: 's', after: '' },
  { type: 'put', id: 13, frame: new Uint8Array([1]) },
  { type: 'put-at', id: 14, level: 'one', frame: new Uint8Array([1]) },
  { type: 'subscribe', id: 15, souls: ['s'] },
  { type: 'unsubscribe', id: 16, souls: ['s'] },
  { type: 'feed', id: 17, since: 0 },
  { type: 'members-sync', id: 18, known: [] },
  { type: 'digest', id: 19, view: new Uint8Array(8), ask: { kind: 'souls', digests: new Uint8Array(12) } },
];

describe('bytes that end the session', () => {
  it('a length prefix over our maxMessageBytes: ERROR wire/too-large, the end reported once', async () => {
    const pair = await readyPair({ limits: { maxMessageBytes: 1000 } });
    await pair.peer.sendBytes(framed({ type: 'put', id: 1, frame: new Uint8Array(2000) }));
    expect((await pair.peer.ended())?.code).toBe('wire/too-large');
    expect(pair.handler.codes()).toEqual(['wire/too-large']);
    expect(pair.handler.requests).toEqual([]);
    await pair.session.whenClosed();
    expect(pair.handler.closedCount).toBe(1);
  });

  it('a body that does not decode: ERROR with the decoder\'s code, and nothing after it in the chunk is taken', async () => {
    const pair = await readyPair();
    await pair.peer.sendBytes(new Uint8Array(Buffer.concat([lengthPrefixed(new Uint8Array([9, 9, 9])), framed(get(1))])));
    const farewell = await pair.peer.ended();
    expect(farewell?.code).toMatch(/^wire\//);
    expect(pair.handler.codes()).toEqual([farewell?.code]);
    expect(pair.handler.requests).toEqual([]);
  });

  it('a first message that is not HELLO: wire/malformed, the request never reaches the handler', async () => {
    const { session, peer, handler } = sessionPair();
    await peer.sendBytes(framed(get(1), { type: 'hello', id: 0, role: 'client', maxMessageBytes: 4096 }, get(2)));
    expect(await peer.ended()).toEqual({ type: 'error', id: 0, code: 'wire/malformed', message: 'expected a hello first, got get.' });
    expect(handler.requests).toEqual([]);
    expect(session.remoteRole).toBeUndefined();
  });

  it('a second HELLO: wire/malformed, and the GET after it in the same chunk is not taken', async () => {
    const pair = await readyPair();
    await pair.peer.sendBytes(framed({ type: 'hello', id: 0, role: 'client', maxMessageBytes: 4096 }, get(1)));
    expect(await pair.peer.ended()).toEqual({ type: 'error', id: 0, code: 'wire/malformed', message: 'a second hello.' });
    await settle();
    expect(pair.handler.requests).toEqual([]);
  });

  it("the peer's connection-level ERROR: reported as its refusal, the session ends, the rest of its chunk is not taken", async () => {
    const pair = await readyPair();
    await pair.peer.sendBytes(framed({ type: 'error', id: 0, code: 'wire/slow-consumer', message: 'bye' }, get(1)));
    await pair.session.whenClosed();
    expect(pair.session.closed).toBe(true);
    expect(pair.handler.refusals).toEqual([{ code: 'wire/slow-consumer', message: 'the peer ended the session: bye' }]);
    expect(pair.handler.closedCount).toBe(1);
    await pair.peer.ended();
    await settle();
    expect(pair.handler.requests).toEqual([]);
  });

  it("after the peer's connection-level ERROR, nothing it sent later is taken either", async () => {
    const pair = await readyPair();
    await pair.peer.send({ type: 'error', id: 0, code: 'wire/slow-consumer', message: 'bye' });
    await pair.peer.sendBytes(framed(get(1)));
    // Not even bytes that would be refused (a length prefix over any limit).
    await pair.peer.sendBytes(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]));
    await pair.session.whenClosed();
    await settle();
    expect(pair.handler.requests).toEqual([]);
    expect(pair.handler.refusals).toEqual([{ code: 'wire/slow-consumer', message: 'the peer ended the session: bye' }]);
  });

  it('a reply other than ERROR with id 0 (an OK) does not decode: wire/malformed, never taken as a reply', async () => {
    const pair = await readyPair();
    // version 1 | OK (0x0a) | id 0: the encoder refuses to write it, so by hand.
    await pair.peer.sendBytes(lengthPrefixed(new Uint8Array([1, 0x0a, 0])));
    const farewell = await pair.peer.ended();
    expect(farewell?.code).toBe('wire/malformed');
    expect(pair.handler.codes()).toEqual(['wire/malformed']);
  });

  it('messages before the bad one in the chunk are each taken and counted', async () => {
    const pair = await readyPair();
    const before = pair.counters.snapshot();
    const good = framed(get(1), get(2));
    await pair.peer.sendBytes(good);
    await replyTo(pair, 2);
    const after = pair.counters.snapshot();
    expect(after.messagesIn - before.messagesIn).toBe(2);
    // Each body, without its length prefix.
    expect(after.bytesIn - before.bytesIn).toBe(encodeMessage(get(1)).length + encodeMessage(get(2)).length);
    expect(pair.handler.requests.map((r) => r.id)).toEqual([1, 2]);
  });
});

describe('requests', () => {
  it("the handler's reply is sent; none when it returns none", async () => {
    const pair = await readyPair();
    pair.handler.answer = async (m) => (m.id === 1 ? { type: 'node', id: 1, frame: new Uint8Array([5]) } : undefined);
    await pair.peer.sendBytes(framed(get(1), get(2), get(3)));
    expect(await replyTo(pair, 1)).toEqual({ type: 'node', id: 1, frame: new Uint8Array([5]) });
    await settle(10);
    expect(pair.peer.messages.filter((m) => m.type !== 'hello')).toHaveLength(1);
  });

  it('a handler that throws answers that request with ERROR (its code, or internal) and reports it; the session goes on', async () => {
    const pair = await readyPair();
    pair.handler.answer = async (m) => {
      if (m.id === 1) throw new RustDHTError('store/unavailable', 'disk gone');
      if (m.id === 2) throw new Error('bug');
      return { type: 'ok', id: m.id };
    };
    await pair.peer.sendBytes(framed(get(1), get(2), get(3)));
    expect(await replyTo(pair, 1)).toEqual({ type: 'error', id: 1, code: 'store/unavailable', message: 'disk gone' });
    expect(await replyTo(pair, 2)).toEqual({ type: 'error', id: 2, code: 'internal', message: 'bug' });
    expect(await replyTo(pair, 3)).toEqual({ type: 'ok', id: 3 });
    expect(pair.handler.refusals).toEqual([
      { code: 'store/unavailable', message: 'disk gone' },
      { code: 'internal', message: 'bug' },
    ]);
  });

  it('a reply too large for the peer: ERROR wire/too-large for that request instead', async () => {
    const pair = await readyPair({ maxMessageBytes: 2000 });
    pair.handler.answer = async (m) => ({ type: 'node', id: m.id, frame: new Uint8Array(5000) });
    await pair.peer.send(get(1));
    const reply = await replyTo(pair, 1);
    expect(reply).toMatchObject({ type: 'error', id: 1, code: 'wire/too-large' });
    expect(pair.session.closed).toBe(false);
  });

  it('over the request limits: refused with the limit\'s code before the handler sees it', async () => {
    const pair = await readyPair({ requestLimits: { maxSoulBytes: 4, maxKeyBytes: 4, maxKeysPerGet: 2, maxSoulsPerSubscribe: 2 } });
    await pair.peer.sendBytes(framed(get(1, 'too-long'), get(2, 'ok')));
    const reply = await replyTo(pair, 1);
    expect(reply).toMatchObject({ type: 'error', id: 1, code: 'limit/soul' });
    expect(pair.handler.codes()).toEqual(['limit/soul']);
    expect(pair.handler.refusals[0]!.message).toBe((reply as ErrorMessage).message);
    expect(await replyTo(pair, 2)).toEqual({ type: 'ok', id: 2 });
    expect(pair.handler.requests.map((r) => r.id)).toEqual([2]);
  });
});

describe('events', () => {
  it('EVENT, MEMBERS without an id and FEED_ACK reach the handler; one it fails is refused with its code, the session goes on', async () => {
    const pair = await readyPair();
    pair.handler.takeEvent = async (m) => {
      if (m.type === 'feed-ack') throw new RustDHTError('feed/unknown', 'no such feed');
    };
    const event: WireMessage = { type: 'event', id: 0, frame: new Uint8Array([1]) };
    const members: WireMessage = { type: 'members', id: 0, records: [] };
    const ack: WireMessage = { type: 'feed-ack', id: 0, feed: 1, seq: 2 };
    await pair.peer.sendBytes(framed(event, members, ack));
    await refusedWith(pair.handler, 'feed/unknown');
    expect(pair.handler.events).toEqual([event, members, ack]);
    expect(pair.handler.refusals).toEqual([{ code: 'feed/unknown', message: 'no such feed' }]);
    // MEMBERS with id 0 is not a reply: nothing was pending, nothing answered.
    expect(pair.peer.messages.filter((m) => m.type !== 'hello')).toEqual([]);
    expect(pair.session.closed).toBe(false);
  });

  it('a MEMBERS (id 0) handler that fails: refused with its code, the session goes on and takes the next', async () => {
    const pair = await readyPair();
    pair.handler.takeEvent = async (m) => {
      if (m.type === 'members') throw new RustDHTError('members/bad-record', 'a record does not verify');
    };
    const members: WireMessage = { type: 'members', id: 0, records: [] };
    await pair.peer.send(members);
    await refusedWith(pair.handler, 'members/bad-record');
    expect(pair.handler.events).toEqual([members]);
    expect(pair.handler.refusals).toEqual([{ code: 'members/bad-record', message: 'a record does not verify' }]);
    expect(pair.session.closed).toBe(false);
    await pair.peer.send(get(1));
    expect(await replyTo(pair, 1)).toEqual({ type: 'ok', id: 1 });
  });

  it('an EVENT handler that rejects with a plain error: refused as internal', async () => {
    const pair = await readyPair();
    pair.handler.takeEvent = async () => {
      throw new Error('oops');
    };
    await pair.peer.send({ type: 'event', id: 0, frame: new Uint8Array([1]) });
    await refusedWith(pair.handler, 'internal');
    expect(pair.handler.refusals).toEqual([{ code: 'internal', message: 'oops' }]);
  });
});

describe('the rate limit, for a peer the session may pause (a client to us): held back, not refused', () => {
  it('requests over the limit wait for room in the budget: reading stops, each is taken in turn, none refused', async () => {
    // 10 a second, a burst of 20: 25 requests are 20 at once and 5 over the next ~0.5 s.
    const pair = await readyPair({ limits: { messagesPerSecond: 10 } });
    const started = performance.now();
    await pair.peer.sendBytes(framed(...Array.from({ length: 25 }, (_, i) => get(i + 1))));
    await waitFor('the burst', () => pair.handler.requests.length === 20, { timeoutMs: 5000, intervalMs: 2 });
    await settle();
    expect(pair.handler.requests).toHaveLength(20);
    expect(pair.session.readingPaused).toBe(true);
    await waitFor('every request answered', () => Array.from({ length: 25 }, (_, i) => i + 1).every((id) => pair.peer.messages.some((m) => m.id === id)), { timeoutMs: 5000, intervalMs: 2 });
    // The 5 over the burst came at the rate: 0.1 s each (a lower bound holds on any machine).
    expect(performance.now() - started).toBeGreaterThanOrEqual(400);
    expect(pair.handler.requests.map((r) => r.id)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(pair.peer.messages.filter((m) => m.type === 'error')).toEqual([]);
    expect(pair.handler.refusals).toEqual([]);
    expect(pair.counters.snapshot().heldBack).toBeGreaterThanOrEqual(1);
    expect(pair.session.closed).toBe(false);
    await settle();
    expect(pair.session.readingPaused).toBe(false);
  });

  it('a byte budget too: a message over bytesPerSecond waits until the budget has room for it', async () => {
    const pair = await readyPair({ limits: { bytesPerSecond: 100 } });
    const started = performance.now();
    await pair.peer.sendBytes(framed({ type: 'put', id: 1, frame: new Uint8Array(150) }, { type: 'put', id: 2, frame: new Uint8Array(150) }));
    expect(await replyTo(pair, 2)).toEqual({ type: 'ok', id: 2 });
    // A burst of 200 bytes: the second ~155-byte message waits for ~110 bytes of refill.
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    expect(pair.handler.requests.map((r) => r.id)).toEqual([1, 2]);
  });

  it('EVENTs wait on their own budget (ten times the rate), and messages behind them wait their turn', async () => {
    const pair = await readyPair({ limits: { messagesPerSecond: 1 } });
    const events = Array.from({ length: 21 }, (_, i): WireMessage => ({ type: 'event', id: 0, frame: new Uint8Array([i]) }));
    await pair.peer.sendBytes(framed(...events, get(1)));
    await waitFor('every EVENT, then the GET', () => pair.handler.requests.length === 1, { timeoutMs: 5000, intervalMs: 2 });
    expect(pair.handler.events.map((e) => (e as { frame: Uint8Array }).frame[0])).toEqual(Array.from({ length: 21 }, (_, i) => i));
    expect(pair.handler.refusals).toEqual([]);
  });

  it('replies to our own requests never wait, even with the budget spent', async () => {
    const pair = await readyPair({ limits: { messagesPerSecond: 1 } });
    await pair.peer.sendBytes(framed(get(1), get(2), get(3)));
    // The third waited for the budget and spent it again as it was taken.
    await waitFor('all three', () => pair.handler.requests.length === 3, { timeoutMs: 5000, intervalMs: 2 });
    const held = pair.counters.snapshot().heldBack;
    expect(held).toBeGreaterThanOrEqual(1);
    const asked = pair.session.request({ type: 'get', soul: 's', keys: [] });
    await pair.peer.send({ type: 'ok', id: 1 });
    expect(await asked).toEqual({ type: 'ok', id: 1 });
    expect(pair.counters.snapshot().heldBack).toBe(held);
    // An unasked reply does wait.
    await pair.peer.send({ type: 'ok', id: 99 });
    await waitFor('the unasked reply held back', () => pair.counters.snapshot().heldBack > held, { timeoutMs: 5000, intervalMs: 2 });
    expect(pair.handler.refusals).toEqual([]);
  });

  it('a request carrying the id of a request of ours is still charged: only replies answer ours', async () => {
    const pair = await readyPair({ limits: { messagesPerSecond: 1 } });
    const asked = pair.session.request({ type: 'get', soul: 's', keys: [] }).catch(() => undefined);
    await pair.peer.sendBytes(framed(get(1), get(1), get(1)));
    await waitFor('a wait for the budget', () => pair.counters.snapshot().heldBack >= 1, { timeoutMs: 5000, intervalMs: 2 });
    expect(pair.handler.requests).toHaveLength(2);
    await pair.session.close();
    await asked;
  });

  it('a session that ends while a message is held back takes nothing more', async () => {
    const pair = await readyPair({ limits: { messagesPerSecond: 1 } });
    await pair.peer.sendBytes(framed(get(1), get(2), get(3)));
    await waitFor('the burst', () => pair.handler.requests.length === 2, { timeoutMs: 5000, intervalMs: 2 });
    await pair.session.close();
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(pair.handler.requests.map((r) => r.id)).toEqual([1, 2]);
    expect(pair.handler.refusals).toEqual([]);
    expect(pair.handler.closedCount).toBe(1);
  });
});

describe('the rate limit, for a peer the session may not pause (a server to us): refused', () => {
  // 1 message a second: a burst of 2 (EVENTs: 10 a second, a burst of 20).
  const limits = { messagesPerSecond: 1 };
  // A server to us is never paused: its replies, which we wait on, come on the same channel.
  const mayPauseReading = (): boolean => false;

  it('a request over the limit of each type: ERROR wire/rate-limited with its id, not handed on; the session lives', async () => {
    const pair = await readyPair({ limits, mayPauseReading });
    await pair.peer.sendBytes(framed(get(1), get(2), ...REQUESTS));
    await waitFor('an ERROR to each', () => REQUESTS.every((r) => errorsTo(pair, r.id).length === 1), { timeoutMs: 5000, intervalMs: 2 });
    for (const request of REQUESTS) {
      expect(errorsTo(pair, request.id)).toEqual([{ type: 'error', id: request.id, code: 'wire/rate-limited', message: 'too many messages or bytes per second; slow down.' }]);
    }
    expect(pair.handler.requests.map((r) => r.id)).toEqual([1, 2]);
    expect(pair.handler.codes()).toEqual(REQUESTS.map(() => 'wire/rate-limited'));
    expect(pair.session.closed).toBe(false);
  });

  it('a byte budget too: a message over bytesPerSecond is refused', async () => {
    const pair = await readyPair({ limits: { bytesPerSecond: 100 }, mayPauseReading });
    await pair.peer.sendBytes(framed({ type: 'put', id: 1, frame: new Uint8Array(150) }, { type: 'put', id: 2, frame: new Uint8Array(150) }));
    expect(await replyTo(pair, 2)).toMatchObject({ type: 'error', code: 'wire/rate-limited' });
    expect(pair.handler.requests.map((r) => r.id)).toEqual([1]);
  });

  it('replies nobody asked for count against it, and are dropped unanswered when over it', async () => {
    const pair = await readyPair({ limits, mayPauseReading });
    await pair.peer.sendBytes(framed({ type: 'ok', id: 90 }, { type: 'node', id: 91, frame: new Uint8Array([1]) }, { type: 'ack', id: 92, outcomes: [] }, get(1)));
    expect(await replyTo(pair, 1)).toMatchObject({ type: 'error', code: 'wire/rate-limited' });
    expect(pair.handler.codes()).toEqual(['wire/rate-limited', 'wire/rate-limited']);
    expect(errorsTo(pair, 92)).toEqual([]);
    expect(pair.handler.requests).toEqual([]);
  });

  it('a late reply, to a request that timed out, was aborted, could not be sent or was answered, counts against it like any reply nobody asked for', async () => {
    const fail = {
      'timed out': (pair: SessionPair) => pair.session.request({ type: 'get', soul: 's', keys: [] }, { timeoutMs: 5 }),
      aborted: (pair: SessionPair) => {
        const controller = new AbortController();
        const asked = pair.session.request({ type: 'get', soul: 's', keys: [] }, { signal: controller.signal });
        controller.abort(new Error('gave up'));
        return asked;
      },
      'not sent': (pair: SessionPair) => pair.session.request({ type: 'put', frame: new Uint8Array(5000) }),
      // Its first reply was the answer; a second one is a reply nobody asked for.
      'answered already': async (pair: SessionPair) => {
        const asked = pair.session.request({ type: 'get', soul: 's', keys: [] });
        await pair.peer.send({ type: 'ok', id: 1 });
        await asked;
        throw new Error('answered');
      },
    };
    for (const [how, request] of Object.entries(fail)) {
      const pair = await readyPair({ limits, maxMessageBytes: 1024, mayPauseReading });
      await expect(request(pair), how).rejects.toBeDefined();
      // Its reply takes one of the two messages of the burst: one GET is answered, the other refused.
      await pair.peer.sendBytes(framed({ type: 'ok', id: 1 }, get(50), get(51)));
      expect(await replyTo(pair, 51), how).toMatchObject({ type: 'error', code: 'wire/rate-limited' });
      expect(pair.handler.requests.map((r) => r.id), how).toEqual([50]);
    }
  });

  it('a connection-level ERROR over the limit is dropped: the session does not end', async () => {
    const pair = await readyPair({ limits, mayPauseReading });
    await pair.peer.sendBytes(framed(get(1), get(2), { type: 'error', id: 0, code: 'wire/slow-consumer', message: 'bye' }));
    await refusedWith(pair.handler, 'wire/rate-limited');
    await settle();
    expect(pair.session.closed).toBe(false);
    expect(pair.handler.codes()).toEqual(['wire/rate-limited']);
  });

  it('EVENTs get ten times the message rate; past it each is dropped unanswered, and so are MEMBERS and FEED_ACK', async () => {
    const pair = await readyPair({ limits, mayPauseReading });
    const events = Array.from({ length: 21 }, (_, i): WireMessage => ({ type: 'event', id: 0, frame: new Uint8Array([i]) }));
    await pair.peer.sendBytes(framed(...events));
    await refusedWith(pair.handler, 'wire/rate-limited');
    await settle();
    expect(pair.handler.events).toHaveLength(20);
    // The message budget (2) was not touched by EVENTs; two more messages use it up.
    await pair.peer.sendBytes(framed(get(1), get(2), { type: 'members', id: 0, records: [] }, { type: 'feed-ack', id: 0, feed: 1, seq: 1 }));
    await replyTo(pair, 2);
    await settle();
    expect(pair.handler.events).toHaveLength(20);
    expect(pair.handler.codes()).toEqual(['wire/rate-limited', 'wire/rate-limited', 'wire/rate-limited']);
    expect(pair.peer.messages.filter((m) => m.type === 'error')).toEqual([]);
  });

  it('a FEED_ENTRY for no feed of ours counts like a request: refused as feed/unsolicited, or only rate-limited past the limit', async () => {
    const pair = await readyPair({ limits, mayPauseReading });
    const entry = (seq: number): WireMessage => ({ type: 'feed-entry', id: 7, seq, frame: new Uint8Array([1]) });
    await pair.peer.sendBytes(framed(entry(1), entry(2), entry(3)));
    await refusedWith(pair.handler, 'wire/rate-limited');
    expect(pair.handler.codes()).toEqual(['feed/unsolicited', 'feed/unsolicited', 'wire/rate-limited']);
    expect(pair.session.closed).toBe(false);
  });

  it('entries of a feed we follow past the EVENT rate: the session ends (an entry cannot be dropped)', async () => {
    const pair = await readyPair({ limits, mayPauseReading });
    const heard: number[] = [];
    void pair.session.follow(0, (e) => heard.push(e.seq)).catch(() => {});
    const entries = Array.from({ length: 21 }, (_, i): WireMessage => ({ type: 'feed-entry', id: 1, seq: i + 1, frame: new Uint8Array([1]) }));
    await pair.peer.sendBytes(framed(...entries));
    expect(await pair.peer.ended()).toEqual({
      type: 'error',
      id: 0,
      code: 'wire/rate-limited',
      message: 'feed entries beyond the rate limit; the feed resumes from its cursor on the next session.',
    });
    expect(heard).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('2,000 refusals in a burst are tolerated; more and the peer is disconnected', async () => {
    const tolerated = await readyPair({ limits, mayPauseReading });
    await tolerated.peer.sendBytes(framed(...Array.from({ length: 2002 }, (_, i) => ({ type: 'ok', id: 100 + i }) as WireMessage)));
    await waitFor('2,000 refusals', () => tolerated.handler.refusals.length === 2000, { timeoutMs: 5000, intervalMs: 2 });
    await settle();
    expect(tolerated.session.closed).toBe(false);

    const flooding = await readyPair({ limits, mayPauseReading });
    await flooding.peer.sendBytes(framed(...Array.from({ length: 2300 }, (_, i) => ({ type: 'ok', id: 100 + i }) as WireMessage)));
    expect(await flooding.peer.ended()).toEqual({
      type: 'error',
      id: 0,
      code: 'wire/rate-limited',
      message: 'disconnected: more than 2000 refused messages at over 100 a second.',
    });
  });
});

describe('requests in flight', () => {
  it('at most 4,096 at once for a peer the session may not pause (wire/busy past it); each answered one, however it ended, frees its place', async () => {
    // A server to us is never paused (its replies come on the same channel): the cap is what bounds it.
    const pair = await readyPair({ limits: { messagesPerSecond: 1_000_000 }, mayPauseReading: () => false });
    // 3,000 answered first: a reply, no reply, a failure.
    pair.handler.answer = async (m) => {
      if (m.id % 3 === 0) return { type: 'ok', id: m.id };
      if (m.id % 3 === 1) return undefined;
      throw new RustDHTError('store/unavailable', 'no');
    };
    await pair.peer.sendBytes(framed(...Array.from({ length: 3000 }, (_, i) => get(i + 1))));
    await waitFor('3,000 handled', () => pair.handler.requests.length === 3000, { timeoutMs: 10_000, intervalMs: 5 });
    await settle(20);
    // Then 4,096 held: all taken; the next one is busy.
    const held: (() => void)[] = [];
    pair.handler.answer = (m) => new Promise((resolve) => held.push(() => resolve({ type: 'ok', id: m.id })));
    await pair.peer.sendBytes(framed(...Array.from({ length: 4097 }, (_, i) => get(10_001 + i))));
    const busy = await replyTo(pair, 10_001 + 4096);
    expect(busy).toEqual({ type: 'error', id: 14_097, code: 'wire/busy', message: 'more than 4096 requests in flight.' });
    expect(held).toHaveLength(4096);
    expect(pair.peer.messages.filter((m) => m.type === 'error' && m.code === 'wire/busy')).toHaveLength(1);
    // One answered: there is room for one more.
    held[0]!();
    await replyTo(pair, 10_001);
    await pair.peer.send(get(20_000));
    await waitFor('the last request handed on', () => held.length === 4097, { timeoutMs: 5000, intervalMs: 2 });
  });
});
