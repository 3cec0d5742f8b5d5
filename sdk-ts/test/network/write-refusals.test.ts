/**
 * A write the network refuses *for now* is never lost (issue 11, item 4): it stays in the
 * writer's outbox, the writer is told (a `reject` event with the code), and it is sent
 * again until a server takes it. Refusals for good still leave the outbox.
 *
 * Real libp2p nodes on loopback TCP, in one process: a server whose clock the test moves
 * (`now`), and clients whose clocks run ahead of it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { MemoryStore, RustDHT } from '../../src/node.js';
import type { NetworkEvent } from '../../src/network/types.js';
import { isFinalRefusal } from '../../src/network/duties/write-refusals.js';
import { waitFor } from './helpers/server-process.js';

const opened: RustDHT[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close().catch(() => {})));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function open(options: Parameters<typeof RustDHT.open>[0]): Promise<RustDHT> {
  const db = await RustDHT.open(options);
  opened.push(db);
  return db;
}

/** A server whose clock is Date.now() + `offset.ms`. */
async function server(limits: { maxDeferred?: number } = {}) {
  const offset = { ms: 0 };
  const dataDir = await mkdtemp(join(tmpdir(), 'rustdht-refusals-'));
  dirs.push(dataDir);
  const db = await open({
    store: new MemoryStore(),
    now: () => Date.now() + offset.ms,
    limits,
    network: { role: 'server', dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], peers: [] },
  });
  return { db, offset, address: db.network!.status().addresses[0]! };
}

async function client(address: string, aheadMs: number): Promise<{ db: RustDHT; rejects: NetworkEvent[] }> {
  const db = await open({ store: new MemoryStore(), now: () => Date.now() + aheadMs, network: { role: 'client', peers: [address] } });
  const rejects: NetworkEvent[] = [];
  db.network!.on((event) => void (event.type === 'reject' && rejects.push(event)));
  await db.network!.whenConnected();
  return { db, rejects };
}

it('a write refused with limit/deferred (the server\'s deferred queue is full) stays in the outbox and lands later', async () => {
  const s = await server({ maxDeferred: 1 });
  // 60 s fast: within the 10-minute skew, so the server defers these updates.
  const { db, rejects } = await client(s.address, 60_000);
  await db.get('room').put({ first: 'parked' });
  await db.network!.whenSynced();
  expect(s.db.network!.counters().updates.deferred).toBe(1);

  await db.get('room').put({ second: 'must not be lost' });
  await waitFor('the refusal to reach the writer', () => rejects.some((event) => event.type === 'reject' && event.code === 'limit/deferred'), { timeoutMs: 10_000 });
  // put() resolved long ago; the entry is still the writer's to deliver.
  expect(db.outbox.size).toBe(1);
  // Still there after a retry or two (it is refused again while the queue is full).
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  expect(db.outbox.size).toBe(1);

  // The server's clock catches up with the writer's: the update is no longer from the future.
  s.offset.ms = 61_000;
  await waitFor('the kept write to be taken', () => db.outbox.size === 0, { timeoutMs: 15_000 });
  expect(await s.db.get('room').get('second').once({ local: true })).toBe('must not be lost');
}, 40_000);

it('a write from a clock too far ahead (clock/too-far-ahead) stays in the outbox until the server\'s clock allows it', async () => {
  const s = await server();
  const { db, rejects } = await client(s.address, 3_600_000);
  await db.get('note').put({ text: 'from an hour ahead' });
  await waitFor('the refusal', () => rejects.some((event) => event.type === 'reject' && event.code === 'clock/too-far-ahead'), { timeoutMs: 10_000 });
  expect(db.outbox.size).toBe(1);
  s.offset.ms = 3_600_000;
  await waitFor('the kept write to be taken', () => db.outbox.size === 0, { timeoutMs: 15_000 });
  expect(await s.db.get('note').get('text').once({ local: true })).toBe('from an hour ahead');
}, 40_000);

it('refusals for good are the update\'s own faults; everything else (and any unknown code) is for now', () => {
  for (const code of ['signature/invalid', 'signature/missing', 'namespace/not-owner', 'namespace/bad-key', 'content/hash-mismatch', 'decode/truncated', 'value/type', 'limit/value', 'limit/soul', 'limit/key', 'limit/batch', 'wire/too-large']) {
    expect(isFinalRefusal(code), code).toBe(true);
  }
  for (const code of ['limit/deferred', 'clock/too-far-ahead', 'storage/io', 'storage/full', 'quota/peer', 'wire/rate-limited', 'wire/busy', 'network/timeout', 'internal', 'other', 'something/new']) {
    expect(isFinalRefusal(code), code).toBe(false);
  }
});
