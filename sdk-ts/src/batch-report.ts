/**
 * The engine's answer to every batch call, parsed once per batch (one `JSON.parse`
 * beats building objects across the WebAssembly boundary property by property).
 */
import type { PropertyChange, Value } from './values.js';

export type OutcomeKind = 'applied' | 'ignored' | 'historical' | 'deferred' | 'rejected';

/** The engine's JSON for one update's outcome. */
export interface EngineOutcome {
  readonly o: OutcomeKind;
  readonly code?: string;
  readonly msg?: string;
}

/** `[soul, key, value, state, signer | null]`: compact because batches can be large. */
export type EngineChange = readonly [soul: string, key: string, value: Value, state: number, signer: string | null];

export interface BatchReport {
  readonly outcomes: readonly EngineOutcome[];
  readonly changes: readonly EngineChange[];
}

/** How many updates of a batch ended in each outcome. */
export interface OutcomeCounts {
  applied: number;
  /** Already known, or lost the equal-state comparison: nothing changed. */
  ignored: number;
  /** Older than what is stored: nothing changed. */
  historical: number;
  /** From the future: applied automatically when its time comes. */
  deferred: number;
  rejected: number;
}

export function parseReport(json: string): BatchReport {
  return JSON.parse(json) as BatchReport;
}

export function countOutcomes(outcomes: readonly EngineOutcome[]): OutcomeCounts {
  const counts: OutcomeCounts = { applied: 0, ignored: 0, historical: 0, deferred: 0, rejected: 0 };
  for (let i = 0; i < outcomes.length; i++) counts[outcomes[i]!.o]++;
  return counts;
}

export function toPropertyChange(change: EngineChange): PropertyChange {
  return { soul: change[0], key: change[1], value: change[2], state: change[3], signer: change[4] };
}
