/**
 * What a running network asks of the replica's nodes (replica/stored-nodes.ts), on a
 * LocalReplica with and without a store: a node (or some keys of it) as a frame, loaded
 * from the store first, empty when nothing is known; a node in parts within limits; a node
 * changed by a batch without queueing; anti-entropy digests of the souls in memory; the
 * release listeners; the network's own records;
 * and, without a store, nothing stored, released or recorded.
 */
import { describe, expect, it } from 'vitest';
import { soulDigests } from '../../src/engine/load-node.js';
import type { RangeOptions, StorageEntry } from '../../src/node.js';
import type { LocalReplica } from '../../src/replica/replica.js';
import type { StorageAdapter } from '../../src/storage/adapter.js';
import { acknowledgeAll, listStored, openReplica, put } from './replica-helpers.js';
import { ReusableStore } from './store-helpers.js';

/** A ReusableStore whose scans (a soul's load) start a few milliseconds late. */
class SlowScanStore extends ReusableStore {
  override entries(range?: RangeOptions): AsyncIterable<StorageEntry> {
    const entries = super.entries(range);
    return (async function* () {
      await new Promise((resolve) => setTimeout(resolve, 10));
      yield* entries;
    })();
  }
}

const LIMITS = { partBytes: 1 << 20, maxBytes: 1 << 20, maxUpdates: 1 };

/** The properties a frame carries, as a fresh replica without a store reads them. */
async function propsOf(frame: Uint8Array): Promise<Record<string, unknown>> {
  const reader = await openReplica(undefined as unknown as StorageAdapter);
  const souls = reader.soulsOf(frame);
  await reader.receive(frame);
  const props: Record<string, unknown> = {};
  for (const soul of souls) Object.assign(props, (await reader.read(() => reader.readNode(soul)))?.props);
  return props;
}

/** A replica on a store that holds a = {x: 1, y: 2, z: 3}, reopened so that nothing is in memory. */
async function reopenedWithA(): Promise<LocalReplica> {
  const store = new ReusableStore();
  const first = await openReplica(store);
  await first.write(() => ['a', 'x', 1, 'a', 'y', 2, 'a', 'z', 3], undefined);
  await first.close();
  return openReplica(store);
}

describe('node frames', () => {
  it('nodeFrame loads a stored soul first; with keys it carries only those; an unknown soul is an empty frame', async () => {
    const replica = await reopenedWithA();
    expect(replica.cacheReport().residentNodes).toBe(0);
    expect(Object.keys(await propsOf(await replica.stored.nodeFrame('a'))).sort()).toEqual(['x', 'y', 'z']);
    expect(Object.keys(await propsOf(await replica.stored.nodeFrame('a', ['y']))).sort()).toEqual(['y']);
    expect(await replica.stored.nodeFrame('unknown')).toEqual(new Uint8Array(0));
    // A soul in memory with no property left is "nothing known" too.
    expect(await replica.stored.nodeFrame('a', ['none'])).toEqual(new Uint8Array(0));
  });

  it('nodeFramePart goes through a node part by part until `next` is undefined; an unknown soul is one empty last part', async () => {
    const replica = await reopenedWithA();
    const seen: string[] = [];
    let after: string | undefined;
    let parts = 0;
    do {
      const part = await replica.stored.nodeFramePart('a', after, LIMITS);
      expect(part.skipped).toEqual([]);
      seen.push(...Object.keys(await propsOf(part.frame)));
      after = part.next;
      parts++;
    } while (after !== undefined && parts < 10);
    expect(seen.sort()).toEqual(['x', 'y', 'z']);
    expect(parts).toBeGreaterThanOrEqual(3);
    expect(await replica.stored.nodeFramePart('unknown', undefined, LIMITS)).toEqual({ frame: new Uint8Array(0), next: undefined, skipped: [] });
  });

  it('nodeFrame and nodeFramePart on a closed replica reject the promise they return', async () => {
    const replica = await reopenedWithA();
    await replica.close();
    const frame = replica.stored.nodeFrame('a');
    expect(frame).toBeInstanceOf(Promise);
    await expect(frame).rejects.toMatchObject({ code: 'closed' });
    const part = replica.stored.nodeFramePart('a', undefined, LIMITS);
    expect(part).toBeInstanceOf(Promise);
    await expect(part).rejects.toMatchObject({ code: 'closed' });
  });

  it('residentNodeFrame answers for a soul in memory only, and nothing once the engine is freed', async () => {
    const replica = await reopenedWithA();
    expect(replica.stored.residentNodeFrame('a', undefined)).toBeUndefined();
    await put(replica, 'b', 'k', 1);
    expect(Object.keys(await propsOf(replica.stored.residentNodeFrame('b', undefined)!))).toEqual(['k']);
    await put(replica, 'b', 'l', 2);
    expect(Object.keys(await propsOf(replica.stored.residentNodeFrame('b', ['l'])!))).toEqual(['l']);
    await replica.close();
    expect(replica.stored.residentNodeFrame('b', undefined)).toBeUndefined();
  });
});

