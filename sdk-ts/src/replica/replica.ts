/**
 * The local replica: one engine instance and everything the shell does around it.
 *
 * Every change to the graph goes through `write`, `receive` or the deferred tick, each
 * one engine call per batch; after each, `#afterBatch` runs the same steps in the same
 * order: mirror links, stage the changed property records, queue local writes in the
 * outbox, announce them, notify subscribers. Public classes (RustDHT, Ref) are thin
 * views over this one object. Its parts live beside it: which souls are in memory and
 * loading them before an operation (residency.ts), how it stores (persistence/
 * replica-backing.ts), the shapes it exchanges (types.ts).
 *
 * Longer than the ~400 lines a file should keep to, on purpose: this is the one place
 * that sequences an engine batch with its persistence, outbox, listeners and
 * subscriptions, and splitting that sequence across files would hide its order, which
 * the invariants in docs/ARCHITECTURE.md depend on.
 */
import {
  countOutcomes,
  parseReport,
  type EngineChange,
  type EngineOutcome,
  type OutcomeCounts,
} from './batch-report.js';
import { DeferredScheduler } from './deferred-scheduler.js';
import type { Engine, EngineModule, PreparedFrame, Signer } from '../engine/core-types.js';
import type { EngineConfig, EngineNode } from '../engine/reports.js';
import { closedError, engineCall, InvalidValueError, RustDHTError } from '../api/errors.js';
import { IdentityKeeper } from './identity-keeper.js';
import { LinkIndex } from './link-index.js';
import { notifyAll, reportListenerError } from '../util/listeners.js';
import { localWriteReport, writeListText } from './local-write.js';
import { Residency } from './residency.js';
import { Outbox } from './outbox.js';
import { ChangeLog, convertLayout1ChangeLog } from '../persistence/change-log.js';
import { CONVERTIBLE_LAYOUT } from '../persistence/layout.js';
import { protectedSouls } from '../persistence/protected-souls.js';
import { ReplicaBacking, type CacheReport, type Opening } from '../persistence/replica-backing.js';
import { resolve, type GraphView, type RefPath } from './resolve.js';
import { SetKeyClock } from './set-keys.js';
import { SubscriptionRegistry } from './subscription-registry.js';

/** The engine's JSON for one node (see `Engine.read`) and its settings: declared by the engine. */
export type { EngineConfig, EngineNode };

import type { AppliedListener, ChangesListener, PreparedIncoming, ReceiveResult, RemoteReads, ReplicaSettings, ReplicationWaits, UpdateOutcome } from './types.js';

export type { AppliedBatch, AppliedListener, ChangesListener, ReceiveResult, ReplicaSettings, UpdateOutcome } from './types.js';
export type { CacheReport };

/** A local write once applied: what its put resolves to, and when. */
interface AppliedWrite {
  readonly counts: OutcomeCounts;
  readonly durable: Promise<void>;
}

/** A write's outbox entry, told as it is added (before the write is durable): what a durability level waits on. */
export type OnQueued = (outboxId: number) => void;

const NOTHING_TO_PERSIST: Promise<void> = Promise.resolve();
/** Deferred updates that came due while the store refused writes are tried again after this, doubling up to DUE_RETRY_MAX_MS. */
const DUE_RETRY_MS = 1_000;
const DUE_RETRY_MAX_MS = 60_000;

