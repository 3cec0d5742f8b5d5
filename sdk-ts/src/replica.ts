/**
 * The local replica: one engine instance and everything the shell does around it.
 *
 * Every change to the graph goes through `write`, `receive` or the deferred tick, each
 * one engine call per batch; after each, `#afterBatch` runs the same steps in the same
 * order: mirror links, persist, announce (local writes only), notify subscribers.
 * Public classes (RustDHT, Ref) are thin views over this one object.
 */
import {
  countOutcomes,
  parseReport,
  type EngineChange,
  type EngineOutcome,
  type OutcomeCounts,
  type OutcomeKind,
} from './batch-report.js';
import { ChangeLog } from './change-log.js';
import { DeferredScheduler } from './deferred-scheduler.js';
import type { Engine, EngineModule, Signer } from './engine/core-types.js';
import { closedError, errorForCode, fromEngineError } from './errors.js';
import { LinkIndex } from './link-index.js';
import type { StorageAdapter } from './storage/adapter.js';
import { SubscriptionRegistry } from './subscription-registry.js';
import type { Value } from './values.js';

/** The engine's JSON for one node (see `Engine.read`). */
export interface EngineNode {
  readonly soul: string;
  readonly props: Record<string, { readonly v: Value; readonly s: number; readonly by?: string; readonly sig?: string }>;
}

/** What happened to one update of a received frame. */
export interface UpdateOutcome {
  readonly outcome: OutcomeKind;
  /** For rejected updates: why, as a stable code (e.g. `signature/invalid`). */
  readonly code?: string;
  readonly message?: string;
}

export interface ReceiveResult extends OutcomeCounts {
  /** One entry per update of the frame, in frame order. */
  readonly outcomes: readonly UpdateOutcome[];
}

export interface EngineConfig {
  readonly maxClockSkewMs?: number | undefined;
  readonly maxSoulBytes?: number | undefined;
  readonly maxKeyBytes?: number | undefined;
  readonly maxValueBytes?: number | undefined;
  readonly maxBatchUpdates?: number | undefined;
  readonly maxDeferred?: number | undefined;
}

export type ChangesListener = (frame: Uint8Array) => void;

export interface ReplicaSettings {
  readonly engineModule: EngineModule;
  /** EngineConfig (docs/ARCHITECTURE.md); absent fields take the engine's defaults. */
  readonly engineConfig: EngineConfig;
  readonly now: () => number;
  readonly store: StorageAdapter | undefined;
  readonly signal: AbortSignal | undefined;
}

const NOTHING_TO_PERSIST: Promise<void> = Promise.resolve();

