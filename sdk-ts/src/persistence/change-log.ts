/**
 * A server's change log: every batch that changed its graph (local writes, peers'
 * puts, other servers' feeds), in the order it applied them, under "L" seq. Other
 * servers follow it with a FEED request from the last seq they saw, so a server that was
 * down catches up with what it missed instead of copying everything again
 * (docs/ARCHITECTURE.md, "Replication between servers").
 *
 * An entry names the properties its batch changed (their "P" record keys), not their
 * values: a backlog entry is read as the *current* records of those properties, joined
 * into one frame. So the log never holds a value the graph no longer holds: an
 * overwritten or deleted (null) value is gone from the store with its "P" record. A
 * follower may receive a newer value at an older seq; the newer change is logged at a
 * later seq too, and merging it twice changes nothing (HAM).
 *
 * Compaction keeps the latest seq per property: a background pass walks new entries
 * in seq order and, through an index ("l" property → the latest seq logging it, "M" →
 * the seq the index covers), removes each property from the older entry that logged it
 * (deleting an entry left empty). The log then holds at most one mention per property,
 * whatever how often it was written: disk tracks live data. Nothing a follower needs is
 * ever dropped: every property's latest change stays at a seq at least as new as that
 * change, so a follower at any cursor (0 included) converges by reading on from it, and
 * no retention window (and no "fell behind" resync) is needed.
 *
 * Entries are staged in the same group commit as the property records they describe:
 * an entry exists exactly when its changes are stored. Seqs are assigned before the
 * batch is durable, so a reader may see a seq live (through `onAppend`) before a store
 * iteration would show it; readers take the live entries first and the stored ones
 * for the backlog, and skip what they already sent.
 */
import type { EngineChange } from '../replica/batch-report.js';
import type { StorageAdapter, StorageOperation } from '../storage/adapter.js';
import type { GroupCommit } from './group-commit.js';
import {
  CHANGE_LOG_MARK_KEY,
  CHANGE_LOG_PREFIX,
  PROPERTY_PREFIX,
  changeLogIndexKey,
  changeLogKey,
  changeLogSeqOf,
  corrupt,
  decodeSeq,
  encodeSeq,
  propertyKey,
  soulPrefix,
} from './layout.js';

export interface ChangeLogEntry {
  readonly seq: number;
  readonly frame: Uint8Array;
}

/** Joins single-update frames into one (the engine's joinFrames). */
export type JoinFrames = (frames: Uint8Array[], maxUpdates: number) => [Uint8Array, number] | unknown[];

/** Entries appended since the last compaction pass before the next one starts. */
export const COMPACT_AFTER_ENTRIES = 256;
/**
 * Properties one compaction step takes (and one commit carries the result of): it reads
 * entries until they name this many (one entry always fits, however large); an entry
 * names at least one, so this also bounds the entries read. An entry names every
 * property its batch changed (up to a PUT's 10,000 updates): a bound of 1,024 *entries*
 * let a busy server's step name ~400,000 properties — a Map, a store read and an
 * operation of each in memory at once (~1 GiB of V8 heap under two fast writers),
 * committed in one batch every foreground commit queued behind. Its index reads go
 * READS_AT_ONCE at a time: issued all at once, 8,192 of them blocked the event loop for
 * ~240 ms on a loaded 2-core machine (a CPU profile of the soak's server).
 */
export const COMPACT_STEP_PROPERTIES = 1024;
/** First byte of an entry of this layout (layout 1 entries were frames, starting with "RD"). */
const ENTRY_VERSION = 1;

export class ChangeLog {
  readonly #store: StorageAdapter;
  readonly #commit: GroupCommit;
  readonly #join: JoinFrames;
  #last: number;
  /** The seq the index covers ("M"): entries after it are not compacted yet. */
  #mark: number;
  #compacting: Promise<void> | undefined;
  #closed = false;

  private constructor(store: StorageAdapter, commit: GroupCommit, join: JoinFrames, last: number, mark: number) {
    this.#store = store;
    this.#commit = commit;
    this.#join = join;
    this.#last = last;
    this.#mark = mark;
  }

  /** Reads the newest seq (one reverse range read) and the compaction mark. */
  static async open(store: StorageAdapter, commit: GroupCommit, join: JoinFrames): Promise<ChangeLog> {
    let last = 0;
    for await (const { key } of store.entries({ prefix: CHANGE_LOG_PREFIX, reverse: true, limit: 1 })) {
      last = changeLogSeqOf(key);
    }
    const markBytes = await store.get(CHANGE_LOG_MARK_KEY);
    const log = new ChangeLog(store, commit, join, last, markBytes === undefined ? 0 : decodeSeq(markBytes));
    log.#maybeCompact();
    return log;
  }

  /** The seq of the newest entry (0: none yet). Seqs start at 1. */
  get lastSeq(): number {
    return this.#last;
  }

  /** Stages an entry naming the properties `changes` changed, in the current commit; returns its seq. */
  append(changes: readonly EngineChange[]): number {
    const seq = ++this.#last;
    this.#commit.put(changeLogKey(seq), encodeEntry(propertyKeysOf(changes)));
    this.#maybeCompact();
    return seq;
  }

