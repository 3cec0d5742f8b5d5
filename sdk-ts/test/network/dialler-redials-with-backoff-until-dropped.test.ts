/**
 * The addresses this peer keeps dialled (network/peers/dialler.ts), against a scripted
 * `connect` on the fake clock, without jitter (the backoff's waits are timers: 250 ms,
 * doubling to 10 s):
 *
 * - an address is dialled at once and once (our own peer id's never); a failed dial is a
 *   `dial:failed` event and the address's last failure until it connects; it is dialled
 *   again after the backoff, which doubles with each failure;
 * - a session that ends is redialled after the backoff, which starts afresh after a
 *   session that lasted more than 10 s (not one of exactly 10 s);
 * - `drop` stops the address's loop and forgets it (an address not kept: nothing); the
 *   network's stop ends every loop without a failure reported;
 * - offline on purpose (`pause`) nothing is dialled, `resume` dials every kept address;
 * - why nothing is connected: offline, the failures, no address, or still dialling.
 *
 * Why: the network's tests dial real peers that answer, so the redial rules survived
 * mutation there (scripts/mutation/README.md).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Dialler } from '../../src/network/peers/dialler.js';
import type { NetworkEvent } from '../../src/network/types.js';

const PEER = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN';
const OTHER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA';
const SELF = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK';
const A = `/ip4/127.0.0.1/tcp/4001/p2p/${PEER}`;
const B = `/ip4/127.0.0.1/tcp/4002/p2p/${OTHER}`;
const C = '/ip4/127.0.0.1/tcp/4003';

type Outcome = 'refused' | 'open';

function setup() {
  const stop = new AbortController();
  const events: NetworkEvent[] = [];
  /** Each dial: its address, its signal, and how to end its session once open. */
  const dials: { address: string; signal: AbortSignal; close?: () => void }[] = [];
  /** How the next dials of each address go (default: refused). */
  const script = new Map<string, Outcome[]>();
  const dialler = new Dialler({
    localPeerId: SELF,
    stop: stop.signal,
    emit: (event) => void events.push(event),
    connect: async (target, signal) => {
      const address = target.toString();
      const dial: (typeof dials)[number] = { address, signal };
      dials.push(dial);
      const outcome = script.get(address)?.shift() ?? 'refused';
      if (outcome === 'refused') throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      let closed!: () => void;
      const whenClosed = new Promise<void>((resolve) => (closed = resolve));
      dial.close = closed;
      return { whenClosed: () => whenClosed };
    },
  });
  const count = (address: string): number => dials.filter((d) => d.address === address).length;
  return { dialler, stop, events, dials, script, count };
}

/** Advances the fake clock by `ms`, running what falls due. */
const advance = async (ms: number): Promise<void> => void (await vi.advanceTimersByTimeAsync(ms));

