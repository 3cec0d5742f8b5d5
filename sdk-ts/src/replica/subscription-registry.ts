/**
 * Routes each batch's changes to the subscriptions watching them: one Map lookup per
 * changed property, and nothing at all while nobody is subscribed.
 *
 * A watcher hears `note()` for each matching change of a batch, then one `flush()`
 * after the whole batch, so a subscriber sees a batch's result once, never a
 * half-applied batch.
 */
import type { EngineChange } from './batch-report.js';
import { reportListenerError } from '../util/listeners.js';

export interface ChangeWatcher {
  note(change: EngineChange): void;
  flush(): void;
}

/** A watched property (`key` set) or every property of a node (`key` undefined). */
export interface Watch {
  readonly soul: string;
  readonly key: string | undefined;
}

interface SoulWatchers {
  wholeNode: Set<ChangeWatcher> | undefined;
  byKey: Map<string, Set<ChangeWatcher>> | undefined;
}

/** Told when a soul gets its first watcher (true) and loses its last one (false). */
export type InterestListener = (soul: string, watched: boolean) => void;

export class SubscriptionRegistry {
  readonly #bySoul = new Map<string, SoulWatchers>();
  readonly #interest = new Set<InterestListener>();

  /** The network subscribes to peers for exactly the souls someone here watches. */
  onInterest(listener: InterestListener): () => void {
    this.#interest.add(listener);
    return () => void this.#interest.delete(listener);
  }

  /** Every soul with at least one watcher. */
  watchedSouls(): IterableIterator<string> {
    return this.#bySoul.keys();
  }

  isWatched(soul: string): boolean {
    return this.#bySoul.has(soul);
  }

  #tellInterest(soul: string, watched: boolean): void {
    for (const listener of this.#interest) {
      try {
        listener(soul, watched);
      } catch (error) {
        reportListenerError(error);
      }
    }
  }

  add(watch: Watch, watcher: ChangeWatcher): void {
    let entry = this.#bySoul.get(watch.soul);
    if (entry === undefined) {
      this.#bySoul.set(watch.soul, (entry = { wholeNode: undefined, byKey: undefined }));
      this.#tellInterest(watch.soul, true);
    }
    if (watch.key === undefined) {
      (entry.wholeNode ??= new Set()).add(watcher);
    } else {
      entry.byKey ??= new Map();
      let set = entry.byKey.get(watch.key);
      if (set === undefined) entry.byKey.set(watch.key, (set = new Set()));
      set.add(watcher);
    }
  }

  remove(watch: Watch, watcher: ChangeWatcher): void {
    const entry = this.#bySoul.get(watch.soul);
    if (entry === undefined) return;
    if (watch.key === undefined) {
      entry.wholeNode?.delete(watcher);
      if (entry.wholeNode?.size === 0) entry.wholeNode = undefined;
    } else if (entry.byKey !== undefined) {
      const set = entry.byKey.get(watch.key);
      if (set !== undefined && set.delete(watcher) && set.size === 0) entry.byKey.delete(watch.key);
      if (entry.byKey.size === 0) entry.byKey = undefined;
    }
    if (entry.wholeNode === undefined && entry.byKey === undefined) {
      this.#bySoul.delete(watch.soul);
      this.#tellInterest(watch.soul, false);
    }
  }

  dispatch(changes: readonly EngineChange[]): void {
    const bySoul = this.#bySoul;
    if (bySoul.size === 0) return;
    let touched: Set<ChangeWatcher> | undefined;
    for (let i = 0; i < changes.length; i++) {
      const change = changes[i]!;
      const entry = bySoul.get(change[0]);
      if (entry === undefined) continue;
      const wholeNode = entry.wholeNode;
      if (wholeNode !== undefined) {
        for (const watcher of wholeNode) {
          watcher.note(change);
          (touched ??= new Set()).add(watcher);
        }
      }
      const forKey = entry.byKey?.get(change[1]);
      if (forKey !== undefined) {
        for (const watcher of forKey) {
          // A watcher of the whole node has already heard this change.
          if (wholeNode?.has(watcher)) continue;
          watcher.note(change);
          (touched ??= new Set()).add(watcher);
        }
      }
    }
    if (touched !== undefined) for (const watcher of touched) watcher.flush();
  }
}
