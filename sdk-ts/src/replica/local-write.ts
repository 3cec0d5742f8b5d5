/**
 * The fast local-write boundary (`Engine.writeList`, docs/ARCHITECTURE.md): the flat
 * write list crosses as one JSON text made by V8's native `JSON.stringify`, and only
 * the stamped states come back — the shell already knows every soul, key, value and
 * the signer, so nothing else needs to be echoed and parsed.
 *
 * JSON cannot carry two values exactly, so they are handled here before serialising:
 * `-0` becomes the engine's `{"-0":1}` marker (JSON.stringify would print `0`), and a
 * non-finite number is refused (JSON.stringify would silently turn it into `null`).
 * Everything else about a value (lone surrogates, sizes, namespaces) the engine checks.
 */
import type { EngineChange, OutcomeCounts } from './batch-report.js';
import { errorForCode } from '../api/errors.js';
import type { Value } from '../api/values.js';

const NEGATIVE_ZERO = { '-0': 1 };

/** `JSON.stringify(flat)` with `-0` marked; throws InvalidValueError on NaN/±Infinity. */
export function writeListText(flat: readonly unknown[]): string {
  let exact: unknown[] | undefined;
  for (let i = 2; i < flat.length; i += 3) {
    const value = flat[i];
    if (typeof value !== 'number') continue;
    if (!Number.isFinite(value)) {
      throw errorForCode('value/non-finite', `numbers must be finite: ${value} has no JSON form`, {
        soul: flat[i - 2] as string,
        key: flat[i - 1] as string,
      });
    }
    if (Object.is(value, -0)) (exact ??= flat.slice())[i] = NEGATIVE_ZERO;
  }
  return JSON.stringify(exact ?? flat);
}

/** The changes and counts of a local write, from the states `writeList` returned (NaN: unchanged). */
export function localWriteReport(
  flat: readonly unknown[],
  states: Float64Array,
  signer: string | null,
): { counts: OutcomeCounts; changes: EngineChange[] } {
  const changes: EngineChange[] = [];
  for (let i = 0; i < states.length; i++) {
    const state = states[i]!;
    if (state === state) changes.push([flat[3 * i] as string, flat[3 * i + 1] as string, flat[3 * i + 2] as Value, state, signer]);
  }
  const applied = changes.length;
  return { counts: { applied, ignored: states.length - applied, historical: 0, deferred: 0, rejected: 0 }, changes };
}
