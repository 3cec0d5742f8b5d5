/**
 * The database: opens a local replica (an engine plus the shell around it) and hands
 * out refs into its graph. Networking attaches through `receive` / `onChanges` and the
 * outbox; storage through the `store` option.
 *
 * Over ~400 lines because it carries the public API's documentation: every option of
 * `open()` and `close()` is explained here, where editors and the API reference show it.
 */
import { requireEngine } from '../platform/engine-binding.js';
import type { EngineModule } from '../engine/core-types.js';
import { abortErrorFrom, InvalidValueError, throwIfAborted, UndeliveredWritesError } from './errors.js';
import { Identity, signerOf } from './identity.js';
import type { IdentityKeeper } from '../replica/identity-keeper.js';
import type { Outbox, OutboxEntry } from '../replica/outbox.js';
import { Ref } from './ref.js';
import { DatabaseStorage } from './database-storage.js';
import { replicaForNetwork } from './replica-for-network.js';
import { LocalReplica, type ChangesListener, type EngineConfig, type ReceiveResult } from '../replica/replica.js';
import type { StorageAdapter } from '../storage/adapter.js';
import type { ReadValue } from './values.js';
import { MemoryStore } from '../storage/memory.js';
import { DEFAULT_STORE_NAME, type StoragePlatform } from '../platform/storage-platform.js';
import type { Network } from '../network/peer-network.js';
import type { NetworkPlatform } from '../network/platform.js';
import type { NetworkOptions } from '../network/types.js';

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
  /**
   * Bytes of those updates, each counted as its stored record (64 MiB). Beyond either
   * bound an update from the future is refused with `limit/deferred` (its writer keeps
   * it and sends it again later), never taken and dropped.
   */
  readonly maxDeferredBytes?: number;
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
  /** Hard limits on what enters the graph: sizes of souls, keys and values, updates per batch, deferred updates. */
  readonly limits?: Limits;
  /**
   * Where the database persists: its graph, clock, deferred updates, outbox and kept
   * identities (docs/ARCHITECTURE.md, "Storage layout and durability"). Opening reads
   * only a few small records; nodes load from the store when first used. The database
   * owns the store from then on: `close()` closes it. Reopen a store with limits at
   * least as large as those it was written with.
   *
   * Default: in browsers, an IndexedDBStore named `name`; in Node, `directory` when
   * given, else memory only (with a process warning, code `RUSTDHT_MEMORY_ONLY`: the
   * data is lost when the process ends). `'memory'` keeps everything in memory only,
   * anywhere, on purpose (no warning).
   */
  readonly store?: StorageAdapter | 'memory';
  /**
   * Node: persist to a LevelDB store in this directory (created when missing), as
   * GunDB persists to `radata/`. The same as `store: await LevelStore.open(directory)`.
   * Not available in browsers, which persist to IndexedDB by default (see `name`).
   */
  readonly directory?: string;
  /** The IndexedDB database of the browser's default store (default `'rustdht'`); unused elsewhere. */
  readonly name?: string;
  /**
   * Caps the bytes of node records the store keeps: beyond `maxBytes`, the least
   * recently used nodes are evicted from the store and from memory (never the outbox's
   * nor the user's own space), to be fetched from the network again when needed.
   * Default: 50 MiB for a browser's store (browser peers are caches), no cap in Node.
   * `false`: no cap. Needs a store.
   */
  readonly cache?: {
    /** The cap, in bytes of stored node records (Infinity: no cap). */
    readonly maxBytes?: number;
  } | false;
  /**
   * With a store: keep the nodes loaded in memory under about this many bytes (estimated
   * engine memory). Beyond it the least recently used nodes that nothing protects leave
   * memory; their records stay in the store and load again on their next use. Default:
   * no bound (`rustdht serve` passes `--memory-budget`, 256 MiB by default). Needs a store.
   */
  readonly memoryBudget?: number;
  /**
   * Browsers: ask at open for persistent storage (`navigator.storage.persist()`), so the
   * browser does not clear the store under pressure; the answer is `db.storage.persisted`.
   * Default true when the database has a persistent store (not a MemoryStore). A refusal
   * is not an error.
   */
  readonly persist?: boolean;
  /**
   * Joins the network: `{ peers: ['/ip4/…/tcp/7401/p2p/…'] }` (Node; browsers dial the
   * WebSockets `/tcp/7402/ws/p2p/…` or WebRTC-Direct address) dials those peers (and
   * redials them with backoff), subscribes to what this database watches, sends the
   * outbox and reads through them. `role: 'server'` also listens and serves (what
   * `rustdht serve` runs). Absent: offline only (`receive`/`onChanges` still work).
   */
  readonly network?: NetworkOptions;
  /** Aborts opening; once open, aborting closes the database. */
  readonly signal?: AbortSignal;
}

