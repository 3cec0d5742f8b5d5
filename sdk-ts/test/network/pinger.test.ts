/**
 * The pinger's liveness rule (network/peers/pinger.ts): a peer is hung up only when its
 * pings time out for DEAD_AFTER_MS and its sessions heard nothing in that time; a ping
 * refused at once, or a busy peer still sending sync messages, keeps the connection.
 * The clock and the ping are the test's; the rule is the pinger's.
 */
import { describe, expect, it } from 'vitest';
import { DEAD_AFTER_MS, Pinger, type PingedPeers } from '../../src/network/peers/pinger.js';

function setup(answer: 'timeout' | 'refused' | 'ok') {
  let now = 1_000_000;
  const session = { lastHeardAt: now };
  const rtts: number[] = [];
  const hungUp: string[] = [];
  let mode = answer;
  const peers: PingedPeers = {
    statuses: () => [],
    setRtt: (_peerId, rtt) => void rtts.push(rtt),
    sessions: (peerId) => (peerId === 'p' ? [session] : []),
  };
  const pinger = new Pinger({
    peers,
    hangUp: (peerId) => void hungUp.push(peerId),
    now: () => now,
    timeoutMs: 5,
    ping: (_peerId, signal) =>
      mode === 'ok'
        ? Promise.resolve(7)
        : mode === 'refused'
          ? Promise.reject(new Error('protocol not supported'))
          : new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
  });
  return {
    pinger,
    session,
    rtts,
    hungUp,
    advance: (ms: number) => void (now += ms),
    set: (next: typeof mode) => void (mode = next),
  };
}

describe('pinger liveness', () => {
  it('hangs up a peer whose pings time out for DEAD_AFTER_MS while nothing arrives', async () => {
    const t = setup('timeout');
    await t.pinger.ping('p');
    t.advance(DEAD_AFTER_MS - 1);
    await t.pinger.ping('p');
    expect(t.hungUp).toEqual([]);
    t.advance(1);
    await t.pinger.ping('p');
    expect(t.hungUp).toEqual(['p']);
  });

  it('keeps a peer that misses pings but keeps sending on its session (busy, not dead)', async () => {
    const t = setup('timeout');
    await t.pinger.ping('p');
    for (let i = 0; i < 5; i++) {
      t.advance(DEAD_AFTER_MS);
      t.session.lastHeardAt = 1_000_000 + (i + 1) * DEAD_AFTER_MS - 10;
      await t.pinger.ping('p');
    }
    expect(t.hungUp).toEqual([]);
    // Then it goes silent for a whole window: dead.
    t.advance(DEAD_AFTER_MS - 1);
    await t.pinger.ping('p');
    expect(t.hungUp).toEqual([]);
    t.advance(1);
    await t.pinger.ping('p');
    expect(t.hungUp).toEqual(['p']);
  });

  it('an answered ping clears the failures; a refused ping is not a failure', async () => {
    const t = setup('timeout');
    await t.pinger.ping('p');
    t.advance(DEAD_AFTER_MS - 1000);
    t.set('ok');
    await t.pinger.ping('p');
    expect(t.rtts).toEqual([7]);
    t.set('timeout');
    t.advance(1000);
    await t.pinger.ping('p');
    t.advance(DEAD_AFTER_MS - 1);
    await t.pinger.ping('p');
    expect(t.hungUp).toEqual([]);

    const refused = setup('refused');
    for (let i = 0; i < 4; i++) {
      await refused.pinger.ping('p');
      refused.advance(DEAD_AFTER_MS);
    }
    expect(refused.hungUp).toEqual([]);
  });

  it('a peer without sessions is not hung up, and forget() drops its record', async () => {
    const t = setup('timeout');
    await t.pinger.ping('gone');
    t.advance(DEAD_AFTER_MS);
    await t.pinger.ping('gone');
    expect(t.hungUp).toEqual([]);
    await t.pinger.ping('p');
    t.pinger.forget('p');
    t.advance(DEAD_AFTER_MS);
    await t.pinger.ping('p');
    expect(t.hungUp).toEqual([]);
  });
});

describe('pinger schedule', () => {
  function many(count: number) {
    let now = 5_000_000;
    let seed = 1;
    // A fixed pseudo-random sequence: the spread is the pinger's, not luck's.
    const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const heardAt = new Map<string, number>();
    const pinged: Array<{ at: number; peerId: string }> = [];
    const ids = Array.from({ length: count }, (_, i) => `peer-${i}`);
    const peers: PingedPeers = {
      statuses: () => ids.map((peerId) => ({ peerId, role: 'server', transport: 'tcp', address: '', rttMs: undefined, connectedAt: 0 })),
      setRtt: () => {},
      sessions: (peerId) => [{ lastHeardAt: heardAt.get(peerId) ?? 0 }],
    };
    const pinger = new Pinger({
      peers,
      hangUp: () => {},
      now: () => now,
      random,
      ping: (peerId) => {
        pinged.push({ at: now, peerId });
        return Promise.resolve(1);
      },
    });
    return { pinger, pinged, heardAt, ids, advance: (ms: number) => void (now += ms), now: () => now };
  }

  it('spreads a hundred peers over the interval: a few pings a tick, each peer about every 5 s', async () => {
    const t = many(100);
    const perTick: number[] = [];
    for (let i = 0; i < 160; i++) {
      const before = t.pinged.length;
      t.pinger.tick();
      await Promise.resolve();
      perTick.push(t.pinged.length - before);
      t.advance(250);
    }
    // 40 s: each peer 6-9 times (every 3.75-6.25 s after a first turn within 5 s), never all at once.
    const counts = t.ids.map((id) => t.pinged.filter((p) => p.peerId === id).length);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(6);
    expect(Math.max(...counts)).toBeLessThanOrEqual(10);
    expect(Math.max(...perTick)).toBeLessThanOrEqual(20);
  });

  it('does not ping a peer heard from within the interval whose RTT is fresh; pings it once either is stale', async () => {
    const t = many(1);
    const id = t.ids[0]!;
    const pingsDuring = async (ms: number, heard: boolean): Promise<number> => {
      const before = t.pinged.length;
      for (let elapsed = 0; elapsed < ms; elapsed += 250) {
        if (heard) t.heardAt.set(id, t.now());
        t.pinger.tick();
        await Promise.resolve();
        t.advance(250);
      }
      return t.pinged.length - before;
    };
    // Silent: pinged about every 5 s (the first turn within 5 s; RTT measured then).
    expect(await pingsDuring(12_000, false)).toBeGreaterThanOrEqual(2);
    // Talking, RTT fresh: no pings for 50 s.
    expect(await pingsDuring(50_000, true)).toBe(0);
    // Still talking, but the RTT is now over a minute old: pinged again.
    expect(await pingsDuring(20_000, true)).toBeGreaterThanOrEqual(1);
  });
});
