/**
 * A server's change log on a real LevelDB store (issue 11, item 4): compacted to the
 * latest seq per property, so it stays bounded under overwrites, no overwritten or
 * deleted value survives in it, and a follower at any old cursor still converges.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as engineModule from '../../src/engine/load-node.js';
import { CHANGE_LOG_PREFIX, changeLogSeqOf } from '../../src/persistence/layout.js';
import type { LocalReplica } from '../../src/replica/replica.js';
import { LevelStore } from '../../src/storage/leveldb.js';
import { COMPACT_STEP_PROPERTIES, decodeEntry } from '../../src/persistence/change-log.js';
import type { StorageAdapter, StorageOperation } from '../../src/storage/adapter.js';
import { DelegatingStore } from '../storage/delegating-store.js';
import { openReplica, put } from '../unit/replica-helpers.js';

const MIB = 1024 * 1024;
const dirs: string[] = [];
// After every test's replicas are closed (replica-helpers closes them after each test).
afterAll(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function directory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rustdht-changelog-'));
  dirs.push(dir);
  return dir;
}

/** A server's replica (with a change log) on `store`, closed after the test. */
function server(store: StorageAdapter): Promise<LocalReplica> {
  return openReplica(store, { changeLog: true });
}

async function logRecords(store: StorageAdapter): Promise<Array<{ seq: number; value: Uint8Array }>> {
  const records: Array<{ seq: number; value: Uint8Array }> = [];
  for await (const { key, value } of store.entries({ prefix: CHANGE_LOG_PREFIX })) records.push({ seq: changeLogSeqOf(key), value });
  return records;
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

describe('the change log on LevelDB', () => {
  it('overwriting one 10 KB property 20,000 times leaves a bounded log and a store near the live data', async () => {
    const dir = await directory();
    const level = await LevelStore.open(dir);
    const replica = await server(level);
    const padding = 'p'.repeat(10 * 1024 - 10);
    let pending: Array<Promise<unknown>> = [];
    let mostEntries = 0;
    for (let i = 0; i < 20_000; i++) {
      pending.push(put(replica, 'doc', 'body', `${i}:${padding}`));
      if (pending.length === 250) {
        await Promise.all(pending);
        pending = [];
        if (i % 2_000 === 1_999) mostEntries = Math.max(mostEntries, (await logRecords(level)).length);
      }
    }
    await Promise.all(pending);
    await replica.changeLog!.compact();
    const entries = await logRecords(level);
    expect(replica.changeLog!.lastSeq).toBe(20_000);
    // Compaction keeps the latest entry per property: one, however often it was written.
    expect(entries.map((e) => e.seq)).toEqual([20_000]);
    // Between passes the log never holds much more than one pass's worth of entries.
    expect(mostEntries).toBeLessThan(2_000);
    await replica.close();
    const size = duBytes(dir);
    console.log(`[change log] 20,000 overwrites of a 10 KB property: ${entries.length} entry left (at most ${mostEntries} between passes), store ${(size / MIB).toFixed(1)} MiB on disk`);
    // Without compaction and with values copied into the log: +205 MiB.
    expect(size).toBeLessThan(40 * MIB);
  }, 300_000);

  it('compacts entries that name thousands of properties in bounded steps, each property kept once', async () => {
    // A busy server's change log: every entry a joined PUT of many properties.
    class Watched extends DelegatingStore {
      largestBatch = 0;
      reads = 0;
      mostReadsAtOnce = 0;
      override batch(operations: readonly StorageOperation[]): Promise<void> {
        this.largestBatch = Math.max(this.largestBatch, operations.length);
        return super.batch(operations);
      }
      override async get(key: Uint8Array): Promise<Uint8Array | undefined> {
        this.mostReadsAtOnce = Math.max(this.mostReadsAtOnce, ++this.reads);
        try {
          return await super.get(key);
        } finally {
          this.reads--;
        }
      }
    }
    const store = new Watched(await LevelStore.open(await directory()));
    const replica = await server(store);
    const PER_ENTRY = 1_000;
    const ENTRIES = 40;
    for (let round = 0; round < 2; round++) {
      for (let e = 0; e < ENTRIES; e++) {
        await replica.write(() => Array.from({ length: PER_ENTRY }, (_, k) => [`list${e}`, `item${k}`, `r${round}`]).flat(), undefined);
      }
    }
    store.largestBatch = 0;
    store.mostReadsAtOnce = 0;
    await replica.changeLog!.compact();
    // 80,000 property mentions: in one step that was one batch of ~120,000 operations
    // and 80,000 reads at once; in steps, each batch stays near COMPACT_STEP_PROPERTIES,
    // and the reads go 64 at a time (READS_AT_ONCE: the event loop serves others between).
    const bound = 2 * (COMPACT_STEP_PROPERTIES + PER_ENTRY) + 2;
    expect(store.largestBatch).toBeGreaterThan(0);
    expect(store.largestBatch).toBeLessThanOrEqual(bound);
    expect(store.mostReadsAtOnce).toBeGreaterThan(1);
    expect(store.mostReadsAtOnce).toBeLessThanOrEqual(64);
    // The second round's entries are all that is left: each property once, at its latest seq.
    const entries = await logRecords(store);
    expect(entries.map((entry) => entry.seq)).toEqual(Array.from({ length: ENTRIES }, (_, e) => ENTRIES + e + 1));
    const mentioned = entries.flatMap((entry) => decodeEntry(entry.value).map((key) => Buffer.from(key).toString('hex')));
    expect(mentioned.length).toBe(ENTRIES * PER_ENTRY);
    expect(new Set(mentioned).size).toBe(ENTRIES * PER_ENTRY);
  }, 120_000);

  it('keeps no overwritten or deleted value in any "L" record, nor in what a feed reads', async () => {
    const level = await LevelStore.open(await directory());
    const replica = await server(level);
    const secret = 'the secret nobody may read again';
    await put(replica, 'account', 'password', secret);
    await put(replica, 'account', 'note', 'first draft');
    await put(replica, 'account', 'password', null);
    await put(replica, 'account', 'note', 'final');
    await replica.changeLog!.compact();
    const secretBytes = new TextEncoder().encode(secret);
    const draftBytes = new TextEncoder().encode('first draft');
    const records = await logRecords(level);
    expect(records.length).toBeGreaterThan(0);
    for (const { value } of records) {
      expect(contains(value, secretBytes)).toBe(false);
      expect(contains(value, draftBytes)).toBe(false);
    }
    // A follower from seq 0 reads the current state only.
    const fed: Uint8Array[] = [];
    for await (const entry of replica.changeLog!.after(0)) fed.push(entry.frame);
    expect(fed.some((frame) => contains(frame, secretBytes) || contains(frame, draftBytes))).toBe(false);
    const follower = await server(await LevelStore.open(await directory()));
    for (const frame of fed) await follower.receive(frame);
    const node = await follower.read(() => follower.readNode('account'));
    expect(node?.props['password']?.v).toBeNull();
    expect(node?.props['note']?.v).toBe('final');
  }, 60_000);

  it('a follower whose cursor is older than every kept entry converges by reading on from it', async () => {
    const level = await LevelStore.open(await directory());
    const leader = await server(level);
    for (let i = 0; i < 50; i++) await put(leader, `s${i % 10}`, `k${i}`, `v${i}`);
    // The follower catches up to seq 20, then goes away.
    const follower = await server(await LevelStore.open(await directory()));
    let cursor = 0;
    for await (const entry of leader.changeLog!.after(0)) {
      if (entry.seq > 20) break;
      await follower.receive(entry.frame);
      cursor = entry.seq;
    }
    expect(cursor).toBe(20);
    // Meanwhile every property is overwritten (many twice), some deleted, and new ones come.
    let pending: Array<Promise<unknown>> = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 50; i++) pending.push(put(leader, `s${i % 10}`, `k${i}`, i % 7 === 0 ? null : `v${i}-r${round}`));
      for (let i = 0; i < 300; i++) pending.push(put(leader, `new${i % 30}`, `n${i}`, round * 1000 + i));
      await Promise.all(pending);
      pending = [];
    }
    await leader.changeLog!.compact();
    const kept = (await logRecords(level)).map((e) => e.seq);
    // Everything the follower had not read yet (21 … the first kept entry) is gone from the log.
    expect(kept[0]!).toBeGreaterThan(cursor + 100);
    expect(kept.length).toBeLessThan(leader.changeLog!.lastSeq - cursor);
    for await (const entry of leader.changeLog!.after(cursor)) await follower.receive(entry.frame);
    const souls = [...Array.from({ length: 10 }, (_, i) => `s${i}`), ...Array.from({ length: 30 }, (_, i) => `new${i}`)];
    for (const soul of souls) {
      const theirs = await leader.read(() => leader.readNode(soul));
      const ours = await follower.read(() => follower.readNode(soul));
      expect(ours, soul).toEqual(theirs);
    }
    // A new follower (cursor 0) converges too.
    const fresh = await server(await LevelStore.open(await directory()));
    for await (const entry of leader.changeLog!.after(0)) await fresh.receive(entry.frame);
    for (const soul of souls) expect(await fresh.read(() => fresh.readNode(soul)), soul).toEqual(await leader.read(() => leader.readNode(soul)));
  }, 120_000);
});

