/**
 * ChangeLog (persistence/change-log.ts) on a MemoryStore with a real GroupCommit and a
 * stand-in for the engine's joinFrames (frames concatenated): the seqs it hands out and
 * finds again at open, the property keys an entry names (each once), the backlog `after`
 * reads (current records only, entries with none skipped, an abort), compaction to the
 * latest seq per property (the "l" index, the "M" mark, steps of COMPACT_STEP_PROPERTIES,
 * the automatic pass after COMPACT_AFTER_ENTRIES appends, close), the entry format and
 * what a damaged entry says, and the layout-1 conversion. The LevelDB tests
 * (test/durability/change-log-compaction.test.ts) run the same log inside a server.
 */
import { describe, expect, it } from 'vitest';
import {
  COMPACT_AFTER_ENTRIES,
  COMPACT_STEP_PROPERTIES,
  ChangeLog,
  convertLayout1ChangeLog,
  decodeEntry,
  encodeEntry,
  isLayout1Entry,
  type JoinFrames,
} from '../../src/persistence/change-log.js';
import { GroupCommit } from '../../src/persistence/group-commit.js';
import {
  CHANGE_LOG_INDEX_PREFIX,
  CHANGE_LOG_MARK_KEY,
  CHANGE_LOG_PREFIX,
  changeLogKey,
  changeLogSeqOf,
  decodeSeq,
  keyOfPropertyKey,
  propertyKey,
  soulOfPropertyKey,
  soulPrefix,
} from '../../src/persistence/layout.js';
import type { EngineChange } from '../../src/replica/batch-report.js';
import type { StorageOperation } from '../../src/storage/adapter.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { refusal } from './refusal.js';

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const property = (soul: string, key: string): Uint8Array => propertyKey(soulPrefix(soul), key);
/** "soul.key" of a property record key. */
const nameOf = (key: Uint8Array): string => {
  const { soul, prefixLength } = soulOfPropertyKey(key);
  return `${soul}.${keyOfPropertyKey(key, prefixLength)}`;
};
const change = (soul: string, key: string): EngineChange => [soul, key, null, 0, undefined] as unknown as EngineChange;

/** The engine's joinFrames, as far as the log can tell: the frames in order, separated by "|". */
const join: JoinFrames = (frames, maxUpdates) => {
  expect(maxUpdates).toBe(frames.length);
  return [new TextEncoder().encode(frames.map(text).join('|')), frames.length];
};

class CountingStore extends MemoryStore {
  readonly batches: StorageOperation[][] = [];
  override batch(operations: readonly StorageOperation[]): Promise<void> {
    this.batches.push([...operations]);
    return super.batch(operations);
  }
}

async function open(store = new CountingStore()): Promise<{ store: CountingStore; commit: GroupCommit; log: ChangeLog }> {
  const commit = new GroupCommit(store, () => {});
  const log = await ChangeLog.open(store, commit, join);
  return { store, commit, log };
}

/** Stages the records of `values` (soul.key → value) and an entry naming them, as a batch does; returns the seq. */
function write(commit: GroupCommit, log: ChangeLog, values: Record<string, string | null>): number {
  const changes: EngineChange[] = [];
  for (const [name, value] of Object.entries(values)) {
    const [soul, key] = name.split('.') as [string, string];
    if (value === null) commit.del(property(soul, key));
    else commit.put(property(soul, key), new TextEncoder().encode(`${name}=${value}`));
    changes.push(change(soul, key));
  }
  return log.append(changes);
}

/** The stored entries: seq → the properties each names. */
async function entries(store: MemoryStore): Promise<Record<number, string[]>> {
  const found: Record<number, string[]> = {};
  for await (const { key, value } of store.entries({ prefix: CHANGE_LOG_PREFIX })) found[changeLogSeqOf(key)] = decodeEntry(value).map(nameOf);
  return found;
}

async function index(store: MemoryStore): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  for await (const { key, value } of store.entries({ prefix: CHANGE_LOG_INDEX_PREFIX })) {
    const record = key.slice();
    record[0] = 0x50;
    found[nameOf(record)] = decodeSeq(value);
  }
  return found;
}

async function backlog(log: ChangeLog, since: number, signal?: AbortSignal): Promise<Array<[number, string]>> {
  const read: Array<[number, string]> = [];
  for await (const entry of log.after(since, signal === undefined ? {} : { signal })) read.push([entry.seq, text(entry.frame)]);
  return read;
}

