/**
 * A server whose disk fills up (issue 11, items 3–4): a write that could not be made
 * durable is not applied, not acknowledged and not served; it stays in the writer's
 * outbox; reads go on; and the server recovers by itself when there is room again.
 *
 * The server is a real database on a real LevelDB directory, in this process, behind an
 * adapter that refuses batches with `storage/full` while the test says the disk is full
 * (what LevelStore reports for ENOSPC); the clients are real peers over loopback TCP.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { RustDHTError } from '../../src/api/errors.js';
import { LevelStore, MemoryStore, RustDHT } from '../../src/node.js';
import type { StorageOperation } from '../../src/storage/adapter.js';
import type { NetworkEvent } from '../../src/network/types.js';
import { waitFor } from '../network/helpers/server-process.js';
import { DelegatingStore } from '../storage/delegating-store.js';

/** LevelStore, with a switch that makes every batch fail as a full disk does. */
class FillableDisk extends DelegatingStore {
  full = false;
  refused = 0;
  override batch(operations: readonly StorageOperation[]): Promise<void> {
    if (!this.full) return this.inner.batch(operations);
    this.refused++;
    return Promise.reject(new RustDHTError('storage/full', 'cannot write a batch: the disk is full (ENOSPC).'));
  }
}

const opened: RustDHT[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close().catch(() => {})));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function track(db: Promise<RustDHT>): Promise<RustDHT> {
  const opening = await db;
  opened.push(opening);
  return opening;
}

it('a full disk refuses writes without losing them, keeps serving reads, and recovers when room returns', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rustdht-disk-full-'));
  dirs.push(dir);
  const disk = new FillableDisk(await LevelStore.open(join(dir, 'store')));
  const server = await track(RustDHT.open({ store: disk, network: { role: 'server', dataDir: join(dir, 'peer'), listen: ['/ip4/127.0.0.1/tcp/0'], peers: [] } }));
  const address = server.network!.status().addresses[0]!;
  const client = async (): Promise<RustDHT> => {
    const db = await track(RustDHT.open({ store: new MemoryStore(), network: { role: 'client', peers: [address] } }));
    await db.network!.whenConnected();
    return db;
  };
  const writer = await client();
  const rejects: NetworkEvent[] = [];
  writer.network!.on((event) => void (event.type === 'reject' && rejects.push(event)));

  await writer.get('doc').put({ before: 'stored' });
  await writer.network!.whenSynced();

  disk.full = true;
  await writer.get('doc').put({ during: 'kept by the writer' });
  await waitFor('the writer to learn of the full disk', () => rejects.some((event) => event.type === 'reject' && event.code === 'storage/full'), { timeoutMs: 10_000 });
  expect(disk.refused).toBeGreaterThan(0);
  // Not acknowledged: still the writer's to deliver.
  expect(writer.outbox.size).toBe(1);
  expect(server.storage.failure()).toMatchObject({ code: 'storage/full' });
  // Not applied on the server: neither its own reads nor a fresh reader see it; reads work.
  expect(await server.get('doc').get('during').once({ local: true })).toBeUndefined();
  const reader = await client();
  expect(await reader.get('doc').once()).toEqual({ before: 'stored' });

  disk.full = false;
  await waitFor('the kept write to land once there is room', () => writer.outbox.size === 0, { timeoutMs: 20_000 });
  expect(server.storage.failure()).toBeUndefined();
  expect(await server.get('doc').get('during').once({ local: true })).toBe('kept by the writer');

  // Durable: the store alone, reopened, has both writes.
  await server.close();
  opened.splice(opened.indexOf(server), 1);
  const reopened = await track(RustDHT.open({ store: await LevelStore.open(join(dir, 'store')) }));
  expect(await reopened.get('doc').once()).toEqual({ before: 'stored', during: 'kept by the writer' });
}, 60_000);

it('a deferred update that comes due while the disk is full is stored once there is room (no crash, no loss)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rustdht-disk-full-'));
  dirs.push(dir);
  const disk = new FillableDisk(await LevelStore.open(join(dir, 'store')));
  const db = await track(RustDHT.open({ store: disk }));
  // An update 300 ms in the future: deferred, then applied by the database's own timer.
  const writer = await track(RustDHT.open({ store: new MemoryStore(), now: () => Date.now() + 300 }));
  let frame: Uint8Array | undefined;
  writer.onChanges((changes) => void (frame = changes));
  await writer.get('later').put({ value: 'due soon' });
  const result = await db.receive(frame!);
  expect(result.deferred).toBe(1);
  disk.full = true;
  await waitFor('the due update to meet the full disk', () => disk.refused > 0, { timeoutMs: 5_000 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(db.storage.failure()).toMatchObject({ code: 'storage/full' });
  disk.full = false;
  await waitFor('the due update to be stored', async () => (await db.get('later').get('value').once({ local: true })) === 'due soon' && db.storage.failure() === undefined, { timeoutMs: 10_000 });
  await db.close();
  opened.splice(opened.indexOf(db), 1);
  const reopened = await track(RustDHT.open({ store: await LevelStore.open(join(dir, 'store')) }));
  expect(await reopened.get('later').get('value').once()).toBe('due soon');
}, 30_000);