/** Rethrows asynchronously: one failing listener must not stop the others or the write. */
function reportListenerError(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

export class LocalReplica {
  readonly engineModule: EngineModule;
  readonly now: () => number;
  readonly links = new LinkIndex();
  readonly subscriptions = new SubscriptionRegistry();
  readonly #engine: Engine;
  readonly #scheduler: DeferredScheduler;
  readonly #changesListeners = new Set<ChangesListener>();
  readonly #closeListeners = new Set<() => void>();
  #log: ChangeLog | undefined;
  #closed = false;
  /** Souls restored from the store at open, whose links still need indexing. */
  #restoredSouls: Set<string> | undefined = new Set();
  #lastSetKeyTime = -1;
  #setKeySequence = 0;

  private constructor(engineModule: EngineModule, engine: Engine, now: () => number) {
    this.engineModule = engineModule;
    this.#engine = engine;
    this.now = now;
    this.#scheduler = new DeferredScheduler(now, () => this.#tick());
  }

  static async open(settings: ReplicaSettings): Promise<LocalReplica> {
    let engine: Engine;
    try {
      engine = new settings.engineModule.Engine(settings.engineConfig);
    } catch (thrown) {
      throw fromEngineError(thrown);
    }
    const replica = new LocalReplica(settings.engineModule, engine, settings.now);
    if (settings.store !== undefined) {
      try {
        replica.#log = await ChangeLog.open(settings.store, (frame) => replica.#restore(frame), settings.signal);
        replica.#indexRestored();
      } catch (error) {
        await replica.close();
        throw error;
      }
    }
    return replica;
  }

  /**
   * Loads a frame of our own log. `restore` trusts it (it was verified when it first
   * arrived) and applies it whatever the clock says now, so reopening neither
   * re-verifies every signature nor loses data to a clock that moved back.
   */
  #restore(frame: Uint8Array): void {
    try {
      this.#engine.restore(frame);
      for (const soul of this.#engine.soulsOf(frame)) this.#restoredSouls!.add(soul);
    } catch (thrown) {
      throw fromEngineError(thrown);
    }
  }

  /** `restore` reports no changes: index the links of each restored node once, at the end. */
  #indexRestored(): void {
    for (const soul of this.#restoredSouls!) this.links.indexNode(soul, this.readNode(soul));
    this.#restoredSouls = undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Local writes, all or nothing: `flat` is [soul, key, value, …]. Resolves once the
   * changes are persisted; rejects with the typed error of the first refused update.
   */
  write(flat: unknown[], signer: Signer | undefined): Promise<OutcomeCounts> {
    this.assertOpen();
    let json: string;
    try {
      json = signer === undefined ? this.#engine.write(flat, this.now()) : this.#engine.writeSigned(flat, this.now(), signer);
    } catch (thrown) {
      throw fromEngineError(thrown, updateAt(flat, (thrown as { index?: unknown }).index));
    }
    const report = parseReport(json);
    const counts = countOutcomes(report.outcomes);
    const persisted = this.#afterBatch(report.changes, true);
    if (counts.deferred !== 0) this.#scheduler.schedule(this.#engine.nextDeferredAt());
    if (counts.rejected !== 0) {
      const rejection = firstRejection(report.outcomes, flat);
      return persisted.then(() => Promise.reject(rejection));
    }
    // Not an async function: a put without a store settles without extra microtask hops.
    return persisted === NOTHING_TO_PERSIST ? Promise.resolve(counts) : persisted.then(() => counts);
  }

  /** Bytes from a peer or from storage. Throws DecodeError for a malformed frame. */
  async receive(frame: Uint8Array): Promise<ReceiveResult> {
    this.assertOpen();
    const { outcomes, persisted } = this.#ingest(frame);
    await persisted;
    const result: UpdateOutcome[] = new Array(outcomes.length);
    for (let i = 0; i < outcomes.length; i++) {
      const { o, code, msg } = outcomes[i]!;
      result[i] = code === undefined ? { outcome: o } : { outcome: o, code, message: msg ?? code };
    }
    return { ...countOutcomes(outcomes), outcomes: result };
  }

  #ingest(frame: Uint8Array): { outcomes: readonly EngineOutcome[]; persisted: Promise<void> } {
    let json: string;
    try {
      json = this.#engine.ingest(frame, this.now());
    } catch (thrown) {
      throw fromEngineError(thrown);
    }
    const report = parseReport(json);
    const persisted = this.#afterBatch(report.changes, false);
    for (const { o } of report.outcomes) {
      if (o === 'deferred') {
        this.#scheduler.schedule(this.#engine.nextDeferredAt());
        break;
      }
    }
    return { outcomes: report.outcomes, persisted };
  }

  #tick(): void {
    if (this.#closed) return;
    const report = parseReport(this.#engine.tick(this.now()));
    this.#afterBatch(report.changes, false).catch(reportListenerError);
    this.#scheduler.schedule(this.#engine.nextDeferredAt());
  }

  #afterBatch(changes: readonly EngineChange[], local: boolean): Promise<void> {
    if (changes.length === 0) return NOTHING_TO_PERSIST;
    this.links.apply(changes);
    let persisted = NOTHING_TO_PERSIST;
    const announce = local && this.#changesListeners.size !== 0;
    if (this.#log !== undefined || announce) {
      const frame = this.#engine.lastChangesFrame();
      if (this.#log !== undefined) persisted = this.#log.append(frame);
      if (announce) {
        for (const listener of [...this.#changesListeners]) {
          try {
            listener(frame);
          } catch (error) {
            reportListenerError(error);
          }
        }
      }
    }
    this.subscriptions.dispatch(changes);
    return persisted;
  }

  /** The engine's view of a node with metadata, or null when it holds no property. */
  readNode(soul: string): EngineNode | null {
    this.assertOpen();
    return JSON.parse(this.#engine.read(soul)) as EngineNode | null;
  }

  onChanges(listener: ChangesListener): () => void {
    this.assertOpen();
    this.#changesListeners.add(listener);
    return () => void this.#changesListeners.delete(listener);
  }

  /** Runs `listener` once when the replica closes (subscriptions end themselves this way). */
  onClose(listener: () => void): () => void {
    this.#closeListeners.add(listener);
    return () => void this.#closeListeners.delete(listener);
  }

  /**
   * A fresh key for `set()`: time first so keys sort in insertion order, then a
   * per-millisecond sequence (several sets in one ms keep their order), then
   * randomness so keys made concurrently on different peers never collide.
   */
  nextSetKey(): string {
    const time = Math.max(Math.floor(this.now()), this.#lastSetKeyTime);
    this.#setKeySequence = time === this.#lastSetKeyTime ? this.#setKeySequence + 1 : 0;
    this.#lastSetKeyTime = time;
    const random = crypto.getRandomValues(new Uint32Array(2));
    return (
      time.toString(36).padStart(9, '0') +
      this.#setKeySequence.toString(36).padStart(4, '0') +
      random[0]!.toString(36).padStart(7, '0') +
      random[1]!.toString(36).padStart(7, '0')
    );
  }

  assertOpen(): void {
    if (this.#closed) throw closedError('the database is closed; open a new one with RustDHT.open() to keep working.');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#scheduler.cancel();
    this.#changesListeners.clear();
    const closeListeners = [...this.#closeListeners];
    this.#closeListeners.clear();
    for (const listener of closeListeners) {
      try {
        listener();
      } catch (error) {
        reportListenerError(error);
      }
    }
    try {
      if (this.#log !== undefined) {
        await this.#log.settle();
        await this.#log.store.close();
      }
    } finally {
      this.#engine.free();
    }
  }
}

/** The soul and key of the i-th update of a flat write, for error messages. */
function updateAt(flat: readonly unknown[], index: unknown): { soul?: string; key?: string } {
  if (typeof index !== 'number' || !(index >= 0) || 3 * index + 1 >= flat.length) return {};
  return { soul: flat[3 * index] as string, key: flat[3 * index + 1] as string };
}

function firstRejection(outcomes: readonly EngineOutcome[], flat: readonly unknown[]): unknown {
  const index = outcomes.findIndex((outcome) => outcome.o === 'rejected');
  const { code = 'rejected', msg = 'the update was rejected' } = outcomes[index]!;
  return errorForCode(code, msg, updateAt(flat, index));
}
