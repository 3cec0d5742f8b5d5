/**
 * The outbox: local writes the network has not acknowledged yet, as the changes frames
 * peers need (signatures included). Every local write that changes the graph adds one
 * entry, whether or not any peer is connected; the networking layer sends the entries
 * and calls `acknowledge(id)` once enough replicas hold them. With a store the entries
 * are persisted in the same atomic batch as the write itself, so a write that survived
 * a crash is still queued for the network after reopening.
 */
import { InvalidValueError } from '../api/errors.js';
import { FrameArena } from './frame-arena.js';
import { notifyAll } from '../util/listeners.js';
import type { GroupCommit } from '../persistence/group-commit.js';
import { OUTBOX_PREFIX, outboxIdOf, outboxKey } from '../persistence/layout.js';
import type { StorageAdapter } from '../storage/adapter.js';

export interface OutboxEntry {
  /** Increasing with every write, never reused (also across reopenings of a store). */
  readonly id: number;
  /** The write's changes frame, as `onChanges` delivered it. */
  readonly frame: Uint8Array;
}

/** Sent after every change of the outbox; `size` is the number of entries after it. */
export type OutboxEvent =
  /** `frame`: the write's changes frame, so a connected network can send it at once. */
  | { readonly type: 'added'; readonly id: number; readonly size: number; readonly frame: Uint8Array }
  /** Acknowledged, or dropped because the write it belongs to could not be persisted. */
  | { readonly type: 'removed'; readonly id: number; readonly size: number }
  /** An acknowledgement's deletion did not reach the store: the entry is pending again. */
  | { readonly type: 'restored'; readonly id: number; readonly size: number };

export type OutboxListener = (event: OutboxEvent) => void;

export interface OutboxIterationOptions {
  /** Ends the iteration early, without an error. */
  readonly signal?: AbortSignal;
}

/** Where the entries live: the database's store, or memory when it has none. */
interface Persisted {
  readonly store: StorageAdapter;
  readonly commit: GroupCommit;
}

export interface OutboxCounters {
  readonly size: number;
  readonly nextId: number;
}

export class Outbox {
  readonly #persisted: Persisted | undefined;
  readonly #assertOpen: () => void;
  readonly #soulsOf: (frame: Uint8Array) => string[];
  /** Without a store: every entry. */
  readonly #memory: FrameArena | undefined;
  /** With a store: entries whose batch is not known to be durable yet (the rest are read from the store). */
  readonly #recent = new Map<number, Uint8Array>();
  /** Ids being removed whose deletion is not durable yet. */
  readonly #removing = new Set<number>();
  readonly #listeners = new Set<OutboxListener>();
  /** For each running `pending()` iteration: the ids removed since it started. */
  readonly #iterations = new Set<Set<number>>();
  #size: number;
  #nextId: number;
  /** The batch whose completion will drop the newest recent entries from memory. */
  #watchedBatch: Promise<void> | undefined;
  #watchedUpTo = { id: -1 };

  /** @internal The database creates its outbox. */
  constructor(persisted: Persisted | undefined, counters: OutboxCounters, assertOpen: () => void, soulsOf: (frame: Uint8Array) => string[]) {
    this.#persisted = persisted;
    this.#assertOpen = assertOpen;
    this.#soulsOf = soulsOf;
    this.#size = counters.size;
    this.#nextId = counters.nextId;
    if (persisted === undefined) this.#memory = new FrameArena();
  }

  /** How many local writes await acknowledgement. */
  get size(): number {
    return this.#size;
  }

  /**
   * The souls an entry's write touches (the engine reads its frame), e.g. to show which
   * nodes still have changes the network has not acknowledged. Throws DecodeError for a
   * frame that is not one.
   */
  soulsOf(entry: { readonly frame: Uint8Array }): string[] {
    return this.#soulsOf(entry.frame);
  }