/** The cap for a database with `store` (undefined: no cap, no accounting). */
function cacheCap(options: OpenOptions, hasStore: boolean, platform: StoragePlatform | undefined): number | undefined {
  const { cache } = options;
  if (cache === false) return undefined;
  if (cache !== undefined && (cache === null || typeof cache !== 'object')) {
    throw new InvalidValueError('config/invalid', 'option cache must be { maxBytes } or false.');
  }
  const maxBytes = cache?.maxBytes;
  if (maxBytes !== undefined && (typeof maxBytes !== 'number' || Number.isNaN(maxBytes) || maxBytes <= 0)) {
    throw new InvalidValueError('config/invalid', `option cache.maxBytes must be a number of bytes > 0 (Infinity: no cap), got ${String(maxBytes)}.`);
  }
  if (!hasStore) {
    if (maxBytes !== undefined) {
      throw new InvalidValueError('config/invalid', 'option cache.maxBytes needs a store: a database in memory only cannot drop nodes it has no other copy of.');
    }
    return undefined;
  }
  return maxBytes ?? platform?.defaultCacheBytes;
}

function memoryBudgetOf(options: OpenOptions, hasStore: boolean): number | undefined {
  const { memoryBudget } = options;
  if (memoryBudget === undefined) return undefined;
  if (typeof memoryBudget !== 'number' || !Number.isFinite(memoryBudget) || memoryBudget <= 0) {
    throw new InvalidValueError('config/invalid', `option memoryBudget must be a finite number of bytes > 0, got ${String(memoryBudget)}.`);
  }
  if (!hasStore) {
    throw new InvalidValueError('config/invalid', 'option memoryBudget needs a store: a database in memory only has nowhere to reload nodes from.');
  }
  return memoryBudget;
}

function engineConfig(options: OpenOptions): EngineConfig {
  const { maxClockSkewMs, limits = {} } = options;
  for (const [name, value] of Object.entries({ maxClockSkewMs, ...limits })) {
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
      throw new InvalidValueError('config/invalid', `option ${name} must be a finite number, got ${String(value)}.`);
    }
  }
  const { maxSoulBytes, maxKeyBytes, maxValueBytes, maxBatchUpdates, maxDeferred, maxDeferredBytes } = limits;
  return { maxClockSkewMs, maxSoulBytes, maxKeyBytes, maxValueBytes, maxBatchUpdates, maxDeferred, maxDeferredBytes };
}

/** Builds the platform's libp2p node and starts the database's network on it. */
async function startNetwork(platform: NetworkPlatform | undefined, replica: LocalReplica, options: NetworkOptions): Promise<Network> {
  if (platform === undefined) throw new InvalidValueError('config/invalid', 'this entry point has no network support; import "rustdht" (Node or browser entry).');
  const { Network } = await import('../network/peer-network.js');
  const node = await platform.createNode(options);
  try {
    return await Network.start(node, replicaForNetwork(replica), options);
  } catch (error) {
    await node.stop();
    throw error;
  }
}

