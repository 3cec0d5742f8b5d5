/**
 * Running totals of a network (what `network.counters()` reports and /metrics exports).
 * Sessions and the responder add to them; nothing here is reset while the network runs.
 */
import type { OutcomeKind } from '../replica/batch-report.js';
import { knownCode } from './known-codes.js';
import type { ReceivedBatch } from './replica-port.js';
import type { NetworkCounters } from './types.js';

export interface NetworkCounterSink {
  sent(bytes: number): void;
  received(bytes: number): void;
  /** A peer's message waited for room in its rate limit (the session held it back instead of refusing it). */
  heldBack(): void;
}

export class CounterSet implements NetworkCounterSink {
  #messagesIn = 0;
  #messagesOut = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #heldBack = 0;
  readonly #updates: Record<OutcomeKind, number> = { applied: 0, ignored: 0, historical: 0, deferred: 0, rejected: 0 };
  readonly #rejects = new Map<string, number>();

  sent(bytes: number): void {
    this.#messagesOut++;
    this.#bytesOut += bytes;
  }

  received(bytes: number): void {
    this.#messagesIn++;
    this.#bytesIn += bytes;
  }

  heldBack(): void {
    this.#heldBack++;
  }

  /** A peer's batch as the engine took it: its outcomes, and each rejection by reason. */
  peerBatch(result: ReceivedBatch): void {
    for (const kind of Object.keys(this.#updates) as OutcomeKind[]) this.#updates[kind] += result[kind];
    if (result.rejected === 0) return;
    for (const outcome of result.outcomes) if (outcome.outcome === 'rejected') this.reject(outcome.code ?? 'rejected');
  }

  /**
   * Counts a refusal by its code: one of KNOWN_CODES, or `other` (a code may come from a
   * peer, and a peer must not be able to add entries here, or labels to /metrics).
   */
  reject(code: string, count = 1): void {
    const known = knownCode(code);
    this.#rejects.set(known, (this.#rejects.get(known) ?? 0) + count);
  }

  snapshot(): NetworkCounters {
    return {
      messagesIn: this.#messagesIn,
      messagesOut: this.#messagesOut,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      heldBack: this.#heldBack,
      updates: { ...this.#updates },
      rejects: Object.fromEntries(this.#rejects),
    };
  }
}
