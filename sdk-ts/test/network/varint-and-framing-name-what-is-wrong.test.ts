/**
 * The varints (network/wire/varint.ts) and the stream framing (network/wire/framing.ts)
 * below every sync message: reading and writing at an offset, a caller's byte cap, and
 * the words of each refusal (a peer's ERROR carries them; an operator reads them in a
 * log). wire.test.ts checks round trips, codes and the reader's reassembly.
 */
import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/api/errors.js';
import { MAX_PREFIX_BYTES, MessageReader, allocateBody, lengthPrefixed } from '../../src/network/wire/framing.js';
import { MAX_VARINT_BYTES, encodeVarint, readVarint, varintLength, writeVarint } from '../../src/network/wire/varint.js';
import { refusal } from '../unit/refusal.js';


describe('varints', () => {
  it('are read and written at an offset', () => {
    expect(MAX_VARINT_BYTES).toBe(8);
    const target = new Uint8Array(8).fill(0xee);
    expect(writeVarint(target, 3, 300)).toBe(5);
    expect(Array.from(target)).toEqual([0xee, 0xee, 0xee, 0xac, 0x02, 0xee, 0xee, 0xee]);
    expect(writeVarint(target, 5, 5)).toBe(6);
    expect(readVarint(target, 3)).toEqual({ value: 300, next: 5 });
    expect(readVarint(target, 5)).toEqual({ value: 5, next: 6 });
    // Truncated at an offset: past the end of the bytes.
    expect(readVarint(Uint8Array.of(7, 0x80), 1)).toBeUndefined();
    expect(readVarint(Uint8Array.of(7), 1)).toBeUndefined();
  });

  it('stop at the byte cap the caller gives, without looking further', () => {
    const three = Uint8Array.of(0x81, 0x81, 0x01);
    expect(readVarint(three, 0, 3)).toEqual({ value: 1 + 128 + 16384, next: 3 });
    expect(refusal(() => readVarint(three, 0, 2, 'length'))).toBe('wire/malformed: length is longer than 2 bytes.');
    // Cut short within the cap is truncation, not an overlong varint.
    expect(readVarint(Uint8Array.of(0x81, 0x81), 0, 3)).toBeUndefined();
    expect(refusal(() => readVarint(new Uint8Array(9).fill(0x80), 0))).toBe('wire/malformed: varint is longer than 8 bytes.');
  });

  it('name the value they cannot carry', () => {
    const twoTo53 = Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10);
    expect(refusal(() => readVarint(twoTo53, 0))).toBe('wire/malformed: varint is larger than 9007199254740991.');
    expect(refusal(() => readVarint(twoTo53, 0, 8, 'seq'))).toBe('wire/malformed: seq is larger than 9007199254740991.');
    expect(readVarint(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f), 0)).toEqual({ value: Number.MAX_SAFE_INTEGER, next: 8 });
    expect(refusal(() => encodeVarint(-1))).toBe('wire/malformed: cannot encode varint -1: not an unsigned safe integer.');
    expect(refusal(() => encodeVarint(0.5, 'since'))).toBe('wire/malformed: cannot encode since 0.5: not an unsigned safe integer.');
    expect(refusal(() => varintLength(2 ** 53, 'seq'))).toBe('wire/malformed: cannot encode seq 9007199254740992: not an unsigned safe integer.');
    expect(refusal(() => varintLength(-0.5))).toBe('wire/malformed: cannot encode varint -0.5: not an unsigned safe integer.');
    expect(refusal(() => writeVarint(new Uint8Array(8), 0, NaN, 'id'))).toBe('wire/malformed: cannot encode id NaN: not an unsigned safe integer.');
    expect(refusal(() => writeVarint(new Uint8Array(8), 0, -1))).toBe('wire/malformed: cannot encode varint -1: not an unsigned safe integer.');
    expect(varintLength(0)).toBe(1);
  });
});