describe('release listeners and records', () => {
  it('residentDigests: a soul in memory is digested there, as its stored records digest; the others are left to the store', async () => {
    const replica = await reopenedWithA();
    await replica.write(() => ['b', 'x', 'one', 'b', 'y', 'two'], undefined);
    await replica.write(() => ['b', 'y', 'three'], undefined);
    // b was written here (in memory, whole); a was not loaded since the reopen.
    const [a, b, none] = await replica.stored.residentDigests(['a', 'b', 'none']);
    expect(a).toBeUndefined();
    expect(none).toBeUndefined();
    const records = (await replica.stored.soulRecords(['b']))[0]!;
    expect(records.length).toBe(2);
    expect(b).toEqual(soulDigests(['b'], records, Uint32Array.of(records.length)));
    // Once a is loaded (a read), it is digested in memory too.
    await replica.stored.nodeFrame('a');
    const [loaded] = await replica.stored.residentDigests(['a']);
    const aRecords = (await replica.stored.soulRecords(['a']))[0]!;
    expect(loaded).toEqual(soulDigests(['a'], aRecords, Uint32Array.of(aRecords.length)));
  });

  it('onReleased hears each release that let go of souls, until unsubscribed', async () => {
    const replica = await openReplica(new ReusableStore());
    await put(replica, 'a', 'x', 1);
    await put(replica, 'b', 'x', 1);
    await acknowledgeAll(replica);
    const heard: string[][] = [];
    const stop = replica.stored.onReleased((souls) => heard.push([...souls]));
    expect(await replica.stored.release(['a'])).toEqual(['a']);
    expect(await replica.stored.release(['none'])).toEqual(['none']);
    expect(await replica.stored.release([])).toEqual([]);
    expect(heard).toEqual([['a'], ['none']]);
    stop();
    expect(await replica.stored.release(['b'])).toEqual(['b']);
    expect(heard).toHaveLength(2);
  });

  it('release waits for the operations queued before it: a write still loading its soul protects it', async () => {
    const replica = await openReplica(new SlowScanStore());
    const written = put(replica, 'a', 'x', 1);
    expect(await replica.stored.release(['a'])).toEqual([]);
    await written;
    expect(await replica.stored.holds('a')).toBe(true);
  });

  it('holds() on a closed replica rejects', async () => {
    const replica = await openReplica(new ReusableStore());
    await replica.close();
    await expect(replica.stored.holds('a')).rejects.toMatchObject({ code: 'closed' });
  });

  it("the network's own records are staged with the next commit and read back, after a reopen too", async () => {
    const store = new ReusableStore();
    const replica = await openReplica(store);
    const key = new Uint8Array([0x46, 0x70]);
    expect(await replica.stored.readRecord(key)).toBeUndefined();
    replica.stored.stageRecord(key, new Uint8Array([7]));
    await replica.flush();
    expect(await replica.stored.readRecord(key)).toEqual(new Uint8Array([7]));
    await replica.close();
    const reopened = await openReplica(store);
    expect(await reopened.stored.readRecord(key)).toEqual(new Uint8Array([7]));
  });

  it('without a store: nothing is stored, released or recorded, and holds() answers from the engine', async () => {
    const replica = await openReplica(undefined as unknown as StorageAdapter);
    await put(replica, 'a', 'x', 1);
    expect(await replica.stored.soulRecords(['a', 'b'])).toEqual([[], []]);
    expect(await listStored(replica)).toEqual([]);
    expect(await replica.stored.release(['a'])).toEqual([]);
    expect(await replica.stored.holds('a')).toBe(true);
    expect(await replica.stored.holds('b')).toBe(false);
    const key = new Uint8Array([0x46, 0x70]);
    replica.stored.stageRecord(key, new Uint8Array([1]));
    expect(await replica.stored.readRecord(key)).toBeUndefined();
    expect(Object.keys(await propsOf(replica.stored.residentNodeFrame('a', undefined)!))).toEqual(['x']);
  });
});
