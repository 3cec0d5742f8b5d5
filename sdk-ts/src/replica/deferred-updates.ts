/**
 * Updates from the future: the engine parks an update whose state is ahead of the clock
 * (within the allowed skew) and hands it back once due. This is the shell's side of
 * that: wake the engine when the earliest comes due (deferred-scheduler.ts), load the
 * souls the due updates touch, apply them as any batch, stage the queue's records with
 * each commit, and bring the queue back when a store opens.
 *
 * It takes only what it needs from the replica (DeferredHost): the engine, the operation
 * queue, the batch steps and the store backing.
 */
import type { ReplicaCore } from './core-host.js';
import { engineCall } from '../api/errors.js';
import type { ReplicaBacking } from '../persistence/replica-backing.js';
import { type EngineChange, parseReport } from './batch-report.js';
import { DeferredScheduler } from './deferred-scheduler.js';

/** Deferred updates that came due while the store refused writes are tried again after this, doubling up to DUE_RETRY_MAX_MS. */
const DUE_RETRY_MS = 1_000;
const DUE_RETRY_MAX_MS = 60_000;

export interface DeferredHost extends Pick<ReplicaCore, 'engine' | 'now' | 'uses' | 'queued'> {
  /** The store backing, if any: souls are loaded before due updates apply, and the queue's records are staged in it. */
  readonly backing: ReplicaBacking | undefined;
  readonly closed: () => boolean;
  /** Whether the engine was freed (nothing may call it then). */
  readonly freed: () => boolean;
  /** The replica's steps after a batch (links, records, log, listeners); resolves once durable. */
  readonly afterBatch: (changes: readonly EngineChange[]) => Promise<void>;
  /** A frame through the engine again, as if it came from a peer. */
  readonly receive: (frame: Uint8Array) => Promise<unknown>;
}

export class DeferredUpdates {
  readonly #host: DeferredHost;
  readonly #scheduler: DeferredScheduler;

  constructor(host: DeferredHost) {
    this.#host = host;
    this.#scheduler = new DeferredScheduler(host.now, () => this.#tick());
  }

  /** Updates waiting for their time: how many, and the bytes they are counted for (bounded by maxDeferred / maxDeferredBytes). */
  queue(): { readonly count: number; readonly bytes: number } {
    if (this.#host.freed()) return { count: 0, bytes: 0 };
    return { count: this.#host.engine.deferredCount(), bytes: this.#host.engine.deferredBytes() };
  }

  /** The deferred queue changed (an ingest parked updates): reschedule the wake-up, and stage its records' changes with this batch. */
  changed(): void {
    this.#scheduler.schedule(this.#host.engine.nextDeferredAt());
    this.#host.backing?.stageDeferred(this.#host.engine.lastDeferredRecords() as Uint8Array[]);
  }

  /**
   * Parks again the updates whose "d" records the store holds, in one engine call
   * (trusted: they were verified when they arrived; no bound refuses them). Nothing is
   * loaded or applied here: those already due are applied by the first tick, which loads
   * their souls first, so opening costs one scan of the records, not a load per soul.
   */
  restoreRecords(records: readonly Uint8Array[]): void {
    const { engine } = this.#host;
    engineCall(() => engine.restoreDeferredRecords(records as Uint8Array[]));
    this.#scheduler.schedule(engine.nextDeferredAt());
  }

  /**
   * Layout 1: the deferred queue was stored as one frame ("D"). The engine takes it back
   * in one call and applies those now due, after the souls they touch are loaded, so the
   * applied ones are persisted and announced like any ingest; the queue is then staged as
   * one "d" record per update, and "D" deleted, in the commit that writes the new head.
   */
  async reinstateFrame(stored: Uint8Array): Promise<void> {
    const { engine, backing } = this.#host;
    await backing!.souls.load(engineCall(() => engine.soulsOf(stored)));
    const { changes } = parseReport(engineCall(() => engine.restoreDeferred(stored, this.#host.now())));
    void this.#host.afterBatch(changes);
    backing!.convertDeferredFrame(engine.deferredRecords() as Uint8Array[]);
    this.#scheduler.schedule(engine.nextDeferredAt());
  }

  cancel(): void {
    this.#scheduler.cancel();
  }

  /**
   * Deferred updates came due: applied once the souls they touch are loaded (planned
   * with `soulsDue` at the same `now` the tick then uses), in the operation queue.
   */
  #tick(): void {
    const host = this.#host;
    if (host.closed()) return;
    let ticked: void | Promise<void>;
    try {
      ticked = host.queued(
        () => {
          const now = host.now();
          if (host.backing !== undefined) for (const soul of host.engine.soulsDue(now)) host.uses(soul);
          return now;
        },
        (now) => this.#applyTick(now),
      );
    } catch (error) {
      ticked = Promise.reject(error);
    }
    // A load that failed (the store refuses reads): try again later.
    if (ticked instanceof Promise) ticked.catch(() => !host.closed() && this.#scheduler.schedule(host.now() + DUE_RETRY_MS));
  }

  #applyTick(now: number): void {
    const host = this.#host;
    if (host.closed()) return;
    const report = parseReport(host.engine.tick(now));
    if (report.changes.length !== 0) {
      // Kept until stored: if the commit fails, the souls leave memory (the store is the
      // truth) and these updates, no longer deferred, would be gone; they are ingested again.
      const frame = host.backing === undefined ? undefined : host.engine.lastChangesFrame();
      host.afterBatch(report.changes).catch(() => frame !== undefined && this.#ingestAgainLater(frame, DUE_RETRY_MS));
    }
    this.changed();
  }

  /** Deferred updates that came due but could not be stored: ingested again after `delayMs`, until they are. */
  #ingestAgainLater(frame: Uint8Array, delayMs: number): void {
    const timer = setTimeout(() => {
      if (this.#host.closed()) return;
      this.#host.receive(frame).catch(() => this.#ingestAgainLater(frame, Math.min(delayMs * 2, DUE_RETRY_MAX_MS)));
    }, delayMs);
    (timer as { unref?: () => void }).unref?.();
  }
}
