/**
 * Graph references, as GunDB users know them: `db.get(soul).get(key)…` names a place
 * in the graph, following links on the way; `put`, `once`, `on`, `map`, `set` act on
 * that place. A Ref holds no data and costs nothing to create; it resolves its path
 * against the current graph each time it is used.
 */
import type { OutcomeCounts } from '../replica/batch-report.js';
import { InvalidValueError, throwIfAborted } from './errors.js';
import { Flattener, LINK_TARGET, type Linkable, type PutValue } from './flatten.js';
import { signerOf, type Identity } from './identity.js';
import { childValue, MapWatcher, mapNodeSoul, type ChildListener } from '../replica/map-watcher.js';
import { PushStream } from './push-stream.js';
import { awaitLevel, checkPutOptions, type PutOptions, type ReplicationResult } from './durability.js';
import type { LocalReplica } from '../replica/replica.js';
import { nodeSoulOf, readResolved, resolve, type RefPath } from '../replica/resolve.js';
import { ValueWatcher } from '../replica/value-watcher.js';
import type { NodeData, NodeMeta, PropertyChange, PropertyMeta, ReadValue, Value } from './values.js';

/**
 * How many updates of a put ended in each outcome (a local put: all applied or ignored),
 * and, for a put that asked for a durability level, how many owners confirmed it.
 */
export type PutAck = OutcomeCounts & { readonly replication?: ReplicationResult };

/** Options of `once()` and `meta()`. */
export interface ReadOptions {
  /** Abandons the read (it rejects with AbortError). */
  readonly signal?: AbortSignal;
  /**
   * Answer from this database only. By default, a database on a network first asks its
   * peers for the node, waiting at most the network's `readTimeoutMs` (and, right after
   * open, for the first connection within that time).
   */
  readonly local?: boolean;
  /**
   * On a DHT, how many of each soul's owner servers the reader's server must hear before
   * answering: 'one' (fastest), 'quorum' (a majority: sees every write made with
   * durability 'quorum'), 'all'. Default: a server that owns the soul answers from what
   * it holds; one that does not asks every owner, within the read's time bound.
   */
  readonly consistency?: 'one' | 'quorum' | 'all';
}

export interface StreamOptions {
  /** Ends the iteration (cleanly, without an error) when it fires. */
  readonly signal?: AbortSignal;
}

/** One batch's effect on a subscribed ref. */
export interface ChangeEvent {
  /** The ref's value after the batch (as `once()` would return it). */
  readonly value: ReadValue;
  /** The property changes of the batch that this ref's value depends on. */
  readonly changes: readonly PropertyChange[];
}

/** One batch's effect on one child of a `map()`. */
export interface ChildChangeEvent {
  readonly key: string;
  /** The child's value, a linked child's data, or `null` once deleted. */
  readonly value: Value | NodeData;
}

function checkConsistency(consistency: unknown): void {
  if (consistency !== undefined && consistency !== 'one' && consistency !== 'quorum' && consistency !== 'all') {
    throw new InvalidValueError('config/invalid', `read option consistency must be 'one', 'quorum' or 'all', got ${String(consistency)}.`);
  }
}

function checkKey(key: unknown, method: string): asserts key is string {
  if (typeof key !== 'string') {
    throw new InvalidValueError('key/invalid', `${method} takes a string, not ${key === null ? 'null' : typeof key}.`);
  }
}

function toPropertyMeta(prop: { v: Value; s: number; by?: string; sig?: string }): PropertyMeta {
  return prop.by === undefined
    ? { value: prop.v, state: prop.s }
    : { value: prop.v, state: prop.s, signer: prop.by, signature: prop.sig! };
}

/**
 * The type of `ref.get(key)` in a `Ref<T>`: `T[K]` when `T` is a type of yours that has
 * `K`, else any value. Untyped refs (`T` = ReadValue) stay untyped.
 */
export type ChildOf<T, K extends string> = [ReadValue] extends [T] ? ReadValue : K extends keyof NonNullable<T> ? NonNullable<T>[K] : ReadValue;

/**
 * A place in the graph. `T` is what its reads return (default: any value); it is the
 * caller's assertion (`db.get<Todo>('todos/1')`), not checked at run time.
 */
export class Ref<T = ReadValue> implements Linkable {
  readonly #replica: LocalReplica;
  readonly #path: RefPath;
  readonly #writer: Identity | undefined;

