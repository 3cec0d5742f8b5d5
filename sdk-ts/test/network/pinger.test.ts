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