describe('the change log', () => {
  it('hands out seqs from 1, names each changed property once, in order, and finds its newest seq again at open', async () => {
    const { store, commit, log } = await open();
    expect(log.lastSeq).toBe(0);
    expect(log.append([change('a', 'x'), change('b', 'y'), change('a', 'x'), change('a', 'z')])).toBe(1);
    expect(log.append([change('b', 'y')])).toBe(2);
    expect(log.lastSeq).toBe(2);
    await commit.flush();
    expect(await entries(store)).toEqual({ 1: ['a.x', 'b.y', 'a.z'], 2: ['b.y'] });
    // Souls that come back: each change gets its own soul's prefix.
    log.append([change('a', 'k'), change('b', 'k'), change('a', 'j')]);
    await commit.flush();
    expect((await entries(store))[3]).toEqual(['a.k', 'b.k', 'a.j']);
    await log.close();
    const again = await open(store);
    expect(again.log.lastSeq).toBe(3);
    expect(again.log.append([change('c', 'k')])).toBe(4);
    await again.log.close();
  });

  it('reads the backlog after a seq as the current records of each entry, skipping entries whose properties are all gone', async () => {
    const { commit, log } = await open();
    write(commit, log, { 'a.x': '1', 'a.y': '1' });
    write(commit, log, { 'b.x': '1' });
    write(commit, log, { 'a.x': '2' });
    write(commit, log, { 'b.x': null });
    write(commit, log, { 'c.x': '1', 'b.x': null });
    await commit.flush();
    expect(await backlog(log, 0)).toEqual([
      [1, 'a.x=2|a.y=1'],
      [3, 'a.x=2'],
      [5, 'c.x=1'],
    ]);
    expect(await backlog(log, 3)).toEqual([[5, 'c.x=1']]);
    expect(await backlog(log, 5)).toEqual([]);
    const aborted = new AbortController();
    aborted.abort();
    expect(await backlog(log, 0, aborted.signal)).toEqual([]);
    // Aborted midway: nothing after the entry being read when it happened.
    const midway = new AbortController();
    const read: number[] = [];
    for await (const entry of log.after(0, { signal: midway.signal })) {
      read.push(entry.seq);
      midway.abort();
    }
    expect(read).toEqual([1]);
    await log.close();
  });

  it('compacts to the latest seq per property: older mentions removed, entries left empty deleted, the index and mark moved on', async () => {
    const { store, commit, log } = await open();
    write(commit, log, { 'a.x': '1', 'a.y': '1' });
    write(commit, log, { 'b.x': '1' });
    write(commit, log, { 'a.x': '2', 'b.x': '2' });
    await commit.flush();
    store.batches.length = 0;
    await log.compact();
    expect(await entries(store)).toEqual({ 1: ['a.y'], 3: ['a.x', 'b.x'] });
    // Only the entries that lost a property are written: 1 rewritten, 2 deleted, 3 left alone.
    const logged = store.batches.flat().filter((operation) => operation.key[0] === CHANGE_LOG_PREFIX[0]);
    expect(logged.map((operation) => [operation.type, changeLogSeqOf(operation.key)])).toEqual([['put', 1], ['del', 2]]);
    expect(await index(store)).toEqual({ 'a.x': 3, 'a.y': 1, 'b.x': 3 });
    expect(decodeSeq((await store.get(CHANGE_LOG_MARK_KEY))!)).toBe(3);
    // The next pass starts at the mark, and finds older mentions through the index.
    write(commit, log, { 'a.y': '2' });
    write(commit, log, { 'c.x': '1' });
    write(commit, log, { 'c.x': '2', 'a.x': '3' });
    await log.compact();
    expect(await entries(store)).toEqual({ 3: ['b.x'], 4: ['a.y'], 6: ['c.x', 'a.x'] });
    expect(await index(store)).toEqual({ 'a.x': 6, 'a.y': 4, 'b.x': 3, 'c.x': 6 });
    expect(decodeSeq((await store.get(CHANGE_LOG_MARK_KEY))!)).toBe(6);
    // What a follower from 0 reads: every property once, at its latest value.
    expect(await backlog(log, 0)).toEqual([[3, 'b.x=2'], [4, 'a.y=2'], [6, 'c.x=2|a.x=3']]);
    // Nothing new: a pass changes nothing.
    const batches = store.batches.length;
    await log.compact();
    expect(store.batches.length).toBe(batches);
    // A reopened log keeps the mark: the index covers up to it.
    await log.close();
    const again = await open(store);
    write(again.commit, again.log, { 'b.x': '3' });
    await again.log.compact();
    expect(await entries(store)).toEqual({ 4: ['a.y'], 6: ['c.x', 'a.x'], 7: ['b.x'] });
    await again.log.close();
  });

  it('compacts in steps of COMPACT_STEP_PROPERTIES named properties, whole entries at a time', async () => {
    expect(COMPACT_STEP_PROPERTIES).toBe(1024);
    const { store, commit, log } = await open();
    const many = (from: number, count: number, round: string): Record<string, string> =>
      Object.fromEntries(Array.from({ length: count }, (_, i) => [`s.k${from + i}`, round]));
    // 1,000 + 100 properties (the step stops after the entry that reaches 1,024), then 10.
    write(commit, log, many(0, 1000, 'a'));
    write(commit, log, many(1000, 100, 'a'));
    write(commit, log, many(0, 10, 'b'));
    await commit.flush();
    store.batches.length = 0;
    await log.compact();
    const marks = store.batches.map((batch) => batch.find((operation) => operation.type === 'put' && operation.key[0] === CHANGE_LOG_MARK_KEY[0]));
    expect(marks.map((mark) => (mark?.type === 'put' ? decodeSeq(mark.value) : undefined))).toEqual([2, 3]);
    const found = await entries(store);
    expect([found[1]!.length, found[2]!.length, found[3]!.length]).toEqual([990, 100, 10]);
    // Exactly 1,024 properties in one entry fill a step: the next entry is the next step's.
    const exact = await open();
    write(exact.commit, exact.log, many(0, 1024, 'a'));
    write(exact.commit, exact.log, many(0, 1, 'b'));
    await exact.commit.flush();
    exact.store.batches.length = 0;
    await exact.log.compact();
    expect(exact.store.batches.length).toBe(2);
    expect((await entries(exact.store))[1]!.length).toBe(1023);
    await log.close();
    await exact.log.close();
  });

  it(`compacts by itself once ${COMPACT_AFTER_ENTRIES} entries were appended since the mark, and not while closed`, async () => {
    expect(COMPACT_AFTER_ENTRIES).toBe(256);
    const { store, commit, log } = await open();
    for (let i = 1; i < COMPACT_AFTER_ENTRIES; i++) write(commit, log, { 'a.x': String(i) });
    await commit.flush();
    await log.idle();
    expect(Object.keys(await entries(store)).length).toBe(COMPACT_AFTER_ENTRIES - 1);
    expect(await store.get(CHANGE_LOG_MARK_KEY)).toBeUndefined();
    // The 256th append starts a pass over what is stored: the 255 before it (the 256th is still staged).
    write(commit, log, { 'a.x': 'last' });
    await commit.flush();
    await log.idle();
    expect(await entries(store)).toEqual({ [COMPACT_AFTER_ENTRIES - 1]: ['a.x'], [COMPACT_AFTER_ENTRIES]: ['a.x'] });
    expect(decodeSeq((await store.get(CHANGE_LOG_MARK_KEY))!)).toBe(COMPACT_AFTER_ENTRIES - 1);
    // Closed: appends go on, no pass starts.
    await log.close();
    for (let i = 0; i < COMPACT_AFTER_ENTRIES + 10; i++) write(commit, log, { 'a.x': `closed ${i}` });
    await commit.flush();
    await log.idle();
    expect(Object.keys(await entries(store)).length).toBe(COMPACT_AFTER_ENTRIES + 12);
  });

  it('starts no pass for fewer than 256 entries past its mark, each committed on its own, before or after a pass', async () => {
    const { store, commit, log } = await open();
    const committed = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        write(commit, log, { 'a.x': String(i) });
        await commit.flush();
        await log.idle();
      }
    };
    await committed(100);
    expect(await store.get(CHANGE_LOG_MARK_KEY)).toBeUndefined();
    await committed(COMPACT_AFTER_ENTRIES - 100);
    // The pass the 256th append started saw the 255 stored before it.
    expect(decodeSeq((await store.get(CHANGE_LOG_MARK_KEY))!)).toBe(COMPACT_AFTER_ENTRIES - 1);
    await committed(100);
    expect(decodeSeq((await store.get(CHANGE_LOG_MARK_KEY))!)).toBe(COMPACT_AFTER_ENTRIES - 1);
    expect(Object.keys(await entries(store)).length).toBe(102);
    // Reopened 101 entries past its mark: no pass at open either.
    await log.close();
    const batches = store.batches.length;
    const again = await open(store);
    await again.log.idle();
    expect(store.batches.length).toBe(batches);
    await again.log.close();
  });

  it('runs one pass at a time: appends while a pass waits for its commit start no other', async () => {
    const { store, commit, log } = await open();
    let hold: Promise<void> | undefined;
    let release!: () => void;
    const batch = store.batch.bind(store);
    store.batch = async (operations) => {
      if (operations.some((operation) => operation.key[0] === CHANGE_LOG_MARK_KEY[0])) await hold;
      return batch(operations);
    };
    hold = new Promise<void>((resolve) => (release = resolve));
    for (let i = 0; i < COMPACT_AFTER_ENTRIES; i++) {
      write(commit, log, { 'a.x': String(i) });
      if (i < COMPACT_AFTER_ENTRIES - 1) await commit.flush();
    }
    // The pass started by the 256th append is waiting for its commit; more appends come meanwhile.
    for (let i = 0; i < 5; i++) write(commit, log, { 'b.x': String(i) });
    const passes = (): number => store.batches.filter((operations) => operations.some((operation) => operation.key[0] === CHANGE_LOG_MARK_KEY[0])).length;
    release();
    for (let round = 0; round < 5; round++) {
      await commit.flush();
      await log.idle();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(passes()).toBe(1);
    expect(decodeSeq((await store.get(CHANGE_LOG_MARK_KEY))!)).toBe(COMPACT_AFTER_ENTRIES - 1);
    await log.close();
  });

  it('a reopened log with 256 entries past its mark compacts them at open', async () => {
    const { store, commit, log } = await open();
    await log.close();
    for (let i = 0; i < COMPACT_AFTER_ENTRIES; i++) write(commit, log, { 'a.x': String(i) });
    await commit.flush();
    const again = await open(store);
    await again.log.idle();
    expect(await entries(store)).toEqual({ [COMPACT_AFTER_ENTRIES]: ['a.x'] });
    await again.log.close();
  });

  it('a pass the store refuses is tried again after more appends', async () => {
    const { store, commit, log } = await open();
    let refuse = true;
    const batch = store.batch.bind(store);
    store.batch = (operations) => (refuse && operations.some((o) => o.key[0] === CHANGE_LOG_MARK_KEY[0]) ? Promise.reject(new Error('disk full')) : batch(operations));
    for (let i = 0; i < COMPACT_AFTER_ENTRIES; i++) write(commit, log, { 'a.x': String(i) });
    await commit.flush();
    await log.idle();
    expect(await store.get(CHANGE_LOG_MARK_KEY)).toBeUndefined();
    refuse = false;
    write(commit, log, { 'a.x': 'again' });
    await commit.flush();
    await log.idle();
    expect(await entries(store)).toEqual({ [COMPACT_AFTER_ENTRIES]: ['a.x'], [COMPACT_AFTER_ENTRIES + 1]: ['a.x'] });
    expect(decodeSeq((await store.get(CHANGE_LOG_MARK_KEY))!)).toBe(COMPACT_AFTER_ENTRIES);
    await log.close();
  });
});

