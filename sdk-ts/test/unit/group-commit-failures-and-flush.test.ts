/**
 * Group commit (persistence/group-commit.ts) when things go wrong, and what flush() and
 * durable() wait for: a seal or a store that throws instead of rejecting fails only its
 * own batch, a failed batch nobody waits for is not an unhandled rejection, and flush()
 * waits for the batch in flight and the open one. A real MemoryStore whose batches can be
 * held (released one by one) or made to throw; the GroupCommit is the real one.
 * (Kills StrykerJS survivors in group-commit.ts.) Rejections are matched on their
 * message: `rejects.toThrow('…')` also passed for a batch rejected with undefined.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, type StorageOperation } from '../../src/node.js';
import { GroupCommit } from '../../src/persistence/group-commit.js';

const key = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class HeldStore extends MemoryStore {
  readonly batches: string[][] = [];
  #gates: Array<() => void> = [];
  held = true;
  /** The next batch() throws synchronously, as a store with a bug or a bad argument check might. */
  throwNext = false;
  rejectNext = false;

  override batch(operations: readonly StorageOperation[]): Promise<void> {
    if (this.throwNext) {
      this.throwNext = false;
      throw new Error('the store threw');
    }
    this.batches.push(operations.map((op) => `${op.type} ${text(op.key)}`));
    const fail = this.rejectNext;
    this.rejectNext = false;
    const write = async (): Promise<void> => {
      if (this.held) await new Promise<void>((resolve) => this.#gates.push(resolve));
      if (fail) throw new Error('the disk failed');
      return super.batch(operations);
    };
    return write();
  }

  release(): void {
    this.#gates.shift()?.();
  }
}

let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe('GroupCommit failures', () => {
  it('a seal that throws fails its own batch with that error; the next batch is written', async () => {
    const store = new HeldStore();
    store.held = false;
    let seals = 0;
    const commit = new GroupCommit(store, () => {
      if (++seals === 1) throw new Error('cannot seal');
    });
    commit.put(key('a'), Uint8Array.of(1));
    const first = commit.durable();
    await expect(first).rejects.toMatchObject({ message: 'cannot seal' });
    commit.put(key('b'), Uint8Array.of(2));
    await commit.durable();
    expect(store.batches).toEqual([['put b']]);
    expect(await store.get(key('a'))).toBeUndefined();
    expect(await store.get(key('b'))).toEqual(Uint8Array.of(2));
  });

  it('a store that throws instead of rejecting fails that batch; writes staged meanwhile form the next one', async () => {
    const store = new HeldStore();
    store.held = false;
    const commit = new GroupCommit(store, () => {});
    store.throwNext = true;
    commit.put(key('a'), Uint8Array.of(1));
    const first = commit.durable();
    commit.put(key('b'), Uint8Array.of(2));
    await expect(first).rejects.toMatchObject({ message: 'the store threw' });
    commit.put(key('c'), Uint8Array.of(3));
    await commit.durable();
    expect(store.batches).toEqual([['put c']]);
    expect(await store.get(key('c'))).toEqual(Uint8Array.of(3));
  });

  it('a failed batch that nobody waits for is not an unhandled rejection', async () => {
    const store = new HeldStore();
    store.held = false;
    const commit = new GroupCommit(store, () => {});
    store.rejectNext = true;
    commit.touch(); // staged by something that never looks at the outcome
    await tick();
    await tick();
    await tick();
    expect(store.batches).toEqual([[]]);
    expect(unhandled).toEqual([]);
  });
});

describe('GroupCommit flush() and durable()', () => {
  it('durable() with nothing staged resolves at once; with a batch in flight, it is that batch', async () => {
    const store = new HeldStore();
    const commit = new GroupCommit(store, () => {});
    let settled = false;
    await commit.durable().then(() => (settled = true));
    expect(settled).toBe(true);
    commit.put(key('a'), Uint8Array.of(1));
    const staged = commit.durable();
    await tick();
    expect(store.batches).toHaveLength(1);
    // Nothing open any more: durable() is the batch being written, not "already durable".
    expect(commit.durable()).toBe(staged);
    let done = false;
    const waiting = commit.durable().then(() => (done = true));
    await tick();
    expect(done).toBe(false);
    store.release();
    await waiting;
  });

  it('flush() during a batch in flight waits for it, then for the next, and resolves to nothing', async () => {
    const store = new HeldStore();
    const commit = new GroupCommit(store, () => {});
    commit.put(key('a'), Uint8Array.of(1));
    await tick(); // the first batch is in flight
    commit.put(key('b'), Uint8Array.of(2));
    let flushed = false;
    const flushing = commit.flush().then((value) => {
      flushed = true;
      return value;
    });
    // One batch in flight at a time: flush() does not send the second beside the first.
    await tick();
    expect(store.batches).toEqual([['put a']]);
    store.release(); // the first batch lands; the second is committed after it
    await tick();
    await tick();
    expect(store.batches).toEqual([['put a'], ['put b']]);
    expect(flushed).toBe(false);
    store.release();
    expect(await flushing).toBeUndefined();
    expect(await store.get(key('b'))).toEqual(Uint8Array.of(2));
  });

  it('flush() rejects when a batch it waits for fails', async () => {
    const store = new HeldStore();
    store.held = false;
    const commit = new GroupCommit(store, () => {});
    store.rejectNext = true;
    commit.put(key('a'), Uint8Array.of(1));
    await expect(commit.flush()).rejects.toMatchObject({ message: 'the disk failed' });
  });
});
