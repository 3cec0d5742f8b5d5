/**
 * When the pinger pings (network/peers/pinger.ts), on the fake clock with a fixed
 * `random` (0.5: a peer's first turn half an interval after it is seen, then every
 * interval, 5 s):
 *
 * - start() looks for due peers every 250 ms; a peer seen for the first time is not pinged
 *   then (it was as it connected), only at its turn; stop() ends the ticks, and nothing is
 *   pinged after it, not even by a direct ping() or tick();
 * - a peer heard from within the interval whose RTT is fresh is skipped, unless its pings
 *   have been failing: then it is pinged at each turn;
 * - a peer is skipped only when heard from less than an interval ago *and* measured less
 *   than RTT_FRESH_MS (60 s) ago (exactly that long is stale), never when never measured;
 * - a turn comes 0.75 to 1.25 intervals after the last one (by `random`);
 * - a peer that left (forget) starts afresh: a new first turn, no RTT, no failures; so does
 *   a peer hung up for its pings (a new window before it is hung up again);
 * - a ping's RTT is recorded for its peer.
 *
 * Why: pinger.test.ts drives tick() and ping() by hand; the ticking, the turns and the
 * failing exception survived mutation there (scripts/mutation/README.md).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Pinger, type PingedPeers } from '../../src/network/peers/pinger.js';

function setup(options: { answer?: 'ok' | 'refused' | 'hang'; random?: number } = {}) {
  const heardAt = new Map<string, number>();
  const pinged: { at: number; peerId: string }[] = [];
  const rtts: [string, number][] = [];
  const hungUp: string[] = [];
  const ids = ['p'];
  let answer = options.answer ?? 'ok';
  const peers: PingedPeers = {
    statuses: () => ids.map((peerId) => ({ peerId, role: 'server', transport: 'tcp', address: '', rttMs: undefined, connectedAt: 0 })),
    setRtt: (peerId, rtt) => void rtts.push([peerId, rtt]),
    sessions: (peerId) => (heardAt.has(peerId) ? [{ lastHeardAt: heardAt.get(peerId)! }] : []),
  };
  const pinger = new Pinger({
    peers,
    hangUp: (peerId) => void hungUp.push(peerId),
    random: () => options.random ?? 0.5,
    timeoutMs: 1,
    ping: (peerId, signal) => {
      pinged.push({ at: Date.now(), peerId });
      if (answer === 'ok') return Promise.resolve(42);
      if (answer === 'refused') return Promise.reject(new Error('no ping protocol'));
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    },
  });
  return { pinger, pinged, rtts, hungUp, heardAt, ids, set: (next: typeof answer) => void (answer = next) };
}

const advance = async (ms: number): Promise<void> => void (await vi.advanceTimersByTimeAsync(ms));

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('pinger ticks', () => {
  it('start() ticks every 250 ms: a newly seen peer at its turn, then every interval; stop() ends it', async () => {
    const t = setup();
    t.pinger.start();
    // First tick (250 ms): the peer is seen, its turn 2.5 s later.
    await advance(250 + 2_499);
    expect(t.pinged).toEqual([]);
    // Ticks fall every 250 ms: the one at 2,750 ms is the first at or past its turn.
    await advance(1);
    expect(t.pinged).toEqual([{ at: 1_002_750, peerId: 'p' }]);
    expect(t.rtts).toEqual([['p', 42]]);
    // Then every 5 s (0.75 + 0.5 × 0.5 of the interval).
    await advance(4_999);
    expect(t.pinged).toHaveLength(1);
    await advance(1);
    expect(t.pinged).toHaveLength(2);
    t.pinger.stop();
    await advance(60_000);
    t.pinger.tick();
    await t.pinger.ping('p');
    expect(t.pinged).toHaveLength(2);
  });

  it('a peer heard from and measured lately is skipped; one whose pings fail is pinged at each turn', async () => {
    const t = setup();
    t.pinger.tick();
    await advance(2_500);
    t.pinger.tick();
    expect(t.pinged).toHaveLength(1);
    // Heard from just now, RTT just measured: its next turns pass without a ping.
    for (let i = 0; i < 3; i++) {
      await advance(5_000);
      t.heardAt.set('p', Date.now() - 1);
      t.pinger.tick();
    }
    expect(t.pinged).toHaveLength(1);

    // Its pings start failing (a timeout): then it is pinged at every turn, heard or not.
    t.set('hang');
    await t.pinger.ping('p');
    const before = t.pinged.length;
    for (let i = 0; i < 3; i++) {
      await advance(5_000);
      t.heardAt.set('p', Date.now() - 1);
      t.pinger.tick();
      await advance(2);
    }
    expect(t.pinged.length - before).toBe(3);
  });

  it('a peer with no session heard from is pinged at its turn even with a fresh RTT', async () => {
    const t = setup();
    t.pinger.tick();
    await advance(2_500);
    t.pinger.tick();
    await advance(5_000);
    t.pinger.tick();
    expect(t.pinged).toHaveLength(2);
  });

  it('a turn comes 0.75 to 1.25 intervals after the last (here 0.875: random 0.25)', async () => {
    const t = setup({ random: 0.25 });
    t.pinger.tick();
    // First turn: a quarter interval after it is seen.
    await advance(1_250);
    t.pinger.tick();
    expect(t.pinged).toHaveLength(1);
    await advance(4_374);
    t.pinger.tick();
    expect(t.pinged).toHaveLength(1);
    await advance(1);
    t.pinger.tick();
    expect(t.pinged).toHaveLength(2);
  });

  it('heard from exactly an interval ago, or measured exactly 60 s ago, or never measured: pinged', async () => {
    // Heard from lately but never measured (its pings are refused): pinged at each turn.
    const never = setup({ answer: 'refused' });
    never.heardAt.set('p', Date.now());
    never.pinger.tick();
    await advance(2_500);
    never.heardAt.set('p', Date.now() - 1);
    never.pinger.tick();
    expect(never.pinged).toHaveLength(1);

    const t = setup();
    t.pinger.tick();
    await advance(2_500);
    t.pinger.tick();
    expect(t.pinged).toHaveLength(1);
    // Measured now; heard from exactly one interval before the next turn: stale, pinged.
    t.heardAt.set('p', Date.now());
    await advance(5_000);
    t.pinger.tick();
    expect(t.pinged).toHaveLength(2);
    // Measured at the turn 5 s ago; the turns after it, heard from just before each, are
    // skipped while the RTT is younger than 60 s; the one when it is 60 s old is not.
    for (let i = 1; i < 12; i++) {
      await advance(5_000);
      t.heardAt.set('p', Date.now() - 1);
      t.pinger.tick();
    }
    expect(t.pinged).toHaveLength(2);
    await advance(5_000);
    t.heardAt.set('p', Date.now() - 1);
    t.pinger.tick();
    expect(t.pinged).toHaveLength(3);
  });

  it('a peer that left starts afresh: a new first turn, no RTT', async () => {
    const t = setup();
    t.pinger.tick();
    await advance(2_500);
    t.pinger.tick();
    expect(t.pinged).toHaveLength(1);
    await advance(0);
    expect(t.rtts).toEqual([['p', 42]]);
    t.pinger.forget('p');
    // Long past its old turn: seen anew, not pinged at once; its next turn, heard from
    // lately: pinged, its RTT forgotten.
    await advance(20_000);
    t.pinger.tick();
    expect(t.pinged).toHaveLength(1);
    await advance(2_500);
    t.heardAt.set('p', Date.now() - 1);
    t.pinger.tick();
    expect(t.pinged).toHaveLength(2);
  });

  it('a peer hung up for its pings gets a new window before it is hung up again', async () => {
    const t = setup({ answer: 'hang' });
    t.heardAt.set('p', Date.now());
    await t.pinger.ping('p');
    await advance(20_000);
    await t.pinger.ping('p');
    expect(t.hungUp).toEqual(['p']);
    // It is back (the same silent session, say): one more missed ping starts a new window.
    await t.pinger.ping('p');
    expect(t.hungUp).toEqual(['p']);
    await advance(20_000);
    await t.pinger.ping('p');
    expect(t.hungUp).toEqual(['p', 'p']);
  });
});
