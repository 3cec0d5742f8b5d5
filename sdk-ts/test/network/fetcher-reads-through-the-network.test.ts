/**
 * Reads through the network (network/duties/fetcher.ts), against scripted sessions and a
 * scripted replica:
 *
 * - with no session and no first connection being made, a fetch returns at once, asking
 *   nobody; while the first connection is being made it waits for it, then asks (if it
 *   brought nobody, the fetch resolves then, whatever `needed` asked for);
 * - a read of some keys is one GET of those keys; a whole node from a 1.1 peer is asked
 *   part by part (GET_PART from "", then from each `next`), a 1.0 peer gets one GET; the
 *   read level rides on the first request only, and only to a 1.2 peer;
 * - each non-empty frame is merged (replica.receive) and counted; a property the peer
 *   could not send is a `reject` event (wire/too-large);
 * - "not now" refusals (wire/rate-limited, wire/busy) are asked again while the read has
 *   time; any other failure is a `reject` event, once, and never asked again;
 * - the fetch resolves when `needed` peers answered, when all settled, or at `timeoutMs`
 *   (the requests are aborted then); it rejects only when the caller's signal aborts;
 * - `inFlight` and `changed` follow the fetch.
 *
 * Why: the network tests read through real sessions, where most of these rules are
 * never the one deciding the outcome (mutation testing: scripts/mutation/README.md).
 */
import { describe, expect, it } from 'vitest';
import { AbortError, RustDHTError } from '../../src/api/errors.js';
import { CounterSet } from '../../src/network/counters.js';
import { Fetcher, type FetchOptions } from '../../src/network/duties/fetcher.js';
import type { ReceivedBatch } from '../../src/network/replica-port.js';
import type { SyncSession } from '../../src/network/sync-session.js';
import type { NetworkEvent } from '../../src/network/types.js';
import { waitFor } from './helpers/server-process.js';

type Asked = { readonly type: string; readonly soul: string; readonly keys?: string[]; readonly after?: string; readonly level?: string };
type Answer = (message: Asked, signal: AbortSignal) => Promise<unknown> | unknown;

class ScriptedSession {
  readonly asked: Asked[] = [];
  /** The signal and time limit each request was given. */
  readonly limits: { signal: AbortSignal; timeoutMs: number }[] = [];
  closed = false;
  constructor(
    readonly peerId: string,
    readonly answer: Answer,
    readonly partialReads = true,
    readonly speaksDht = true,
  ) {}

  async request(message: Asked, options: { signal: AbortSignal; timeoutMs: number }): Promise<unknown> {
    this.asked.push(message);
    this.limits.push(options);
    return this.answer(message, options.signal);
  }
}

const frame = (text: string): Uint8Array => new TextEncoder().encode(text);
const batch = (applied: number): ReceivedBatch => ({ outcomes: [], applied, ignored: 0, historical: 0, deferred: 0, rejected: 0 });
/** A reply that never comes, unless the request is aborted. */
const never = (_: Asked, signal: AbortSignal): Promise<unknown> => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
const node = (text: string) => ({ type: 'node', id: 1, frame: frame(text) });
const refused = (code: string) => new RustDHTError(code, `refused: ${code}`);

function setup(sessions: ScriptedSession[], options: { pending?: boolean; whenConnected?: (signal: AbortSignal) => Promise<void>; later?: ScriptedSession[] } = {}) {
  const merged: string[] = [];
  const events: NetworkEvent[] = [];
  const counters = new CounterSet();
  let connected = false;
  let changes = 0;
  const fetcher = new Fetcher({
    replica: { receive: async (bytes: Uint8Array) => (merged.push(new TextDecoder().decode(bytes)), batch(1)) },
    counters,
    emit: (event) => events.push(event),
    readSessions: () => (sessions.length === 0 && connected ? (options.later ?? []) : sessions) as unknown as SyncSession[],
    firstConnectionPending: () => options.pending ?? false,
    whenConnected: async (signal) => {
      await options.whenConnected?.(signal);
      connected = true;
    },
    changed: () => void changes++,
  });
  return { fetcher, merged, events, counters, changes: () => changes };
}

const read = (overrides: Partial<FetchOptions> = {}): FetchOptions => ({ timeoutMs: 5000, ...overrides });

