/**
 * What this peer answers to a peer's requests (network/serving/responder.ts), against a
 * scripted session, replica, publisher and feed server, with the real DurabilityBarrier
 * over a flush the test holds:
 *
 * - GET: the owners are asked first (`beforeRead`, keys or undefined for the whole node,
 *   the level), then the NODE is read (the same keys) and sent once durable here; an
 *   empty NODE does not wait for a commit;
 * - GET_PART: `beforeRead` only at a node's first part; the part is read within the
 *   peer's message limit and this peer's key limit from the cursor (undefined at the
 *   first), sent once durable (an empty one without waiting); each key too large for any
 *   message is counted wire/too-large; the last part names no next cursor ('');
 * - PUT: admitted first (a refusal merges nothing), merged, counted, ACKed with the
 *   outcomes; PUT_AT the same, then ACK_AT with how many owners hold it (`replicate`,
 *   given the frame and the level; a lone server: 1 of 1);
 * - SUBSCRIBE, UNSUBSCRIBE and FEED are the publisher's and the feed server's answers.
 *
 * Why: the sync conformance suite checks these end to end, but whether a NODE waits for
 * the commit, and the hooks a DHT server adds, survived mutation there
 * (scripts/mutation/README.md).
 */
import { describe, expect, it } from 'vitest';
import { RustDHTError } from '../../src/api/errors.js';
import { CounterSet } from '../../src/network/counters.js';
import type { NodePartLimits, ReceivedBatch } from '../../src/network/replica-port.js';
import { DurabilityBarrier } from '../../src/network/serving/durability.js';
import type { FeedServer } from '../../src/network/serving/feed-server.js';
import { partLimits } from '../../src/network/serving/node-parts.js';
import type { Publisher } from '../../src/network/serving/publisher.js';
import { Responder, type ReplicaForResponder, type ResponderHooks } from '../../src/network/serving/responder.js';
import type { IncomingRequest, SyncSession } from '../../src/network/sync-session.js';

const macrotask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const batch = (applied: number, rejected = 0): ReceivedBatch => ({
  outcomes: [...Array.from({ length: applied }, () => ({ outcome: 'applied' as const })), ...Array.from({ length: rejected }, () => ({ outcome: 'rejected' as const, code: 'signature/invalid' }))],
  applied,
  ignored: 0,
  historical: 0,
  deferred: 0,
  rejected,
});

function setup(options: { hooks?: (log: string[]) => ResponderHooks; maxKeyBytes?: number } = {}) {
  const log: string[] = [];
  const nodes = new Map<string, Uint8Array>();
  const partCalls: { soul: string; after: string | undefined; limits: NodePartLimits }[] = [];
  let part: { frame: Uint8Array; next?: string; skipped: string[] } = { frame: new Uint8Array(0), skipped: [] };
  let hold: (() => void) | undefined;
  const replica = {
    limits: options.maxKeyBytes === undefined ? undefined : { maxKeyBytes: options.maxKeyBytes },
    async nodeFrame(soul: string, keys?: readonly string[]) {
      log.push(`read ${soul} ${keys === undefined ? '*' : keys.join('+')}`);
      return nodes.get(soul) ?? new Uint8Array(0);
    },
    async nodeFramePart(soul: string, after: string | undefined, limits: NodePartLimits) {
      partCalls.push({ soul, after, limits });
      log.push(`read-part ${soul} ${after ?? '*'}`);
      return part;
    },
    async receive(frame: Uint8Array) {
      log.push(`merge ${new TextDecoder().decode(frame)}`);
      return batch(2, 1);
    },
  };
  const durability = new DurabilityBarrier({
    flush: () => {
      log.push('commit');
      return hold === undefined ? Promise.resolve() : new Promise<void>((resolve) => (hold = resolve));
    },
  });
  const counters = new CounterSet();
  const publisher = {
    subscribe: async (_s: SyncSession, m: { id: number }) => (log.push(`subscribe ${m.id}`), undefined),
    unsubscribe: async (_s: SyncSession, m: { id: number }) => ({ type: 'ok', id: m.id }),
  };
  const feeds = { open: async (_s: SyncSession, m: { id: number; since: number }) => (log.push(`feed ${m.id} ${m.since}`), undefined) };
  const responder = new Responder(
    replica as unknown as ReplicaForResponder,
    counters,
    publisher as unknown as Publisher,
    feeds as unknown as FeedServer,
    durability,
    options.hooks?.(log),
  );
  const session = { peerId: 'peer', remoteMaxMessageBytes: 200_000 } as unknown as SyncSession;
  const request = (message: IncomingRequest) => responder.request(session, message);
  return {
    log,
    nodes,
    partCalls,
    counters,
    request,
    setPart: (p: typeof part) => (part = p),
    holdCommits: () => (hold = () => {}),
    releaseCommit: () => {
      const h = hold!;
      hold = undefined;
      h();
    },
  };
}

