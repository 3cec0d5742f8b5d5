/**
 * What a network tells its application: its events (`network.on`), its state
 * (offline → syncing ⇄ idle, each change a `state` event) and the waits built on them
 * (`whenConnected`, `whenSynced`): a wait re-checks its condition after every network
 * event and every outbox change, and ends with the signal or when the network stops.
 */
import { ClosedError, abortErrorFrom } from '../api/errors.js';
import { notifyAll } from '../util/listeners.js';
import type { NetworkEvent, NetworkStatus } from './types.js';

export type NetworkState = NetworkStatus['state'];

export interface NetworkSignalsOptions {
  /** Aborts when the network stops: waits reject with ClosedError. */
  readonly stop: AbortSignal;
  /** Subscribes to outbox changes (waits re-check after each). */
  readonly onOutboxChange: (listener: () => void) => () => void;
}

export class NetworkSignals {
  readonly #options: NetworkSignalsOptions;
  readonly #listeners = new Set<(event: NetworkEvent) => void>();
  readonly #waiters = new Set<() => void>();
  #state: NetworkState = 'offline';

  constructor(options: NetworkSignalsOptions) {
    this.#options = options;
  }

  get state(): NetworkState {
    return this.#state;
  }

  on(listener: (event: NetworkEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  emit(event: NetworkEvent): void {
    notifyAll(this.#listeners, event);
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** Moves to `state`, with a `state` event if it changed. */
  set(state: NetworkState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.emit({ type: 'state', state });
  }

  /** Resolves when `done()` holds, re-checked after every network event and outbox change. */
  waitFor(done: () => boolean, signal: AbortSignal | undefined): Promise<void> {
    // Rejects, never throws: a caller's .catch (whenConnected's reason) sees an aborted
    // signal or a stopped network as it sees a later abort.
    if (signal?.aborted) return Promise.reject(abortErrorFrom(signal));
    if (done()) return Promise.resolve();
    const stop = this.#options.stop;
    if (stop.aborted) return Promise.reject(stopped());
    return new Promise<void>((resolve, reject) => {
      const stopOutbox = this.#options.onOutboxChange(() => check());
      const finish = (error?: unknown): void => {
        this.#waiters.delete(check);
        stopOutbox();
        signal?.removeEventListener('abort', onAbort);
        stop.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      const check = (): void => {
        if (done()) finish();
      };
      const onAbort = (): void => finish(signal?.aborted ? abortErrorFrom(signal) : stopped());
      this.#waiters.add(check);
      signal?.addEventListener('abort', onAbort, { once: true });
      stop.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export function stopped(): ClosedError {
  return new ClosedError('network/closed', 'the network stopped.');
}