describe('who is asked', () => {
  it('no session and no first connection pending: returns at once, asks nobody, changes nothing', async () => {
    const t = setup([], { later: [new ScriptedSession('late', () => node('x'))] });
    await t.fetcher.fetch('s', read());
    expect(t.changes()).toBe(0);
    expect(t.merged).toEqual([]);
  });

  it('while the first connection is being made: waits for it, then asks the sessions it brought', async () => {
    const late = new ScriptedSession('late', () => node('late-frame'));
    let release!: () => void;
    const t = setup([], { pending: true, later: [late], whenConnected: () => new Promise((resolve) => (release = resolve)) });
    const fetching = t.fetcher.fetch('s', read({ keys: ['k'] }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(t.fetcher.inFlight).toBe(1);
    expect(late.asked).toStrictEqual([]);
    release();
    await fetching;
    expect(late.asked).toStrictEqual([{ type: 'get', soul: 's', keys: ['k'] }]);
    expect(t.merged).toEqual(['late-frame']);
    expect(t.fetcher.inFlight).toBe(0);
    expect(t.changes()).toBe(2);
  });

  it('a first connection that fails: the read asks whoever is there then (nobody) and resolves', async () => {
    const t = setup([], { pending: true, whenConnected: () => Promise.reject(new Error('dial failed')) });
    await t.fetcher.fetch('s', read());
    expect(t.events).toEqual([]);
    expect(t.fetcher.inFlight).toBe(0);
  });

  it('nobody to ask after the first connection, with `needed` answers asked for: resolves at once, not at the time limit', async () => {
    for (const needed of [1, 3]) {
      const t = setup([], { pending: true });
      const started = Date.now();
      const outcome = await Promise.race([
        t.fetcher.fetch('s', read({ needed, timeoutMs: 10_000 })).then(() => 'resolved'),
        new Promise((resolve) => setTimeout(resolve, 1000, 'still waiting')),
      ]);
      expect(outcome).toBe('resolved');
      expect(Date.now() - started).toBeLessThan(1000);
      expect(t.events).toEqual([]);
      expect(t.fetcher.inFlight).toBe(0);
    }
  });
});

describe('what is asked', () => {
  it('some keys: one GET of those keys; the level only to a 1.2 peer', async () => {
    const dht = new ScriptedSession('dht', () => node('a'));
    const old = new ScriptedSession('old', () => node('b'), true, false);
    const t = setup([dht, old]);
    await t.fetcher.fetch('s', read({ keys: ['k1', 'k2'], level: 'quorum' }));
    expect(dht.asked).toStrictEqual([{ type: 'get', soul: 's', keys: ['k1', 'k2'], level: 'quorum' }]);
    expect(old.asked).toStrictEqual([{ type: 'get', soul: 's', keys: ['k1', 'k2'] }]);
    expect(t.merged.sort()).toEqual(['a', 'b']);
    // Each request within the read's time limit, aborted with it.
    expect(dht.limits[0]!.timeoutMs).toBe(5000);
    expect(dht.limits[0]!.signal).toBeInstanceOf(AbortSignal);
    expect(t.counters.snapshot().updates.applied).toBe(2);
  });

  it('an empty NODE (the peer holds nothing) merges nothing; a reply that is not a NODE neither', async () => {
    const empty = new ScriptedSession('empty', () => ({ type: 'node', id: 1, frame: new Uint8Array(0) }), false);
    const ok = new ScriptedSession('ok', () => ({ type: 'ok', id: 1, frame: frame('not a node') }), false);
    const t = setup([empty, ok]);
    await t.fetcher.fetch('s', read());
    expect(empty.asked).toStrictEqual([{ type: 'get', soul: 's', keys: [] }]);
    expect(t.merged).toEqual([]);
    expect(t.counters.snapshot().updates.applied).toBe(0);
  });

  it('a whole node from a 1.1 peer: GET_PART from "" then each next, the level on the first part only, each part merged; a skipped property is a reject event', async () => {
    const parts: Record<string, { next: string; skipped: string[]; text: string }> = {
      '': { next: 'k3', skipped: [], text: 'part-1' },
      k3: { next: 'k7', skipped: ['big'], text: '' },
      k7: { next: '', skipped: [], text: 'part-3' },
    };
    const session = new ScriptedSession('p', (m) => {
      const part = parts[m.after!]!;
      return { type: 'node-part', id: 1, frame: frame(part.text), next: part.next, skipped: part.skipped };
    });
    const t = setup([session]);
    await t.fetcher.fetch('s', read({ level: 'all' }));
    expect(session.asked).toStrictEqual([
      { type: 'get-part', soul: 's', after: '', level: 'all' },
      { type: 'get-part', soul: 's', after: 'k3' },
      { type: 'get-part', soul: 's', after: 'k7' },
    ]);
    expect(t.merged).toEqual(['part-1', 'part-3']);
    expect(t.counters.snapshot().updates.applied).toBe(2);
    expect(t.events).toEqual([
      { type: 'reject', peerId: 'p', code: 'wire/too-large', message: 'p holds property "big" of "s" but it is larger than one message; the rest of the node was read.' },
    ]);
  });

  it('a whole node: a reply that is not a NODE_PART ends the parts (nothing merged)', async () => {
    const session = new ScriptedSession('p', () => ({ type: 'node', id: 1, frame: frame('x'), next: 'more', skipped: ['k'] }));
    const t = setup([session]);
    await t.fetcher.fetch('s', read());
    expect(session.asked).toHaveLength(1);
    expect(t.merged).toEqual([]);
    expect(t.events).toEqual([]);
  });

  it('a whole node: the parts stop once the read timed out', async () => {
    let asked = 0;
    const session = new ScriptedSession('p', async () => {
      asked++;
      // The second part arrives after the time limit.
      if (asked === 2) await new Promise((resolve) => setTimeout(resolve, 80));
      return { type: 'node-part', id: 1, frame: frame(`part-${asked}`), next: `k${asked}`, skipped: [] };
    });
    const t = setup([session]);
    await t.fetcher.fetch('s', read({ timeoutMs: 40 }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(session.asked.map((m) => m.after)).toEqual(['', 'k1']);
    expect(t.merged).toEqual(['part-1', 'part-2']);
  });
});

describe('refusals', () => {
  for (const code of ['wire/rate-limited', 'wire/busy']) {
    it(`${code}: asked again (backing off) until answered, no reject event`, async () => {
      let tries = 0;
      const session = new ScriptedSession('p', () => {
        if (++tries < 3) throw refused(code);
        return node('at last');
      }, false);
      const t = setup([session]);
      await t.fetcher.fetch('s', read({ keys: ['k'] }));
      expect(session.asked).toHaveLength(3);
      expect(t.merged).toEqual(['at last']);
      expect(t.events).toEqual([]);
    });
  }

  it('any other refusal: one reject event with its code and message, not asked again', async () => {
    const session = new ScriptedSession('p', () => {
      throw refused('store/unavailable');
    }, false);
    const plain = new ScriptedSession('q', () => {
      throw new Error('boom');
    }, false);
    const t = setup([session, plain]);
    await t.fetcher.fetch('s', read({ keys: ['k'] }));
    expect(session.asked).toHaveLength(1);
    expect(plain.asked).toHaveLength(1);
    expect(t.events).toEqual([
      { type: 'reject', peerId: 'p', code: 'store/unavailable', message: 'refused: store/unavailable' },
      { type: 'reject', peerId: 'q', code: 'internal', message: 'boom' },
    ]);
  });

  const closing = {
    'that closed': (session: ScriptedSession) => void (session.closed = true),
    'that closes during the backoff': (session: ScriptedSession) => void setTimeout(() => (session.closed = true), 5),
  };
  for (const [when, close] of Object.entries(closing)) {
    it(`"not now" from a session ${when}: not asked again, reported`, async () => {
      const session = new ScriptedSession('p', () => {
        close(session);
        throw refused('wire/busy');
      }, false);
      const t = setup([session]);
      await t.fetcher.fetch('s', read({ keys: ['k'] }));
      expect(session.asked).toHaveLength(1);
      expect(t.events.map((e) => (e as { code: string }).code)).toEqual(['wire/busy']);
    });
  }

  it('"not now" until the read times out: asked a few times, resolved, nothing reported', async () => {
    const session = new ScriptedSession('p', () => {
      throw refused('wire/rate-limited');
    }, false);
    const t = setup([session]);
    await t.fetcher.fetch('s', read({ keys: ['k'], timeoutMs: 150 }));
    expect(session.asked.length).toBeGreaterThan(1);
    expect(t.events).toEqual([]);
  });
});

describe('when the fetch resolves', () => {
  it('at timeoutMs: the requests are aborted with network/timeout, nothing is reported, the fetch resolves', async () => {
    let reason: unknown;
    const session = new ScriptedSession('p', (m, signal) => {
      signal.addEventListener('abort', () => (reason = signal.reason));
      return never(m, signal);
    });
    const t = setup([session]);
    await t.fetcher.fetch('s', read({ timeoutMs: 30 }));
    expect(reason).toBeInstanceOf(RustDHTError);
    expect((reason as RustDHTError).code).toBe('network/timeout');
    expect((reason as RustDHTError).message).toBe('no answer for s within 30 ms.');
    expect(t.events).toEqual([]);
    expect(t.fetcher.inFlight).toBe(0);
  });

  it('once `needed` peers answered, not waiting for the others (whose answers still merge later)', async () => {
    let late!: () => void;
    const fast = new ScriptedSession('fast', () => node('fast'));
    const slow = new ScriptedSession('slow', () => new Promise((resolve) => (late = () => resolve(node('slow')))));
    const t = setup([fast, slow]);
    await t.fetcher.fetch('s', read({ keys: ['k'], needed: 1 }));
    expect(t.merged).toEqual(['fast']);
    late();
    await new Promise((resolve) => setImmediate(resolve));
    expect(t.merged).toEqual(['fast', 'slow']);
  });

  it('answers after the fetch resolved still merge, even past timeoutMs (the time limit ends with the fetch)', async () => {
    const fast = new ScriptedSession('fast', () => node('fast'));
    const slow = new ScriptedSession('slow', (m, signal) => {
      const answer = new Promise((resolve) => setTimeout(() => resolve(node('slow')), 60));
      return Promise.race([answer, never(m, signal)]);
    });
    const t = setup([fast, slow]);
    await t.fetcher.fetch('s', read({ keys: ['k'], needed: 1, timeoutMs: 20 }));
    expect(t.merged).toEqual(['fast']);
    await waitFor('the slow answer', () => t.merged.length === 2, { timeoutMs: 2000, intervalMs: 5 });
    expect(t.merged).toEqual(['fast', 'slow']);
  });

  it('a failed answer does not count as one of the `needed`, but all settled ends the wait', async () => {
    let answer!: () => void;
    const failing = new ScriptedSession('bad', () => {
      throw refused('store/unavailable');
    });
    const slow = new ScriptedSession('slow', () => new Promise((resolve) => (answer = () => resolve(node('slow')))), false);
    const t = setup([failing, slow]);
    let done = false;
    const fetching = t.fetcher.fetch('s', read({ keys: ['k'], needed: 1 })).then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(done).toBe(false);
    answer();
    await fetching;
    expect(t.merged).toEqual(['slow']);

    // Both fail: all settled, nobody answered, the fetch resolves all the same.
    const t2 = setup([failing, failing]);
    await t2.fetcher.fetch('s', read({ keys: ['k'], needed: 2 }));
    expect(t2.events).toHaveLength(2);
  });

  it('by default every peer asked: a fetch waits for the slowest', async () => {
    let answer!: () => void;
    const fast = new ScriptedSession('fast', () => node('fast'));
    const slow = new ScriptedSession('slow', () => new Promise((resolve) => (answer = () => resolve(node('slow')))));
    const t = setup([fast, slow]);
    let done = false;
    const fetching = t.fetcher.fetch('s', read({ keys: ['k'] })).then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(t.merged).toEqual(['fast']);
    expect(done).toBe(false);
    expect(t.fetcher.inFlight).toBe(1);
    answer();
    await fetching;
    expect(t.merged).toEqual(['fast', 'slow']);
  });

  it('needed 0: resolves without waiting for anyone (the request is still out, not timed out)', async () => {
    const session = new ScriptedSession('p', never);
    const t = setup([session]);
    await t.fetcher.fetch('s', read({ keys: ['k'], needed: 0, timeoutMs: 1000 }));
    expect(session.asked).toHaveLength(1);
    expect(session.limits[0]!.signal.aborted).toBe(false);
    expect(t.fetcher.inFlight).toBe(0);
  });

  it('a whole node read part by part counts as answered once its last part merged', async () => {
    const parts = new ScriptedSession('parts', () => ({ type: 'node-part', id: 1, frame: frame('whole'), next: '', skipped: [] }));
    const silent = new ScriptedSession('silent', never);
    const t = setup([parts, silent]);
    await t.fetcher.fetch('s', read({ needed: 1, timeoutMs: 1000 }));
    expect(t.merged).toEqual(['whole']);
    expect(silent.limits[0]!.signal.aborted).toBe(false);
  });

  it("the caller's signal aborts: the fetch rejects with AbortError and reports nothing", async () => {
    const session = new ScriptedSession('p', never);
    const t = setup([session]);
    const controller = new AbortController();
    const fetching = t.fetcher.fetch('s', read({ keys: ['k'], signal: controller.signal, timeoutMs: 1000 }));
    await new Promise((resolve) => setImmediate(resolve));
    const stop = new Error('stop');
    controller.abort(stop);
    await expect(fetching).rejects.toBeInstanceOf(AbortError);
    // The request was aborted with it, not left to time out.
    expect(session.limits[0]!.signal.reason).toBe(stop);
    expect(t.events).toEqual([]);
    expect(t.fetcher.inFlight).toBe(0);
  });

  it("a caller's signal that never aborts: the fetch resolves as without one", async () => {
    const session = new ScriptedSession('p', () => node('x'));
    const t = setup([session]);
    await t.fetcher.fetch('s', read({ keys: ['k'], signal: new AbortController().signal }));
    expect(t.merged).toEqual(['x']);
  });
});
