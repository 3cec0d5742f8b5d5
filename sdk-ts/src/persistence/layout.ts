/**
 * How a database lays out its state in a StorageAdapter (docs/ARCHITECTURE.md,
 * "Storage layout and durability"). Keys are bytes compared byte-wise; the first byte
 * says what a record is, and every variable-length part that is followed by another
 * part is length-prefixed, so no soul or key (any characters at all) can make two
 * different records share a key or make one soul's prefix match another soul's records.
 *
 *   "H"                                   head: layout version, clock, outbox counters
 *   "D"                                   layout 1 only: the engine's deferred updates, one frame (converted at open)
 *   "d" id:24                             one deferred update: its single-update frame; id = state (f64be) + digest
 *   "I" publicKey                         an identity the user chose to keep: its seed
 *   "O" id:u64be                          an outbox entry: one local write's changes frame
 *   "P" soulLength:u32be soul key         one property: its single-update frame
 *   "A" soul                              cache accounting of one soul: last access, bytes
 *   "C"                                   cache accounting totals: access tick, bytes, souls
 *   "L" seq:u64be                         servers: the properties one applied batch changed, as "P" keys (the change
 *                                         log feeds replicate from; compacted to the latest seq per property)
 *   "l" propertyKey                       servers: the change log's index: the latest seq logging that property (u64be)
 *   "M"                                   servers: the change-log seq the index covers (u64be)
 *   "F" peerId                            servers: the last change-log seq received from that peer's feed (u64be);
 *                                         the network's own record (network/duties/feed-follower.ts)
 *
 * "A" and "C" exist only while a cache cap is in force (cache-accounting.ts); a database
 * opened without one deletes "C", so the next capped open knows to rebuild them.
 */
import { RustDHTError } from '../api/errors.js';

const HEAD = 0x48; // H
const DEFERRED = 0x44; // D
const IDENTITY = 0x49; // I
const OUTBOX = 0x4f; // O
const PROPERTY = 0x50; // P
const ACCESS = 0x41; // A
const CACHE = 0x43; // C
const CHANGE_LOG = 0x4c; // L
const DEFERRED_RECORD = 0x64; // d
const CHANGE_LOG_INDEX = 0x6c; // l
const CHANGE_LOG_MARK = 0x4d; // M

/**
 * Bumped when a record's meaning changes; a store written by another layout is refused,
 * except layout 1, which opening converts (its "D" frame becomes "d" records, its "L"
 * frames become "L" property lists: persistence/change-log.ts `convertLayout1`).
 */
export const LAYOUT_VERSION = 2;
/** The layout opening still converts. */
export const CONVERTIBLE_LAYOUT = 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export const HEAD_KEY = Uint8Array.of(HEAD);
export const DEFERRED_KEY = Uint8Array.of(DEFERRED);
export const IDENTITY_PREFIX = Uint8Array.of(IDENTITY);
export const OUTBOX_PREFIX = Uint8Array.of(OUTBOX);
export const PROPERTY_PREFIX = Uint8Array.of(PROPERTY);
export const ACCESS_PREFIX = Uint8Array.of(ACCESS);
export const CACHE_KEY = Uint8Array.of(CACHE);
export const CHANGE_LOG_PREFIX = Uint8Array.of(CHANGE_LOG);
export const DEFERRED_RECORD_PREFIX = Uint8Array.of(DEFERRED_RECORD);
export const CHANGE_LOG_INDEX_PREFIX = Uint8Array.of(CHANGE_LOG_INDEX);
export const CHANGE_LOG_MARK_KEY = Uint8Array.of(CHANGE_LOG_MARK);

/** "d" id: the record of one deferred update (`id` from the engine's `lastDeferredRecords`). */
export function deferredRecordKey(id: Uint8Array): Uint8Array {
  const key = new Uint8Array(1 + id.length);
  key[0] = DEFERRED_RECORD;
  key.set(id, 1);
  return key;
}

/** "l" + a property record's key without its "P": where the change log indexes that property. */
export function changeLogIndexKey(propertyRecordKey: Uint8Array): Uint8Array {
  const key = new Uint8Array(propertyRecordKey.length);
  key.set(propertyRecordKey);
  key[0] = CHANGE_LOG_INDEX;
  return key;
}

/** A u64be record value (a seq). */
export function encodeSeq(seq: number): Uint8Array {
  const bytes = new Uint8Array(8);
  writeU64(bytes, 0, seq);
  return bytes;
}

export function decodeSeq(bytes: Uint8Array): number {
  if (bytes.length !== 8) throw corrupt(`a seq record of ${bytes.length} bytes, expected 8`);
  return readU64(bytes, 0);
}

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

