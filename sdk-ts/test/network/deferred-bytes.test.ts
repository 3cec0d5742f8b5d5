/**
 * The deferred queue's byte bound through the whole path (issue 11, item 4): a server on
 * LevelDB whose queue holds `maxDeferredBytes` refuses the next update from the future
 * with limit/deferred in the ACK, before anything is stored or acknowledged; the writer
 * keeps it in its outbox; the server stored every update it acknowledged as deferred.
 * Real libp2p nodes on loopback TCP, in one process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { MemoryStore, RustDHT } from '../../src/node.js';
import type { NetworkEvent } from '../../src/network/types.js';
import { DEFERRED_RECORD_PREFIX } from '../../src/persistence/layout.js';
import { LevelStore } from '../../src/storage/leveldb.js';
import { waitFor } from './helpers/server-process.js';

const MIB = 1024 * 1024;
const opened: RustDHT[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close().catch(() => {})));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

it('a server whose deferred queue is full in bytes refuses with limit/deferred; the writer keeps the write; every deferred ACK is stored', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'rustdht-deferred-bytes-'));
  dirs.push(dataDir);
  const storeDir = join(dataDir, 'store');
  const server = await RustDHT.open({
    directory: storeDir,
    limits: { maxDeferredBytes: 3 * MIB },
    network: { role: 'server', dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], peers: [] },
  });
  opened.push(server);
  const address = server.network!.status().addresses[0]!;
  // 60 s fast: within the skew, so the server defers.
  const writer = await RustDHT.open({ store: new MemoryStore(), now: () => Date.now() + 60_000, network: { role: 'client', peers: [address] } });
  opened.push(writer);
  const rejects: NetworkEvent[] = [];
  writer.network!.on((event) => void (event.type === 'reject' && rejects.push(event)));
  await writer.network!.whenConnected();
  const big = (i: number): string => `${i}:`.padEnd(900 * 1024, 'x');
  for (let i = 0; i < 3; i++) {
    await writer.get('parked').get(`k${i}`).put(big(i));
    await writer.network!.whenSynced();
  }
  expect(server.network!.counters().updates.deferred).toBe(3);
  await writer.get('parked').get('k3').put(big(3));
  await waitFor('the refusal to reach the writer', () => rejects.some((event) => event.type === 'reject' && event.code === 'limit/deferred'), { timeoutMs: 10_000 });
  expect(writer.outbox.size).toBe(1);
  await server.close();
  const store = await LevelStore.open(storeDir);
  let stored = 0;
  for await (const _ of store.entries({ prefix: DEFERRED_RECORD_PREFIX })) stored++;
  await store.close();
  expect(stored).toBe(3);
}, 40_000);
