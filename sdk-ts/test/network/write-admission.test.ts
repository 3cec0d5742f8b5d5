/**
 * Admission and quotas (issue 11, item 3): what peers may make a server store, refused
 * with typed codes the writer sees — and never lost, since the writer keeps a refused
 * write and sends it again (duties/write-refusals.ts). Real libp2p on loopback; the disk
 * headroom check against a real `rustdht serve` whose minimum free space cannot be met.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { MemoryStore, RustDHT } from '../../src/node.js';
import type { NetworkEvent, WriteQuota } from '../../src/network/types.js';
import { UPDATE_OVERHEAD_BYTES, WriteAdmission } from '../../src/network/serving/write-admission.js';
import { DiskGuard } from '../../src/server/disk-guard.js';
import { startServer, stopAllServers, waitFor, withDeadline } from './helpers/server-process.js';

const opened: RustDHT[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close().catch(() => {})));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});
afterAll(stopAllServers);

async function server(quota: WriteQuota): Promise<{ db: RustDHT; address: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rustdht-admission-'));
  dirs.push(dataDir);
  const db = await RustDHT.open({ store: new MemoryStore(), network: { role: 'server', dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], peers: [], quota } });
  opened.push(db);
  return { db, address: db.network!.status().addresses[0]! };
}

async function writer(address: string): Promise<{ db: RustDHT; codes: string[] }> {
  const db = await RustDHT.open({ store: new MemoryStore(), network: { role: 'client', peers: [address] } });
  opened.push(db);
  const codes: string[] = [];
  db.network!.on((event: NetworkEvent) => void (event.type === 'reject' && codes.push(event.code)));
  await db.network!.whenConnected();
  return { db, codes };
}

/** 40 writes of ~30 KB: 1.2 MB, in one go. */
async function writeBurst(db: RustDHT, prefix: string): Promise<void> {
  await Promise.all(Array.from({ length: 40 }, (_, i) => db.get(`${prefix}-${i}`).put({ body: `${i}:${'q'.repeat(30_000)}` })));
}

it('one peer over its write quota is refused with quota/peer, keeps its writes, and they all land as the quota refills', async () => {
  // 192 KiB/s with bursts of 10 s: ~1.9 MiB at once, then 192 KiB/s. Two bursts of 1.2 MB: the second is over.
  const s = await server({ peerBytesPerSecond: 192 * 1024 });
  const { db, codes } = await writer(s.address);
  await writeBurst(db, 'quota-peer');
  await db.network!.whenSynced();
  expect(codes).toEqual([]);
  await writeBurst(db, 'quota-peer-again');
  await waitFor('a quota/peer refusal', () => codes.includes('quota/peer'), { timeoutMs: 10_000 });
  expect(db.outbox.size).toBeGreaterThan(0);
  await withDeadline('every write to land', db.network!.whenSynced(), 40_000);
  for (let i = 0; i < 40; i++) expect(((await s.db.get(`quota-peer-again-${i}`).get('body').once({ local: true })) as string).startsWith(`${i}:`)).toBe(true);
  expect(s.db.network!.counters().rejects['quota/peer']).toBeGreaterThan(0);
}, 60_000);

it('peers together over the server\'s total write rate are refused with quota/rate (a swarm of ids cannot multiply the per-peer quota)', async () => {
  // All peers: 192 KiB/s with bursts of 10 s, ~1.9 MiB; one peer's 1.2 MB fits, the next one's is over.
  const s = await server({ peerBytesPerSecond: 64 * 1024 * 1024, totalBytesPerSecond: 192 * 1024 });
  const a = await writer(s.address);
  const b = await writer(s.address);
  await writeBurst(a.db, 'swarm-a');
  await a.db.network!.whenSynced();
  await writeBurst(b.db, 'swarm-b');
  await waitFor('a quota/rate refusal', () => a.codes.includes('quota/rate') || b.codes.includes('quota/rate'), { timeoutMs: 10_000 });
  expect([...a.codes, ...b.codes]).not.toContain('quota/peer');
  await withDeadline('every write to land', Promise.all([a.db.network!.whenSynced(), b.db.network!.whenSynced()]), 50_000);
  expect(((await s.db.get('swarm-b-39').get('body').once({ local: true })) as string).startsWith('39:')).toBe(true);
}, 70_000);