/** The soul of a property record's key, and the length of that soul's prefix. */
export function soulOfPropertyKey(key: Uint8Array): { soul: string; prefixLength: number } {
  if (key.length < 5 || key[0] !== PROPERTY) throw corrupt('a property record key without its soul');
  const length = new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(1);
  if (5 + length > key.length) throw corrupt('a property record key shorter than its soul');
  return { soul: decoder.decode(key.subarray(5, 5 + length)), prefixLength: 5 + length };
}

/** The property key of a record whose soul prefix is `prefixLength` bytes long. */
export function keyOfPropertyKey(key: Uint8Array, prefixLength: number): string {
  return decoder.decode(key.subarray(prefixLength));
}

/** "A" soul: nothing follows the soul, so it needs no length prefix. */
export function accessKey(soul: string): Uint8Array {
  const text = encoder.encode(soul);
  const key = new Uint8Array(1 + text.length);
  key[0] = ACCESS;
  key.set(text, 1);
  return key;
}

export function soulOfAccessKey(key: Uint8Array): string {
  return decoder.decode(key.subarray(1));
}

/** One soul's cache accounting: when it was last used, and what its records weigh. */
export interface SoulAccess {
  /** The accounting tick of its last read or write (larger is more recent). */
  readonly stamp: number;
  /** Bytes of its "P" records, keys included. */
  readonly bytes: number;
}

export function encodeAccess(access: SoulAccess): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setFloat64(0, access.stamp);
  view.setFloat64(8, access.bytes);
  return bytes;
}

export function decodeAccess(bytes: Uint8Array): SoulAccess {
  if (bytes.length !== 16) throw corrupt(`cache access record of ${bytes.length} bytes, expected 16`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { stamp: view.getFloat64(0), bytes: view.getFloat64(8) };
}

/** The "C" record: lets a capped database know its size at open without a scan. */
export interface CacheTotals {
  /** The last access tick handed out (ticks keep increasing across reopenings). */
  readonly tick: number;
  /** Bytes of every "P" record. */
  readonly bytes: number;
  /** Souls with at least one "P" record. */
  readonly souls: number;
}

export function encodeCacheTotals(totals: CacheTotals): Uint8Array {
  const bytes = new Uint8Array(24);
  const view = new DataView(bytes.buffer);
  view.setFloat64(0, totals.tick);
  view.setFloat64(8, totals.bytes);
  view.setFloat64(16, totals.souls);
  return bytes;
}

export function decodeCacheTotals(bytes: Uint8Array): CacheTotals {
  if (bytes.length !== 24) throw corrupt(`cache totals record of ${bytes.length} bytes, expected 24`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { tick: view.getFloat64(0), bytes: view.getFloat64(8), souls: view.getFloat64(16) };
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

/** A tag byte and a safe-integer sequence number, big-endian so byte order is number order. */
function sequenceKey(tag: number, id: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = tag;
  writeU64(key, 1, id);
  return key;
}

function writeU64(bytes: Uint8Array, offset: number, value: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(offset, Math.floor(value / 2 ** 32));
  view.setUint32(offset + 4, value >>> 0);
}

function readU64(bytes: Uint8Array, offset: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.getUint32(offset) * 2 ** 32 + view.getUint32(offset + 4);
}

export function outboxKey(id: number): Uint8Array {
  return sequenceKey(OUTBOX, id);
}

export function outboxIdOf(outboxRecordKey: Uint8Array): number {
  return readU64(outboxRecordKey, 1);
}

export function changeLogKey(seq: number): Uint8Array {
  return sequenceKey(CHANGE_LOG, seq);
}

export function changeLogSeqOf(changeLogRecordKey: Uint8Array): number {
  return readU64(changeLogRecordKey, 1);
}

/** The small record rewritten by every commit: what reopening needs before any read. */
export interface Head {
  /** The layout the store was written with (LAYOUT_VERSION, or CONVERTIBLE_LAYOUT before its conversion). */
  readonly layout?: number;
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
  if (bytes.length < 1 || (bytes[0] !== LAYOUT_VERSION && bytes[0] !== CONVERTIBLE_LAYOUT)) {
    throw new RustDHTError(
      'store/layout',
      `the store was written with storage layout ${bytes[0] ?? '(none)'}, this version of RustDHT reads layout ${LAYOUT_VERSION}; open it with the version that wrote it.`,
    );
  }
  if (bytes.length !== HEAD_BYTES) throw corrupt(`head record of ${bytes.length} bytes, expected ${HEAD_BYTES}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const head = { layout: bytes[0], clock: view.getFloat64(1), outboxSize: view.getFloat64(9), outboxNextId: view.getFloat64(17) };
  const counter = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
  if (!Number.isFinite(head.clock) || !counter(head.outboxSize) || !counter(head.outboxNextId)) {
    throw corrupt('head record holds an impossible clock or outbox counter');
  }
  return head;
}

export function corrupt(what: string, cause?: unknown): RustDHTError {
  return new RustDHTError('store/corrupt', `the store is damaged (${what}); restore it from a backup or from peers.`, { cause });
}
