/**
 * This peer as a subscriber (network/duties/subscriber.ts), against scripted sessions and
 * a scripted replica:
 *
 * - the first watcher of a soul sends SUBSCRIBE on every session, the last one gone
 *   UNSUBSCRIBE; a failed request is handed to `requestFailed` with its session;
 * - a new duty session gets every watched soul, at most 1,000 to a SUBSCRIBE;
 * - an EVENT is taken only if every soul in it is watched, still being unsubscribed on
 *   some session (updates the peer sent before it saw the UNSUBSCRIBE), or accepted on
 *   another's behalf; otherwise it is refused (event/unsolicited, naming the soul), its
 *   decoded updates discarded and nothing merged or counted.
 *
 * Why: the sync conformance suite checks one unsolicited EVENT end to end; the rules
 * around it (chunks, the unsubscribing window, the DHT's `accepts`) need their own tests
 * (mutation testing: scripts/mutation/README.md).
 */
import { describe, expect, it } from 'vitest';
import { RustDHTError } from '../../src/api/errors.js';
import { CounterSet } from '../../src/network/counters.js';
import { Subscriber, type SubscriberOptions } from '../../src/network/duties/subscriber.js';
import type { ReceivedBatch } from '../../src/network/replica-port.js';
import type { SyncSession } from '../../src/network/sync-session.js';

type Request = { readonly type: 'subscribe' | 'unsubscribe'; readonly souls: readonly string[] };

class ScriptedSession {
  readonly requests: { message: Request; resolve: () => void; reject: (error: unknown) => void }[] = [];
  constructor(readonly peerId: string) {}

  request(message: Request): Promise<unknown> {
    return new Promise((resolve, reject) => this.requests.push({ message, resolve: () => resolve({ type: 'ok', id: 1 }), reject }));
  }

