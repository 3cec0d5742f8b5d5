/**
 * Keeps one subscriber up to date with the value a ref stands for. It watches every
 * property the value depends on: each link followed on the way (re-resolving when one
 * changes) and the target property or node. One delivery per batch that touched any
 * of them; batches that touched none cost this watcher nothing.
 *
 * With a store, the nodes on the path may not be loaded yet: the watcher starts (and
 * refreshes after a link moved to an unloaded node) once they are, delivering then. A
 * refresh waiting for a load absorbs the batches that arrive meanwhile, so values are
 * delivered in order and the last one is always the current one.
 */
import { SerialRefresh } from './serial-refresh.js';
import type { EngineChange } from './batch-report.js';
import { toPropertyChange } from './batch-report.js';
import type { LocalReplica } from './replica.js';
import { readResolved, resolve, sameWatches, type RefPath, type Resolution } from './resolve.js';
import type { ChangeWatcher } from './subscription-registry.js';
import type { PropertyChange, ReadValue } from '../api/values.js';
import { reportListenerError } from '../util/listeners.js';

export type ValueListener = (value: ReadValue, changes: readonly PropertyChange[]) => void;

interface Snapshot {
  readonly resolution: Resolution;
  readonly value: ReadValue;
}

export class ValueWatcher implements ChangeWatcher {
  readonly #replica: LocalReplica;
  readonly #path: RefPath;
  readonly #listener: ValueListener;
  /** Only `changes()` streams want the change records; `on()` skips building them. */
  readonly #collect: boolean;
  /** Watches registered so far (none until started). */
  #resolution: Resolution | undefined;
  #noted: EngineChange[] = [];
  #active = true;
  #delivered = false;
  readonly #refresh = new SerialRefresh(() => this.flush(), (error: unknown) => this.#fail(error));
  readonly #stopOnClose: () => void;

  constructor(replica: LocalReplica, path: RefPath, listener: ValueListener, options: { collect: boolean; initial: boolean; onClose?: () => void }) {
    this.#replica = replica;
    this.#path = path;
    this.#listener = listener;
    this.#collect = options.collect;
    this.#stopOnClose = replica.onClose(() => {
      this.stop();
      options.onClose?.();
    });
    const started = replica.queued(
      () => this.#snapshot(),
      (snapshot) => this.#start(snapshot, options.initial),
    );
    if (started instanceof Promise) started.catch((error: unknown) => this.#fail(error));
  }

  note(change: EngineChange): void {
    if (this.#collect) this.#noted.push(change);
  }

  flush(): void {
    if (!this.#active || this.#refresh.busy()) return;
    const noted = this.#noted;
    this.#noted = [];
    this.#refresh.track(
      this.#replica.whenResident(
        () => this.#snapshot(),
        (snapshot) => this.#show(snapshot, noted),
      ),
    );
  }

  stop(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#stopOnClose();
    if (this.#replica.closed || this.#resolution === undefined) return;
    for (const watch of this.#resolution.watches) this.#replica.subscriptions.remove(watch, this);
  }

  #snapshot(): Snapshot {
    const resolution = resolve(this.#replica, this.#path);
    return { resolution, value: readResolved(this.#replica, resolution) };
  }

  #start(snapshot: Snapshot, initial: boolean): void {
    if (!this.#active) return;
    this.#watch(snapshot.resolution);
    // Deliver the current value after the caller has its unsubscribe function in hand,
    // unless a change has already delivered a newer one.
    if (initial && snapshot.value !== undefined) {
      queueMicrotask(() => {
        if (this.#active && !this.#delivered) this.#deliver(snapshot.value, []);
      });
    }
  }

  #show(snapshot: Snapshot, noted: readonly EngineChange[]): void {
    if (!this.#active) return;
    this.#watch(snapshot.resolution);
    this.#deliver(snapshot.value, noted.map(toPropertyChange));
  }

  /** Watches what `resolution` depends on, dropping what the previous one did. */
  #watch(resolution: Resolution): void {
    const previous = this.#resolution;
    this.#resolution = resolution;
    if (previous !== undefined && sameWatches(previous.watches, resolution.watches)) return;
    const subscriptions = this.#replica.subscriptions;
    if (previous !== undefined) for (const watch of previous.watches) subscriptions.remove(watch, this);
    for (const watch of resolution.watches) subscriptions.add(watch, this);
  }

  #deliver(value: ReadValue, changes: readonly PropertyChange[]): void {
    this.#delivered = true;
    try {
      this.#listener(value, changes);
    } catch (error) {
      reportListenerError(error);
    }
  }

  /** A load failed (the store broke, or the database closed under it). */
  #fail(error: unknown): void {
    if (!this.#active || this.#replica.closed) return;
    reportListenerError(error);
  }
}
