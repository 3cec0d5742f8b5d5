/**
 * A burst of once() reads larger than the server's message rate all resolve to the
 * stored values, none "not found": the server holds the reader back (reads it more
 * slowly) rather than refusing. Before, refused reads resolved `undefined`, as if the
 * data did not exist (seen in memory-budget-server.test.ts on a loaded machine); a read
 * a server does refuse "for now" is asked again (fetcher-reads-through-the-network.test.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { LevelStore, MemoryStore, RustDHT } from '../../src/node.js';

const opened: RustDHT[] = [];
let dir: string | undefined;

afterAll(async () => {
  await Promise.all(opened.map((db) => db.close({ timeoutMs: 0 }).catch(() => {})));
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Messages per second the server takes from one peer (twice that as a burst). */
const RATE = 40;
const SOULS = 240;

it('a burst of reads over the server rate limit: held back, every read answered, none says "not found"', async () => {
  dir = await mkdtemp(join(tmpdir(), 'rustdht-read-retry-'));
  const server = await RustDHT.open({
    store: await LevelStore.open(join(dir, 'store')),
    network: { role: 'server', dataDir: join(dir, 'peer'), listen: ['/ip4/127.0.0.1/tcp/0'], limits: { messagesPerSecond: RATE } },
  });
  opened.push(server);
  // Written on the server itself: only the reads cross the limited sessions.
  await Promise.all(Array.from({ length: SOULS }, (_, i) => server.get(`r-${i}`).put({ value: `v${i}` })));
  const address = server.network!.status().addresses.find((a) => a.includes('/tcp/'))!;

  const reader = await RustDHT.open({ store: new MemoryStore(), network: { role: 'client', peers: [address], readTimeoutMs: 30_000 } });
  opened.push(reader);
  await reader.network!.whenConnected();
  const refusedBefore = server.network!.counters().rejects['wire/rate-limited'] ?? 0;
  const heldBefore = server.network!.counters().heldBack;
  const values = await Promise.all(Array.from({ length: SOULS }, (_, i) => reader.get(`r-${i}`).get('value').once()));
  expect(values.filter((value, i) => value !== `v${i}`)).toEqual([]);
  // The limit was reached: the reader waited for it, and nothing was refused.
  expect(server.network!.counters().heldBack - heldBefore).toBeGreaterThan(0);
  expect((server.network!.counters().rejects['wire/rate-limited'] ?? 0) - refusedBefore).toBe(0);
}, 60_000);
