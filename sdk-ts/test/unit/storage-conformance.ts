/**
 * The behaviour every StorageAdapter must have. Each backend's test file calls
 * `describeStorageAdapter(name, open)` with a factory returning a fresh, empty store.
 */
import { describe, expect, it } from 'vitest';
import { ClosedError, type StorageAdapter, type StorageEntry } from '../../src/node.js';

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

async function collect(iterable: AsyncIterable<StorageEntry>): Promise<Array<[number[], number[]]>> {
  const out: Array<[number[], number[]]> = [];
  for await (const { key, value } of iterable) out.push([[...key], [...value]]);
  return out;
}

async function keysOf(iterable: AsyncIterable<StorageEntry>): Promise<number[][]> {
  return (await collect(iterable)).map(([key]) => key);
}

export function describeStorageAdapter(name: string, open: () => Promise<StorageAdapter>): void {
  describe(`StorageAdapter conformance: ${name}`, () => {
    it('gets what was put, and undefined for missing keys', async () => {
      const store = await open();
      await store.batch([{ type: 'put', key: text('a'), value: bytes(1, 2, 3) }]);
      expect(await store.get(text('a'))).toEqual(bytes(1, 2, 3));
      expect(await store.get(text('b'))).toBeUndefined();
      await store.close();
    });

    it('overwrites and deletes', async () => {
      const store = await open();
      await store.batch([{ type: 'put', key: text('k'), value: bytes(1) }]);
      await store.batch([{ type: 'put', key: text('k'), value: bytes(2) }]);
      expect(await store.get(text('k'))).toEqual(bytes(2));
      await store.batch([{ type: 'del', key: text('k') }]);
      expect(await store.get(text('k'))).toBeUndefined();
      await store.batch([{ type: 'del', key: text('never-there') }]);
      await store.close();
    });

    it('applies a batch in order, atomically', async () => {
      const store = await open();
      await store.batch([
        { type: 'put', key: text('x'), value: bytes(1) },
        { type: 'put', key: text('y'), value: bytes(2) },
        { type: 'del', key: text('x') },
      ]);
      expect(await store.get(text('x'))).toBeUndefined();
      expect(await store.get(text('y'))).toEqual(bytes(2));
      // An invalid operation anywhere in a batch applies nothing.
      await expect(
        store.batch([
          { type: 'put', key: text('z'), value: bytes(3) },
          { type: 'put', key: 'not bytes' as never, value: bytes(4) },
        ]),
      ).rejects.toThrow();
      expect(await store.get(text('z'))).toBeUndefined();
      await store.close();
    });

    it('stores copies: later mutation of the caller’s buffers changes nothing', async () => {
      const store = await open();
      const key = text('m');
      const value = bytes(1, 2);
      await store.batch([{ type: 'put', key, value }]);
      value[0] = 9;
      key[0] = 0x6e;
      expect(await store.get(text('m'))).toEqual(bytes(1, 2));
      const read = (await store.get(text('m')))!;
      read[0] = 7;
      expect(await store.get(text('m'))).toEqual(bytes(1, 2));
      await store.close();
    });

    it('iterates in byte-wise key order (not string order), forwards and backwards', async () => {
      const store = await open();
      const keys = [bytes(0xff), bytes(0), bytes(1, 0), bytes(1), bytes(0x80), bytes(0x7f, 0xff), bytes()];
      await store.batch(keys.map((key, i) => ({ type: 'put' as const, key, value: bytes(i) })));
      const sorted = [[], [0], [1], [1, 0], [0x7f, 0xff], [0x80], [0xff]];
      expect(await keysOf(store.entries())).toEqual(sorted);
      expect(await keysOf(store.entries({ reverse: true }))).toEqual([...sorted].reverse());
      await store.close();
    });

    it('selects ranges with gte, lt, prefix, limit and reverse, combined', async () => {
      const store = await open();
      const keys = ['a', 'b', 'ba', 'bb', 'bc', 'c', 'ca'].map(text);
      await store.batch(keys.map((key) => ({ type: 'put' as const, key, value: bytes(0) })));
      const names = async (range: Parameters<StorageAdapter['entries']>[0]): Promise<string[]> =>
        (await keysOf(store.entries(range))).map((k) => new TextDecoder().decode(new Uint8Array(k)));
      expect(await names({ prefix: text('b') })).toEqual(['b', 'ba', 'bb', 'bc']);
      expect(await names({ prefix: text('b'), reverse: true })).toEqual(['bc', 'bb', 'ba', 'b']);
      expect(await names({ prefix: text('b'), limit: 2 })).toEqual(['b', 'ba']);
      expect(await names({ prefix: text('b'), limit: 2, reverse: true })).toEqual(['bc', 'bb']);
      expect(await names({ gte: text('b'), lt: text('c') })).toEqual(['b', 'ba', 'bb', 'bc']);
      expect(await names({ gte: text('bb') })).toEqual(['bb', 'bc', 'c', 'ca']);
      expect(await names({ lt: text('b') })).toEqual(['a']);
      expect(await names({ prefix: text('b'), gte: text('bb'), lt: text('bc') })).toEqual(['bb']);
      expect(await names({ gte: text('c'), lt: text('b') })).toEqual([]);
      expect(await names({ limit: 0 })).toEqual([]);
      expect(await names({ prefix: text('z') })).toEqual([]);
      await store.close();
    });

    it('handles prefixes ending in 0xff', async () => {
      const store = await open();
      const keys = [bytes(1, 0xff), bytes(1, 0xff, 0), bytes(1, 0xff, 0xff), bytes(2), bytes(0xff, 0xff, 1)];
      await store.batch(keys.map((key) => ({ type: 'put' as const, key, value: bytes(0) })));
      expect(await keysOf(store.entries({ prefix: bytes(1, 0xff) }))).toEqual([[1, 0xff], [1, 0xff, 0], [1, 0xff, 0xff]]);
      expect(await keysOf(store.entries({ prefix: bytes(0xff, 0xff), reverse: true }))).toEqual([[0xff, 0xff, 1]]);
      await store.close();
    });

    it('iterates over a snapshot taken when the iteration starts', async () => {
      const store = await open();
      await store.batch([1, 2, 3].map((i) => ({ type: 'put' as const, key: bytes(i), value: bytes(i) })));
      const seen: number[][] = [];
      for await (const { key } of store.entries()) {
        seen.push([...key]);
        if (key[0] === 1) await store.batch([{ type: 'put', key: bytes(2, 5), value: bytes(0) }, { type: 'del', key: bytes(3) }]);
      }
      expect(seen).toEqual([[1], [2], [3]]);
      await store.close();
    });

    it('rejects every call with ClosedError after close (close itself is idempotent)', async () => {
      const store = await open();
      await store.batch([{ type: 'put', key: bytes(1), value: bytes(1) }]);
      await store.close();
      await store.close();
      await expect(store.get(bytes(1))).rejects.toBeInstanceOf(ClosedError);
      await expect(store.batch([])).rejects.toBeInstanceOf(ClosedError);
      await expect(collect(store.entries())).rejects.toBeInstanceOf(ClosedError);
    });

    it('ends a running iteration with ClosedError when the store closes', async () => {
      const store = await open();
      await store.batch([1, 2].map((i) => ({ type: 'put' as const, key: bytes(i), value: bytes(i) })));
      const iterator = store.entries()[Symbol.asyncIterator]();
      await iterator.next();
      await store.close();
      await expect(iterator.next()).rejects.toBeInstanceOf(ClosedError);
    });
  });
}
