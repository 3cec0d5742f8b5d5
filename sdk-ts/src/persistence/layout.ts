/**
 * How a database lays out its state in a StorageAdapter (docs/ARCHITECTURE.md,
 * "Storage layout and durability"). Keys are bytes compared byte-wise; the first byte
 * says what a record is, and every variable-length part that is followed by another
 * part is length-prefixed, so no soul or key (any characters at all) can make two
 * different records share a key or make one soul's prefix match another soul's records.
 *
 *   "H"                                   head: layout version, clock, outbox counters
 *   "D"                                   the engine's deferred updates, one frame
 *   "I" publicKey                         an identity the user chose to keep: its seed
 *   "O" id:u64be                          an outbox entry: one local write's changes frame
 *   "P" soulLength:u32be soul key         one property: its single-update frame
 */
import { RustDHTError } from '../errors.js';

const HEAD = 0x48; // H
const DEFERRED = 0x44; // D
const IDENTITY = 0x49; // I
const OUTBOX = 0x4f; // O
const PROPERTY = 0x50; // P

/** Bumped when a record's meaning changes; a store written by another layout is refused. */
export const LAYOUT_VERSION = 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export const HEAD_KEY = Uint8Array.of(HEAD);
export const DEFERRED_KEY = Uint8Array.of(DEFERRED);
export const IDENTITY_PREFIX = Uint8Array.of(IDENTITY);
export const OUTBOX_PREFIX = Uint8Array.of(OUTBOX);

/** The prefix every property record of `soul` starts with (and no other record does). */
export function soulPrefix(soul: string): Uint8Array {
  const soulBytes = encoder.encode(soul);
  const prefix = new Uint8Array(5 + soulBytes.length);
  prefix[0] = PROPERTY;
  new DataView(prefix.buffer).setUint32(1, soulBytes.length);
  prefix.set(soulBytes, 5);
  return prefix;
}

/** The key of property `key` of the soul whose prefix is `prefix`. */
export function propertyKey(prefix: Uint8Array, key: string): Uint8Array {
  // encodeInto straight after the prefix: one allocation per record on the write path.
  const record = new Uint8Array(prefix.length + key.length * 3);
  record.set(prefix, 0);
  const { written } = encoder.encodeInto(key, record.subarray(prefix.length));
  return record.subarray(0, prefix.length + written);
}

export function identityKey(publicKey: string): Uint8Array {
  const text = encoder.encode(publicKey);
  const key = new Uint8Array(1 + text.length);
  key[0] = IDENTITY;
  key.set(text, 1);
  return key;
}

export function publicKeyOf(identityRecordKey: Uint8Array): string {
  return decoder.decode(identityRecordKey.subarray(1));
}

/** Outbox ids are safe integers; big-endian so byte order is id order. */
export function outboxKey(id: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = OUTBOX;
  const view = new DataView(key.buffer);
  view.setUint32(1, Math.floor(id / 2 ** 32));
  view.setUint32(5, id >>> 0);
  return key;
}

export function outboxIdOf(outboxRecordKey: Uint8Array): number {
  const view = new DataView(outboxRecordKey.buffer, outboxRecordKey.byteOffset, outboxRecordKey.byteLength);
  return view.getUint32(1) * 2 ** 32 + view.getUint32(5);
}

/** The small record rewritten by every commit: what reopening needs before any read. */
export interface Head {
  /** The engine's hybrid clock (`engine.clock()`), restored with `restoreClock`. */
  readonly clock: number;
  /** How many outbox entries the store holds. */
  readonly outboxSize: number;
  /** The id the next outbox entry gets (ids are never reused). */
  readonly outboxNextId: number;
}

const HEAD_BYTES = 1 + 3 * 8;

export function encodeHead(head: Head): Uint8Array {
  const bytes = new Uint8Array(HEAD_BYTES);
  const view = new DataView(bytes.buffer);
  bytes[0] = LAYOUT_VERSION;
  view.setFloat64(1, head.clock);
  view.setFloat64(9, head.outboxSize);
  view.setFloat64(17, head.outboxNextId);
  return bytes;
}

export function decodeHead(bytes: Uint8Array): Head {
  if (bytes.length < 1 || bytes[0] !== LAYOUT_VERSION) {
    throw new RustDHTError(
      'store/layout',
      `the store was written with storage layout ${bytes[0] ?? '(none)'}, this version of RustDHT reads layout ${LAYOUT_VERSION}; open it with the version that wrote it.`,
    );
  }
  if (bytes.length !== HEAD_BYTES) throw corrupt(`head record of ${bytes.length} bytes, expected ${HEAD_BYTES}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const head = { clock: view.getFloat64(1), outboxSize: view.getFloat64(9), outboxNextId: view.getFloat64(17) };
  const counter = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
  if (!Number.isFinite(head.clock) || !counter(head.outboxSize) || !counter(head.outboxNextId)) {
    throw corrupt('head record holds an impossible clock or outbox counter');
  }
  return head;
}

export function corrupt(what: string, cause?: unknown): RustDHTError {
  return new RustDHTError('store/corrupt', `the store is damaged (${what}); restore it from a backup or from peers.`, { cause });
}