describe('framing', () => {
  it('gives an encoded body room for the longest prefix in front of it', () => {
    expect(MAX_PREFIX_BYTES).toBe(5);
    const body = allocateBody(3);
    expect([body.length, body.byteOffset, body.buffer.byteLength]).toEqual([3, 5, 8]);
    body.set([1, 0x0a, 1]);
    const framed = lengthPrefixed(body);
    expect([framed.buffer === body.buffer, framed.byteOffset, Array.from(framed)]).toEqual([true, 4, [3, 1, 0x0a, 1]]);
  });

  it('frames a body that needs all 5 prefix bytes in place, without copying it', () => {
    // 2^28 bytes (256 MiB, never touched): the shortest body whose prefix takes 5 bytes.
    const body = allocateBody(2 ** 28);
    const framed = lengthPrefixed(body);
    expect([framed.buffer === body.buffer, framed.byteOffset, framed.length]).toEqual([true, 0, 2 ** 28 + 5]);
    expect(Array.from(framed.subarray(0, 5))).toEqual([0x80, 0x80, 0x80, 0x80, 0x01]);
  });

  it('refuses a body longer than a 5-byte prefix can announce, and an empty one', () => {
    // 2^35 bytes cannot be allocated; the length is all lengthPrefixed reads before refusing.
    const huge = { length: 2 ** 35 } as Uint8Array;
    expect(refusal(() => lengthPrefixed(huge))).toBe('wire/too-large: a 34359738368-byte message does not fit a 5-byte length prefix.');
    expect(refusal(() => lengthPrefixed(new Uint8Array(0)))).toBe('wire/malformed: cannot send an empty message.');
  });

  it('says what is wrong with a length prefix', () => {
    expect(refusal(() => new MessageReader(100).push(Uint8Array.of(101)))).toBe('wire/too-large: a message announced 101 bytes; the limit is 100.');
    // Over the limit before the prefix ends: "at least".
    expect(refusal(() => new MessageReader(100).push(Uint8Array.of(0xe5)))).toBe('wire/too-large: a message announced at least 101 bytes; the limit is 100.');
    expect(refusal(() => new MessageReader(100).push(Uint8Array.of(0x80, 0x01)))).toBe('wire/too-large: a message announced 128 bytes; the limit is 100.');
    expect(refusal(() => new MessageReader(100).push(Uint8Array.of(0)))).toBe('wire/malformed: a message announced a length of 0.');
    expect(refusal(() => new MessageReader(2 ** 40).push(new Uint8Array(5).fill(0x80)))).toBe('wire/malformed: a message length prefix is longer than 5 bytes.');
    expect(refusal(() => new MessageReader(0))).toBe('config/invalid: maxMessageBytes must be a positive integer, got 0.');
    expect(() => new MessageReader(1.5)).toThrow(InvalidValueError);
    expect(new MessageReader(1).maxMessageBytes).toBe(1);
    expect(new MessageReader(1).push(Uint8Array.of(1, 9))).toEqual([Uint8Array.of(9)]);
  });

  it('knows when a stream ends mid-message: in a prefix, in a body, or not', () => {
    const reader = new MessageReader(1000);
    expect(reader.midMessage).toBe(false);
    reader.push(Uint8Array.of(0x83));
    expect(reader.midMessage).toBe(true);
    reader.push(Uint8Array.of(0x01, 1, 2));
    expect(reader.midMessage).toBe(true);
    const rest = reader.push(new Uint8Array(129));
    expect([rest.length, rest[0]!.length, reader.midMessage]).toEqual([1, 131, false]);
  });

  it('a body split across chunks is copied once, whatever the chunk sizes, and later bytes start the next message', () => {
    const reader = new MessageReader(1000);
    expect(reader.push(Uint8Array.of(5, 1, 2))).toEqual([]);
    expect(reader.push(Uint8Array.of(3))).toEqual([]);
    const done = reader.push(Uint8Array.of(4, 5, 2, 6));
    expect(done).toEqual([Uint8Array.of(1, 2, 3, 4, 5)]);
    expect(reader.midMessage).toBe(true);
    expect(reader.push(Uint8Array.of(7))).toEqual([Uint8Array.of(6, 7)]);
    // A body that ends exactly at the end of its chunk is a view of the chunk.
    const chunk = Uint8Array.of(2, 8, 9);
    const [whole] = reader.push(chunk);
    expect([whole!.buffer === chunk.buffer, Array.from(whole!)]).toEqual([true, [8, 9]]);
    // One byte short of the chunk's end: copied when the last byte comes.
    const short = Uint8Array.of(3, 8, 9);
    expect(reader.push(short)).toEqual([]);
    const [copied] = reader.push(Uint8Array.of(10));
    expect([copied!.buffer === short.buffer, Array.from(copied!)]).toEqual([false, [8, 9, 10]]);
  });
});
