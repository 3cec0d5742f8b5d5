import { describe, expect, it } from 'vitest';
import { InvalidValueError, LimitError } from '../../src/node.js';
import { openDb, settle, valueRecorder } from './helpers.js';

const LONE_HIGH = 'a\ud800b';
const LONE_LOW = '\udc00';

/** Each case puts a valid property next to the bad one: nothing at all may be written. */
const badValues: Array<[string, unknown]> = [
  ['an array', [1, 2, 3]],
  ['an empty array', []],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['undefined', undefined],
  ['a function', () => 1],
  ['a bigint', 10n],
  ['a symbol', Symbol('s')],
  ['a Date', new Date(0)],
  ['a Map', new Map()],
  ['a class instance', new (class Point { x = 1; })()],
  ['a string with a lone high surrogate', LONE_HIGH],
  ['a string with a lone low surrogate', LONE_LOW],
  ['a surrogate pair cut in half', '😀'.slice(0, 1)],
  ['a link whose soul has a lone surrogate', { '#': LONE_HIGH }],
  ['a link with a non-string soul', { '#': 42 }],
  ['a link with extra properties', { '#': 'soul', other: 1 }],
  ['a link with an empty soul', { '#': '' }],
  ['a nested object holding NaN', { inner: { deeper: NaN } }],
  ['a nested object holding an array', { inner: [1] }],
];

describe('invalid values are refused before anything is written', () => {
  for (const [name, bad] of badValues) {
    it(`refuses ${name}`, async () => {
      const db = await openDb();
      const node = valueRecorder<unknown>();
      db.get('target').on(node.fn);
      const put = db.get('target').put({ good: 'written?', bad } as never);
      await expect(put).rejects.toBeInstanceOf(InvalidValueError);
      // The same through a child ref.
      await expect(db.get('target').get('bad').put(bad as never)).rejects.toBeInstanceOf(InvalidValueError);
      await settle();
      expect(await db.get('target').once()).toBeUndefined();
      expect(await db.get('target/bad').once()).toBeUndefined();
      expect(await db.get('target/bad/inner').once()).toBeUndefined();
      expect(node.calls).toEqual([]);
    });
  }

  it('never alters a string on the way (round-trips every well-formed string)', async () => {
    const db = await openDb();
    const text = 'pair 😀, U+FFFD \ufffd, U+E000 \ue000, U+FFFF \uffff, nul \u0000, line sep \u2028';
    await db.get('s').put({ text });
    expect(await db.get('s').get('text').once()).toBe(text);
  });

  it('refuses keys with lone surrogates', async () => {
    const db = await openDb();
    await expect(db.get('k').put({ [LONE_HIGH]: 1 })).rejects.toBeInstanceOf(InvalidValueError);
    await expect(db.get('k').get(LONE_LOW).put(1)).rejects.toBeInstanceOf(InvalidValueError);
    expect(await db.get('k').once()).toBeUndefined();
  });

  it('refuses empty keys', async () => {
    const db = await openDb();
    await expect(db.get('k').put({ '': 1 })).rejects.toMatchObject({ name: 'InvalidValueError', code: 'key/invalid' });
    expect(await db.get('k').once()).toBeUndefined();
  });

  it('refuses bad souls', async () => {
    const db = await openDb();
    expect(() => db.get('')).toThrow(InvalidValueError);
    expect(() => db.get(42 as never)).toThrow(InvalidValueError);
    expect(() => db.get(undefined as never)).toThrow(InvalidValueError);
    expect(() => db.get('x').get(7 as never)).toThrow(InvalidValueError);
    await expect(db.get(LONE_HIGH).put({ a: 1 })).rejects.toBeInstanceOf(InvalidValueError);
    expect(await db.get(LONE_HIGH).once()).toBeUndefined();
  });

  it('refuses cyclic objects', async () => {
    const db = await openDb();
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic['self'] = cyclic;
    await expect(db.get('c').put(cyclic as never)).rejects.toMatchObject({ name: 'InvalidValueError', soul: 'c', key: 'self' });
    expect(await db.get('c').once()).toBeUndefined();
  });

  it('still accepts the same object twice when it is not a cycle', async () => {
    const db = await openDb();
    const shared = { v: 1 };
    await db.get('dag').put({ a: shared, b: shared });
    expect(await db.get('dag').get('a').once()).toEqual({ v: 1 });
    expect(await db.get('dag').get('b').once()).toEqual({ v: 1 });
  });

  it('says what to do in the message', async () => {
    const db = await openDb();
    const error = await db.get('m').put({ list: [1, 2] } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidValueError);
    expect((error as Error).message).toMatch(/"list".*array.*set\(\)/s);
    expect((error as InvalidValueError).code).toBe('value/type');
    const nan = await db.get('m').put({ n: NaN }).catch((e: unknown) => e);
    expect((nan as InvalidValueError).code).toBe('value/non-finite');
    expect((nan as Error).message).toMatch(/finite/);
  });

  it('enforces size limits with LimitError, atomically', async () => {
    const db = await openDb({ limits: { maxBatchUpdates: 2, maxValueBytes: 8, maxKeyBytes: 4, maxSoulBytes: 8 } });
    await expect(db.get('b').put({ a: 1, b: 2, c: 3 })).rejects.toMatchObject({ name: 'LimitError', code: 'limit/batch' });
    await expect(db.get('b').put({ a: 'more than eight bytes' })).rejects.toMatchObject({ code: 'limit/value' });
    await expect(db.get('b').put({ longkey: 1 })).rejects.toMatchObject({ code: 'limit/key' });
    await expect(db.get('a-very-long-soul').put({ a: 1 })).rejects.toBeInstanceOf(LimitError);
    expect(await db.get('b').once()).toBeUndefined();
    await db.get('b').put({ a: 1, b: 2 });
    expect(await db.get('b').once()).toEqual({ a: 1, b: 2 });
  });

  it('refuses invalid options at open', async () => {
    await expect(openDb({ maxClockSkewMs: -1 })).rejects.toBeInstanceOf(InvalidValueError);
    await expect(openDb({ limits: { maxBatchUpdates: 0 } })).rejects.toBeInstanceOf(InvalidValueError);
    await expect(openDb({ limits: { maxKeyBytes: 'big' as never } })).rejects.toBeInstanceOf(InvalidValueError);
    await expect(openDb({ now: 5 as never })).rejects.toBeInstanceOf(InvalidValueError);
  });
});
