import { describe, expect, it } from 'vitest';
import { MemoryStore, type StorageOperation } from '../../src/node.js';
import { GroupCommit } from '../../src/persistence/group-commit.js';

const key = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** A MemoryStore whose batches wait for `release()`, recording what each held. */
class GatedStore extends MemoryStore {
  readonly batches: string[][] = [];
  #gates: Array<() => void> = [];
  failNext = false;

  override async batch(operations: readonly StorageOperation[]): Promise<void> {
    this.batches.push(operations.map((op) => `${op.type} ${text(op.key)}`));
    await new Promise<void>((resolve) => this.#gates.push(resolve));
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk on fire');
    }
    return super.batch(operations);
  }

  /** Lets the oldest waiting batch proceed. */
  release(): void {
    this.#gates.shift()?.();
  }

  get waiting(): number {
    return this.#gates.length;
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('puts staged together share one batch, sealed with the state at commit time', async () => {
    const store = new GatedStore();
    let seals = 0;
    const commit = new GroupCommit(store, (operations) => operations.push({ type: 'put', key: key('head'), value: Uint8Array.of(++seals) }));
    commit.put(key('a'), Uint8Array.of(1));
    const first = commit.durable();
    commit.put(key('b'), Uint8Array.of(2));
    expect(commit.durable()).toBe(first);
    await tick();
    expect(store.batches).toEqual([['put a', 'put b', 'put head']]);
    store.release();
    await first;
    expect(await store.get(key('head'))).toEqual(Uint8Array.of(1));
  });

  it('writes staged while a batch is in flight wait for it and form the next one, in order', async () => {
    const store = new GatedStore();
    const commit = new GroupCommit(store, () => {});
    commit.put(key('k'), Uint8Array.of(1));
    const first = commit.durable();
    await tick();
    commit.put(key('k'), Uint8Array.of(2));
    const second = commit.durable();
    commit.del(key('gone'));
    expect(second).not.toBe(first);
    await tick();
    expect(store.batches).toHaveLength(1); // still waiting for the first
    store.release();
    await first;
    await tick();
    expect(store.batches).toEqual([['put k'], ['put k', 'del gone']]);
    store.release();
    await second;
    expect(await store.get(key('k'))).toEqual(Uint8Array.of(2));
  });

  it('a failed batch rejects only its own writers; the next batch proceeds', async () => {
    const store = new GatedStore();
    const commit = new GroupCommit(store, () => {});
    commit.put(key('x'), Uint8Array.of(1));
    const failing = commit.durable();
    await tick();
    commit.put(key('y'), Uint8Array.of(2));
    const next = commit.durable();
    store.failNext = true;
    store.release();
    await expect(failing).rejects.toThrow('disk on fire');
    await tick();
    store.release();
    await next;
    expect(await store.get(key('x'))).toBeUndefined();
    expect(await store.get(key('y'))).toEqual(Uint8Array.of(2));
  });

  it('flush() commits at once and waits for everything staged; touch() forces a sealed batch', async () => {
    const store = new GatedStore();
    let sealed = 0;
    const commit = new GroupCommit(store, () => void sealed++);
    await commit.flush(); // nothing staged: nothing to wait for
    commit.touch();
    let flushed = false;
    const flushing = commit.flush().then(() => (flushed = true));
    expect(store.batches).toEqual([[]]);
    expect(sealed).toBe(1);
    await tick();
    expect(flushed).toBe(false);
    store.release();
    await flushing;
  });
});