it('each update costs the quotas UPDATE_OVERHEAD_BYTES more than its bytes: tiny updates cannot multiply the server\'s work within a byte rate', () => {
  const frozen = (): number => 0;
  const admitted = (updates: number, bytes: number): number => {
    // 3 KiB/s: a burst of 10 s, 30 KiB, for the peer; the total far above it.
    const admission = new WriteAdmission({ peerBytesPerSecond: 3 * 1024, totalBytesPerSecond: 1024 * 1024 * 1024 }, undefined, frozen);
    let count = 0;
    for (;;) {
      try {
        admission.admit({ peerId: 'p', bytes, updates, ownedOnly: () => false }, false);
        count++;
      } catch (error) {
        expect((error as { code?: string }).code).toBe('quota/peer');
        return count;
      }
    }
  };
  expect(UPDATE_OVERHEAD_BYTES).toBe(512);
  // 100-byte PUTs of one update each: 30,720 / 612 = 50 (by bytes alone, 307).
  expect(admitted(1, 100)).toBe(50);
  // The same bytes split into ten updates cost more: 30,720 / (100 + 5,120) = 5.
  expect(admitted(10, 100)).toBe(5);
  // A frame the engine could not count (0 updates) is charged its bytes.
  expect(admitted(0, 1024)).toBe(30);
});

it('the disk guard refuses every write while the disk is nearly full, and public writes once the store is at its cap', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'rustdht-guard-'));
  dirs.push(dataDir);
  const write = (ownedOnly: boolean) => ({ peerId: 'p', bytes: 10, updates: 1, ownedOnly: () => ownedOnly });
  const fine = new DiskGuard({ dataDir, minFreeBytes: 0, maxStoreBytes: undefined, storeBytes: async () => 10 });
  await fine.sample();
  expect(fine.gate(write(false))).toBeUndefined();
  expect(fine.reasons()).toEqual([]);
  fine.stop();

  const full = new DiskGuard({ dataDir, minFreeBytes: Number.MAX_SAFE_INTEGER, maxStoreBytes: undefined, storeBytes: async () => 10 });
  await full.sample();
  expect(full.gate(write(true))).toMatchObject({ code: 'storage/full' });
  expect(full.reasons().map((reason) => reason.code)).toEqual(['storage/nearly-full']);
  full.stop();

  const capped = new DiskGuard({ dataDir, minFreeBytes: 0, maxStoreBytes: 1000, storeBytes: async () => 1000 });
  await capped.sample();
  expect(capped.gate(write(false))).toMatchObject({ code: 'quota/public' });
  expect(capped.gate(write(true))).toBeUndefined();
  capped.stop();
});

it('rustdht serve with too little free disk refuses writes with storage/full, keeps serving reads, and says so on /health', async () => {
  const server = await startServer({ name: 'nearly-full', args: ['--min-free-disk', '1000000GiB'] });
  const health = await server.health();
  expect(health.status).toBe(503);
  expect(health.body.status).toBe('degraded');
  expect((health.body['reasons'] as Array<{ code: string }>).map((reason) => reason.code)).toContain('storage/nearly-full');
  const { db, codes } = await writer(server.tcpAddress);
  await db.get('guarded').put({ kept: 'by the writer' });
  await waitFor('a storage/full refusal', () => codes.includes('storage/full'), { timeoutMs: 10_000 });
  expect(db.outbox.size).toBe(1);
  // Reads are served.
  const reader = await writer(server.tcpAddress);
  expect(await reader.db.get('guarded').get('kept').once()).toBeUndefined();
  expect(reader.codes).toEqual([]);
}, 60_000);
