/**
 * Which nodes have local writes the server has not acknowledged yet.
 *
 * The SDK's outbox lists each unacknowledged local write (`db.outbox.pending()`, then
 * `onChange()`: added, removed once a server acknowledged it), and the engine says which
 * souls an entry's write touches (`db.outbox.soulsOf(entry)`). A frame the engine cannot
 * read counts as touching everything: better shown pending too long than acknowledged
 * too early.
 */
import type { RustDHT } from 'rustdht';

/** Unreadable frame: touches every soul. */
const EVERYTHING = Symbol('everything');

export interface PendingWrites {
  /** Whether some unacknowledged local write touches `soul`. */
  touches(soul: string): boolean;
  /** How many local writes are unacknowledged. */
  readonly size: number;
  /** Called after every change (and once the outbox's earlier entries are read). Returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}

/** Follows `db.outbox`: entry id → the souls it writes. */
export function trackPendingWrites(db: RustDHT): PendingWrites {
  const entries = new Map<number, ReadonlySet<string> | typeof EVERYTHING>();
  /** While the earlier entries are being listed: ids removed meanwhile. */
  let removed: Set<number> | undefined = new Set<number>();
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const listener of listeners) listener();
  };
  const read = (frame: Uint8Array): ReadonlySet<string> | typeof EVERYTHING => {
    try {
      return new Set(db.outbox.soulsOf({ frame }));
    } catch (error) {
      console.warn(`pending writes: cannot read an outbox frame (${String(error)}); counting it as touching everything`);
      return EVERYTHING;
    }
  };
  // Subscribe first, then list what was queued before (e.g. offline writes of the last
  // visit, kept in IndexedDB): an entry acknowledged meanwhile is not added back.
  db.outbox.onChange((event) => {
    if (event.type === 'added') entries.set(event.id, read(event.frame));
    else {
      entries.delete(event.id);
      removed?.add(event.id);
    }
    notify();
  });
  void (async () => {
    for await (const entry of db.outbox.pending()) {
      if (!removed!.has(entry.id) && !entries.has(entry.id)) entries.set(entry.id, read(entry.frame));
    }
  })()
    .catch((error: unknown) => console.warn(`pending writes: ${String(error)}`))
    .finally(() => {
      removed = undefined;
      notify();
    });

  return {
    touches(soul) {
      for (const touched of entries.values()) if (touched === EVERYTHING || touched.has(soul)) return true;
      return false;
    },
    get size() {
      return entries.size;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
