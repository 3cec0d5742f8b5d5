import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/load-node.js';
import { compareBytes } from '../../src/storage/bytes.js';
import {
  DEFERRED_KEY,
  HEAD_KEY,
  decodeHead,
  encodeHead,
  identityKey,
  outboxIdOf,
  outboxKey,
  propertyKey,
  publicKeyOf,
  soulPrefix,
} from '../../src/persistence/layout.js';

const startsWith = (bytes: Uint8Array, prefix: Uint8Array): boolean =>
  bytes.length >= prefix.length && compareBytes(bytes.subarray(0, prefix.length), prefix) === 0;

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Souls and keys chosen to break separator- or terminator-based layouts. */
const AWKWARD = ['a', 'ab', 'a/b', 'a/', '/', 'a\u0000b', '\u0000', 'P', 'é', '😀', 'a'.repeat(300), '\uffff', 'x\u0001'];

describe('storage layout', () => {
  it('gives every (soul, key) pair its own key, and a soul prefix matches only that soul', () => {
    const seen = new Map<string, string>();
    for (const soul of AWKWARD) {
      for (const key of AWKWARD) {
        const record = propertyKey(soulPrefix(soul), key);
        const id = JSON.stringify([soul, key]);
        expect(seen.get(hex(record)), `${id} collides`).toBeUndefined();
        seen.set(hex(record), id);
        for (const other of AWKWARD) {
          expect(startsWith(record, soulPrefix(other)), `${id} under soul ${JSON.stringify(other)}`).toBe(other === soul);
        }
      }
    }
  });

  it('orders outbox keys by id, beyond 32 bits too', () => {
    const ids = [0, 1, 255, 256, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER];
    const keys = ids.map(outboxKey);
    for (let i = 1; i < keys.length; i++) expect(compareBytes(keys[i - 1]!, keys[i]!)).toBeLessThan(0);
    expect(keys.map(outboxIdOf)).toEqual(ids);
  });

  it('keeps records of different kinds apart by their first byte', () => {
    const kinds = [HEAD_KEY, DEFERRED_KEY, identityKey('P'), outboxKey(0x49), soulPrefix('I')];
    expect(new Set(kinds.map((key) => key[0])).size).toBe(kinds.length);
    expect(publicKeyOf(identityKey('abc-_'))).toBe('abc-_');
  });

  it('round-trips the head and refuses another layout version', () => {
    const head = { clock: 1_700_000_000_000.25, outboxSize: 3, outboxNextId: 2 ** 40 };
    expect(decodeHead(encodeHead(head))).toEqual({ ...head, layout: 2 });
    const layout1 = encodeHead(head);
    layout1[0] = 1;
    expect(decodeHead(layout1)).toEqual({ ...head, layout: 1 });
    const future = encodeHead(head);
    future[0] = 3;
    expect(() => decodeHead(future)).toThrow(expect.objectContaining({ code: 'store/layout' }) as Error);
    expect(() => decodeHead(encodeHead(head).subarray(0, 10))).toThrow(expect.objectContaining({ code: 'store/corrupt' }) as Error);
  });
});

describe('restoring property records', () => {
  function recordsOf(flat: unknown[]): Uint8Array[] {
    const engine = new Engine(undefined);
    engine.writeList(JSON.stringify(flat), Date.now());
    const records = engine.lastChangeRecords() as Uint8Array[];
    engine.free();
    return records;
  }

  it('restores in one frame exactly what the records hold, across souls', () => {
    const flat = ['s1', 'a', 1, 's1', 'b', 'text', 's2', 'link', { '#': 's1' }, 's3', 'none', null];
    const records = recordsOf(flat);
    expect(records).toHaveLength(4);
    const together = new Engine(undefined);
    const oneByOne = new Engine(undefined);
    together.restoreRecords(records);
    for (const record of records) oneByOne.restoreRecords([record]);
    for (const soul of ['s1', 's2', 's3']) expect(together.read(soul)).toBe(oneByOne.read(soul));
    together.free();
    oneByOne.free();
  });

  it('refuses a record that is not a single-update frame', () => {
    const [record] = recordsOf(['s', 'k', 1]);
    const damaged = record!.slice();
    damaged[3] = 2;
    const engine = new Engine(undefined);
    expect(() => engine.restoreRecords([damaged])).toThrow(expect.objectContaining({ code: 'decode/truncated' }) as Error);
    expect(engine.nodeCount()).toBe(0);
    engine.free();
  });
});