  get sent(): string[] {
    return this.requests.map((r) => `${r.message.type} ${r.message.souls.length > 3 ? r.message.souls.length : r.message.souls.join(',')}`);
  }
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const batch = (souls: number): ReceivedBatch => ({ outcomes: Array.from({ length: souls }, () => ({ outcome: 'applied' as const })), applied: souls, ignored: 0, historical: 0, deferred: 0, rejected: 0 });

function setup(options: { accepts?: (soul: string) => boolean } = {}) {
  const watched = new Set<string>();
  let listener: ((soul: string, watched: boolean) => void) | undefined;
  const sessions = [new ScriptedSession('a'), new ScriptedSession('b')];
  const failed: { peerId: string; error: unknown }[] = [];
  /** What EVENT frames held (the scripted frame is its souls, as text) and what became of them. */
  const merged: string[][] = [];
  const discarded: string[][] = [];
  const counters = new CounterSet();
  const replica = {
    subscriptions: {
      onInterest(l: (soul: string, watched: boolean) => void) {
        listener = l;
        return () => (listener = undefined);
      },
      watchedSouls: () => watched.values(),
      isWatched: (soul: string) => watched.has(soul),
    },
    prepare(frame: Uint8Array) {
      const souls = new TextDecoder().decode(frame).split(',');
      return {
        souls,
        receive: async () => (merged.push(souls), batch(souls.length)),
        discard: () => void discarded.push(souls),
      };
    },
  };
  const subscriber = new Subscriber({
    replica: replica as unknown as SubscriberOptions['replica'],
    counters,
    sessions: () => sessions as unknown as SyncSession[],
    requestFailed: (session, error) => failed.push({ peerId: session.peerId, error }),
    ...(options.accepts === undefined ? {} : { accepts: options.accepts }),
  });
  const watch = (soul: string): void => {
    watched.add(soul);
    listener?.(soul, true);
  };
  const unwatch = (soul: string): void => {
    watched.delete(soul);
    listener?.(soul, false);
  };
  const event = (...souls: string[]) => subscriber.event({ type: 'event', id: 0, frame: new TextEncoder().encode(souls.join(',')) });
  return { subscriber, sessions, failed, merged, discarded, counters, watched, watch, unwatch, event, listening: () => listener !== undefined };
}

describe('subscriber', () => {
  it('the first watcher of a soul subscribes on every session, the last one gone unsubscribes; failures go to requestFailed', async () => {
    const s = setup();
    s.watch('room');
    expect(s.sessions.map((session) => session.sent)).toEqual([['subscribe room'], ['subscribe room']]);
    s.unwatch('room');
    expect(s.sessions.map((session) => session.sent)).toEqual([['subscribe room', 'unsubscribe room'], ['subscribe room', 'unsubscribe room']]);
    const refused = new RustDHTError('limit/subscriptions', 'too many');
    s.sessions[0]!.requests[0]!.reject(refused);
    s.sessions[1]!.requests[1]!.reject(refused);
    s.sessions[0]!.requests[1]!.resolve();
    s.sessions[1]!.requests[0]!.resolve();
    await flush();
    expect(s.failed).toEqual([
      { peerId: 'a', error: refused },
      { peerId: 'b', error: refused },
    ]);
    s.subscriber.stop();
    expect(s.listening()).toBe(false);
  });

  it('a new duty session gets every watched soul, 1,000 to a SUBSCRIBE; a failure goes to requestFailed', async () => {
    const s = setup();
    for (let i = 0; i < 2500; i++) s.watched.add(`soul-${i}`);
    const session = new ScriptedSession('new');
    s.subscriber.subscribeAll(session as unknown as SyncSession);
    expect(session.requests.map((r) => r.message.souls.length)).toEqual([1000, 1000, 500]);
    expect(session.requests.flatMap((r) => r.message.souls)).toEqual([...s.watched]);
    expect(session.requests.every((r) => r.message.type === 'subscribe')).toBe(true);
    const error = new Error('gone');
    session.requests[2]!.reject(error);
    await flush();
    expect(s.failed).toEqual([{ peerId: 'new', error }]);

    const none = setup();
    const empty = new ScriptedSession('empty');
    none.subscriber.subscribeAll(empty as unknown as SyncSession);
    expect(empty.requests).toEqual([]);
  });

  it('an EVENT of watched souls is merged and counted', async () => {
    const s = setup();
    s.watch('a');
    s.watch('b');
    await s.event('a', 'b');
    expect(s.merged).toEqual([['a', 'b']]);
    expect(s.counters.snapshot().updates.applied).toBe(2);
    expect(s.discarded).toEqual([]);
  });

  it('an EVENT with any soul not watched is refused as event/unsolicited, naming it; nothing is merged or counted', async () => {
    const s = setup();
    s.watch('a');
    const refusal = await s.event('a', 'intruder').catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(RustDHTError);
    expect(refusal).toMatchObject({ code: 'event/unsolicited', message: 'an update of "intruder", which this peer did not subscribe to.' });
    expect(s.discarded).toEqual([['a', 'intruder']]);
    expect(s.merged).toEqual([]);
    expect(s.counters.snapshot().updates.applied).toBe(0);
  });

  it('updates sent before the peer saw our UNSUBSCRIBE are still taken, until every UNSUBSCRIBE of the soul is answered', async () => {
    const s = setup();
    s.watch('room');
    s.unwatch('room');
    // Two sessions, two UNSUBSCRIBEs on their way.
    await s.event('room');
    s.sessions[0]!.requests[1]!.resolve();
    await flush();
    await s.event('room');
    // The other fails: as good as answered for this (the session is going anyway).
    s.sessions[1]!.requests[1]!.reject(new Error('session ended'));
    await flush();
    await expect(s.event('room')).rejects.toMatchObject({ code: 'event/unsolicited' });
    expect(s.merged).toEqual([['room'], ['room']]);

    // Watched again and unwatched again while an UNSUBSCRIBE is out: both counted.
    s.watch('hall');
    s.unwatch('hall');
    s.watch('hall');
    s.unwatch('hall');
    s.sessions[0]!.requests[3]!.resolve();
    s.sessions[1]!.requests[3]!.resolve();
    await flush();
    await s.event('hall');
    s.sessions[0]!.requests[5]!.resolve();
    s.sessions[1]!.requests[5]!.resolve();
    await flush();
    await expect(s.event('hall')).rejects.toMatchObject({ code: 'event/unsolicited' });
  });

  it("souls accepted on another's behalf (a DHT server's subscriptions at owners) are taken too; others still refused", async () => {
    const s = setup({ accepts: (soul) => soul.startsWith('for-a-client/') });
    await s.event('for-a-client/x');
    expect(s.merged).toEqual([['for-a-client/x']]);
    await expect(s.event('for-a-client/y', 'other')).rejects.toMatchObject({ code: 'event/unsolicited' });
    const strict = setup({ accepts: () => false });
    await expect(strict.event('for-a-client/x')).rejects.toMatchObject({ code: 'event/unsolicited' });
  });
});