describe('a change-log entry', () => {
  it('is a version byte, then each property record key as u32be length and bytes', () => {
    const entry = encodeEntry([property('s', 'k'), property('t', 'é')]);
    expect(Buffer.from(entry).toString('hex')).toBe('01' + '00000007' + '5000000001736b' + '00000008' + '500000000174c3a9');
    expect(decodeEntry(entry).map(nameOf)).toEqual(['s.k', 't.é']);
    expect(Array.from(encodeEntry([]))).toEqual([1]);
    expect(decodeEntry(Uint8Array.of(1))).toEqual([]);
    // Read from inside a larger buffer.
    const inside = new Uint8Array(entry.length + 5);
    inside.set(entry, 5);
    expect(decodeEntry(inside.subarray(5)).map(nameOf)).toEqual(['s.k', 't.é']);
  });

  it('that is damaged is refused, saying how', () => {
    const damaged = (what: string): string => `store/corrupt: the store is damaged (${what}); restore it from a backup or from peers.`;
    const key = property('s', 'k');
    const good = encodeEntry([key]);
    expect(refusal(() => decodeEntry(Uint8Array.of(2, ...good.subarray(1))))).toBe(damaged('a change-log entry of an unknown layout'));
    expect(refusal(() => decodeEntry(new Uint8Array(0)))).toBe(damaged('a change-log entry of an unknown layout'));
    expect(refusal(() => decodeEntry(good.subarray(0, 4)))).toBe(damaged('a change-log entry cut short'));
    expect(refusal(() => decodeEntry(good.subarray(0, good.length - 1)))).toBe(damaged('a change-log entry naming no property record'));
    expect(refusal(() => decodeEntry(Uint8Array.of(1, 0, 0, 0, 0)))).toBe(damaged('a change-log entry naming no property record'));
    expect(refusal(() => decodeEntry(Uint8Array.of(1, 0, 0, 0, 1, 0x41)))).toBe(damaged('a change-log entry naming no property record'));
    expect(decodeEntry(Uint8Array.of(1, 0, 0, 0, 1, 0x50))).toEqual([Uint8Array.of(0x50)]);
  });

  it('of layout 1 is an engine frame, starting with "RD"', () => {
    expect([isLayout1Entry(Uint8Array.of(0x52, 0x44, 1)), isLayout1Entry(Uint8Array.of(0x52, 0x45)), isLayout1Entry(Uint8Array.of(0x51, 0x44)), isLayout1Entry(encodeEntry([]))]).toEqual([
      true, false, false, false,
    ]);
  });
});

