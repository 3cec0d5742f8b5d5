/**
 * Group commit: every write staged while the store is busy goes into the next single
 * `store.batch()`, so a durable (fsync'd) write costs one disk round trip per batch
 * rather than per put, and throughput grows with concurrency instead of collapsing.
 *
 * Policy: the first write staged while the store is idle is committed after the
 * current macrotask (so puts issued together, or by code resumed from the previous
 * commit, share it); writes staged while a batch is being written wait for it and form
 * the next batch. At most one batch is in flight, which also keeps commits in order:
 * a later batch never lands before an earlier one.
 *
 * Each batch is atomic (StorageAdapter.batch), and everything one put stages is staged
 * synchronously, so a put is either wholly in the store or not at all.
 */
import type { StorageAdapter, StorageOperation } from '../storage/adapter.js';
import { afterMicrotasks } from '../util/macrotask.js';

interface Batch {
  readonly operations: StorageOperation[];
  readonly durable: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Adds, when a batch is sealed, the records that describe the state as of that moment
 * (they are rewritten by every batch, so only the last staged copy matters). `durable`
 * settles with the batch, for seals that must stage their records again if it fails.
 */
export type Seal = (operations: StorageOperation[], durable: Promise<void>) => void;

function openBatch(): Batch {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const durable = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Callers that only stage (a deferred tick) may never look at the outcome; the
  // rejection still reaches every caller that does.
  durable.catch(() => {});
  return { operations: [], durable, resolve, reject };
}

export class GroupCommit {
  readonly #store: StorageAdapter;
  readonly #seal: Seal;
  #open: Batch | undefined;
  #writing: Batch | undefined;
  #scheduled = false;

  constructor(store: StorageAdapter, seal: Seal) {
    this.#store = store;
    this.#seal = seal;
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.#batch().operations.push({ type: 'put', key, value });
  }

  del(key: Uint8Array): void {
    this.#batch().operations.push({ type: 'del', key });
  }

  /** Makes sure a batch will be committed (and sealed) even if nothing else is staged. */
  touch(): void {
    this.#batch();
  }

  /** Resolves when everything staged so far is durable; rejects if its batch failed. */
  durable(): Promise<void> {
    return this.#open?.durable ?? this.#writing?.durable ?? Promise.resolve();
  }

  /** Commits what is staged without waiting for the next macrotask, and waits for it. */
  flush(): Promise<void> {
    const pending = [this.#writing?.durable, this.#open?.durable].filter((p) => p !== undefined);
    this.#commit();
    return Promise.all(pending).then(() => undefined);
  }

  #batch(): Batch {
    if (this.#open === undefined) {
      this.#open = openBatch();
      this.#schedule();
    }
    return this.#open;
  }

  #schedule(): void {
    if (this.#scheduled || this.#writing !== undefined) return;
    this.#scheduled = true;
    afterMicrotasks(() => {
      this.#scheduled = false;
      this.#commit();
    });
  }

  #commit(): void {
    const batch = this.#open;
    if (batch === undefined || this.#writing !== undefined) return;
    this.#open = undefined;
    this.#writing = batch;
    let written: Promise<void>;
    try {
      this.#seal(batch.operations, batch.durable);
      written = this.#store.batch(batch.operations);
    } catch (error) {
      written = Promise.reject(error);
    }
    written.then(
      () => this.#settle(batch, undefined),
      (error: unknown) => this.#settle(batch, { error }),
    );
  }

  #settle(batch: Batch, failure: { error: unknown } | undefined): void {
    this.#writing = undefined;
    if (failure === undefined) batch.resolve();
    else batch.reject(failure.error);
    if (this.#open !== undefined) this.#schedule();
  }
}
