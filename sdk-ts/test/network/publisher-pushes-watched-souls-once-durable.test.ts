/**
 * The peers that subscribed here (network/serving/publisher.ts), against scripted
 * sessions and a scripted replica, with the real DurabilityBarrier over a flush the test
 * holds and fails:
 *
 * - SUBSCRIBE: OK first, then each soul's current state part by part (the part limits
 *   are the subscriber's, the cursor moves part to part, empty parts send nothing, keys
 *   too large for any message are counted wire/too-large), sent once durable, a wait for
 *   the commit per 1 MiB read; nothing more once the session ended; at most 10,000 souls
 *   per peer (limit/subscriptions);
 * - the first subscriber of a soul and its last one leaving are told to `interest`
 *   (a DHT server then subscribes at the owners), not the ones in between;
 * - a batch is pushed to each subscriber cut down to the souls it watches (the whole
 *   frame when it watches all and it fits), after the commit, not at all when the commit
 *   fails; a peer with more than 32 MiB unread is disconnected (wire/slow-consumer); an
 *   EVENT that cannot be sent is counted (event/too-large);
 * - UNSUBSCRIBE answers OK after the commit of what was applied before it, even a failed one.
 *
 * Why: the sync conformance suite checks the protocol end to end; these rules (chunks,
 * bounds, interest, cutting) survived mutation there (scripts/mutation/README.md).
 */
import { describe, expect, it } from 'vitest';
import { LimitError } from '../../src/api/errors.js';
import { CounterSet } from '../../src/network/counters.js';
import { MAX_QUEUED_BYTES_PER_PEER } from '../../src/network/peers/send-queue.js';
import type { AppliedBatch, NodePartLimits } from '../../src/network/replica-port.js';
import { DurabilityBarrier } from '../../src/network/serving/durability.js';
import { partLimits } from '../../src/network/serving/node-parts.js';
import { Publisher, type ReplicaForPublisher } from '../../src/network/serving/publisher.js';
import type { SyncSession } from '../../src/network/sync-session.js';
import type { WireMessage } from '../../src/network/wire/messages.js';

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes.subarray(0, Math.min(bytes.length, 40))).replace(/\0+$/, '');
const frame = (label: string, size = 0): Uint8Array => {
  const bytes = new Uint8Array(Math.max(size, label.length));
  bytes.set(new TextEncoder().encode(label));
  return bytes;
};
const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class ScriptedSession {
  closed = false;
  peerQueuedBytes = 0;
  remoteMaxMessageBytes = 64 * 1024;
  maxFrameBytes = Number.POSITIVE_INFINITY;
  ended: { code: string; message: string } | undefined;
  /** notify() rejects for frames whose text starts with this. */
  failFor: string | undefined;
  readonly log: string[];
  constructor(log: string[]) {
    this.log = log;
  }

  fits(bytes: number): boolean {
    return bytes <= this.maxFrameBytes;
  }

  async notify(message: WireMessage): Promise<void> {
    if (message.type === 'event') {
      const label = text(message.frame);
      if (this.failFor !== undefined && label.startsWith(this.failFor)) throw new Error('too large for the peer');
      this.log.push(`event ${label}`);
    } else this.log.push(`${message.type} ${message.id}`);
  }

  end(code: string, message: string): void {
    this.ended = { code, message };
  }
}

