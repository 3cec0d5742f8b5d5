/**
 * The feed follower's pipelined catch-up (network/duties/feed-follower.ts), against a
 * scripted session and a scripted replica whose merges the test holds and releases:
 *
 * - entries go to the replica in arrival order, at most 256 not yet durable at a time and
 *   at most 8 MiB of them (exactly 8 MiB included), one always, whatever its size; each
 *   one that becomes durable lets the next waiting ones go;
 * - the cursor moves in seq order: an entry durable before an earlier one does not move it
 *   past the earlier one;
 * - a backlog of thousands of waiting entries all arrive, in order, each once (the
 *   waiting queue reuses its storage as it drains);
 * - entries still waiting when the replica closes are dropped (their bytes stop counting
 *   towards the 64 MiB bound), and a refused entry's bytes stop counting too.
 *
 * Why: the pipelining came after the follower's last mutation run, and the in-process
 * catch-up test (feed-catch-up.test.ts) sees only that a backlog arrives in few commits
 * (scripts/mutation/README.md).
 */
import { describe, expect, it } from 'vitest';
import { RustDHTError } from '../../src/api/errors.js';
import { CounterSet } from '../../src/network/counters.js';
import {
  MAX_FEED_BYTES_IN_FLIGHT,
  MAX_FEED_ENTRIES_IN_FLIGHT,
  MAX_PENDING_FEED_BYTES,
  decodeFeedCursor,
  feedCursorKey,
  followFeed,
  type FeedFollowerOptions,
} from '../../src/network/duties/feed-follower.js';
import type { ReceivedBatch } from '../../src/network/replica-port.js';
import type { SyncSession } from '../../src/network/sync-session.js';

type Entry = { readonly seq: number; readonly frame: Uint8Array };

const MiB = 1024 * 1024;
const macrotask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));
const applied: ReceivedBatch = { outcomes: [{ outcome: 'applied' }], applied: 1, ignored: 0, historical: 0, deferred: 0, rejected: 0 };

/** An entry whose frame claims to be `bytes` long and carries its seq (the scripted replica reads nothing else). */
const entry = (seq: number, bytes = 8): Entry => ({ seq, frame: { length: bytes, seq } as unknown as Uint8Array });
const seqOf = (frame: Uint8Array): number => (frame as unknown as { seq: number }).seq;

class ScriptedSession {
  readonly peerId = 'peer-server';
  closed = false;
  speaksDht = false;
  onEntry: ((entry: Entry) => void) | undefined;
  ended: { code: string; message: string } | undefined;

  async follow(_since: number, onEntry: (entry: Entry) => void): Promise<void> {
    this.onEntry = onEntry;
  }

  async notify(): Promise<void> {}

  end(code: string, message: string): void {
    this.ended = { code, message };
  }
}