  /** @internal Refs come from `db.get()`, `db.user()` and `ref.get()`. */
  constructor(replica: LocalReplica, path: RefPath, writer: Identity | undefined) {
    this.#replica = replica;
    this.#path = path;
    this.#writer = writer;
  }

  /** The soul this chain starts from. */
  get root(): string {
    return this.#path.root;
  }

  /** The keys followed from the root, in order (empty for a root ref). */
  get path(): readonly string[] {
    return this.#path.keys;
  }

  /** The last key of the chain, or undefined for a root ref. */
  get key(): string | undefined {
    const keys = this.#path.keys;
    return keys[keys.length - 1];
  }

  /** The property `key` of this ref's node; follows the link there when it holds one. */
  get<K extends string>(key: K): Ref<ChildOf<T, K>> {
    checkKey(key, 'get()');
    return new Ref<ChildOf<T, K>>(this.#replica, { root: this.#path.root, keys: [...this.#path.keys, key] }, this.#writer);
  }

  /**
   * Writes `value` here: a value, a plain object (merged into the node, nested objects
   * becoming linked child nodes), or a Ref / `{ '#': soul }` (a link). All updates of
   * one put are one atomic engine batch.
   *
   * Durability: the put resolves once its updates are applied locally (visible to
   * reads and subscriptions, queued in the outbox) and, when the database has a store,
   * once the store batch holding them is durable: for a persistent store, a put that
   * resolved survives a crash of the process (kill -9) or of the tab. Concurrent puts
   * share one store batch (group commit). A put that rejects was not persisted (its
   * updates may stay visible locally until the database is reopened). Without a store
   * it resolves right after the local apply.
   *
   * `options.durability` ('one', 'quorum', 'all') also waits until that many of each
   * written soul's owner servers hold it durably (the DHT's R owners; `timeoutMs`,
   * default 10 s), and rejects with DurabilityError naming what was reached when they do
   * not: the write is durable here all the same and keeps being delivered.
   */
  put(value: PutValue, options?: PutOptions): Promise<PutAck> {
    try {
      checkPutOptions(options);
      this.#replica.assertOpen();
      const signer = this.#writer === undefined ? undefined : signerOf(this.#writer, this.#replica.engineModule);
      const replica = this.#replica;
      const path = this.#path;
      const level = options?.durability ?? 'local';
      if (level === 'local') return replica.write(() => Flattener.put(replica, path, value), signer);
      let queued = false;
      let wait: ReturnType<typeof replica.hooks.expectReplication>;
      const written = replica.write(() => Flattener.put(replica, path, value), signer, (id) => {
        queued = true;
        wait = replica.hooks.expectReplication(id, level);
      });
      return written.then(async (counts) => {
        // A put that changed nothing has nothing new for the servers to confirm.
        if (!queued) return counts;
        return { ...counts, replication: await awaitLevel(wait, level, options!) };
      }, (error: unknown) => {
        wait?.cancel();
        throw error;
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Adds `item` under a fresh, unique, time-ordered key (a list that merges without
   * conflicts). Resolves to the Ref of the new child.
   */
  async set(item: PutValue, options?: PutOptions): Promise<Ref<ReadValue>> {
    this.#replica.assertOpen();
    const child = new Ref<ReadValue>(this.#replica, { root: this.#path.root, keys: [...this.#path.keys, this.#replica.setKeys.next()] }, this.#writer);
    await child.put(item, options);
    return child;
  }

  /** The current value: a property's value, a node's data (links as `{ '#': soul }`), or undefined. */
  async once(options: ReadOptions = {}): Promise<T | undefined> {
    throwIfAborted(options.signal);
    this.#replica.assertOpen();
    const replica = this.#replica;
    const path = this.#path;
    checkConsistency(options.consistency);
    if (options.local !== true) await replica.hooks.readThrough(path, options.signal, options.consistency);
    return (await replica.read(() => readResolved(replica, resolve(replica, path)))) as T | undefined;
  }

  /**
   * Calls `callback(value, key)` with the current value (if there is one) and then
   * after every batch that changes it. Returns the function that unsubscribes.
   */
  on(callback: (value: T | undefined, key: string | undefined) => void): () => void {
    this.#replica.assertOpen();
    const key = this.key;
    const watcher = new ValueWatcher(this.#replica, this.#path, (value) => callback(value as T | undefined, key), { collect: false, initial: true });
    return () => watcher.stop();
  }

  /** Every later change as an async iterable; ends when `signal` aborts or the database closes. */
  changes(options: StreamOptions = {}): AsyncIterableIterator<ChangeEvent> {
    this.#replica.assertOpen();
    const stream = new PushStream<ChangeEvent>(options.signal);
    if (stream.ended) return stream;
    const watcher = new ValueWatcher(this.#replica, this.#path, (value, changes) => stream.push({ value, changes }), {
      collect: true,
      initial: false,
      onClose: () => stream.end(),
    });
    stream.onEnd = () => watcher.stop();
    return stream;
  }

  /** This node's children (see MapRef). */
  map(): MapRef {
    return new MapRef(this.#replica, this.#path);
  }

  /**
   * The engine's record of this place: for a root ref the node with every property's
   * metadata, else the property's metadata (state, and signer and signature when
   * signed). Undefined when absent.
   */
  async meta(options: ReadOptions = {}): Promise<NodeMeta | PropertyMeta | undefined> {
    throwIfAborted(options.signal);
    this.#replica.assertOpen();
    const replica = this.#replica;
    const { root, keys } = this.#path;
    checkConsistency(options.consistency);
    if (options.local !== true) await replica.hooks.readThrough(this.#path, options.signal, options.consistency);
    return replica.read((): NodeMeta | PropertyMeta | undefined => {
      if (keys.length === 0) {
        const node = replica.readNode(root);
        if (node === null) return undefined;
        const props: Record<string, PropertyMeta> = {};
        for (const key in node.props) props[key] = toPropertyMeta(node.props[key]!);
        return { soul: node.soul, props };
      }
      const parent = resolve(replica, { root, keys: keys.slice(0, -1) });
      if (parent.kind !== 'node') return undefined;
      const key = keys[keys.length - 1]!;
      const prop = replica.readNode(parent.soul, new Set([key]))?.props[key];
      return prop === undefined ? undefined : toPropertyMeta(prop);
    });
  }

  /** @internal A link to this ref points at its node's soul. */
  [LINK_TARGET](replica: LocalReplica): string {
    if (replica !== this.#replica) {
      throw new InvalidValueError('value/link', 'a Ref can only be linked within the database it came from; link by soul with { "#": soul } instead.');
    }
    return nodeSoulOf(replica, this.#path);
  }
}

/** The children of one node: `ref.map()`. */
export class MapRef {
  readonly #replica: LocalReplica;
  readonly #path: RefPath;

  /** @internal */
  constructor(replica: LocalReplica, path: RefPath) {
    this.#replica = replica;
    this.#path = path;
  }

  /** Current children as `[key, value]` entries; linked children resolved to their data, deleted ones left out. */
  async once(options: ReadOptions = {}): Promise<Array<[key: string, value: Value | NodeData]>> {
    throwIfAborted(options.signal);
    this.#replica.assertOpen();
    const replica = this.#replica;
    const path = this.#path;
    return replica.read(() => {
      const soul = mapNodeSoul(resolve(replica, path));
      const props = soul === undefined ? undefined : replica.readNode(soul)?.props;
      const entries: Array<[string, Value | NodeData]> = [];
      for (const key in props) {
        const value = props[key]!.v;
        if (value !== null) entries.push([key, childValue(replica, value)]);
      }
      return entries;
    });
  }

  /**
   * Calls `callback(value, key)` for each current child, then for each child a batch
   * changes (`null` when deleted). Returns the function that unsubscribes.
   */
  on(callback: ChildListener): () => void {
    this.#replica.assertOpen();
    const watcher = new MapWatcher(this.#replica, this.#path, callback);
    return () => watcher.stop();
  }

  /** Each current child, then every change, as an async iterable; ends when `signal` aborts or the database closes. */
  changes(options: StreamOptions = {}): AsyncIterableIterator<ChildChangeEvent> {
    this.#replica.assertOpen();
    const stream = new PushStream<ChildChangeEvent>(options.signal);
    if (stream.ended) return stream;
    const watcher = new MapWatcher(this.#replica, this.#path, (value, key) => stream.push({ key, value }), () => stream.end());
    stream.onEnd = () => watcher.stop();
    return stream;
  }
}
