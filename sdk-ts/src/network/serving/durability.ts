/**
 * Nothing leaves this peer before it is durable here: a value a peer was sent (EVENT,
 * FEED_ENTRY, NODE, ACK) must never be one a crash of this peer can take back, or the
 * peer would hold, and pass on, a value its source no longer has (docs/ARCHITECTURE.md,
 * "Network").
 *
 * The replica applies a batch (and calls its onApplied listeners) before the store
 * commit that holds it; ACKs already wait for that commit (`receive()` resolves once it
 * is durable). Pushes and answers made from what is in memory wait here: `after(send)`
 * runs `send` once every batch applied so far is durable. Commits are in order, so one
 * `flush()` covers everything applied before it started; calls are grouped, one flush
 * in flight at a time (started after the current macrotask, by when the group commit has
 * already started writing the batch: the flush waits for it rather than forcing an
 * earlier, smaller commit). Callbacks run in the order they were given.
 *
 * If the store fails, what was applied is not durable and is not sent: callbacks get
 * the error instead.
 */
import { reportListenerError } from '../../util/listeners.js';
import { afterMicrotasks } from '../../util/macrotask.js';
import type { ReplicaForNetwork } from '../replica-port.js';

export type ReplicaForDurability = Pick<ReplicaForNetwork, 'flush'>;

/** `error` undefined: durable; else why it is not. */
type Callback = (error?: unknown) => void;

export class DurabilityBarrier {
  readonly #replica: ReplicaForDurability;
  #waiting: Callback[] = [];
  #flushing = false;

  constructor(replica: ReplicaForDurability) {
    this.#replica = replica;
  }

  /** Calls `callback` once every batch applied so far is durable (with the error, if it cannot be). */
  after(callback: Callback): void {
    this.#waiting.push(callback);
    if (!this.#flushing) this.#start();
  }

  /** Resolves once every batch applied so far is durable; rejects if the store failed. */
  durable(): Promise<void> {
    return new Promise((resolve, reject) => this.after((error) => (error === undefined ? resolve() : reject(error))));
  }

  #start(): void {
    this.#flushing = true;
    afterMicrotasks(() => {
      const callbacks = this.#waiting;
      this.#waiting = [];
      let flushed: Promise<void>;
      try {
        flushed = this.#replica.flush();
      } catch (error) {
        flushed = Promise.reject(error);
      }
      flushed.then(
        () => this.#finish(callbacks, undefined),
        (error: unknown) => this.#finish(callbacks, error ?? new Error('the store failed')),
      );
    });
  }

  #finish(callbacks: readonly Callback[], error: unknown): void {
    for (const callback of callbacks) {
      try {
        callback(error);
      } catch (thrown) {
        reportListenerError(thrown);
      }
    }
    this.#flushing = false;
    if (this.#waiting.length !== 0) this.#start();
  }
}
