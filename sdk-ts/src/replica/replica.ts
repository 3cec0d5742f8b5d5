/**
 * The local replica: one engine instance and everything the shell does around it.
 *
 * Every change to the graph goes through `write`, `receive` or the deferred tick, each
 * one engine call per batch; after each, `#afterBatch` runs the same steps in the same
 * order: mirror links, stage the changed property records, queue local writes in the
 * outbox, announce them, notify subscribers. Public classes (RustDHT, Ref) are thin
 * views over this one object. The sequence after a batch stays here, in one place,
 * because docs/ARCHITECTURE.md's invariants depend on its order; the paths into it and
 * the services around it live beside it: local writes (writes.ts), frames from peers
 * (incoming.ts), updates from the future (deferred-updates.ts), which souls are in
 * memory and loading them first (residency.ts), nodes as the network serves them
 * (stored-nodes.ts), the network's hooks (network-hooks.ts), how it stores
 * (persistence/replica-backing.ts), the shapes it exchanges (types.ts).
 */
import { parseReport, type EngineChange, type OutcomeCounts } from './batch-report.js';
import { IncomingFrames } from './incoming.js';
import { LocalWrites, type OnQueued } from './writes.js';
import { DeferredUpdates } from './deferred-updates.js';
import type { Engine, EngineModule, Signer } from '../engine/core-types.js';
import type { EngineConfig, EngineNode } from '../engine/reports.js';
import { closedError, engineCall, InvalidValueError, RustDHTError } from '../api/errors.js';
import { IdentityKeeper } from './identity-keeper.js';
import { LinkIndex } from './link-index.js';
import { notifyAll, reportListenerError } from '../util/listeners.js';
import { Residency } from './residency.js';
import { Outbox } from './outbox.js';
import { ChangeLog, convertLayout1ChangeLog } from '../persistence/change-log.js';
import { CONVERTIBLE_LAYOUT } from '../persistence/layout.js';
import { protectedSouls } from '../persistence/protected-souls.js';
import { ReplicaBacking, type CacheReport, type Opening } from '../persistence/replica-backing.js';
import type { GraphView } from './resolve.js';
import { NetworkHooks } from './network-hooks.js';
import { StoredNodes } from './stored-nodes.js';
import { SetKeyClock } from './set-keys.js';
import { SubscriptionRegistry } from './subscription-registry.js';

/** The engine's JSON for one node (see `Engine.read`) and its settings: declared by the engine. */
export type { EngineConfig, EngineNode };
import type { AppliedListener, ChangesListener, PreparedIncoming, ReceiveOptions, ReceiveResult, ReplicaSettings } from './types.js';

export type { AppliedBatch, AppliedListener, ChangesListener, ReceiveResult, ReplicaSettings, UpdateOutcome } from './types.js';
export type { CacheReport };

const NOTHING_TO_PERSIST: Promise<void> = Promise.resolve();

export class LocalReplica implements GraphView {
  readonly engineModule: EngineModule;
  readonly now: () => number;
  readonly links = new LinkIndex();
  /** The soul and key size limits this database was opened with (the wire checks requests against them). */
  readonly limits: { readonly maxSoulBytes?: number; readonly maxKeyBytes?: number };
  readonly subscriptions = new SubscriptionRegistry();
  readonly outbox: Outbox;
  readonly identities: IdentityKeeper;
  /** Keys for `set()` (set-keys.ts). */
  readonly setKeys: SetKeyClock;
  /** Nodes as the network serves and moves them (stored-nodes.ts). */
  readonly stored: StoredNodes;
  /** Where a running network plugs in: read-through and durability waits (network-hooks.ts). */
  readonly hooks: NetworkHooks;
  readonly #engine: Engine;
  readonly #deferred: DeferredUpdates;
  readonly #writes: LocalWrites;
  readonly #incoming: IncomingFrames;
  readonly #backing: ReplicaBacking | undefined;
  readonly #residency: Residency;
  readonly #changesListeners = new Set<ChangesListener>();
  readonly #appliedListeners = new Set<AppliedListener>();
  #changeLog: ChangeLog | undefined;
  readonly #closeListeners = new Set<() => void>();
  /** Public keys used through `db.user()`: their spaces are never evicted. */
  readonly #ownKeys = new Set<string>();
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Set just before the engine is freed: from then on nothing may call it. */
  #freed = false;