function isPromise(value: unknown): value is Promise<unknown> {
  return value instanceof Promise;
}

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
  readonly #engine: Engine;
  readonly #scheduler: DeferredScheduler;
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
  /** The length of a frame of no updates: a node frame this long means "nothing known". */
  readonly #emptyFrameLength: number;

  private constructor(settings: ReplicaSettings, engine: Engine, opening: Opening | undefined) {
    this.limits = { maxSoulBytes: settings.engineConfig.maxSoulBytes, maxKeyBytes: settings.engineConfig.maxKeyBytes };
    this.engineModule = settings.engineModule;
    this.now = settings.now;
    this.setKeys = new SetKeyClock(settings.now);
    this.#engine = engine;
    this.#emptyFrameLength = settings.engineModule.encodeUpdates([], new Float64Array(0)).length;
    this.#scheduler = new DeferredScheduler(this.now, () => this.#tick());
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
      if (opening !== undefined && opening.deferredRecords.length !== 0) replica.#restoreDeferredRecords(opening.deferredRecords);
      if (deferred !== undefined) await replica.#reinstateDeferred(deferred);
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

  // ---- writes ---------------------------------------------------------------------------

  /**
   * Local writes, all or nothing: `plan` returns the flat list [soul, key, value, …]
   * (it runs again if it needed nodes that were not loaded). Resolves once the changes
   * are applied and, with a store, durable; rejects with the typed error of the first
   * refused update.
   */
  write(plan: () => unknown[], signer: Signer | undefined, onQueued?: OnQueued): Promise<OutcomeCounts> {
    let applied: AppliedWrite | Promise<AppliedWrite>;
    try {
      this.assertOpen();
      applied = this.queued(
        () => this.#planWrite(plan),
        (flat) => this.#applyWrite(flat, signer, onQueued),
      );
    } catch (error) {
      return Promise.reject(error);
    }
    return isPromise(applied) ? applied.then(settleWrite) : settleWrite(applied);
  }

  #planWrite(plan: () => unknown[]): unknown[] {
    const flat = plan();
    if (this.#backing !== undefined) {
      let previous: unknown;
      for (let i = 0; i < flat.length; i += 3) {
        const soul = flat[i];
        if (soul !== previous && typeof soul === 'string') this.#residency.has(soul);
        previous = soul;
      }
    }
    return flat;
  }

  #applyWrite(flat: unknown[], signer: Signer | undefined, onQueued: OnQueued | undefined): AppliedWrite {
    const states = engineCall(
      () => {
        const text = writeListText(flat);
        return signer === undefined ? this.#engine.writeList(text, this.now()) : this.#engine.writeListSigned(text, this.now(), signer);
      },
      (thrown) => updateAt(flat, (thrown as { index?: unknown }).index),
    );
    // A refused local write throws (all or nothing), so nothing here is rejected or
    // deferred: every write is either applied or changed nothing.
    const { counts, changes } = localWriteReport(flat, states, signer === undefined ? null : signer.publicKey());
    this.#onQueued = onQueued;
    try {
      return { counts, durable: this.#afterBatch(changes, true) };
    } finally {
      this.#onQueued = undefined;
    }
  }

  /** Bytes from a peer or from storage. Throws DecodeError for a malformed frame. */
  receive(frame: Uint8Array): Promise<ReceiveResult> {
    try {
      return this.prepare(frame).receive();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A peer's frame decoded once (the engine keeps the decoded updates): its souls now —
   * to refuse a frame touching souls nobody asked for, before anything is merged — and
   * its merge later, without decoding it again. Throws DecodeError for a malformed frame.
   * Call `receive()` or `discard()` exactly once.
   */
  prepare(frame: Uint8Array): PreparedIncoming {
    this.assertOpen();
    const prepared = engineCall(() => this.#engine.prepare(frame));
    const souls = prepared.souls();
    let settled = false;
    return {
      souls,
      receive: () => {
        if (settled) return Promise.reject(new InvalidValueError('engine/used', 'this prepared frame was already received or discarded.'));
        settled = true;
        return this.#receivePrepared(prepared, souls);
      },
      discard: () => {
        if (settled) return;
        settled = true;
        prepared.free();
      },
    };
  }

  async #receivePrepared(prepared: PreparedFrame, souls: readonly string[]): Promise<ReceiveResult> {
    let queued: { outcomes: readonly EngineOutcome[]; durable: Promise<void> };
    try {
      queued = await this.queued(
        () => this.#planSouls(souls),
        () => this.#ingestPrepared(prepared),
      );
    } finally {
      prepared.free();
    }
    const { outcomes, durable } = queued;
    await durable;
    const result: UpdateOutcome[] = new Array(outcomes.length);
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i]!;
      result[i] = outcome.o === 'rejected' ? { outcome: 'rejected', code: outcome.code, message: outcome.msg } : { outcome: outcome.o };
    }
    return { ...countOutcomes(outcomes), outcomes: result };
  }

  #planSouls(souls: readonly string[]): void {
    if (this.#backing === undefined) return;
    for (const soul of souls) this.#residency.has(soul);
  }

  #ingestPrepared(prepared: PreparedFrame): { outcomes: readonly EngineOutcome[]; durable: Promise<void> } {
    const report = parseReport(engineCall(() => this.#engine.ingestPrepared(prepared, this.now())));
    const durable = this.#afterBatch(report.changes, false);
    for (const { o } of report.outcomes) {
      if (o === 'deferred') {
        this.#deferredQueueChanged();
        return { outcomes: report.outcomes, durable: this.#backing?.commit.durable() ?? durable };
      }
    }
    return { outcomes: report.outcomes, durable };
  }

  /**
   * Deferred updates came due: applied once the souls they touch are loaded (planned
   * with `soulsDue` at the same `now` the tick then uses), in the operation queue.
   */
  #tick(): void {
    if (this.#closed) return;
    let ticked: void | Promise<void>;
    try {
      ticked = this.queued(
        () => {
          const now = this.now();
          if (this.#backing !== undefined) for (const soul of this.#engine.soulsDue(now)) this.#residency.has(soul);
          return now;
        },
        (now) => this.#applyTick(now),
      );
    } catch (error) {
      ticked = Promise.reject(error);
    }
    // A load that failed (the store refuses reads): try again later.
    if (isPromise(ticked)) ticked.catch(() => !this.#closed && this.#scheduler.schedule(this.now() + DUE_RETRY_MS));
  }

  #applyTick(now: number): void {
    if (this.#closed) return;
    const report = parseReport(this.#engine.tick(now));
    if (report.changes.length !== 0) {
      // Kept until stored: if the commit fails, the souls leave memory (the store is the
      // truth) and these updates, no longer deferred, would be gone; they are ingested again.
      const frame = this.#backing === undefined ? undefined : this.#engine.lastChangesFrame();
      this.#afterBatch(report.changes, false).catch(() => frame !== undefined && this.#ingestAgainLater(frame, DUE_RETRY_MS));
    }
    this.#deferredQueueChanged();
  }

  /** Deferred updates that came due but could not be stored: ingested again after `delayMs`, until they are. */
  #ingestAgainLater(frame: Uint8Array, delayMs: number): void {
    const timer = setTimeout(() => {
      if (this.#closed) return;
      this.receive(frame).catch(() => this.#ingestAgainLater(frame, Math.min(delayMs * 2, DUE_RETRY_MAX_MS)));
    }, delayMs);
    (timer as { unref?: () => void }).unref?.();
  }

  /** The deferred queue changed: reschedule the wake-up, and stage its records' changes with this batch. */
  #deferredQueueChanged(): void {
    this.#scheduler.schedule(this.#engine.nextDeferredAt());
    this.#backing?.stageDeferred(this.#engine.lastDeferredRecords() as Uint8Array[]);
  }

  #afterBatch(changes: readonly EngineChange[], local: boolean): Promise<void> {
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
      if (local) this.#announceLocal(frame);
      notifyAll(this.#appliedListeners, { frame, changes, local, seq });
    }
    this.subscriptions.dispatch(changes);
    return backing === undefined ? NOTHING_TO_PERSIST : backing.commit.durable();
  }

  /** The write being applied wants its outbox entry (a durability level waits on it). */
  #onQueued: OnQueued | undefined;

  /** A local write joins the outbox and reaches `onChanges` listeners. */
  #announceLocal(frame: Uint8Array): void {
    const id = this.outbox.add(frame);
    this.#onQueued?.(id);
    notifyAll(this.#changesListeners, frame);
  }

  // ---- persistence ------------------------------------------------------------------------

  /** Loads newly resident souls' records: one engine call for all of them. */
  #restoreRecords(records: readonly Uint8Array[]): void {
    if (records.length === 0) return;
    const json = engineCall(() => this.#engine.restoreRecords(records as Uint8Array[]));
    // Restored properties are not news to anyone (no subscriber could have read the
    // soul before it loaded); only the link index needs them.
    this.links.apply(parseReport(json).changes);
  }

  /**
   * Parks again the updates whose "d" records the store holds, in one engine call
   * (trusted: they were verified when they arrived; no bound refuses them). Nothing is
   * loaded or applied here: those already due are applied by the first tick, which loads
   * their souls first, so opening costs one scan of the records, not a load per soul.
   */
  #restoreDeferredRecords(records: readonly Uint8Array[]): void {
    engineCall(() => this.#engine.restoreDeferredRecords(records as Uint8Array[]));
    this.#scheduler.schedule(this.#engine.nextDeferredAt());
  }

  /**
   * Layout 1: the deferred queue was stored as one frame ("D"). The engine takes it back
   * in one call and applies those now due, after the souls they touch are loaded, so the
   * applied ones are persisted and announced like any ingest; the queue is then staged as
   * one "d" record per update, and "D" deleted, in the commit that writes the new head.
   */
  async #reinstateDeferred(stored: Uint8Array): Promise<void> {
    await this.#backing!.souls.load(engineCall(() => this.#engine.soulsOf(stored)));
    const { changes } = parseReport(engineCall(() => this.#engine.restoreDeferred(stored, this.now())));
    void this.#afterBatch(changes, false);
    this.#backing!.convertDeferredFrame(this.#engine.deferredRecords() as Uint8Array[]);
    this.#scheduler.schedule(this.#engine.nextDeferredAt());
  }

  /** Updates waiting for their time: how many, and the bytes they are counted for (bounded by maxDeferred / maxDeferredBytes). */
  deferredQueue(): { readonly count: number; readonly bytes: number } {
    if (this.#freed) return { count: 0, bytes: 0 };
    return { count: this.#engine.deferredCount(), bytes: this.#engine.deferredBytes() };
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

  /** What this replica holds of `soul` (all properties, or `keys`) as a frame; loads it from the store first. */
  nodeFrame(soul: string, keys?: readonly string[]): Promise<Uint8Array> {
    try {
      this.assertOpen();
      return Promise.resolve(
        this.read(() => (!this.#residency.has(soul) ? undefined : this.#engine.nodeFrame(soul, keys === undefined ? null : [...keys]))),
      ).then((frame) => (frame === undefined || frame.length <= this.#emptyFrameLength ? new Uint8Array(0) : frame));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * One part of `soul` for a reply that must fit a peer's limits (Engine.nodeFramePart):
   * the properties after key `after` (undefined: from the first); loads the soul first.
   * `frame` is empty when the part holds nothing, `next` undefined after the last part.
   */
  nodeFramePart(
    soul: string,
    after: string | undefined,
    limits: { readonly partBytes: number; readonly maxBytes: number; readonly maxUpdates: number },
  ): Promise<{ frame: Uint8Array; next: string | undefined; skipped: string[] }> {
    try {
      this.assertOpen();
      const { partBytes, maxBytes, maxUpdates } = limits;
      return Promise.resolve(
        this.read(() => (!this.#residency.has(soul) ? undefined : this.#engine.nodeFramePart(soul, after, partBytes, maxBytes, maxUpdates))),
      ).then((part) => {
        if (part === undefined) return { frame: new Uint8Array(0), next: undefined, skipped: [] };
        const [frame, next, skipped] = part;
        return { frame: frame.length <= this.#emptyFrameLength ? new Uint8Array(0) : frame, next, skipped };
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Like nodeFrame for a soul known to be in memory (one an applied batch just changed):
   * no queueing, so a listener of that batch can answer at once.
   */
  residentNodeFrame(soul: string, keys: readonly string[] | undefined): Uint8Array | undefined {
    if (this.#freed) return undefined;
    if (this.#backing !== undefined && !this.#backing.souls.has(soul)) return undefined;
    return this.#engine.nodeFrame(soul, keys === undefined ? null : [...keys]);
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

  /** How a read asks peers first, while a network runs (see useRemoteReads). */
  #remoteReads: RemoteReads | undefined;

  /** How writes wait for a durability level, while a network runs (see useReplication). */
  #replication: ReplicationWaits | undefined;

  /** The network registers how writes wait for a durability level; returns the function that unregisters it. */
  useReplication(waits: ReplicationWaits): () => void {
    this.#replication = waits;
    return () => {
      if (this.#replication === waits) this.#replication = undefined;
    };
  }

  /** Starts waiting for outbox entry `outboxId` to reach `level` (undefined without a network). */
  expectReplication(outboxId: number, level: 'one' | 'quorum' | 'all'): ReturnType<ReplicationWaits> | undefined {
    return this.#replication?.(outboxId, level);
  }

  /**
   * The network registers how reads ask its peers first (one network per replica);
   * returns the function that unregisters it.
   */
  useRemoteReads(reads: RemoteReads): () => void {
    this.#remoteReads = reads;
    return () => {
      if (this.#remoteReads === reads) this.#remoteReads = undefined;
    };
  }

  /**
   * Before a read of `path`: asks the network for each soul the path goes through,
   * following links as the answers reveal them (one round per hop); offline, nothing
   * happens. Souls watched live are asked for too: a watch that has just started may
   * not have received the servers' state yet, and a read must not answer from before it.
   * Only what the answer depends on is asked for: the key a step or a property read
   * reads, the whole node only for a node read, so a node's other properties (however
   * many or large) never travel for a property read.
   */
  async readThrough(path: RefPath, signal: AbortSignal | undefined, consistency?: 'one' | 'quorum' | 'all'): Promise<void> {
    const remote = this.#remoteReads;
    if (remote === undefined) return;
    const asked = new Set<string>();
    for (let hop = 0; hop <= path.keys.length; hop++) {
      const resolution = await this.read(() => resolve(this, path));
      // Per soul: the keys read there, or undefined when the whole node is.
      const needs = new Map<string, Set<string> | undefined>();
      for (const { soul, key } of resolution.watches) {
        const keys = needs.has(soul) ? needs.get(soul) : new Set<string>();
        if (key === undefined || keys === undefined) needs.set(soul, undefined);
        else needs.set(soul, keys.add(key));
      }
      const next: Array<[string, string[] | undefined]> = [];
      for (const [soul, keys] of needs) {
        const list = keys === undefined ? undefined : [...keys].sort();
        const id = JSON.stringify([soul, list ?? null]);
        if (asked.has(id)) continue;
        asked.add(id);
        next.push([soul, list]);
      }
      if (next.length === 0) return;
      await Promise.all(next.map(([soul, keys]) => remote(soul, keys, signal, consistency)));
    }
  }

  /** Whether anything of `soul` is here: in the engine, or in the store (one seek). */
  async holds(soul: string): Promise<boolean> {
    this.assertOpen();
    if (this.#engine.read(soul, []) !== 'null') return true;
    return (await this.#backing?.holds(soul)) ?? false;
  }

  /** The souls the store holds records of (servers: what the DHT checks its owners hold); nothing without a store. */
  async *storedSouls(after?: string): AsyncIterableIterator<string> {
    if (this.#backing === undefined) return;
    yield* this.#backing.storedSouls(after);
  }

  /**
   * Lets go of `souls`: their records leave the store and their nodes the engine (a
   * server dropping data it does not own once its owners hold it). Souls watched here,
   * protected (outbox, identities) or kept by `keep` stay. Resolves to the souls
   * released, once that is durable; nothing without a store.
   */
  async release(souls: readonly string[], keep: (soul: string) => boolean = () => false): Promise<string[]> {
    this.assertOpen();
    if (this.#backing === undefined) return [];
    await this.#residency.drained();
    const released = await this.#backing.release(souls, (soul) => this.subscriptions.isWatched(soul) || keep(soul));
    if (released.length !== 0) notifyAll(this.#releasedListeners, released);
    return released;
  }

  /** Calls `listener` with the souls each `release` let go of, once durable. */
  onReleased(listener: (souls: readonly string[]) => void): () => void {
    this.#releasedListeners.add(listener);
    return () => void this.#releasedListeners.delete(listener);
  }

  readonly #releasedListeners = new Set<(souls: readonly string[]) => void>();

  /**
   * The stored property records of each of `souls` (anti-entropy digests them), read
   * once everything applied so far is durable, so they are what the engine holds; none
   * without a store.
   */
  async soulRecords(souls: readonly string[]): Promise<Uint8Array[][]> {
    if (this.#backing === undefined) return souls.map(() => []);
    await this.flush();
    return this.#backing.soulRecords(souls);
  }

  /** Stages a record of the networking layer's own in the next commit (no-op without a store). */
  stageRecord(key: Uint8Array, value: Uint8Array): void {
    this.#backing?.commit.put(key, value);
  }

  /** Reads a record of the networking layer's own (undefined without a store). */
  readRecord(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.#backing?.store.get(key) ?? Promise.resolve(undefined);
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
    this.#scheduler.cancel();
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

function settleWrite(applied: AppliedWrite): Promise<OutcomeCounts> {
  const { counts, durable } = applied;
  // A put without a store settles without extra microtask hops.
  return durable === NOTHING_TO_PERSIST ? Promise.resolve(counts) : durable.then(() => counts);
}

/** The soul and key of the i-th update of a flat write, for error messages. */
function updateAt(flat: readonly unknown[], index: unknown): { soul?: string; key?: string } {
  if (typeof index !== 'number' || !(index >= 0) || 3 * index + 1 >= flat.length) return {};
  return { soul: flat[3 * index] as string, key: flat[3 * index + 1] as string };
}