describe('converting a layout-1 change log', () => {
  const frame = (text: string): Uint8Array => Uint8Array.of(0x52, 0x44, ...new TextEncoder().encode(text));

  it('mentions every property once after the last seq, in chunks of 1,024, and deletes the old entries', async () => {
    const store = new CountingStore();
    const souls = Array.from({ length: 1030 }, (_, i) => property(`s${String(i).padStart(4, '0')}`, 'k'));
    // Property records hold engine frames, which start with "RD" as layout-1 entries did: they stay.
    await store.batch([
      ...souls.map((key) => ({ type: 'put' as const, key, value: frame('a value') })),
      { type: 'put', key: changeLogKey(5), value: frame('old five') },
      { type: 'put', key: changeLogKey(9), value: encodeEntry([souls[0]!]) },
      { type: 'put', key: changeLogKey(10), value: frame('old ten') },
    ]);
    store.batches.length = 0;
    await convertLayout1ChangeLog(store);
    const found = await entries(store);
    expect(Object.keys(found).map(Number)).toEqual([9, 11, 12]);
    expect([found[11]!.length, found[12]!.length]).toEqual([1024, 6]);
    expect([...found[11]!, ...found[12]!]).toEqual(souls.map(nameOf));
    expect(found[9]).toEqual(['s0000.k']);
    expect(await store.get(souls[0]!)).toEqual(frame('a value'));
    expect(await store.get(souls[1029]!)).toEqual(frame('a value'));
    // One batch per chunk, then the deletions.
    expect(store.batches.map((batch) => batch.length)).toEqual([1, 1, 2]);
  });

  it('finds layout-1 entries behind a newer one, and deletes them in batches of 1,024', async () => {
    const store = new CountingStore();
    const key = property('s', 'k');
    await store.batch([
      { type: 'put', key, value: Uint8Array.of(1) },
      ...Array.from({ length: 1024 }, (_, i) => ({ type: 'put' as const, key: changeLogKey(i + 1), value: frame(`old ${i}`) })),
      { type: 'put', key: changeLogKey(2000), value: encodeEntry([key]) },
    ]);
    store.batches.length = 0;
    await convertLayout1ChangeLog(store);
    expect(await entries(store)).toEqual({ 2000: ['s.k'], 2001: ['s.k'] });
    // 1,024 exactly: one full batch of deletions, and no empty one after it.
    expect(store.batches.map((batch) => batch.length)).toEqual([1, 1024]);
  });

  it('does nothing to a store without a change log or without layout-1 entries', async () => {
    const store = new CountingStore();
    await store.batch([{ type: 'put', key: property('s', 'k'), value: frame('a value') }]);
    store.batches.length = 0;
    await convertLayout1ChangeLog(store);
    expect(store.batches).toEqual([]);
    await store.batch([{ type: 'put', key: changeLogKey(1), value: encodeEntry([property('s', 'k')]) }]);
    store.batches.length = 0;
    await convertLayout1ChangeLog(store);
    expect(store.batches).toEqual([]);
    // A layout-1 log over a store without property records: the old entries go, nothing is added.
    const bare = new CountingStore();
    await bare.batch([{ type: 'put', key: changeLogKey(3), value: frame('old') }]);
    await convertLayout1ChangeLog(bare);
    expect(await entries(bare)).toEqual({});
  });
});
