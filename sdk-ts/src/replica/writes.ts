/**
 * The path of a local write: plan the flat write list (with a store, marking the souls it
 * touches so they are loaded first), one engine call that stamps and merges it, all or
 * nothing (local-write.ts is the JSON boundary of that call), then the replica's steps
 * after a batch, which queue it in the outbox.
 */
import type { Signer } from '../engine/core-types.js';
import type { ReplicaCore } from './core-host.js';
import { engineCall } from '../api/errors.js';
import type { EngineChange, OutcomeCounts } from './batch-report.js';
import { localWriteReport, writeListText } from './local-write.js';

/** A write's outbox entry, told as it is added (before the write is durable): what a durability level waits on. */
export type OnQueued = (outboxId: number) => void;

export interface WritesHost extends ReplicaCore {
  /** The replica's steps after a local batch; resolves once durable. */
  readonly afterBatch: (changes: readonly EngineChange[], onQueued: OnQueued | undefined) => Promise<void>;
  /** The promise afterBatch returns when there is no store: a put then settles without extra hops. */
  readonly nothingToPersist: Promise<void>;
}

/** A local write once applied: what its put resolves to, and when. */
interface AppliedWrite {
  readonly counts: OutcomeCounts;
  readonly durable: Promise<void>;
}

export class LocalWrites {
  readonly #host: WritesHost;

  constructor(host: WritesHost) {
    this.#host = host;
  }

  /**
   * Local writes, all or nothing: `plan` returns the flat list [soul, key, value, …]
   * (it runs again if it needed nodes that were not loaded). Resolves once the changes
   * are applied and, with a store, durable; rejects with the typed error of the first
   * refused update.
   */
  write(plan: () => unknown[], signer: Signer | undefined, onQueued?: OnQueued): Promise<OutcomeCounts> {
    let applied: AppliedWrite | Promise<AppliedWrite>;
    try {
      this.#host.assertOpen();
      applied = this.#host.queued(
        () => this.#plan(plan),
        (flat) => this.#apply(flat, signer, onQueued),
      );
    } catch (error) {
      return Promise.reject(error);
    }
    return applied instanceof Promise ? applied.then((write) => this.#settle(write)) : this.#settle(applied);
  }

  #plan(plan: () => unknown[]): unknown[] {
    const flat = plan();
    if (this.#host.hasStore) {
      let previous: unknown;
      for (let i = 0; i < flat.length; i += 3) {
        const soul = flat[i];
        if (soul !== previous && typeof soul === 'string') this.#host.uses(soul);
        previous = soul;
      }
    }
    return flat;
  }

  #apply(flat: unknown[], signer: Signer | undefined, onQueued: OnQueued | undefined): AppliedWrite {
    const { engine, now } = this.#host;
    const states = engineCall(
      () => {
        const text = writeListText(flat);
        return signer === undefined ? engine.writeList(text, now()) : engine.writeListSigned(text, now(), signer);
      },
      (thrown) => updateAt(flat, (thrown as { index?: unknown }).index),
    );
    // A refused local write throws (all or nothing), so nothing here is rejected or
    // deferred: every write is either applied or changed nothing.
    const { counts, changes } = localWriteReport(flat, states, signer === undefined ? null : signer.publicKey());
    return { counts, durable: this.#host.afterBatch(changes, onQueued) };
  }

  #settle(applied: AppliedWrite): Promise<OutcomeCounts> {
    const { counts, durable } = applied;
    // A put without a store settles without extra microtask hops.
    return durable === this.#host.nothingToPersist ? Promise.resolve(counts) : durable.then(() => counts);
  }
}

/** The soul and key of the i-th update of a flat write, for error messages. */
function updateAt(flat: readonly unknown[], index: unknown): { soul?: string; key?: string } {
  if (typeof index !== 'number' || !(index >= 0) || 3 * index + 1 >= flat.length) return {};
  return { soul: flat[3 * index] as string, key: flat[3 * index + 1] as string };
}
