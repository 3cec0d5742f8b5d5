/**
 * Anti-entropy's sets of soul digests (anti-entropy.ts): cut into slices by position,
 * looked up by digest, and the compact one-byte-per-char strings the digests are kept
 * as. Pure functions over bytes; what a digest is and when two are equal is the engine's.
 */
import { DIGEST_ITEM_BYTES } from '../wire/messages.js';

/** Souls per reconciled slice, at most: a slice's difference always fits the engine's 2^18 symbols. */
export const RANGE_SOULS = 32_768;

/** Souls and their digests, in the same order. */
export interface Slice {
  readonly souls: readonly string[];
  /** Their digests, DIGEST_ITEM_BYTES each, in the order of `souls`. */
  readonly items: Uint8Array;
}

/** Position bits that cut `souls` souls into slices of at most RANGE_SOULS. */
export function rangeBits(souls: number): number {
  let bits = 0;
  while (souls / 2 ** bits > RANGE_SOULS && bits < 24) bits++;
  return bits;
}

/** The souls of `all` whose position's first `bits` bits are `prefix` (a digest starts with 4 bytes of the position). */
export function sliceOf(all: Slice, bits: number, prefix: number): Slice {
  if (bits === 0) return all;
  const souls: string[] = [];
  const picked: number[] = [];
  const { items } = all;
  for (let i = 0; i < all.souls.length; i++) {
    const at = i * DIGEST_ITEM_BYTES;
    const head = ((items[at]! << 24) | (items[at + 1]! << 16) | (items[at + 2]! << 8) | items[at + 3]!) >>> 0;
    if (head >>> (32 - bits) !== prefix) continue;
    souls.push(all.souls[i]!);
    picked.push(i);
  }
  const sliced = new Uint8Array(picked.length * DIGEST_ITEM_BYTES);
  picked.forEach((i, j) => sliced.set(items.subarray(i * DIGEST_ITEM_BYTES, (i + 1) * DIGEST_ITEM_BYTES), j * DIGEST_ITEM_BYTES));
  return { souls, items: sliced };
}

/** The souls of `all` whose digest is among `digests` (each named once). */
export function soulsNamed(all: Slice, digests: Uint8Array): string[] {
  const wanted = new Set<string>();
  for (let at = 0; at < digests.length; at += DIGEST_ITEM_BYTES) wanted.add(latin1(digests.subarray(at, at + DIGEST_ITEM_BYTES)));
  const souls: string[] = [];
  for (let i = 0; i < all.souls.length && wanted.size !== 0; i++) {
    const key = latin1(all.items.subarray(i * DIGEST_ITEM_BYTES, (i + 1) * DIGEST_ITEM_BYTES));
    if (!wanted.delete(key)) continue;
    souls.push(all.souls[i]!);
  }
  return souls;
}

/** Bytes as a string of one character per byte (a compact, comparable key). */
export function latin1(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

/** The bytes of a `latin1` string. */
export function bytesOfLatin1(text: string): Uint8Array {
  return Uint8Array.from(text, (char) => char.charCodeAt(0));
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