describe('a layout-1 store', () => {
  it('is converted at open: its "D" frame becomes "d" records, its "L" frames become property lists, once', async () => {
    const { DEFERRED_KEY, DEFERRED_RECORD_PREFIX, HEAD_KEY, changeLogKey, decodeHead } = await import('../../src/persistence/layout.js');
    const dir = await directory();
    const level = await LevelStore.open(dir);
    const first = await server(level);
    await put(first, 'page', 'title', 'current');
    await first.close();
    // Rewrite it as layout 1 wrote it: head version 1, the queue as one "D" frame, the log as frames.
    const store = await LevelStore.open(dir);
    const head = (await store.get(HEAD_KEY))!;
    head[0] = 1;
    const due = Date.now() + 60_000;
    const deferred = engineModule.encodeUpdates(['later', 'a', 1, 'later', 'b', 2], Float64Array.of(due, due + 1));
    const oldValue = engineModule.encodeUpdates(['page', 'title', 'an old overwritten title'], Float64Array.of(1));
    await store.batch([
      { type: 'put', key: HEAD_KEY, value: head },
      { type: 'put', key: DEFERRED_KEY, value: deferred },
      { type: 'put', key: changeLogKey(1), value: oldValue },
      { type: 'put', key: changeLogKey(2), value: oldValue },
    ]);
    const replica = await server(store);
    expect(replica.deferredQueue().count).toBe(2);
    expect(decodeHead((await store.get(HEAD_KEY))!).layout).toBe(2);
    expect(await store.get(DEFERRED_KEY)).toBeUndefined();
    let records = 0;
    for await (const _ of store.entries({ prefix: DEFERRED_RECORD_PREFIX })) records++;
    expect(records).toBe(2);
    const log = await logRecords(store);
    const old = new TextEncoder().encode('an old overwritten title');
    expect(log.every(({ value }) => !contains(value, old) && value[0] === 1)).toBe(true);
    // The property is mentioned after the old seqs: a follower at any cursor reads it again.
    expect(log.at(-1)!.seq).toBeGreaterThan(2);
    const fed: Uint8Array[] = [];
    for await (const entry of replica.changeLog!.after(2)) fed.push(entry.frame);
    const follower = await server(await LevelStore.open(await directory()));
    for (const frame of fed) await follower.receive(frame);
    expect((await follower.read(() => follower.readNode('page')))?.props['title']?.v).toBe('current');
  }, 60_000);
});
