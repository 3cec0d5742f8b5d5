/**
 * How a SyncSession reads a peer that sends faster than it is served (network/sync-session.ts,
 * flow control): past READ_AHEAD_REQUESTS of its requests waiting for answers the session
 * takes nothing more and pauses the channel, so the transport holds the peer back, until
 * half are answered; and a burst is taken at most MESSAGES_PER_TURN messages a macrotask,
 * so one peer's chunk does not keep everyone else's waiting. Nothing is refused or lost
 * either way. Over the in-memory pair with a scripted handler (helpers/session-harness.ts);
 * the sync conformance suite checks the same over libp2p streams against a database.
 */
import { describe, expect, it } from 'vitest';
import { MESSAGES_PER_TURN, READ_AHEAD_BYTES, READ_AHEAD_REQUESTS } from '../../src/network/sync-session.js';
import { lengthPrefixed } from '../../src/network/wire/framing.js';
import { encodeMessage, type WireMessage } from '../../src/network/wire/messages.js';
import { readyPair, settle, type SessionPair } from './helpers/session-harness.js';
import { waitFor } from './helpers/server-process.js';

const framed = (messages: readonly WireMessage[]): Uint8Array => new Uint8Array(Buffer.concat(messages.map((m) => lengthPrefixed(encodeMessage(m)))));
const gets = (count: number, from = 1): WireMessage[] => Array.from({ length: count }, (_, i) => ({ type: 'get', id: from + i, soul: `s${i}`, keys: [] }));

/** Answers held until the test lets them go. */
function holdAnswers(pair: SessionPair): Array<() => void> {
  const held: Array<() => void> = [];
  pair.handler.answer = (m) => new Promise((resolve) => held.push(() => resolve({ type: 'ok', id: m.id })));
  return held;
}

const answered = (pair: SessionPair): number => pair.peer.messages.filter((m) => m.type === 'ok').length;

