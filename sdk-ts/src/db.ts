/**
 * The database: opens a local replica (an engine plus the shell around it) and hands
 * out refs into its graph. Networking and storage attach through the `receive` /
 * `onChanges` pair and the `store` option.
 */
import { requireEngine } from './engine-binding.js';
import type { EngineModule } from './engine/core-types.js';
import { abortErrorFrom, InvalidValueError, throwIfAborted } from './errors.js';
import { signerOf, type Identity } from './identity.js';
import { Ref } from './ref.js';
import { LocalReplica, type ChangesListener, type EngineConfig, type ReceiveResult } from './replica.js';
import type { StorageAdapter } from './storage/adapter.js';

/** Hard limits on what enters the graph (engine defaults in parentheses). */
export interface Limits {
  /** Bytes of UTF-8 per soul (1024). */
  readonly maxSoulBytes?: number;
  /** Bytes of UTF-8 per key (1024). */
  readonly maxKeyBytes?: number;
  /** Bytes per value (1 MiB). */
  readonly maxValueBytes?: number;
  /** Updates per batch: one put, or one received frame (10 000). */
  readonly maxBatchUpdates?: number;
  /** Updates from the future held until their time (100 000). */
  readonly maxDeferred?: number;
}

export interface OpenOptions {
  /**
   * The wall clock, in ms since the epoch. Default `Date.now`; inject one for tests or
   * simulations. Deferred updates are woken by real timers sized from this clock, so
   * it should advance at the pace of real time (vitest's fake timers fake both).
   */
  readonly now?: () => number;
  /** States further than this ahead of `now()` are rejected instead of deferred (default 10 minutes). */
  readonly maxClockSkewMs?: number;
  readonly limits?: Limits;
  /**
   * Where the graph persists. The database replays it at open and owns it from then
   * on: `close()` closes it. Without a store the graph lives in memory only.
   */
  readonly store?: StorageAdapter;
  /** Aborts opening; once open, aborting closes the database. */
  readonly signal?: AbortSignal;
}

function engineConfig(options: OpenOptions): EngineConfig {
  const { maxClockSkewMs, limits = {} } = options;
  for (const [name, value] of Object.entries({ maxClockSkewMs, ...limits })) {
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
      throw new InvalidValueError('config/invalid', `option ${name} must be a finite number, got ${String(value)}.`);
    }
  }
  const { maxSoulBytes, maxKeyBytes, maxValueBytes, maxBatchUpdates, maxDeferred } = limits;
  return { maxClockSkewMs, maxSoulBytes, maxKeyBytes, maxValueBytes, maxBatchUpdates, maxDeferred };
}

export class RustDHT {
  /** Set by the platform entry point (see engine-binding.ts). */
  protected static readonly engineModule: EngineModule | undefined = undefined;

  readonly #replica: LocalReplica;

  protected constructor(replica: LocalReplica) {
    this.#replica = replica;
  }

  /** Opens a database: an in-memory graph, rebuilt from `options.store` when given. */
  static async open(options: OpenOptions = {}): Promise<RustDHT> {
    const engineModule = requireEngine(this.engineModule);
    const { signal, store, now = Date.now } = options;
    throwIfAborted(signal);
    if (typeof now !== 'function') throw new InvalidValueError('config/invalid', 'option now must be a function returning ms since the epoch.');
    const replica = await LocalReplica.open({ engineModule, engineConfig: engineConfig(options), now, store, signal });
    if (signal?.aborted) {
      await replica.close();
      throw abortErrorFrom(signal);
    }
    const db = new this(replica);
    if (signal !== undefined) {
      const onAbort = (): void => void db.close();
      signal.addEventListener('abort', onAbort, { once: true });
      replica.onClose(() => signal.removeEventListener('abort', onAbort));
    }
    return db;
  }

  /** A ref to the node `soul`. Souls starting with `~` or `#` follow namespace rules (see docs). */
  get(soul: string): Ref {
    this.#replica.assertOpen();
    if (typeof soul !== 'string' || soul === '') {
      throw new InvalidValueError('soul/invalid', `get() takes a non-empty string soul, not ${JSON.stringify(soul) ?? String(soul)}.`);
    }
    return new Ref(this.#replica, { root: soul, keys: [] }, undefined);
  }

  /** A ref to `identity`'s own space `~<publicKey>`; writes through it are signed by that identity. */
  user(identity: Identity): Ref {
    this.#replica.assertOpen();
    signerOf(identity, this.#replica.engineModule);
    return new Ref(this.#replica, { root: `~${identity.publicKey}`, keys: [] }, identity);
  }

  /**
   * Applies a frame from a peer (or any other source): decode, verify, validate,
   * merge, in one engine call. Resolves with each update's outcome once the changes
   * are persisted. Rejects with DecodeError, changing nothing, for malformed bytes.
   */
  receive(frame: Uint8Array): Promise<ReceiveResult> {
    if (!(frame instanceof Uint8Array)) {
      return Promise.reject(new InvalidValueError('value/type', 'receive() takes the frame as a Uint8Array.'));
    }
    return this.#replica.receive(frame);
  }

  /**
   * Calls `listener` with the changes frame of every local write (what the network
   * layer announces to peers). Returns the function that unsubscribes.
   */
  onChanges(listener: ChangesListener): () => void {
    return this.#replica.onChanges(listener);
  }

  get closed(): boolean {
    return this.#replica.closed;
  }

  /** Ends subscriptions and timers, waits for pending writes to persist, closes the store. Idempotent. */
  close(): Promise<void> {
    return this.#replica.close();
  }
}
