/**
 * Keeps one subscriber up to date with the value a ref stands for. It watches every
 * property the value depends on: each link followed on the way (re-resolving when one
 * changes) and the target property or node. One delivery per batch that touched any
 * of them; batches that touched none cost this watcher nothing.
 */
import type { EngineChange } from './batch-report.js';
import { toPropertyChange } from './batch-report.js';
import type { LocalReplica } from './replica.js';
import { readResolved, resolve, sameWatches, type RefPath, type Resolution } from './resolve.js';
import type { ChangeWatcher } from './subscription-registry.js';
import type { PropertyChange, ReadValue } from './values.js';

export type ValueListener = (value: ReadValue, changes: readonly PropertyChange[]) => void;

export class ValueWatcher implements ChangeWatcher {
  readonly #replica: LocalReplica;
  readonly #path: RefPath;
  readonly #listener: ValueListener;
  /** Only `changes()` streams want the change records; `on()` skips building them. */
  readonly #collect: boolean;
  #resolution: Resolution;
  #noted: EngineChange[] = [];
  #active = true;
  #delivered = false;
  readonly #stopOnClose: () => void;

  constructor(replica: LocalReplica, path: RefPath, listener: ValueListener, options: { collect: boolean; initial: boolean; onClose?: () => void }) {
    this.#replica = replica;
    this.#path = path;
    this.#listener = listener;
    this.#collect = options.collect;
    this.#resolution = resolve(replica.links, path);
    for (const watch of this.#resolution.watches) replica.subscriptions.add(watch, this);
    this.#stopOnClose = replica.onClose(() => {
      this.stop();
      options.onClose?.();
    });
    // Deliver the current value after the caller has its unsubscribe function in hand,
    // unless a change has already delivered a newer one.
    if (options.initial) {
      queueMicrotask(() => {
        if (!this.#active || this.#delivered) return;
        const value = readResolved(this.#replica, this.#resolution);
        if (value !== undefined) this.#deliver(value, []);
      });
    }
  }

  note(change: EngineChange): void {
    if (this.#collect) this.#noted.push(change);
  }

  flush(): void {
    if (!this.#active) return;
    const noted = this.#noted;
    this.#noted = [];
    const resolution = resolve(this.#replica.links, this.#path);
    if (!sameWatches(resolution.watches, this.#resolution.watches)) {
      for (const watch of this.#resolution.watches) this.#replica.subscriptions.remove(watch, this);
      for (const watch of resolution.watches) this.#replica.subscriptions.add(watch, this);
    }
    this.#resolution = resolution;
    this.#deliver(readResolved(this.#replica, resolution), noted.map(toPropertyChange));
  }

  #deliver(value: ReadValue, changes: readonly PropertyChange[]): void {
    this.#delivered = true;
    try {
      this.#listener(value, changes);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  stop(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#stopOnClose();
    if (this.#replica.closed) return;
    for (const watch of this.#resolution.watches) this.#replica.subscriptions.remove(watch, this);
  }
}
