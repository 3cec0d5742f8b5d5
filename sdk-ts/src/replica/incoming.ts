/**
 * The path of a frame from a peer (or from storage): decoded once by the engine
 * (`prepare`: its souls now, so the network can refuse a frame touching souls nobody
 * asked for before anything merges), then merged in the operation queue once the souls
 * it touches are loaded, then the replica's steps after a batch. Resolves to one outcome
 * per update once the result is durable: an acknowledgement never runs ahead of the
 * store.
 */
import type { PreparedFrame } from '../engine/core-types.js';
import type { ReplicaCore } from './core-host.js';
import { engineCall, InvalidValueError } from '../api/errors.js';
import { countOutcomes, type EngineChange, type EngineOutcome, parseReport } from './batch-report.js';
import type { PreparedIncoming, ReceiveOptions, ReceiveResult, UpdateOutcome } from './types.js';

export interface IncomingHost extends ReplicaCore {
  /** The replica's steps after a batch from a peer; resolves once durable. */
  readonly afterBatch: (changes: readonly EngineChange[], feedLive: boolean) => Promise<void>;
  /** The ingest parked updates from the future (deferred-updates.ts). */
  readonly deferredChanged: () => void;
  /** Resolves once everything staged so far is durable (the deferred records included). */
  readonly committed: () => Promise<void> | undefined;
}

export class IncomingFrames {
  readonly #host: IncomingHost;

  constructor(host: IncomingHost) {
    this.#host = host;
  }

  /** Bytes from a peer or from storage. Throws DecodeError for a malformed frame. */
  receive(frame: Uint8Array, options?: ReceiveOptions): Promise<ReceiveResult> {
    try {
      return this.prepare(frame).receive(options);
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
    this.#host.assertOpen();
    const prepared = engineCall(() => this.#host.engine.prepare(frame));
    const souls = prepared.souls();
    let settled = false;
    return {
      souls,
      receive: (options) => {
        if (settled) return Promise.reject(new InvalidValueError('engine/used', 'this prepared frame was already received or discarded.'));
        settled = true;
        return this.#receivePrepared(prepared, souls, options?.feedLive ?? true, options?.staged);
      },
      check: () => {
        if (settled) throw new InvalidValueError('engine/used', 'this prepared frame was already received or discarded.');
        const report = parseReport(engineCall(() => this.#host.engine.checkPrepared(prepared, this.#host.now())));
        return { ...countOutcomes(report.outcomes), outcomes: toUpdateOutcomes(report.outcomes) };
      },
      discard: () => {
        if (settled) return;
        settled = true;
        prepared.free();
      },
    };
  }

  async #receivePrepared(prepared: PreparedFrame, souls: readonly string[], feedLive: boolean, staged: (() => void) | undefined): Promise<ReceiveResult> {
    let queued: { outcomes: readonly EngineOutcome[]; durable: Promise<void> };
    try {
      queued = await this.#host.queued(
        () => this.#planSouls(souls),
        () => this.#ingest(prepared, feedLive),
      );
    } finally {
      prepared.free();
    }
    const { outcomes, durable } = queued;
    staged?.();
    await durable;
    return { ...countOutcomes(outcomes), outcomes: toUpdateOutcomes(outcomes) };
  }

  #planSouls(souls: readonly string[]): void {
    if (!this.#host.hasStore) return;
    for (const soul of souls) this.#host.uses(soul);
  }

  #ingest(prepared: PreparedFrame, feedLive: boolean): { outcomes: readonly EngineOutcome[]; durable: Promise<void> } {
    const host = this.#host;
    const report = parseReport(engineCall(() => host.engine.ingestPrepared(prepared, host.now())));
    const durable = host.afterBatch(report.changes, feedLive);
    for (const { o } of report.outcomes) {
      if (o === 'deferred') {
        host.deferredChanged();
        return { outcomes: report.outcomes, durable: host.committed() ?? durable };
      }
    }
    return { outcomes: report.outcomes, durable };
  }
}

function toUpdateOutcomes(outcomes: readonly EngineOutcome[]): UpdateOutcome[] {
  const result: UpdateOutcome[] = new Array(outcomes.length);
  for (let i = 0; i < outcomes.length; i++) {
    const outcome = outcomes[i]!;
    result[i] = outcome.o === 'rejected' ? { outcome: 'rejected', code: outcome.code, message: outcome.msg } : { outcome: outcome.o };
  }
  return result;
}