/** How long `close()` waits by default for a connected network to take the outbox. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;

export interface CloseOptions {
  /**
   * How long to wait for the servers to acknowledge the writes still in the outbox
   * before closing (default 5000 ms; 0: do not wait). Only waits while the network is
   * online (not after `goOffline()`) and has servers to dial.
   */
  readonly timeoutMs?: number;
  /** Stops waiting for the outbox (the database still closes). */
  readonly signal?: AbortSignal;
}

/** What `close()` left behind. */
export interface CloseReport {
  /** Local writes no server had acknowledged when the database closed. */
  readonly undelivered: number;
  /**
   * True when those writes are in a persistent store: they are sent when the database
   * is opened again with a network. False when they were lost with the memory they
   * lived in (`close()` then rejects with UndeliveredWritesError, unless no network was
   * configured) or when there were none.
   */
  readonly kept: boolean;
}

/** Options that give the database a network: `db.network` is then always there. */
export type NetworkedOpenOptions = OpenOptions & { readonly network: NetworkOptions };

/** A database opened with `network`: its `network` is defined. */
export type NetworkedRustDHT<D extends RustDHT = RustDHT> = D & { readonly network: Network };

type MemoryWarning = (message: string) => void;

let memoryWarned = false;

export class RustDHT {
  /** Set by the platform entry point (see engine-binding.ts). */
  protected static readonly engineModule: EngineModule | undefined = undefined;
  /** The platform entry's Identity class, which `identities.load()` returns instances of. */
  protected static readonly identityClass: Pick<typeof Identity, 'import'> = Identity;
  /** Set by the browser entry: the default store and the Storage API (storage-platform.ts). */
  protected static readonly storagePlatform: StoragePlatform | undefined = undefined;
  /** Set by the platform entries: how to build a libp2p node here (network/platform.ts). */
  protected static readonly networkPlatform: NetworkPlatform | undefined = undefined;
  /** Set by the Node entry: the store behind `open({ directory })` (LevelDB). */
  protected static readonly directoryStore: ((directory: string) => Promise<StorageAdapter>) | undefined = undefined;
  /** Set by the Node entry: how to warn that a default database keeps nothing. */
  protected static readonly memoryWarning: MemoryWarning | undefined = undefined;

  readonly #replica: LocalReplica;
  readonly #storage: DatabaseStorage;
  #network: Network | undefined;
  /** Whether the outbox outlives the process (a store that is not a MemoryStore). */
  #persistent = false;
  #closing: Promise<CloseReport> | undefined;

  protected constructor(replica: LocalReplica, storage: DatabaseStorage) {
    this.#replica = replica;
    this.#storage = storage;
  }