/** A replica whose every merge waits until the test releases it (by seq, or all of them). */
async function setup() {
  const session = new ScriptedSession();
  let cursorBytes: Uint8Array | undefined;
  /** Seqs handed to receive(), in call order. */
  const handed: number[] = [];
  const releases = new Map<number, { resolve: () => void; reject: (error: unknown) => void }>();
  const replica = {
    closed: false,
    async readRecord() {
      return undefined;
    },
    stageRecord(key: Uint8Array, value: Uint8Array) {
      expect([...key]).toEqual([...feedCursorKey(session.peerId)]);
      cursorBytes = value;
    },
    receive(frame: Uint8Array): Promise<ReceivedBatch> {
      const seq = seqOf(frame);
      handed.push(seq);
      return new Promise<ReceivedBatch>((resolve, reject) => releases.set(seq, { resolve: () => resolve(applied), reject }));
    },
  };
  const refused: string[] = [];
  await followFeed(session as unknown as SyncSession, {
    replica: replica as unknown as FeedFollowerOptions['replica'],
    counters: new CounterSet(),
    refused: (_peerId, code) => refused.push(code),
    requestFailed: () => {},
  });
  const deliver = (...entries: Entry[]): void => {
    for (const e of entries) session.onEntry!(e);
  };
  /** Makes the merge of `seq` durable (or refused), then lets the follower react. */
  const release = async (seq: number, error?: unknown): Promise<void> => {
    const r = releases.get(seq)!;
    releases.delete(seq);
    if (error === undefined) r.resolve();
    else r.reject(error);
    await macrotask();
  };
  /** Makes every merge durable, as they come, until none is left. */
  const releaseAll = async (): Promise<void> => {
    while (releases.size !== 0) {
      for (const r of [...releases.values()]) r.resolve();
      releases.clear();
      await macrotask();
    }
  };
  const cursor = (): number | undefined => (cursorBytes === undefined ? undefined : decodeFeedCursor(cursorBytes));
  return { session, replica, handed, deliver, release, releaseAll, refused, cursor };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('feed follower pipelining', () => {
  it(`at most ${MAX_FEED_ENTRIES_IN_FLIGHT} entries not yet durable; each durable one lets the next go, in order`, async () => {
    const f = await setup();
    const total = MAX_FEED_ENTRIES_IN_FLIGHT + 50;
    f.deliver(...range(1, total).map((seq) => entry(seq)));
    expect(f.handed).toEqual(range(1, MAX_FEED_ENTRIES_IN_FLIGHT));
    await f.release(1);
    expect(f.handed).toEqual(range(1, MAX_FEED_ENTRIES_IN_FLIGHT + 1));
    expect(f.cursor()).toBe(1);
    await f.releaseAll();
    expect(f.handed).toEqual(range(1, total));
    expect(f.cursor()).toBe(total);
  });

  it(`at most ${MAX_FEED_BYTES_IN_FLIGHT / MiB} MiB in flight (exactly that included); one entry always goes, whatever its size`, async () => {
    const f = await setup();
    // 4 + 4 MiB is exactly the bound: both go; the third waits.
    f.deliver(entry(1, 4 * MiB), entry(2, 4 * MiB), entry(3, 1));
    expect(f.handed).toEqual([1, 2]);
    await f.release(1);
    expect(f.handed).toEqual([1, 2, 3]);
    await f.releaseAll();
    expect(f.cursor()).toBe(3);

    // 3 + 3 MiB go, a further 3 MiB would pass 8 MiB: it waits for one of them.
    const g = await setup();
    g.deliver(entry(1, 3 * MiB), entry(2, 3 * MiB), entry(3, 3 * MiB), entry(4, 1));
    expect(g.handed).toEqual([1, 2]);
    await g.release(1);
    expect(g.handed).toEqual([1, 2, 3, 4]);

    // One entry larger than the bound goes alone, and the next once it is durable.
    const h = await setup();
    h.deliver(entry(1, MAX_FEED_BYTES_IN_FLIGHT + 1), entry(2, 1));
    expect(h.handed).toEqual([1]);
    await h.release(1);
    expect(h.handed).toEqual([1, 2]);
    await h.release(2);
    expect(h.cursor()).toBe(2);
  });

  it('the cursor moves in seq order: a later entry durable first does not pass an earlier one', async () => {
    const f = await setup();
    f.deliver(entry(1), entry(2), entry(3));
    await f.release(2);
    await f.release(3);
    expect(f.cursor()).toBeUndefined();
    await f.release(1);
    expect(f.cursor()).toBe(3);
  });

  it('an entry refused while an earlier one still merges is reported after it, in order (no unhandled rejection)', async () => {
    const f = await setup();
    f.deliver(entry(1), entry(2), entry(3));
    await f.release(2, new RustDHTError('signature/invalid', 'bad'));
    // Reported in seq order: not before 1 is through.
    expect(f.refused).toEqual([]);
    await f.release(1);
    expect(f.refused).toEqual(['signature/invalid']);
    expect(f.cursor()).toBe(1);
    await f.release(3);
    expect(f.cursor()).toBe(3);
  });

  it('a backlog of thousands of waiting entries all arrive, in order, each once', async () => {
    const f = await setup();
    const total = 3_000;
    f.deliver(...range(1, total).map((seq) => entry(seq)));
    // Repeats of entries already handed over are skipped, even as the queue drains.
    await f.releaseAll();
    f.deliver(entry(total - 1), entry(total));
    expect(f.handed).toEqual(range(1, total));
    expect(f.cursor()).toBe(total);
  });

  it('entries waiting when the replica closes are dropped; their bytes, and a refused entry\'s, stop counting', async () => {
    const f = await setup();
    const big = 16 * MiB;
    f.deliver(entry(1, 1), entry(2, big), entry(3, big), entry(4, big));
    // 1 is in flight; 2 would take the bytes in flight past 8 MiB, so 2..4 wait.
    expect(f.handed).toEqual([1]);
    f.replica.closed = true;
    await f.release(1);
    expect(f.handed).toEqual([1]);
    expect(f.cursor()).toBe(1);
    // Nothing waits now: a whole 64 MiB entry fits under the bound.
    f.deliver(entry(5, MAX_PENDING_FEED_BYTES));
    expect(f.session.ended).toBeUndefined();

    const g = await setup();
    g.deliver(entry(1, 32 * MiB));
    await g.release(1, new RustDHTError('signature/invalid', 'bad'));
    expect(g.refused).toEqual(['signature/invalid']);
    expect(g.cursor()).toBeUndefined();
    g.deliver(entry(2, MAX_PENDING_FEED_BYTES));
    expect(g.session.ended).toBeUndefined();
    expect(g.handed).toEqual([1, 2]);
  });
});