function setup() {
  const log: string[] = [];
  /** Each soul's parts, as labels with sizes; a part "" is empty; `skipped` lists keys too large. */
  const parts = new Map<string, { label: string; size?: number; skipped?: string[] }[]>();
  const partCalls: { soul: string; after: string | undefined; limits: NodePartLimits }[] = [];
  /** Called as each part is read. */
  const hooks: { onRead?: (soul: string, index: number) => void } = {};
  let applied: ((batch: AppliedBatch) => void) | undefined;
  let hold: { promise: Promise<void>; open: () => void; fail: (error: unknown) => void } | undefined;
  let flushes = 0;
  const replica = {
    limits: { maxKeyBytes: 4096 },
    onApplied(listener: (batch: AppliedBatch) => void) {
      applied = listener;
      return () => (applied = undefined);
    },
    async nodeFramePart(soul: string, after: string | undefined, limits: NodePartLimits) {
      partCalls.push({ soul, after, limits });
      const list = parts.get(soul) ?? [{ label: '' }];
      const index = after === undefined ? 0 : Number(after);
      const part = list[index]!;
      log.push(`read ${soul}#${index}`);
      hooks.onRead?.(soul, index);
      return { frame: part.label === '' ? new Uint8Array(0) : frame(part.label, part.size), next: index + 1 < list.length ? String(index + 1) : undefined, skipped: part.skipped ?? [] };
    },
    residentNodeFrame(soul: string, keys: readonly string[] | undefined) {
      return soul.startsWith('gone') ? undefined : frame(`${soul}:${(keys ?? []).join('+')}`);
    },
  };
  const durability = new DurabilityBarrier({
    flush: () => {
      flushes++;
      log.push('commit');
      return hold?.promise ?? Promise.resolve();
    },
  });
  const counters = new CounterSet();
  const interest: string[] = [];
  const publisher = new Publisher(replica as unknown as ReplicaForPublisher, counters, durability, (soul, watched) => interest.push(`${watched ? '+' : '-'}${soul}`));
  const session = (): ScriptedSession & SyncSession => new ScriptedSession(log) as unknown as ScriptedSession & SyncSession;
  const holdCommits = (): void => {
    let open!: () => void;
    let fail!: (error: unknown) => void;
    const promise = new Promise<void>((resolve, reject) => ((open = resolve), (fail = reject)));
    hold = { promise, open, fail };
  };
  const releaseCommits = (error?: unknown): void => {
    const h = hold!;
    hold = undefined;
    if (error === undefined) h.open();
    else h.fail(error);
  };
  const push = (changes: [string, string][], label = 'batch'): void => applied!({ frame: frame(label), changes, seq: undefined });
  return { publisher, log, parts, partCalls, hooks, counters, interest, session, push, holdCommits, releaseCommits, flushes: () => flushes, listening: () => applied !== undefined };
}