beforeEach(() => {
  vi.useFakeTimers();
  // No jitter: each wait is the backoff's base delay.
  vi.spyOn(Math, 'random').mockReturnValue(0.5);
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('dialler', () => {
  it('dials a kept address at once and once, never our own; a failure is an event and the last failure; redials after a backoff that doubles', async () => {
    const d = setup();
    d.dialler.keep(A);
    d.dialler.keep(A);
    d.dialler.keep(`/ip4/127.0.0.1/tcp/4009/p2p/${SELF}`);
    expect(d.dialler.size).toBe(1);
    expect(d.dialler.firstAttemptPending()).toBe(true);
    await advance(0);
    expect(d.count(A)).toBe(1);
    expect(d.events).toEqual([{ type: 'dial:failed', address: A, peerId: PEER, code: 'network/refused', message: expect.stringContaining(`could not reach ${A}`) }]);
    expect([...d.dialler.failures().keys()]).toEqual([A]);
    expect(d.dialler.firstAttemptPending()).toBe(false);
    // 250 ms, then 500 ms.
    await advance(249);
    expect(d.count(A)).toBe(1);
    await advance(1);
    expect(d.count(A)).toBe(2);
    await advance(499);
    expect(d.count(A)).toBe(2);
    await advance(1);
    expect(d.count(A)).toBe(3);
    // An address without /p2p/ names no peer.
    d.dialler.keep(C);
    await advance(0);
    expect(d.events.at(-1)).toMatchObject({ type: 'dial:failed', address: C, peerId: undefined });
  });

  it('connected: the failure is cleared; a session that ends is redialled; the backoff starts afresh after one of more than 10 s', async () => {
    const d = setup();
    // Two failures (the next wait 1 s), then sessions.
    d.script.set(A, ['refused', 'refused', 'open', 'open', 'open']);
    d.dialler.keep(A);
    await advance(0);
    await advance(250);
    expect(d.dialler.failures().size).toBe(1);
    await advance(500);
    expect(d.count(A)).toBe(3);
    expect(d.dialler.failures().size).toBe(0);
    expect(d.events).toHaveLength(2);
    // A session of exactly 10 s: the backoff goes on (1 s).
    await advance(10_000);
    d.dials.at(-1)!.close!();
    await advance(999);
    expect(d.count(A)).toBe(3);
    await advance(1);
    expect(d.count(A)).toBe(4);
    // One of 10 s and 1 ms: afresh (250 ms).
    await advance(10_001);
    d.dials.at(-1)!.close!();
    await advance(249);
    expect(d.count(A)).toBe(4);
    await advance(1);
    expect(d.count(A)).toBe(5);
  });

  it('drop stops the loop and forgets the address; the stop signal ends every loop without a failure', async () => {
    const d = setup();
    d.dialler.keep(A);
    d.dialler.keep(B);
    await advance(0);
    expect(d.dialler.keepsPeer(PEER)).toBe(true);
    d.dialler.drop(A);
    expect([d.dialler.size, d.dialler.keepsPeer(PEER), d.dialler.keepsPeer(OTHER), [...d.dialler.failures().keys()]]).toEqual([1, false, true, [B]]);
    // Dropping an address not kept (or dropped already) does nothing.
    d.dialler.drop(A);
    d.dialler.drop(C);
    expect(d.dialler.size).toBe(1);
    await advance(20_000);
    expect(d.count(A)).toBe(1);
    expect(d.count(B)).toBeGreaterThan(1);
    // A dial the stop signal aborts is not a failure.
    const events = d.events.length;
    d.script.set(B, ['open']);
    await advance(20_000);
    const dialsOfB = d.count(B);
    d.stop.abort();
    expect(d.dials.at(-1)!.signal.aborted).toBe(true);
    d.dials.at(-1)!.close!();
    await advance(20_000);
    expect(d.count(B)).toBe(dialsOfB);
    expect(d.events.length).toBe(events);

    // A failure after the stop: not reported.
    const e = setup();
    let reject!: (error: unknown) => void;
    const dialler = new Dialler({
      localPeerId: SELF,
      stop: e.stop.signal,
      emit: (event) => void e.events.push(event),
      connect: () => new Promise((_, r) => (reject = r)),
    });
    dialler.keep(A);
    e.stop.abort();
    reject(new Error('aborted'));
    await advance(1000);
    expect(e.events).toEqual([]);
  });

  it('offline on purpose nothing is dialled; online again every kept address is', async () => {
    const d = setup();
    d.dialler.keep(A);
    await advance(0);
    d.dialler.pause();
    expect(d.dialler.online).toBe(false);
    expect(d.dials[0]!.signal.aborted).toBe(true);
    d.dialler.keep(B);
    await advance(20_000);
    expect([d.count(A), d.count(B)]).toEqual([1, 0]);
    expect(d.dialler.notConnectedReason(0)).toBe('the network is offline on purpose (goOffline()).');
    d.dialler.resume();
    expect(d.dialler.online).toBe(true);
    await advance(0);
    expect([d.count(A), d.count(B)]).toEqual([2, 1]);
  });

  it('why nothing is connected: the failures, no address, or still dialling', async () => {
    const d = setup();
    expect(d.dialler.notConnectedReason(0)).toBe('0 connected, and no peer to dial (give network.peers, or call dial()).');
    expect(d.dialler.firstAttemptPending()).toBe(false);
    const pending = new Dialler({ localPeerId: SELF, stop: d.stop.signal, emit: () => {}, connect: () => new Promise(() => {}) });
    pending.keep(A);
    pending.keep(B);
    expect(pending.notConnectedReason(1)).toBe(`1 connected; still dialling ${A}, ${B} (no answer yet).`);
    d.dialler.keep(A);
    d.dialler.keep(C);
    await advance(0);
    const [a, c] = [...d.dialler.failures().values()];
    expect(d.dialler.notConnectedReason(2)).toBe(`2 connected; ${a!.message} [${a!.code}] ${c!.message} [${c!.code}]`);
  });
});