  /** Stored entries with seq > `since`, oldest first, each as the current records of its properties. */
  async *after(since: number, options: { readonly signal?: AbortSignal } = {}): AsyncIterableIterator<ChangeLogEntry> {
    for await (const { key, value } of this.#store.entries({ gte: changeLogKey(since + 1), lt: changeLogKey(2 ** 53 - 1) })) {
      if (options.signal?.aborted) return;
      const records = (await readAll(this.#store, decodeEntry(value))).filter((r) => r !== undefined);
      if (records.length === 0) continue;
      const [frame] = this.#join(records, records.length) as [Uint8Array, number];
      yield { seq: changeLogSeqOf(key), frame };
    }
  }

  /** Resolves once no compaction pass runs (the pending one included). */
  async idle(): Promise<void> {
    while (this.#compacting !== undefined) await this.#compacting;
  }

  /** No pass starts after this; resolves once the running one ended. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.idle();
  }

  /** Compacts now, up to the entries stored so far (tests, tools). */
  async compact(): Promise<void> {
    await this.idle();
    await this.#commit.flush();
    this.#compacting = this.#compactAll().finally(() => void (this.#compacting = undefined));
    await this.#compacting;
  }

  #maybeCompact(): void {
    if (this.#closed || this.#compacting !== undefined || this.#last - this.#mark < COMPACT_AFTER_ENTRIES) return;
    this.#compacting = this.#compactAll()
      // A failed pass (the store refuses writes) is tried again after more appends.
      .catch(() => {})
      .finally(() => void (this.#compacting = undefined));
  }

  async #compactAll(): Promise<void> {
    while (!this.#closed && (await this.#compactStep())) {
      // one chunk per commit
    }
  }

  /**
   * One step: the stored entries after the mark, up to COMPACT_STEP_PROPERTIES named
   * properties, each property removed from every older entry that logged it, the index
   * and the mark moved on, all in one commit. Returns false when there was nothing to do.
   */
  async #compactStep(): Promise<boolean> {
    const store = this.#store;
    const chunk: Array<{ seq: number; properties: Uint8Array[] }> = [];
    let properties = 0;
    for await (const { key, value } of store.entries({ gte: changeLogKey(this.#mark + 1), lt: changeLogKey(2 ** 53 - 1), limit: COMPACT_STEP_PROPERTIES })) {
      chunk.push({ seq: changeLogSeqOf(key), properties: decodeEntry(value) });
      properties += chunk[chunk.length - 1]!.properties.length;
      if (properties >= COMPACT_STEP_PROPERTIES) break;
    }
    // Every entry names a property, so a step that read its entry limit is full by properties too.
    const full = properties >= COMPACT_STEP_PROPERTIES;
    if (chunk.length === 0 || this.#closed) return false;
    // The latest seq of each property within the chunk.
    const latest = new Map<string, { seq: number; key: Uint8Array }>();
    for (const { seq, properties } of chunk) for (const key of properties) latest.set(textOf(key), { seq, key });
    // Where the index says each was logged before the chunk.
    const names = [...latest.keys()];
    const before = await readAll(store, names.map((name) => changeLogIndexKey(latest.get(name)!.key)));
    const removals = new Map<number, Set<string>>();
    names.forEach((name, i) => {
      const stored = before[i];
      if (stored === undefined) return;
      const seq = decodeSeq(stored);
      if (seq >= chunk[0]!.seq) return;
      let names = removals.get(seq);
      if (names === undefined) removals.set(seq, (names = new Set()));
      names.add(name);
    });
    const operations: StorageOperation[] = [];
    const rewrite = (seq: number, properties: Uint8Array[], keep: (name: string) => boolean): void => {
      const kept = properties.filter((key) => keep(textOf(key)));
      if (kept.length === properties.length) return;
      operations.push(kept.length === 0 ? { type: 'del', key: changeLogKey(seq) } : { type: 'put', key: changeLogKey(seq), value: encodeEntry(kept) });
    };
    const older = [...removals.keys()];
    const olderEntries = await readAll(store, older.map((seq) => changeLogKey(seq)));
    older.forEach((seq, i) => {
      const entry = olderEntries[i];
      if (entry !== undefined) rewrite(seq, decodeEntry(entry), (name) => !removals.get(seq)!.has(name));
    });
    for (const { seq, properties } of chunk) rewrite(seq, properties, (name) => latest.get(name)!.seq === seq);
    if (this.#closed) return false;
    for (const { seq, key } of latest.values()) operations.push({ type: 'put', key: changeLogIndexKey(key), value: encodeSeq(seq) });
    const mark = chunk[chunk.length - 1]!.seq;
    operations.push({ type: 'put', key: CHANGE_LOG_MARK_KEY, value: encodeSeq(mark) });
    for (const operation of operations) {
      if (operation.type === 'put') this.#commit.put(operation.key, operation.value);
      else this.#commit.del(operation.key);
    }
    await this.#commit.flush();
    this.#mark = mark;
    return full || this.#last - mark >= COMPACT_AFTER_ENTRIES;
  }
}

/**
 * Store reads issued together, at most READS_AT_ONCE (one `getMany` where the backend
 * has it): each `get` costs the event loop a little before its I/O starts, so a
 * thousand issued in one go (a compaction step's index, a large backlog entry) were one
 * stretch of tens to hundreds of milliseconds in which no peer was served (bench row
 * 11: 22 % of the server's stretches over 30 ms); between slices the loop runs whatever
 * else is waiting.
 */
export const READS_AT_ONCE = 64;

async function readAll(store: StorageAdapter, keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
  const values: Array<Uint8Array | undefined> = [];
  for (let start = 0; start < keys.length; start += READS_AT_ONCE) {
    const slice = keys.slice(start, start + READS_AT_ONCE);
    values.push(...(await (store.getMany !== undefined ? store.getMany(slice) : Promise.all(slice.map((key) => store.get(key))))));
  }
  return values;
}

/** The "P" record keys of the changed properties, each once. */
function propertyKeysOf(changes: readonly EngineChange[]): Uint8Array[] {
  const keys: Uint8Array[] = [];
  const seen = changes.length > 1 ? new Set<string>() : undefined;
  let prefix: Uint8Array | undefined;
  let previousSoul: string | undefined;
  for (const [soul, key] of changes) {
    if (soul !== previousSoul) {
      prefix = soulPrefix(soul);
      previousSoul = soul;
    }
    const property = propertyKey(prefix!, key);
    if (seen !== undefined) {
      const name = textOf(property);
      if (seen.has(name)) continue;
      seen.add(name);
    }
    keys.push(property);
  }
  return keys;
}

/** An entry: version byte, then each property record key as length (u32be) and bytes. */
export function encodeEntry(properties: readonly Uint8Array[]): Uint8Array {
  let length = 1;
  for (const key of properties) length += 4 + key.length;
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  bytes[0] = ENTRY_VERSION;
  let at = 1;
  for (const key of properties) {
    view.setUint32(at, key.length);
    bytes.set(key, at + 4);
    at += 4 + key.length;
  }
  return bytes;
}

export function decodeEntry(bytes: Uint8Array): Uint8Array[] {
  if (bytes[0] !== ENTRY_VERSION) throw corrupt('a change-log entry of an unknown layout');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const keys: Uint8Array[] = [];
  let at = 1;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) throw corrupt('a change-log entry cut short');
    const length = view.getUint32(at);
    if (at + 4 + length > bytes.length || length === 0 || bytes[at + 4] !== PROPERTY_PREFIX[0]) throw corrupt('a change-log entry naming no property record');
    keys.push(bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return keys;
}

/** Bytes as a string, one char per byte (a Map key; never shown). */
function textOf(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return text;
}

/** Whether a stored "L" value is a layout-1 entry (an engine frame, which starts with "RD"). */
export function isLayout1Entry(bytes: Uint8Array): boolean {
  return bytes[0] === 0x52 && bytes[1] === 0x44;
}

/**
 * Converts a layout-1 change log (frames holding every value ever written) at open:
 * every property record gets one mention in new entries after the last seq (so a
 * follower at any cursor reads them all again, and converges), then the old entries
 * are deleted. Written in chunks straight to the store before the head says layout 2;
 * a crash in between converts again (mentions twice change nothing). Nothing to do for
 * a store without a change log.
 */
export async function convertLayout1ChangeLog(store: StorageAdapter): Promise<void> {
  let last = 0;
  let old = false;
  for await (const { key, value } of store.entries({ prefix: CHANGE_LOG_PREFIX, reverse: true, limit: 1 })) {
    last = changeLogSeqOf(key);
    old = isLayout1Entry(value);
  }
  if (last === 0) return;
  let anyOld = old;
  if (!anyOld) {
    for await (const { value } of store.entries({ prefix: CHANGE_LOG_PREFIX })) {
      if (isLayout1Entry(value)) {
        anyOld = true;
        break;
      }
    }
  }
  if (!anyOld) return;
  const CHUNK = 1024;
  let keys: Uint8Array[] = [];
  const flush = async (): Promise<void> => {
    if (keys.length === 0) return;
    await store.batch([{ type: 'put', key: changeLogKey(++last), value: encodeEntry(keys) }]);
    keys = [];
  };
  for await (const { key } of store.entries({ prefix: PROPERTY_PREFIX })) {
    keys.push(key.slice());
    if (keys.length === CHUNK) await flush();
  }
  await flush();
  let dels: StorageOperation[] = [];
  for await (const { key, value } of store.entries({ prefix: CHANGE_LOG_PREFIX })) {
    if (!isLayout1Entry(value)) continue;
    dels.push({ type: 'del', key: key.slice() });
    if (dels.length === CHUNK) {
      await store.batch(dels);
      dels = [];
    }
  }
  if (dels.length !== 0) await store.batch(dels);
}