describe('publisher', () => {
  it("SUBSCRIBE: OK, then each soul's parts (the subscriber's limits, cursor to cursor), sent once durable; empty parts send nothing; keys too large are counted", async () => {
    const p = setup();
    p.parts.set('a', [{ label: 'a0' }, { label: '', skipped: ['huge', 'huger'] }, { label: 'a2' }]);
    p.parts.set('b', [{ label: 'b0' }]);
    const s = p.session();
    s.remoteMaxMessageBytes = 100_000;
    p.holdCommits();
    const done = p.publisher.subscribe(s, { type: 'subscribe', id: 7, souls: ['a', 'b'] });
    await macrotask();
    await macrotask();
    expect(p.log).toEqual(['ok 7', 'read a#0', 'read a#1', 'read a#2', 'read b#0', 'commit']);
    p.releaseCommits();
    expect(await done).toBeUndefined();
    expect(p.log.slice(6)).toEqual(['event a0', 'event a2', 'event b0']);
    expect(p.partCalls.map((call) => [call.soul, call.after])).toEqual([['a', undefined], ['a', '1'], ['a', '2'], ['b', undefined]]);
    expect(p.partCalls.every((call) => JSON.stringify(call.limits) === JSON.stringify(partLimits(100_000, 4096)))).toBe(true);
    expect(p.counters.snapshot().rejects).toEqual({ 'wire/too-large': 2 });
  });

  it('the current state leaves a commit wait per 1 MiB read (exactly 1 MiB included), then the rest', async () => {
    const p = setup();
    const half = 512 * 1024;
    p.parts.set('big', [{ label: 'p0', size: half }, { label: 'p1', size: half }, { label: 'p2', size: 10 }]);
    await p.publisher.subscribe(p.session(), { type: 'subscribe', id: 1, souls: ['big'] });
    expect(p.log).toEqual(['ok 1', 'read big#0', 'read big#1', 'commit', 'event p0', 'event p1', 'read big#2', 'commit', 'event p2']);
    expect(p.counters.snapshot().rejects).toEqual({});

    // Nothing read: no commit wait at all.
    const q = setup();
    q.parts.set('empty', [{ label: '' }]);
    await q.publisher.subscribe(q.session(), { type: 'subscribe', id: 2, souls: ['empty'] });
    expect(q.log).toEqual(['ok 2', 'read empty#0']);
  });

  it('once the session ended, nothing more is read or sent; an EVENT that cannot be sent is counted', async () => {
    // Ended while reading: no more parts, no commit wait, nothing sent.
    const p = setup();
    p.parts.set('a', [{ label: 'a0' }, { label: 'a1' }]);
    const s = p.session();
    p.hooks.onRead = () => void (s.closed = true);
    expect(await p.publisher.subscribe(s, { type: 'subscribe', id: 1, souls: ['a', 'b'] })).toBeUndefined();
    await macrotask();
    expect(p.log).toEqual(['ok 1', 'read a#0']);

    // Ended while waiting for the commit: nothing sent.
    const q = setup();
    q.parts.set('a', [{ label: 'a0' }]);
    q.parts.set('b', [{ label: 'b0' }]);
    const t = q.session();
    q.holdCommits();
    const reading = q.publisher.subscribe(t, { type: 'subscribe', id: 1, souls: ['a', 'b'] });
    await macrotask();
    await macrotask();
    expect(q.log).toEqual(['ok 1', 'read a#0', 'read b#0', 'commit']);
    t.closed = true;
    q.releaseCommits();
    await reading;
    expect(q.log).toHaveLength(4);

    const r = setup();
    r.parts.set('a', [{ label: 'bad' }]);
    r.parts.set('b', [{ label: 'b0' }]);
    const u = r.session();
    u.failFor = 'bad';
    await r.publisher.subscribe(u, { type: 'subscribe', id: 1, souls: ['a', 'b'] });
    expect(r.log.filter((line) => line.startsWith('event'))).toEqual(['event b0']);
    expect(r.counters.snapshot().rejects).toEqual({ 'event/too-large': 1 });

    // A session already ended when its SUBSCRIBE is answered reads nothing.
    const v = setup();
    const w = v.session();
    w.closed = true;
    await v.publisher.subscribe(w, { type: 'subscribe', id: 3, souls: ['a'] });
    expect(v.log).toEqual(['ok 3']);
  });

  it('at most 10,000 souls per peer: the one over is refused with limit/subscriptions, and nothing of it is watched', async () => {
    const p = setup();
    const s = p.session();
    const souls = (from: number, count: number): string[] => Array.from({ length: count }, (_, i) => `s${from + i}`);
    for (const soul of [...souls(0, 10_001)]) p.parts.set(soul, [{ label: '' }]);
    await p.publisher.subscribe(s, { type: 'subscribe', id: 1, souls: souls(0, 9_999) });
    await p.publisher.subscribe(s, { type: 'subscribe', id: 2, souls: souls(9_999, 1) });
    const refused = await p.publisher.subscribe(s, { type: 'subscribe', id: 3, souls: souls(10_000, 1) }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(LimitError);
    expect(refused).toMatchObject({ code: 'limit/subscriptions', message: 'at most 10000 subscriptions per peer.' });
    expect(p.publisher.isWatched('s9999')).toBe(true);
    expect(p.publisher.isWatched('s10000')).toBe(false);
    // Another peer has a budget of its own.
    await p.publisher.subscribe(p.session(), { type: 'subscribe', id: 4, souls: souls(10_000, 1) });
    expect(p.publisher.isWatched('s10000')).toBe(true);
  });

  it("interest hears a soul's first subscriber and its last one leaving (UNSUBSCRIBE or the session's end), not the others", async () => {
    const p = setup();
    for (const soul of ['x', 'y']) p.parts.set(soul, [{ label: '' }]);
    const [s, t] = [p.session(), p.session()];
    await p.publisher.subscribe(s, { type: 'subscribe', id: 1, souls: ['x', 'x', 'y'] });
    await p.publisher.subscribe(t, { type: 'subscribe', id: 1, souls: ['x'] });
    await p.publisher.subscribe(s, { type: 'subscribe', id: 2, souls: ['x'] });
    expect(p.interest).toEqual(['+x', '+y']);
    expect([...p.publisher.watchedSouls()]).toEqual(['x', 'y']);
    expect(await p.publisher.unsubscribe(s, { type: 'unsubscribe', id: 3, souls: ['x', 'never'] })).toEqual({ type: 'ok', id: 3 });
    expect(p.interest).toEqual(['+x', '+y']);
    p.publisher.forget(t);
    expect(p.interest).toEqual(['+x', '+y', '-x']);
    expect(p.publisher.isWatched('x')).toBe(false);
    await p.publisher.unsubscribe(s, { type: 'unsubscribe', id: 4, souls: ['y'] });
    expect(p.interest).toEqual(['+x', '+y', '-x', '-y']);
    // Nothing left to forget, and an UNSUBSCRIBE from a session that never subscribed is still answered.
    p.publisher.forget(s);
    expect(await p.publisher.unsubscribe(p.session(), { type: 'unsubscribe', id: 5, souls: ['x'] })).toEqual({ type: 'ok', id: 5 });
    expect(p.interest).toHaveLength(4);
  });

  it("UNSUBSCRIBE's OK waits for the commit of what was applied before it, and comes even when that commit fails", async () => {
    const p = setup();
    p.parts.set('x', [{ label: '' }]);
    const s = p.session();
    await p.publisher.subscribe(s, { type: 'subscribe', id: 1, souls: ['x'] });
    p.holdCommits();
    let answered = false;
    const ok = p.publisher.unsubscribe(s, { type: 'unsubscribe', id: 2, souls: ['x'] }).then((reply) => ((answered = true), reply));
    await macrotask();
    expect(answered).toBe(false);
    p.releaseCommits(new Error('disk gone'));
    expect(await ok).toEqual({ type: 'ok', id: 2 });
  });

  it('a batch reaches each subscriber cut down to its souls (whole when it watches all and it fits), after the commit', async () => {
    const p = setup();
    for (const soul of ['a', 'b', 'gone']) p.parts.set(soul, [{ label: '' }]);
    const [all, onlyA, allTooSmall, none] = [p.session(), p.session(), p.session(), p.session()];
    // Takes 4 bytes: no whole batch below, nor a:k1+k3; a:k1 and a:k3 alone do.
    allTooSmall.maxFrameBytes = 4;
    await p.publisher.subscribe(all, { type: 'subscribe', id: 1, souls: ['a', 'b'] });
    await p.publisher.subscribe(onlyA, { type: 'subscribe', id: 1, souls: ['a', 'gone'] });
    await p.publisher.subscribe(allTooSmall, { type: 'subscribe', id: 1, souls: ['a', 'b'] });
    await p.publisher.subscribe(none, { type: 'subscribe', id: 1, souls: ['c'] });
    p.log.length = 0;
    p.holdCommits();
    p.push([['a', 'k1'], ['b', 'k2'], ['a', 'k3'], ['gone', 'k4']], 'whole');
    await macrotask();
    await macrotask();
    expect(p.log).toEqual(['commit']);
    p.releaseCommits();
    await macrotask();
    // `all` watches a and b but not `gone`: cut. Only one subscriber watches every soul of a batch of a and b.
    // A soul's changes too large for a subscriber go in halves of its keys.
    expect(p.log.slice(1)).toEqual(['event a:k1+k3', 'event b:k2', 'event a:k1+k3', 'event a:k1', 'event a:k3', 'event b:k2']);
    p.log.length = 0;
    p.push([['a', 'k5'], ['b', 'k6']], 'both!');
    await macrotask();
    expect(p.log).toEqual(['commit', 'event both!', 'event a:k5', 'event a:k5', 'event b:k6']);
    // Nothing was attempted for `gone`, whose node is no longer resident (no EVENT failed).
    expect(p.counters.snapshot().rejects).toEqual({});
    // One property too large for a subscriber's messages: not sent to it, counted; the others get it.
    p.log.length = 0;
    p.push([['a', 'long-key']], 'a-long-batch');
    await macrotask();
    expect(p.log).toEqual(['commit', 'event a-long-batch', 'event a-long-batch']);
    expect(p.counters.snapshot().rejects).toEqual({ 'wire/too-large': 1 });
  });

  it('nothing is pushed when the commit fails, to an ended session, or of souls nobody watches; a failed EVENT is counted', async () => {
    const p = setup();
    p.parts.set('a', [{ label: '' }]);
    const [s, t] = [p.session(), p.session()];
    await p.publisher.subscribe(s, { type: 'subscribe', id: 1, souls: ['a'] });
    await p.publisher.subscribe(t, { type: 'subscribe', id: 1, souls: ['a'] });
    p.log.length = 0;
    p.holdCommits();
    p.push([['a', 'k']], 'lost');
    await macrotask();
    p.releaseCommits(new Error('disk gone'));
    await macrotask();
    p.push([['elsewhere', 'k']]);
    await macrotask();
    expect(p.log).toEqual(['commit']);
    t.closed = true;
    s.failFor = 'batch';
    p.push([['a', 'k']]);
    await macrotask();
    await macrotask();
    expect(p.log).toEqual(['commit', 'commit']);
    expect(p.counters.snapshot().rejects).toEqual({ 'event/too-large': 1 });
  });

  it('a peer with more than 32 MiB unread is disconnected (wire/slow-consumer) instead of queued; at 32 MiB it still gets the batch', async () => {
    const p = setup();
    p.parts.set('a', [{ label: '' }]);
    const [slow, full] = [p.session(), p.session()];
    await p.publisher.subscribe(slow, { type: 'subscribe', id: 1, souls: ['a'] });
    await p.publisher.subscribe(full, { type: 'subscribe', id: 1, souls: ['a'] });
    slow.peerQueuedBytes = MAX_QUEUED_BYTES_PER_PEER + 1;
    full.peerQueuedBytes = MAX_QUEUED_BYTES_PER_PEER;
    p.log.length = 0;
    p.push([['a', 'k']], 'x');
    await macrotask();
    expect(slow.ended).toEqual({ code: 'wire/slow-consumer', message: `more than ${MAX_QUEUED_BYTES_PER_PEER} bytes of live updates waiting for this peer to read them.` });
    expect(full.ended).toBeUndefined();
    expect(p.log).toEqual(['commit', 'event x']);
  });

  it('with no interest listener and a replica without limits (the defaults), subscriptions still work', async () => {
    const calls: NodePartLimits[] = [];
    const replica = {
      onApplied: () => () => {},
      nodeFramePart: async (_soul: string, _after: string | undefined, limits: NodePartLimits) => (calls.push(limits), { frame: new Uint8Array(0), next: undefined, skipped: [] }),
      residentNodeFrame: () => undefined,
    };
    const publisher = new Publisher(replica as unknown as ReplicaForPublisher, new CounterSet(), new DurabilityBarrier({ flush: async () => {} }));
    const s = new ScriptedSession([]) as unknown as ScriptedSession & SyncSession;
    await publisher.subscribe(s, { type: 'subscribe', id: 1, souls: ['x'] });
    expect(calls).toEqual([partLimits(s.remoteMaxMessageBytes)]);
    expect(publisher.isWatched('x')).toBe(true);
    await publisher.unsubscribe(s, { type: 'unsubscribe', id: 2, souls: ['x'] });
    expect(publisher.isWatched('x')).toBe(false);
  });

  it('stop(): no more pushes, nothing watched', async () => {
    const p = setup();
    p.parts.set('a', [{ label: '' }]);
    await p.publisher.subscribe(p.session(), { type: 'subscribe', id: 1, souls: ['a'] });
    p.publisher.stop();
    expect(p.listening()).toBe(false);
    expect(p.publisher.isWatched('a')).toBe(false);
    expect([...p.publisher.watchedSouls()]).toEqual([]);
    expect(p.flushes()).toBe(0);
  });
});