  /**
   * Opens a database: an in-memory graph over a store (`directory` or `store`, or the
   * platform's default), with a network when `network` is given.
   */
  static open<D extends RustDHT>(this: { prototype: D }, options: NetworkedOpenOptions): Promise<NetworkedRustDHT<D>>;
  static open<D extends RustDHT>(this: { prototype: D }, options?: OpenOptions): Promise<D>;
  static async open(options: OpenOptions = {}): Promise<RustDHT> {
    if (options === null || typeof options !== 'object') throw new InvalidValueError('config/invalid', 'RustDHT.open() takes an options object.');
    const engineModule = requireEngine(this.engineModule);
    const { signal, now = Date.now, name = DEFAULT_STORE_NAME, persist = true } = options;
    throwIfAborted(signal);
    if (typeof now !== 'function') throw new InvalidValueError('config/invalid', 'option now must be a function returning ms since the epoch.');
    if (typeof name !== 'string' || name === '') throw new InvalidValueError('config/invalid', 'option name must be a non-empty string.');
    const config = engineConfig(options);
    const platform = this.storagePlatform;
    const directory = checkDirectory(options, this.directoryStore !== undefined);
    // Validated before the default store opens, so a bad option leaves nothing open.
    const hasStore = directory !== undefined || (options.store === undefined ? platform !== undefined : options.store !== 'memory');
    const cacheMaxBytes = cacheCap(options, hasStore, platform);
    const memoryBudget = memoryBudgetOf(options, hasStore);
    if (!hasStore && options.store === undefined && options.network?.role !== 'server') warnMemoryOnly(this.memoryWarning);
    const store =
      directory !== undefined
        ? await this.directoryStore!(directory)
        : options.store === 'memory'
          ? undefined
          : (options.store ?? (await platform?.openDefaultStore(name)));
    if (signal?.aborted) {
      await store?.close();
      throw abortErrorFrom(signal);
    }
    const identityClass = this.identityClass;
    const replica = await LocalReplica.open({
      engineModule,
      engineConfig: config,
      now,
      store,
      signal,
      importIdentity: (exported) => identityClass.import(exported),
      cacheMaxBytes,
      memoryBudget,
      // Servers keep a change log, which other servers replicate from, and know which
      // souls their store holds (a fresh or unknown soul then costs no store read).
      changeLog: options.network?.role === 'server' && store !== undefined,
      storedSoulFilter: options.network?.role === 'server' && store !== undefined,
    });
    if (signal?.aborted) {
      await replica.close();
      throw abortErrorFrom(signal);
    }
    // Not awaited: a browser may put the question to the user.
    const persistence = store !== undefined && !(store instanceof MemoryStore) && persist !== false ? platform?.requestPersistence() : undefined;
    const db = new this(replica, new DatabaseStorage(replica, platform, persistence));
    db.#persistent = store !== undefined && !(store instanceof MemoryStore);
    if (options.network !== undefined) {
      try {
        db.#network = await startNetwork(this.networkPlatform, replica, options.network);
      } catch (error) {
        await replica.close();
        throw error;
      }
    }
    if (signal !== undefined) {
      const onAbort = (): void => void db.close();
      signal.addEventListener('abort', onAbort, { once: true });
      replica.onClose(() => signal.removeEventListener('abort', onAbort));
    }
    return db;
  }

  /**
   * The network this database joined (`open({ network })`): status, events, counters,
   * `fetch`, `whenConnected`, `whenSynced`. Undefined when offline only (a database
   * opened with `network` is typed with it defined).
   */
  get network(): Network | undefined {
    return this.#network;
  }

