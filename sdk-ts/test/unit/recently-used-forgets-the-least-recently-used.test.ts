/**
 * util/recently-used.ts: at most `capacity` entries, the least recently used forgotten
 * first, and each forgotten value handed to `forgotten` (placement-view.ts frees the
 * engine placements it keeps this way).
 */
import { expect, it } from 'vitest';
import { RecentlyUsed } from '../../src/util/recently-used.js';

it('keeps at most its capacity, forgets the least recently used first, and says what it forgot', () => {
  const forgotten: string[] = [];
  const made: string[] = [];
  const map = new RecentlyUsed<string, string>(2, (value) => forgotten.push(value));
  const get = (key: string): string => map.getOrCreate(key, () => (made.push(key), `value ${key}`));
  expect(get('a')).toBe('value a');
  get('b');
  get('a'); // a is now the most recent: b goes first
  get('c');
  expect(forgotten).toEqual(['value b']);
  expect(map.size).toBe(2);
  expect(get('a')).toBe('value a');
  expect(made).toEqual(['a', 'b', 'c']);
  map.clear();
  expect(forgotten).toEqual(['value b', 'value c', 'value a']);
  expect(map.size).toBe(0);
});
