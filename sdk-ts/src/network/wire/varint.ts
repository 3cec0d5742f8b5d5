/**
 * Unsigned LEB128 varints limited to JavaScript safe integers (0 … 2^53 − 1): seven bits
 * per byte, least significant group first, high bit set on every byte but the last.
 *
 * Arithmetic is done with multiplication rather than bit shifts because JS shifts work on
 * 32 bits and ids, sequence numbers and `since` go beyond that. Every term added while
 * decoding is exact (a 7-bit group times a power of two), so a true value above
 * MAX_SAFE_INTEGER always shows up as a float above it and is caught.
 *
 * Non-minimal encodings (e.g. `0x80 0x00` for 0) are accepted: refusing them would buy
 * nothing for a protocol that never hashes or compares encoded bytes, and the byte cap
 * already bounds the work.
 */
import { WireError } from './wire-error.js';

/** 8 × 7 = 56 bits: enough for any safe integer (53 bits) with room for non-minimal forms. */
export const MAX_VARINT_BYTES = 8;

/** What readVarint found: the value and the offset just past its last byte. */
export interface VarintRead {
  readonly value: number;
  readonly next: number;
}

function checkEncodable(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new WireError('wire/malformed', `cannot encode ${what} ${String(value)}: not an unsigned safe integer.`);
  }
}

/** Bytes the minimal encoding of `value` takes (1 … 8). */
export function varintLength(value: number, what = 'varint'): number {
  checkEncodable(value, what);
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    length++;
  }
  return length;
}

/**
 * Writes the minimal encoding of `value` at `offset`; returns the offset after it. The
 * caller sized `target` with varintLength, so running out of room is a bug, not input.
 */
export function writeVarint(target: Uint8Array, offset: number, value: number, what = 'varint'): number {
  checkEncodable(value, what);
  while (value >= 0x80) {
    target[offset++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  target[offset++] = value;
  return offset;
}

export function encodeVarint(value: number, what = 'varint'): Uint8Array {
  const bytes = new Uint8Array(varintLength(value, what));
  writeVarint(bytes, 0, value, what);
  return bytes;
}

/**
 * Reads a varint at `offset`. Returns undefined when the bytes end before the varint does
 * (truncation: a stream reader may wait for more, a message decoder treats it as
 * malformed). Throws WireError('wire/malformed') for a varint longer than `maxBytes` or a
 * value above Number.MAX_SAFE_INTEGER, without looking further than `maxBytes` bytes.
 */
export function readVarint(bytes: Uint8Array, offset: number, maxBytes = MAX_VARINT_BYTES, what = 'varint'): VarintRead | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < maxBytes; i++) {
    const byte = bytes[offset + i];
    if (byte === undefined) return undefined;
    value += (byte & 0x7f) * scale;
    if (value > Number.MAX_SAFE_INTEGER) {
      throw new WireError('wire/malformed', `${what} is larger than ${Number.MAX_SAFE_INTEGER}.`);
    }
    if ((byte & 0x80) === 0) return { value, next: offset + i + 1 };
    scale *= 0x80;
  }
  throw new WireError('wire/malformed', `${what} is longer than ${maxBytes} bytes.`);
}