describe('a peer whose requests wait for answers', () => {
  it(`is read no further past ${READ_AHEAD_REQUESTS} of them, and again once half are answered; nothing refused or lost`, async () => {
    const pair = await readyPair({ limits: { messagesPerSecond: 1_000_000 } });
    const held = holdAnswers(pair);
    await pair.peer.sendBytes(framed(gets(100)));
    await waitFor('the first requests', () => pair.handler.requests.length === READ_AHEAD_REQUESTS);
    await settle(50);
    expect(pair.handler.requests).toHaveLength(READ_AHEAD_REQUESTS);
    expect(pair.session.readingPaused).toBe(true);
    // One fewer than half answered: still behind.
    held.splice(0, READ_AHEAD_REQUESTS / 2 - 1).forEach((answer) => answer());
    await settle(50);
    expect(pair.handler.requests).toHaveLength(READ_AHEAD_REQUESTS);
    // Half: taken again, up to the limit once more.
    held.shift()!();
    await waitFor('more requests', () => pair.handler.requests.length === READ_AHEAD_REQUESTS + READ_AHEAD_REQUESTS / 2);
    // Answer everything as it comes: all 100 are taken, in order, each answered once.
    pair.handler.answer = async (m) => ({ type: 'ok', id: m.id });
    held.splice(0).forEach((answer) => answer());
    await waitFor('every request answered', () => answered(pair) === 100);
    expect(pair.handler.requests.map((m) => m.id)).toEqual(gets(100).map((m) => m.id));
    expect(pair.handler.refusals).toEqual([]);
    expect(pair.peer.messages.filter((m) => m.type === 'error')).toEqual([]);
    expect(pair.session.readingPaused).toBe(false);
  });

  it(`past ${READ_AHEAD_BYTES / 2 ** 20} MiB of them too, however few: large PUTs pause it, and it reads on once half the bytes are answered`, async () => {
    const pair = await readyPair({ limits: { messagesPerSecond: 1_000_000 } });
    const held = holdAnswers(pair);
    // Six PUTs of 1 MiB: the fifth passes READ_AHEAD_BYTES, long before READ_AHEAD_REQUESTS.
    const frame = new Uint8Array(2 ** 20);
    const puts: WireMessage[] = Array.from({ length: 6 }, (_, i) => ({ type: 'put', id: 1 + i, frame }));
    // Not awaited: the sender is held back until the session reads on.
    const sending = pair.peer.sendBytes(framed(puts));
    await waitFor('the first PUTs', () => pair.handler.requests.length === 4);
    await settle(50);
    expect(pair.handler.requests).toHaveLength(4);
    expect(pair.session.readingPaused).toBe(true);
    // Two answered: a little over 2 MiB still waiting (the PUTs' own bytes), more than half: still held.
    held.splice(0, 2).forEach((answer) => answer());
    await settle(50);
    expect(pair.handler.requests).toHaveLength(4);
    // Three answered: 1 MiB, under half: read on, and the last two come in.
    held.shift()!();
    await waitFor('the rest', () => pair.handler.requests.length === 6);
    held.splice(0).forEach((answer) => answer());
    await sending;
    await waitFor('every PUT answered', () => answered(pair) === 6);
    await waitFor('reading again', () => !pair.session.readingPaused);
  });

  it('holds the sender back meanwhile: its sends wait once the transport window is full', async () => {
    const pair = await readyPair({ limits: { messagesPerSecond: 1_000_000 }, channel: { windowBytes: 4096 } });
    const held = holdAnswers(pair);
    let sent = 0;
    const sending = (async () => {
      for (const message of gets(1000)) {
        await pair.peer.send(message);
        sent++;
      }
    })();
    await waitFor('the first requests', () => pair.handler.requests.length === READ_AHEAD_REQUESTS);
    await settle(50);
    expect(sent).toBeLessThan(1000);
    pair.handler.answer = async (m) => ({ type: 'ok', id: m.id });
    held.splice(0).forEach((answer) => answer());
    await sending;
    await waitFor('every request answered', () => answered(pair) === 1000);
  });

  it('a peer the session may not pause (a server to us) is read on', async () => {
    const pair = await readyPair({ limits: { messagesPerSecond: 1_000_000 }, mayPauseReading: () => false });
    holdAnswers(pair);
    await pair.peer.sendBytes(framed(gets(100)));
    await waitFor('every request taken', () => pair.handler.requests.length === 100);
    expect(pair.session.readingPaused).toBe(false);
  });

  it('a session that ends while paused drops what it had not taken, and never resumes', async () => {
    const pair = await readyPair({ limits: { messagesPerSecond: 1_000_000 } });
    const held = holdAnswers(pair);
    await pair.peer.sendBytes(framed(gets(100)));
    await waitFor('the first requests', () => pair.handler.requests.length === READ_AHEAD_REQUESTS);
    await pair.session.close();
    held.splice(0).forEach((answer) => answer());
    await settle(50);
    expect(pair.handler.requests).toHaveLength(READ_AHEAD_REQUESTS);
  });
});

describe('a burst of messages in one chunk', () => {
  it(`is taken at most ${MESSAGES_PER_TURN} messages a macrotask, in order`, async () => {
    // Not paused for its requests (a server to us), so only the turns bound what one macrotask takes.
    const pair = await readyPair({ limits: { messagesPerSecond: 1_000_000 }, mayPauseReading: () => false });
    let turn = 0;
    let ticking = true;
    const tick = (): void => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const turns: number[] = [];
    pair.handler.answer = async (m) => {
      turns.push(turn);
      return { type: 'ok', id: m.id };
    };
    await pair.peer.sendBytes(framed(gets(1000)));
    await waitFor('every request answered', () => answered(pair) === 1000);
    ticking = false;
    const perTurn = new Map<number, number>();
    for (const t of turns) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);

    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(MESSAGES_PER_TURN);
    expect(perTurn.size).toBeGreaterThanOrEqual(1000 / MESSAGES_PER_TURN);
    expect(pair.handler.requests.map((m) => m.id)).toEqual(gets(1000).map((m) => m.id));
  });
});
