/**
 * What the SDK makes of the engine's batch reports: counts per outcome and public
 * change events. The report shapes themselves are the engine's (declared in Rust,
 * parsed in ./engine/reports.ts); they are re-exported here for existing importers.
 */
import type { EngineChange, EngineOutcome } from '../engine/reports.js';
import type { PropertyChange } from '../api/values.js';

export type { BatchReport, EngineChange, EngineOutcome, OutcomeKind } from '../engine/reports.js';
export { parseReport } from '../engine/reports.js';

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

export function countOutcomes(outcomes: readonly EngineOutcome[]): OutcomeCounts {
  const counts: OutcomeCounts = { applied: 0, ignored: 0, historical: 0, deferred: 0, rejected: 0 };
  for (let i = 0; i < outcomes.length; i++) counts[outcomes[i]!.o]++;
  return counts;
}

export function toPropertyChange(change: EngineChange): PropertyChange {
  return { soul: change[0], key: change[1], value: change[2], state: change[3], signer: change[4] };
}
