/**
 * The bytes of every record kind of the storage layout (persistence/layout.ts), pinned: a
 * store written by one version is read by the next, so a key or value that changes shape is
 * a format change, not a refactor. Also what reading a damaged record says. The layout's
 * separation properties (no two souls' records share a prefix) are in persistence-layout.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  ACCESS_PREFIX,
  CACHE_KEY,
  CHANGE_LOG_INDEX_PREFIX,
  CHANGE_LOG_MARK_KEY,
  CHANGE_LOG_PREFIX,
  CONVERTIBLE_LAYOUT,
  DEFERRED_KEY,
  DEFERRED_RECORD_PREFIX,
  HEAD_KEY,
  IDENTITY_PREFIX,
  LAYOUT_VERSION,
  OUTBOX_PREFIX,
  PROPERTY_PREFIX,
  accessKey,
  changeLogIndexKey,
  changeLogKey,
  changeLogSeqOf,
  corrupt,
  decodeAccess,
  decodeCacheTotals,
  decodeHead,
  decodeSeq,
  deferredRecordKey,
  encodeAccess,
  encodeCacheTotals,
  encodeHead,
  encodeSeq,
  identityKey,
  keyOfPropertyKey,
  outboxKey,
  propertyKey,
  soulOfAccessKey,
  soulOfPropertyKey,
  soulPrefix,
} from '../../src/persistence/layout.js';
import { refusal } from './refusal.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const bytes = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replaceAll(' ', ''), 'hex'));

const damaged = (what: string): string => `store/corrupt: the store is damaged (${what}); restore it from a backup or from peers.`;

describe('the storage layout, byte for byte', () => {
  it('tags each kind of record with its letter', () => {
    const tags = { HEAD_KEY, DEFERRED_KEY, IDENTITY_PREFIX, OUTBOX_PREFIX, PROPERTY_PREFIX, ACCESS_PREFIX, CACHE_KEY, CHANGE_LOG_PREFIX, DEFERRED_RECORD_PREFIX, CHANGE_LOG_INDEX_PREFIX, CHANGE_LOG_MARK_KEY };
    expect(Object.fromEntries(Object.entries(tags).map(([name, key]) => [name, Buffer.from(key).toString('latin1')]))).toEqual({
      HEAD_KEY: 'H', DEFERRED_KEY: 'D', IDENTITY_PREFIX: 'I', OUTBOX_PREFIX: 'O', PROPERTY_PREFIX: 'P', ACCESS_PREFIX: 'A', CACHE_KEY: 'C',
      CHANGE_LOG_PREFIX: 'L', DEFERRED_RECORD_PREFIX: 'd', CHANGE_LOG_INDEX_PREFIX: 'l', CHANGE_LOG_MARK_KEY: 'M',
    });
    expect([LAYOUT_VERSION, CONVERTIBLE_LAYOUT]).toEqual([2, 1]);
  });

  it('property records: "P", the soul\'s UTF-8 length (u32be) and bytes, then the key\'s', () => {
    expect(hex(soulPrefix('é'))).toBe('50' + '00000002' + 'c3a9');
    expect(hex(soulPrefix(''))).toBe('50' + '00000000');
    const key = propertyKey(soulPrefix('ab'), '日x');
    expect(hex(key)).toBe('50' + '00000002' + '6162' + 'e697a5' + '78');
    expect(soulOfPropertyKey(key)).toEqual({ soul: 'ab', prefixLength: 7 });
    expect(keyOfPropertyKey(key, 7)).toBe('日x');
    // A view into a larger buffer reads the same.
    const inside = new Uint8Array(key.length + 3);
    inside.set(key, 3);
    expect(soulOfPropertyKey(inside.subarray(3))).toEqual({ soul: 'ab', prefixLength: 7 });
    expect(soulOfPropertyKey(propertyKey(soulPrefix('s'), ''))).toEqual({ soul: 's', prefixLength: 6 });
    // A soul's prefix alone (what a scan of its records starts from) reads as that soul, the empty one too.
    expect(soulOfPropertyKey(soulPrefix(''))).toEqual({ soul: '', prefixLength: 5 });
    const long = 'x'.repeat(300);
    expect(soulOfPropertyKey(propertyKey(soulPrefix(long), 'k'))).toEqual({ soul: long, prefixLength: 305 });
  });

  it('refuses a property record key that does not hold its soul', () => {
    const what = damaged('a property record key without its soul');
    expect(refusal(() => soulOfPropertyKey(bytes('50 000000')))).toBe(what);
    expect(refusal(() => soulOfPropertyKey(bytes('41 00000000')))).toBe(what);
    expect(refusal(() => soulOfPropertyKey(bytes('50 00000002 61')))).toBe(damaged('a property record key shorter than its soul'));
    expect(soulOfPropertyKey(bytes('50 00000001 61'))).toEqual({ soul: 'a', prefixLength: 6 });
    expect(() => soulOfPropertyKey(bytes('50 00000001 ff'))).toThrow(TypeError);
  });

  it('access, identity and deferred records, the change log\'s index and seqs', () => {
    expect(hex(accessKey('é/1'))).toBe('41' + 'c3a9' + '2f31');
    expect(soulOfAccessKey(accessKey('é/1'))).toBe('é/1');
    expect(hex(identityKey('pk'))).toBe('49' + '706b');
    expect(hex(deferredRecordKey(bytes('0102 03')))).toBe('64' + '010203');
    const property = propertyKey(soulPrefix('s'), 'k');
    expect(hex(changeLogIndexKey(property))).toBe('6c' + '00000001' + '73' + '6b');
    expect(hex(property)).toBe('50' + '00000001' + '73' + '6b');
    expect(hex(changeLogKey(2 ** 32 + 258))).toBe('4c' + '00000001' + '00000102');
    expect(hex(outboxKey(7))).toBe('4f' + '0000000000000007');
    expect(changeLogSeqOf(changeLogKey(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(hex(encodeSeq(2 ** 40 + 1))).toBe('0000010000000001');
    for (const seq of [0, 1, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) expect(decodeSeq(encodeSeq(seq))).toBe(seq);
    // A seq read from inside a larger buffer.
    const inside = new Uint8Array(12);
    inside.set(encodeSeq(2 ** 33 + 5), 4);
    expect(decodeSeq(inside.subarray(4))).toBe(2 ** 33 + 5);
    expect(refusal(() => decodeSeq(new Uint8Array(7)))).toBe(damaged('a seq record of 7 bytes, expected 8'));
    expect(refusal(() => decodeSeq(new Uint8Array(9)))).toBe(damaged('a seq record of 9 bytes, expected 8'));
  });

  it('a soul\'s access record and the cache totals: float64be fields', () => {
    const access = encodeAccess({ stamp: 3, bytes: 2 ** 40 + 0.5 });
    expect(hex(access)).toBe('4008000000000000' + '4270000000000800');
    expect(decodeAccess(access)).toEqual({ stamp: 3, bytes: 2 ** 40 + 0.5 });
    const inside = new Uint8Array(20);
    inside.set(access, 4);
    expect(decodeAccess(inside.subarray(4))).toEqual({ stamp: 3, bytes: 2 ** 40 + 0.5 });
    expect(refusal(() => decodeAccess(new Uint8Array(15)))).toBe(damaged('cache access record of 15 bytes, expected 16'));

    const totals = encodeCacheTotals({ tick: 1, bytes: 2, souls: 3 });
    expect(hex(totals)).toBe('3ff0000000000000' + '4000000000000000' + '4008000000000000');
    const shifted = new Uint8Array(30);
    shifted.set(totals, 6);
    expect(decodeCacheTotals(shifted.subarray(6))).toEqual({ tick: 1, bytes: 2, souls: 3 });
    expect(refusal(() => decodeCacheTotals(new Uint8Array(25)))).toBe(damaged('cache totals record of 25 bytes, expected 24'));
  });

  it('the head: layout byte, then clock, outbox size and next id as float64be', () => {
    const head = encodeHead({ layout: 1, clock: 2, outboxSize: 3, outboxNextId: 4 });
    // Written with this layout whatever the head said it was read with.
    expect(hex(head)).toBe('02' + '4000000000000000' + '4008000000000000' + '4010000000000000');
    const inside = new Uint8Array(head.length + 2);
    inside.set(head, 2);
    expect(decodeHead(inside.subarray(2))).toEqual({ layout: 2, clock: 2, outboxSize: 3, outboxNextId: 4 });
    expect(decodeHead(encodeHead({ clock: -5.5, outboxSize: 0, outboxNextId: 0 }))).toEqual({ layout: 2, clock: -5.5, outboxSize: 0, outboxNextId: 0 });
  });

  it('refuses a head of another layout, of the wrong size, or with impossible numbers', () => {
    const layout = (found: string): string =>
      `store/layout: the store was written with storage layout ${found}, this version of RustDHT reads layout 2; open it with the version that wrote it.`;
    expect(refusal(() => decodeHead(new Uint8Array(0)))).toBe(layout('(none)'));
    expect(refusal(() => decodeHead(Uint8Array.of(3)))).toBe(layout('3'));
    expect(refusal(() => decodeHead(Uint8Array.of(0, 1, 2)))).toBe(layout('0'));
    expect(refusal(() => decodeHead(Uint8Array.of(2)))).toBe(damaged('head record of 1 bytes, expected 25'));
    expect(refusal(() => decodeHead(Uint8Array.of(1, ...new Uint8Array(25))))).toBe(damaged('head record of 26 bytes, expected 25'));
    const impossible = damaged('head record holds an impossible clock or outbox counter');
    const head = (clock: number, outboxSize: number, outboxNextId: number): Uint8Array => encodeHead({ clock, outboxSize, outboxNextId });
    for (const bad of [head(NaN, 0, 0), head(Infinity, 0, 0), head(-Infinity, 0, 0), head(0, -1, 0), head(0, 0.5, 0), head(0, 0, -1), head(0, 0, 1.5), head(0, 2 ** 53, 0), head(0, 0, 2 ** 53)]) {
      expect(refusal(() => decodeHead(bad))).toBe(impossible);
    }
  });

  it('names a damaged store, keeping the cause', () => {
    const cause = new Error('bad bytes');
    const error = corrupt('something', cause);
    expect([error.code, error.message, error.cause]).toEqual(['store/corrupt', damaged('something').slice('store/corrupt: '.length), cause]);
  });
});
