/**
 * RangeOptions reduced to what a backend needs: a lower bound (inclusive), an upper
 * bound (exclusive), a direction and a count. A prefix is just a pair of bounds
 * (prefix ≤ key < prefixEnd(prefix)), so every backend turns any combination of
 * options into one contiguous key range and reads it once.
 */
import { InvalidValueError } from '../api/errors.js';
import type { RangeOptions } from './adapter.js';
import { compareBytes, prefixEnd } from './bytes.js';
import { checkBytes } from './validate.js';

export interface KeyRange {
  /** Inclusive lower bound; undefined = from the first key. */
  readonly gte: Uint8Array | undefined;
  /** Exclusive upper bound; undefined = to the last key. */
  readonly lt: Uint8Array | undefined;
  readonly reverse: boolean;
  /** A whole number ≥ 1, or Infinity. */
  readonly limit: number;
}

/**
 * Validates `range` and combines its bounds. Returns undefined when the range selects
 * nothing whatever is stored (lower bound ≥ upper bound, or limit 0), so backends need
 * not special-case bounds their own APIs refuse (IDBKeyRange.bound throws on them).
 */
export function toKeyRange(range: RangeOptions = {}): KeyRange | undefined {
  if (typeof range !== 'object' || range === null) {
    throw new InvalidValueError('storage/range', 'entries() takes an options object: { prefix, gte, lt, reverse, limit }.');
  }
  const { prefix, gte, lt, reverse = false, limit = Infinity } = range;
  if (prefix !== undefined) checkBytes(prefix, 'prefix');
  if (gte !== undefined) checkBytes(gte, 'gte');
  if (lt !== undefined) checkBytes(lt, 'lt');
  if (typeof reverse !== 'boolean') throw new InvalidValueError('storage/range', 'reverse must be a boolean.');
  if (!(limit === Infinity || (Number.isInteger(limit) && limit >= 0))) {
    throw new InvalidValueError('storage/range', `limit must be a whole number ≥ 0 (or Infinity), got ${String(limit)}.`);
  }
  let lower = gte;
  let upper = lt;
  if (prefix !== undefined) {
    if (lower === undefined || compareBytes(prefix, lower) > 0) lower = prefix;
    const end = prefixEnd(prefix);
    if (end !== undefined && (upper === undefined || compareBytes(end, upper) < 0)) upper = end;
  }
  if (limit === 0) return undefined;
  if (lower !== undefined && upper !== undefined && compareBytes(lower, upper) >= 0) return undefined;
  // Copies: the caller may reuse its buffers while a lazy iteration is still pending.
  return { gte: lower?.slice(), lt: upper?.slice(), reverse, limit };
}

/**
 * The slice [start, end) of a sorted array of `length` keys that `range` selects,
 * limit applied from the end the iteration starts at. `lowerBound(key)` is the index
 * of the first stored key ≥ `key`.
 */
export function sortedSlice(range: KeyRange, length: number, lowerBound: (key: Uint8Array) => number): [number, number] {
  let start = range.gte === undefined ? 0 : lowerBound(range.gte);
  let end = range.lt === undefined ? length : lowerBound(range.lt);
  if (end - start > range.limit) {
    if (range.reverse) start = end - range.limit;
    else end = start + range.limit;
  }
  return [start, Math.max(start, end)];
}

/** Index of the first item whose key is ≥ `key`, in `items` sorted byte-wise by key. */
export function lowerBound<T>(items: readonly T[], key: Uint8Array, keyOf: (item: T) => Uint8Array): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareBytes(keyOf(items[middle]!), key) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}
