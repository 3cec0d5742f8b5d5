/**
 * The one rule for turning an error into what a peer (ERROR message), a counter
 * (`counters().rejects`) or a network event (`reject`) is told: a RustDHTError keeps its
 * code; anything else is a bug or a platform failure of ours, `internal`, and a peer
 * learns no more of it than its message.
 */
import { RustDHTError } from '../api/errors.js';

export interface Refusal {
  readonly code: string;
  readonly message: string;
}

export function refusalOf(error: unknown, fallbackCode = 'internal'): Refusal {
  return { code: codeOf(error, fallbackCode), message: messageOf(error) };
}

export function codeOf(error: unknown, fallbackCode = 'internal'): string {
  return error instanceof RustDHTError ? error.code : fallbackCode;
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  // A store (or anything else) failing without a reason: say so rather than "undefined".
  return error === undefined || error === null ? 'failed without giving a reason' : String(error);
}

// The fixed set of codes that may be reported (counters, /metrics, events, logs): known-codes.ts.
export { KNOWN_CODES, OTHER_CODE, knownCode, boundedText } from './known-codes.js';