  /**
   * A ref to the node `soul`. Souls starting with `~` or `#` follow namespace rules (see
   * docs). `db.get<Todo>('todos/1')` types what its reads return (`Todo | undefined`)
   * and what its `get(key)` refs hold; the type is your assertion, not checked at run
   * time (peers can write any value into public souls).
   */
  get<T = ReadValue>(soul: string): Ref<T> {
    this.#replica.assertOpen();
    if (typeof soul !== 'string' || soul === '') {
      throw new InvalidValueError('soul/invalid', `get() takes a non-empty string soul, not ${JSON.stringify(soul) ?? String(soul)}.`);
    }
    return new Ref<T>(this.#replica, { root: soul, keys: [] }, undefined);
  }

  /** A ref to `identity`'s own space `~<publicKey>`; writes through it are signed by that identity. */
  user<T = ReadValue>(identity: Identity): Ref<T> {
    this.#replica.assertOpen();
    signerOf(identity, this.#replica.engineModule);
    this.#replica.protectSpace(identity.publicKey);
    return new Ref<T>(this.#replica, { root: `~${identity.publicKey}`, keys: [] }, identity);
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

  /**
   * Local writes not yet acknowledged by the network, oldest first. Every local write
   * that changes the graph lands here, online or not; with a store the outbox survives
   * restarts. The networking layer sends the entries and acknowledges them.
   */
  get outbox(): Outbox {
    this.#replica.assertOpen();
    return this.#replica.outbox;
  }

  /**
   * Identities kept with the database (their secret seeds, in the store when there is
   * one), so the same identity can sign again after a restart:
   * `await db.identities.keep(id)`, later `await db.identities.load(id.publicKey)`.
   */
  get identities(): IdentityKeeper {
    this.#replica.assertOpen();
    return this.#replica.identities;
  }

  /**
   * The database's storage: `usage()` (platform estimate and the SDK's own accounting),
   * `persisted` (the answer to the persistence request made at open) and `trim()`.
   */
  get storage(): DatabaseStorage {
    this.#replica.assertOpen();
    return this.#storage;
  }

  /**
   * Resolves once every operation made before the call is applied and, with a store,
   * durable (see `Ref.put` for the durability contract).
   */
  flush(): Promise<void> {
    try {
      return this.#replica.flush();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** True once `close()` was called: every method but `close()` then throws ClosedError. */
  get closed(): boolean {
    return this.#replica.closed;
  }

  /**
   * Ends subscriptions and timers, lets operations already made finish, waits for
   * them to be durable, closes the store. With a network, first waits (up to
   * `timeoutMs`, default 5 s) for the servers to acknowledge the outbox.
   *
   * Resolves with what was left undelivered (`CloseReport`). When writes would be lost
   * (a network was configured, the storage is memory only, and some writes were never
   * acknowledged) the database still closes, and the promise rejects with an
   * UndeliveredWritesError that holds those writes' frames (`receive()` them into
   * another database to keep them). Idempotent: later calls return the first result.
   */
  close(options: CloseOptions = {}): Promise<CloseReport> {
    this.#closing ??= this.#close(options);
    return this.#closing;
  }

  async #close(options: CloseOptions): Promise<CloseReport> {
    const timeoutMs = options?.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
      throw new InvalidValueError('config/invalid', `close({ timeoutMs }) takes a number of ms >= 0, got ${String(timeoutMs)}.`);
    }
    const network = this.#network;
    const replica = this.#replica;
    if (network === undefined || replica.closed) {
      await replica.close();
      return { undelivered: 0, kept: false };
    }
    try {
      // Everything put before close() is in the outbox once it is applied.
      await replica.flush();
      await network.deliverOutbox({ timeoutMs, signal: options.signal });
    } catch {
      // A failing flush is reported to the puts it failed; the close goes on.
    }
    // The network first, so no peer's frame arrives while the store is closing.
    await network.stop().catch(() => {});
    const undelivered = replica.outbox.size;
    const lost: OutboxEntry[] = [];
    if (undelivered !== 0 && !this.#persistent) for await (const entry of replica.outbox.pending()) lost.push(entry);
    await replica.close();
    const report: CloseReport = { undelivered, kept: undelivered !== 0 && this.#persistent };
    if (lost.length !== 0) throw new UndeliveredWritesError(report, lost);
    return report;
  }
}

/** `directory`, checked: a non-empty string, where the platform has directories. */
function checkDirectory(options: OpenOptions, supported: boolean): string | undefined {
  const { directory } = options;
  if (directory === undefined) return undefined;
  if (!supported) {
    throw new InvalidValueError('config/invalid', 'option directory is for Node (LevelDB); in a browser the database persists to IndexedDB by default (option name).');
  }
  if (typeof directory !== 'string' || directory === '') throw new InvalidValueError('config/invalid', 'option directory must be a non-empty path.');
  if (options.store !== undefined) throw new InvalidValueError('config/invalid', 'give either option directory or option store, not both.');
  return directory;
}

function warnMemoryOnly(warn: MemoryWarning | undefined): void {
  if (warn === undefined || memoryWarned) return;
  memoryWarned = true;
  warn(
    'RustDHT.open() without a directory or store keeps the database in memory only: it is lost when the process ends. ' +
      "Pass { directory: './data' } to persist it (LevelDB), or { store: 'memory' } if memory only is what you want.",
  );
}