  private constructor(settings: ReplicaSettings, engine: Engine, opening: Opening | undefined) {
    this.limits = { maxSoulBytes: settings.engineConfig.maxSoulBytes, maxKeyBytes: settings.engineConfig.maxKeyBytes };
    this.engineModule = settings.engineModule;
    this.now = settings.now;
    this.setKeys = new SetKeyClock(settings.now);
    this.#engine = engine;
    const store = settings.store;
    if (store !== undefined) {
      this.#backing = new ReplicaBacking(
        store,
        {
          engine: () => (this.#freed ? undefined : this.#engine),
          restoreRecords: (records) => this.#restoreRecords(records),
          outboxCounters: () => this.outbox.counters,
          protection: () =>
            protectedSouls({ outbox: this.outbox, identities: this.identities, ownKeys: this.#ownKeys, engine: () => (this.#closed ? undefined : this.#engine) }),
          dropFromMemory: (soul) => {
            this.#engine.evict(soul);
            this.links.indexNode(soul, null);
          },
          usable: () => !this.#closed,
        },
        opening!,
        settings.cacheMaxBytes,
        settings.memoryBudget,
        settings.storedSoulFilter === true,
      );
    }
    const backing = this.#backing;
    this.#residency = new Residency(backing?.souls, (soul) => backing!.resident(soul), () => !this.#freed);
    const head = opening?.head;
    const persisted = store === undefined ? undefined : { store, commit: this.#backing!.commit };
    const counters = { size: head?.outboxSize ?? 0, nextId: head?.outboxNextId ?? 0 };
    this.outbox = new Outbox(persisted, counters, () => this.assertOpen(), (frame) => this.soulsOf(frame));
    if (backing !== undefined) this.outbox.onChange((event) => event.type === 'removed' && backing.relaxEviction());
    this.identities = new IdentityKeeper(persisted, settings.importIdentity, () => this.assertOpen());
    const resident = (soul: string): boolean => this.#residency.has(soul);
    // What the paths around the engine share (each host interface takes its part).
    const core = {
      engine,
      now: this.now,
      backing,
      hasStore: backing !== undefined,
      freed: () => this.#freed,
      closed: () => this.#closed,
      resident,
      uses: resident,
      assertOpen: () => this.assertOpen(),
      queued: <P, R>(plan: () => P, apply: (planned: P) => R) => this.queued(plan, apply),
      read: <T>(plan: () => T) => this.read(plan),
    };
    this.#deferred = new DeferredUpdates({ ...core, afterBatch: (changes) => this.#afterBatch(changes, false), receive: (frame) => this.receive(frame) });
    this.#writes = new LocalWrites({ ...core, afterBatch: (changes, onQueued) => this.#afterBatch(changes, true, onQueued), nothingToPersist: NOTHING_TO_PERSIST });
    this.#incoming = new IncomingFrames({
      ...core,
      afterBatch: (changes, feedLive) => this.#afterBatch(changes, false, undefined, feedLive),
      deferredChanged: () => this.#deferred.changed(),
      committed: () => backing?.commit.durable(),
    });
    this.stored = new StoredNodes(
      { ...core, drained: () => this.#residency.drained(), flush: () => this.flush(), watched: (soul) => this.subscriptions.isWatched(soul) },
      settings.engineModule.encodeUpdates([], new Float64Array(0)).length,
    );
    this.hooks = new NetworkHooks(this, (plan) => this.read(plan));
  }

  /**
   * Opens the replica. With a store this reads the head and the deferred updates' records
   * and nothing else: nodes load when first used. A layout-1 store is converted first
   * (its change log and deferred frame; layout.ts).
   */
  static async open(settings: ReplicaSettings): Promise<LocalReplica> {
    // Fresh random keys for the engine's hash tables, so no peer can aim colliding
    // souls at them (the engine has no randomness of its own).
    const hashSeed = crypto.getRandomValues(new Uint8Array(32));
    const engine: Engine = engineCall(() => new settings.engineModule.Engine({ ...settings.engineConfig, hashSeed }));
    const { store } = settings;
    let opening: Opening | undefined;
    if (store !== undefined) {
      try {
        opening = await ReplicaBacking.readOpening(store, settings.cacheMaxBytes !== undefined);
      } catch (error) {
        engine.free();
        throw error;
      }
    }
    const replica = new LocalReplica(settings, engine, opening);
    const head = opening?.head;
    const deferred = opening?.deferred;
    const converting = head?.layout === CONVERTIBLE_LAYOUT;
    try {
      if (converting) await convertLayout1ChangeLog(replica.#backing!.store);
      if (settings.changeLog === true) {
        if (replica.#backing === undefined) throw new InvalidValueError('config/invalid', 'a change log needs a store.');
        replica.#changeLog = await ChangeLog.open(replica.#backing.store, replica.#backing.commit, settings.engineModule.joinFrames);
      }
      // Restored states may be ahead of the wall clock: new writes must still come after them.
      if (head !== undefined) engine.restoreClock(head.clock);
      if (opening !== undefined && opening.deferredRecords.length !== 0) replica.#deferred.restoreRecords(opening.deferredRecords);
      if (deferred !== undefined) await replica.#deferred.reinstateFrame(deferred);
      // The head of this commit says the current layout: the conversion is complete.
      if (converting) await replica.#backing!.commit.flush();
      // The cap may be smaller than at the last session.
      replica.#backing?.maybeEvict();
    } catch (error) {
      await replica.close();
      throw error;
    }
    return replica;
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---- GraphView: what plans read ------------------------------------------------------

  /** The soul `soul.key` links to, if it holds a link. */
  target(soul: string, key: string): string | undefined {
    if (!this.#residency.has(soul)) return undefined;
    return this.links.target(soul, key);
  }

  /** The engine's view of a node with metadata (only `keys`, when given), or null when it holds no property. */
  readNode(soul: string, keys?: ReadonlySet<string>): EngineNode | null {
    if (!this.#residency.has(soul)) return null;
    return JSON.parse(this.#engine.read(soul, keys === undefined ? null : [...keys])) as EngineNode | null;
  }

  /**
   * Runs `plan` and hands its result to `apply` once every soul it read is in memory
   * (residency.ts): at once, or after loading them and planning again.
   */
  whenResident<P, R>(plan: () => P, apply: (planned: P) => R): R | Promise<R> {
    return this.#residency.whenResident(plan, apply);
  }

  /** Runs a plan/apply pair after every operation queued before it. */
  queued<P, R>(plan: () => P, apply: (planned: P) => R): R | Promise<R> {
    return this.#residency.queued(plan, apply);
  }

  /** A read: the plan's result, once everything it reads is in memory. */
  read<T>(plan: () => T): T | Promise<T> {
    return this.queued(plan, (value) => value);
  }

  /** Local writes, all or nothing (writes.ts); resolves once applied and durable. */
  write(plan: () => unknown[], signer: Signer | undefined, onQueued?: OnQueued): Promise<OutcomeCounts> {
    return this.#writes.write(plan, signer, onQueued);
  }

  /** Bytes from a peer or from storage (incoming.ts). Throws DecodeError for a malformed frame. */
  receive(frame: Uint8Array, options?: ReceiveOptions): Promise<ReceiveResult> {
    return this.#incoming.receive(frame, options);
  }

  /** A peer's frame decoded once: its souls now, its merge or its discarding later (incoming.ts). */
  prepare(frame: Uint8Array): PreparedIncoming {
    return this.#incoming.prepare(frame);
  }

  // ---- the steps after every batch ----------------------------------------------------------

  #afterBatch(changes: readonly EngineChange[], local: boolean, onQueued?: OnQueued, feedLive = true): Promise<void> {
    // A batch that changed nothing (already held, older) was decided against state that
    // may still be in an uncommitted batch: its caller (an ACK) waits for that too.
    if (changes.length === 0) return this.#backing?.commit.durable() ?? NOTHING_TO_PERSIST;
    this.links.apply(changes);
    const backing = this.#backing;
    let records: Uint8Array[] | undefined;
    if (backing !== undefined) {
      // One record per changed property, in report order.
      records = this.#engine.lastChangeRecords() as Uint8Array[];
      backing.stage(changes, records);
    }
    const changeLog = this.#changeLog;
    if (local || changeLog !== undefined || this.#appliedListeners.size !== 0) {
      // A one-update changes frame and that update's record are the same bytes: save
      // the engine call on the most common write, a single property.
      const frame = records?.length === 1 ? records[0]! : this.#engine.lastChangesFrame();
      const seq = changeLog?.append(changes);
      if (local) this.#announceLocal(frame, onQueued);
      notifyAll(this.#appliedListeners, feedLive ? { frame, changes, local, seq } : { frame, changes, local, seq, feedLive });
    }
    this.subscriptions.dispatch(changes);
    return backing === undefined ? NOTHING_TO_PERSIST : backing.commit.durable();
  }

  /** A local write joins the outbox and reaches `onChanges` listeners. */
  #announceLocal(frame: Uint8Array, onQueued: OnQueued | undefined): void {
    const id = this.outbox.add(frame);
    onQueued?.(id);
    notifyAll(this.#changesListeners, frame);
  }

  /** Loads newly resident souls' records: one engine call for all of them. */
  #restoreRecords(records: readonly Uint8Array[]): void {
    if (records.length === 0) return;
    const json = engineCall(() => this.#engine.restoreRecords(records as Uint8Array[]));
    // Restored properties are not news to anyone (no subscriber could have read the
    // soul before it loaded); only the link index needs them.
    this.links.apply(parseReport(json).changes);
  }

  /** Updates waiting for their time: how many, and the bytes they are counted for (deferred-updates.ts). */
  deferredQueue(): { readonly count: number; readonly bytes: number } {
    return this.#deferred.queue();
  }

  // ---- cache discipline (persistence/replica-backing.ts, eviction.ts) ----------------------

  /** The space `~<publicKey>` is the user's own: cache eviction never touches it. */
  protectSpace(publicKey: string): void {
    this.#ownKeys.add(publicKey);
  }

  /** Why the store's last commit failed, and since when (ms epoch); undefined while commits land. */
  storageFailure(): { readonly code: string; readonly message: string; readonly since: number } | undefined {
    const failure = this.#backing?.failure;
    if (failure === undefined) return undefined;
    const { error } = failure;
    return { code: error instanceof RustDHTError ? error.code : 'storage/io', message: error instanceof Error ? error.message : String(error), since: failure.since };
  }

  cacheReport(): CacheReport {
    return this.#backing?.cacheReport() ?? { cachedNodes: undefined, cacheBytes: undefined, maxBytes: undefined, residentNodes: undefined, residentBytes: undefined, memoryBudget: undefined };
  }

  /**
   * Evicts now if the cache is over its cap (after the operations already made).
   * Resolves to the number of souls evicted, once durable; 0 without a cap.
   */
  async trimCache(): Promise<number> {
    this.assertOpen();
    await this.#residency.drained();
    return (await this.#backing?.trim()) ?? 0;
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  onChanges(listener: ChangesListener): () => void {
    this.assertOpen();
    this.#changesListeners.add(listener);
    return () => void this.#changesListeners.delete(listener);
  }

  /** Every batch that changed the graph, local or not (networking forwards them). */
  onApplied(listener: AppliedListener): () => void {
    this.assertOpen();
    this.#appliedListeners.add(listener);
    return () => void this.#appliedListeners.delete(listener);
  }

  get changeLog(): ChangeLog | undefined {
    return this.#changeLog;
  }

  /** The distinct souls a frame touches. Throws DecodeError for malformed bytes. */
  /** The owner (public key) of the `~` space `soul` is in, by the engine's namespace rule; undefined for public souls. */
  spaceOwner(soul: string): string | undefined {
    return this.#engine.spaceOwner(soul) ?? undefined;
  }

  soulsOf(frame: Uint8Array): string[] {
    this.assertOpen();
    return engineCall(() => this.#engine.soulsOf(frame));
  }

  /** Runs `listener` once when the replica closes (subscriptions end themselves this way). */
  onClose(listener: () => void): () => void {
    this.#closeListeners.add(listener);
    return () => void this.#closeListeners.delete(listener);
  }

  assertOpen(): void {
    if (this.#closed) throw closedError('the database is closed; open a new one with RustDHT.open() to keep working.');
  }

  /** Waits until every operation made so far is applied and, with a store, durable. */
  async flush(): Promise<void> {
    this.assertOpen();
    await this.#residency.drained();
    // Access ticks of reads wait for a commit: the backing's flush carries them too.
    await this.#backing?.flush();
  }

  /**
   * Stops accepting operations, lets the accepted ones finish, waits for everything
   * staged to be durable, then closes the store and frees the engine. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#deferred.cancel();
    this.#changesListeners.clear();
    this.outbox.close();
    const closeListeners = [...this.#closeListeners];
    this.#closeListeners.clear();
    for (const listener of closeListeners) {
      try {
        listener();
      } catch (error) {
        reportListenerError(error);
      }
    }
    const backing = this.#backing;
    try {
      await this.#residency.drained();
      await this.#changeLog?.close();
      await backing?.close();
    } finally {
      this.#freed = true;
      this.#engine.free();
    }
  }
}
