/**
 * A server's change log: every batch that changed its graph (local writes, peers'
 * puts, other servers' feeds), in the order it applied them, as the engine's changes
 * frames under "L" seq. Other servers follow it with a FEED request from the last seq
 * they saw, so a server that was down catches up with what it missed instead of
 * copying everything again (docs/ARCHITECTURE.md, "Replication between servers").
 *
 * Entries are staged in the same group commit as the property records they describe:
 * an entry exists exactly when its changes are stored. Seqs are assigned before the
 * batch is durable, so a reader may see a seq live (through `onAppend`) before a store
 * iteration would show it; readers take the live entries first and the stored ones
 * for the backlog, and skip what they already sent.
 */
import type { StorageAdapter } from '../storage/adapter.js';
import type { GroupCommit } from './group-commit.js';
import { CHANGE_LOG_PREFIX, changeLogKey, changeLogSeqOf } from './layout.js';

export interface ChangeLogEntry {
  readonly seq: number;
  readonly frame: Uint8Array;
}

export class ChangeLog {
  readonly #store: StorageAdapter;
  readonly #commit: GroupCommit;
  #last: number;

  private constructor(store: StorageAdapter, commit: GroupCommit, last: number) {
    this.#store = store;
    this.#commit = commit;
    this.#last = last;
  }

  /** Reads the newest seq (one reverse range read). */
  static async open(store: StorageAdapter, commit: GroupCommit): Promise<ChangeLog> {
    let last = 0;
    for await (const { key } of store.entries({ prefix: CHANGE_LOG_PREFIX, reverse: true, limit: 1 })) {
      last = changeLogSeqOf(key);
    }
    return new ChangeLog(store, commit, last);
  }

  /** The seq of the newest entry (0: none yet). Seqs start at 1. */
  get lastSeq(): number {
    return this.#last;
  }

  /** Stages `frame` as the next entry in the current commit; returns its seq. */
  append(frame: Uint8Array): number {
    const seq = ++this.#last;
    this.#commit.put(changeLogKey(seq), frame);
    return seq;
  }

  /** Stored entries with seq > `since`, oldest first. */
  async *after(since: number, options: { readonly signal?: AbortSignal } = {}): AsyncIterableIterator<ChangeLogEntry> {
    for await (const { key, value } of this.#store.entries({ gte: changeLogKey(since + 1), lt: changeLogKey(2 ** 53 - 1) })) {
      if (options.signal?.aborted) return;
      yield { seq: changeLogSeqOf(key), frame: value };
    }
  }
}