  /** @internal For the store's head record. */
  get counters(): OutboxCounters {
    return { size: this.#size, nextId: this.#nextId };
  }

  /**
   * The entries present when the iteration starts, oldest first. Entries acknowledged
   * while it runs are skipped; entries added later are not included (iterate again, or
   * follow `onChange`). Frames are the caller's to keep.
   */
  async *pending(options: OutboxIterationOptions = {}): AsyncIterableIterator<OutboxEntry> {
    this.#assertOpen();
    const { signal } = options;
    // Removals still on their way to the store, and every removal made while this runs.
    const removed = new Set(this.#removing);
    this.#iterations.add(removed);
    try {
      const end = this.#nextId;
      const memory = this.#memory;
      if (memory !== undefined) {
        for (let next = memory.firstFrom(0); next !== undefined && next[0] < end; next = memory.firstFrom(next[0] + 1)) {
          if (signal?.aborted) return;
          if (!removed.has(next[0])) yield { id: next[0], frame: next[1] };
        }
        return;
      }
      const recent = [...this.#recent];
      let lastFromStore = -1;
      const range = { prefix: OUTBOX_PREFIX, lt: outboxKey(end) };
      for await (const { key, value } of this.#persisted!.store.entries(range)) {
        if (signal?.aborted) return;
        const id = outboxIdOf(key);
        lastFromStore = id;
        if (!removed.has(id)) yield { id, frame: value };
      }
      for (const [id, frame] of recent) {
        if (signal?.aborted) return;
        // An entry can be both in the store and in memory: its batch has just landed.
        if (id > lastFromStore && !removed.has(id)) yield { id, frame: frame.slice() };
      }
    } finally {
      this.#iterations.delete(removed);
    }
  }

  /**
   * Removes an entry once the network holds it. Resolves to true when it was pending,
   * false for an unknown or already acknowledged id; with a store, after the removal
   * is durable.
   */
  acknowledge(id: number): Promise<boolean> {
    try {
      this.#assertOpen();
    } catch (error) {
      return Promise.reject(error);
    }
    if (!Number.isSafeInteger(id) || id < 0) {
      return Promise.reject(new InvalidValueError('outbox/id', `acknowledge() takes an entry id from pending(), not ${String(id)}.`));
    }
    if (id >= this.#nextId || this.#removing.has(id)) return Promise.resolve(false);
    const persisted = this.#persisted;
    if (persisted === undefined) {
      if (!this.#memory!.remove(id)) return Promise.resolve(false);
      this.#removed(id);
      return Promise.resolve(true);
    }
    if (this.#recent.delete(id)) return this.#removeStored(persisted, id);
    // Written by an earlier session, or durable already: ask the store.
    this.#removing.add(id);
    return persisted.store.get(outboxKey(id)).then(
      (frame) => {
        this.#removing.delete(id);
        return frame === undefined ? false : this.#removeStored(persisted, id);
      },
      (error: unknown) => {
        this.#removing.delete(id);
        throw error;
      },
    );
  }

  /** Calls `listener` after every change. Returns the function that unsubscribes. */
  onChange(listener: OutboxListener): () => void {
    this.#assertOpen();
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** @internal A local write's changes frame; staged in the write's own batch. Returns its entry id. */
  add(frame: Uint8Array): number {
    const id = this.#nextId++;
    this.#size++;
    const persisted = this.#persisted;
    if (persisted === undefined) {
      this.#memory!.append(id, frame);
    } else {
      this.#recent.set(id, frame);
      persisted.commit.put(outboxKey(id), frame);
      this.#forgetOnceDurable(persisted.commit.durable(), id);
    }
    this.#emit({ type: 'added', id, size: this.#size, frame });
    return id;
  }

  /** @internal Drops listeners when the database closes. */
  close(): void {
    this.#listeners.clear();
  }

  #removeStored(persisted: Persisted, id: number): Promise<boolean> {
    this.#removing.add(id);
    persisted.commit.del(outboxKey(id));
    this.#removed(id);
    return persisted.commit.durable().then(
      () => {
        this.#removing.delete(id);
        return true;
      },
      (error: unknown) => {
        // The deletion did not land: the entry is still stored, so still pending — and
        // listeners that heard 'removed' hear so (the network's state, whenSynced).
        this.#removing.delete(id);
        this.#size++;
        this.#emit({ type: 'restored', id, size: this.#size });
        throw error;
      },
    );
  }

  #removed(id: number): void {
    for (const removed of this.#iterations) removed.add(id);
    this.#size--;
    this.#emit({ type: 'removed', id, size: this.#size });
  }

  /**
   * Once a batch is durable its entries are in the store and leave memory; if it
   * fails they were never stored, and leave the outbox (their puts were rejected).
   * One continuation per batch, not per entry.
   */
  #forgetOnceDurable(batch: Promise<void>, id: number): void {
    if (batch === this.#watchedBatch) {
      this.#watchedUpTo.id = id;
      return;
    }
    const upTo = { id };
    const from = id;
    this.#watchedBatch = batch;
    this.#watchedUpTo = upTo;
    const forget = (failed: boolean): void => {
      for (const recentId of [...this.#recent.keys()]) {
        if (recentId > upTo.id) break;
        if (recentId < from) continue;
        this.#recent.delete(recentId);
        if (failed) this.#removed(recentId);
      }
    };
    batch.then(
      () => forget(false),
      () => forget(true),
    );
  }

  #emit(event: OutboxEvent): void {
    notifyAll(this.#listeners, event);
  }
}