/** Settles `promise` into a log line when it does, so a test sees whether it has. */
function track<T>(log: string[], promise: Promise<T>): Promise<T> {
  return promise.then((value) => {
    log.push('answered');
    return value;
  });
}

describe('responder', () => {
  it('GET: asks the owners (keys or the whole node, the level), reads the node, answers once it is durable', async () => {
    const reads: unknown[] = [];
    const r = setup({ hooks: (log) => ({ beforeRead: (_s, soul, keys, level) => (log.push(`owners ${soul}`), reads.push([soul, keys, level]), undefined) }) });
    r.nodes.set('a', bytes('node a'));
    r.holdCommits();
    const answer = track(r.log, r.request({ type: 'get', id: 3, soul: 'a', keys: ['x', 'y'], level: 'quorum' } as IncomingRequest));
    await macrotask();
    expect(r.log).toEqual(['owners a', 'read a x+y', 'commit']);
    r.releaseCommit();
    expect(await answer).toEqual({ type: 'node', id: 3, frame: bytes('node a') });
    expect(reads).toEqual([['a', ['x', 'y'], 'quorum']]);

    // No keys: the whole node, asked and read as such.
    await r.request({ type: 'get', id: 4, soul: 'a', keys: [] } as unknown as IncomingRequest);
    expect(reads[1]).toEqual(['a', undefined, undefined]);
    expect(r.log.slice(4)).toEqual(['owners a', 'read a *', 'commit']);
  });

  it('GET of a node held nowhere here: an empty NODE, at once (no commit to wait for)', async () => {
    const r = setup();
    r.holdCommits();
    expect(await r.request({ type: 'get', id: 1, soul: 'none', keys: [] } as unknown as IncomingRequest)).toEqual({ type: 'node', id: 1, frame: new Uint8Array(0) });
    expect(r.log).toEqual(['read none *']);
  });

  it('a GET waits for the owners before reading', async () => {
    let asked!: () => void;
    const r = setup({ hooks: (log) => ({ beforeRead: () => new Promise<void>((resolve) => (asked = () => (log.push('owners answered'), resolve()))) }) });
    const answer = r.request({ type: 'get', id: 1, soul: 'a', keys: [] } as unknown as IncomingRequest);
    await macrotask();
    expect(r.log).toEqual([]);
    asked();
    await answer;
    expect(r.log).toEqual(['owners answered', 'read a *']);
  });

  it("GET_PART: the owners at the first part only; the peer's and this peer's limits; sent once durable; keys too large are counted", async () => {
    const asked: unknown[] = [];
    const r = setup({ maxKeyBytes: 100, hooks: () => ({ beforeRead: (_s, soul, keys, level) => void asked.push([soul, keys, level]) }) });
    r.setPart({ frame: bytes('part 1'), next: 'k', skipped: ['huge', 'huger'] });
    r.holdCommits();
    const first = track(r.log, r.request({ type: 'get-part', id: 5, soul: 'a', after: '', level: 'one' } as IncomingRequest));
    await macrotask();
    expect(r.log).toEqual(['read-part a *', 'commit']);
    r.releaseCommit();
    expect(await first).toEqual({ type: 'node-part', id: 5, next: 'k', skipped: ['huge', 'huger'], frame: bytes('part 1') });
    expect(asked).toEqual([['a', undefined, 'one']]);
    expect(r.counters.snapshot().rejects).toEqual({ 'wire/too-large': 2 });
    expect(r.partCalls[0]!.limits).toEqual(partLimits(200_000, 100));

    // The next part: from the cursor, the owners not asked again; the last names no next.
    r.setPart({ frame: bytes('part 2'), skipped: [] });
    expect(await r.request({ type: 'get-part', id: 6, soul: 'a', after: 'k' } as IncomingRequest)).toEqual({ type: 'node-part', id: 6, next: '', skipped: [], frame: bytes('part 2') });
    expect(r.partCalls[1]!.after).toBe('k');
    expect(asked).toHaveLength(1);

    // An empty part does not wait for a commit; without a key limit, the engine's default.
    const s = setup();
    s.holdCommits();
    expect(await s.request({ type: 'get-part', id: 7, soul: 'b', after: '' } as IncomingRequest)).toEqual({ type: 'node-part', id: 7, next: '', skipped: [], frame: new Uint8Array(0) });
    expect(s.log).toEqual(['read-part b *']);
    expect(s.partCalls[0]!.limits).toEqual(partLimits(200_000));
    expect(s.counters.snapshot().rejects).toEqual({});
  });

  it('PUT: admitted, merged, counted, ACKed with the outcomes; a refused one merges nothing', async () => {
    const admitted: string[] = [];
    const r = setup({
      hooks: (log) => ({
        admit: (_s, frame) => {
          const text = new TextDecoder().decode(frame);
          log.push(`admit ${text}`);
          admitted.push(text);
          if (text === 'over quota') throw new RustDHTError('quota/bytes', 'too much');
        },
      }),
    });
    expect(await r.request({ type: 'put', id: 8, frame: bytes('w') } as IncomingRequest)).toEqual({ type: 'ack', id: 8, outcomes: batch(2, 1).outcomes });
    expect(r.log).toEqual(['admit w', 'merge w']);
    expect(r.counters.snapshot().updates).toMatchObject({ applied: 2, rejected: 1 });
    await expect(r.request({ type: 'put', id: 9, frame: bytes('over quota') } as IncomingRequest)).rejects.toMatchObject({ code: 'quota/bytes' });
    expect(r.log).toEqual(['admit w', 'merge w', 'admit over quota']);
  });

  it('PUT_AT: admitted, merged, counted, then ACK_AT with how many owners hold it (a lone server: 1 of 1)', async () => {
    const replicated: unknown[] = [];
    const r = setup({
      hooks: (log) => ({
        admit: () => void log.push('admit'),
        replicate: async (frame, level) => {
          log.push('replicate');
          replicated.push([new TextDecoder().decode(frame), level]);
          return { reached: 2, owners: 3 };
        },
      }),
    });
    expect(await r.request({ type: 'put-at', id: 4, level: 'quorum', frame: bytes('w') } as IncomingRequest)).toEqual({ type: 'ack-at', id: 4, reached: 2, owners: 3, outcomes: batch(2, 1).outcomes });
    expect(r.log).toEqual(['admit', 'merge w', 'replicate']);
    expect(replicated).toEqual([['w', 'quorum']]);
    expect(r.counters.snapshot().updates).toMatchObject({ applied: 2, rejected: 1 });

    const lone = setup();
    expect(await lone.request({ type: 'put-at', id: 5, level: 'all', frame: bytes('v') } as IncomingRequest)).toEqual({ type: 'ack-at', id: 5, reached: 1, owners: 1, outcomes: batch(2, 1).outcomes });
    expect(lone.counters.snapshot().updates).toMatchObject({ applied: 2, rejected: 1 });

    await expect(
      setup({
        hooks: () => ({
          admit: () => {
            throw new RustDHTError('storage/full', 'full');
          },
        }),
      }).request({ type: 'put-at', id: 6, level: 'one', frame: bytes('x') } as IncomingRequest),
    ).rejects.toMatchObject({ code: 'storage/full' });
  });

  it("SUBSCRIBE, UNSUBSCRIBE and FEED: the publisher's and the feed server's answers", async () => {
    const r = setup();
    expect(await r.request({ type: 'subscribe', id: 1, souls: ['a'] } as IncomingRequest)).toBeUndefined();
    expect(await r.request({ type: 'unsubscribe', id: 2, souls: ['a'] } as IncomingRequest)).toEqual({ type: 'ok', id: 2 });
    expect(await r.request({ type: 'feed', id: 3, since: 7 } as IncomingRequest)).toBeUndefined();
    expect(r.log).toEqual(['subscribe 1', 'feed 3 7']);
  });
});
