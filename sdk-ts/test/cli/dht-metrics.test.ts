/**
 * The DHT's /metrics series and /health fields on a real cluster: three `rustdht serve`
 * processes on loopback, R = 2, joined through one --bootstrap. After a client writes
 * N souls through the first server and hand-off settles, the series must add up:
 * every soul on exactly R servers (Σ owned = R·N), nothing left hinted or pending, the
 * ring shares summing to R, repair having pushed and released what the first server
 * coordinated, and a read of a soul it no longer holds timed in the owner-read histogram.
 *
 * Needs the build (`npm run build`): the servers run from dist/.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RustDHT } from '../../src/node.js';
import { startServer, stopAllServers, waitFor, withDeadline, type ServerProcess } from '../network/helpers/server-process.js';

const R = 2;
const N = 30;
const run = randomUUID().slice(0, 8);
let servers: ServerProcess[] = [];
const opened: RustDHT[] = [];

/** Samples of a Prometheus text by name with labels (`name{a="b"}`), histograms' _bucket/_sum/_count included. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match !== null) map.set(match[1]!, Number(match[2]));
  }
  return map;
}

async function scrape(server: ServerProcess): Promise<Map<string, number>> {
  const { status, text } = await server.metrics();
  expect(status).toBe(200);
  return samples(text);
}

const sum = (all: ReadonlyArray<Map<string, number>>, key: string): number => all.reduce((total, map) => total + (map.get(key) ?? Number.NaN), 0);

async function openClient(address: string): Promise<RustDHT> {
  const db = await RustDHT.open({ store: 'memory', network: { role: 'client', peers: [address] } });
  opened.push(db);
  await withDeadline(`a client to connect to ${address}`, db.network!.whenConnected(), 15_000);
  return db;
}

beforeAll(async () => {
  const args = ['--replicas', String(R), '--exempt-loopback'];
  const first = await startServer({ name: 'm1', args });
  servers = [first, await startServer({ name: 'm2', bootstrap: [first.tcpAddress], args }), await startServer({ name: 'm3', bootstrap: [first.tcpAddress], args })];
  for (const server of servers) {
    await waitFor(`${server.name} to count 3 members`, async () => ((await server.health()).body['dht'] as { members: number } | undefined)?.members === 3, { timeoutMs: 30_000, intervalMs: 200 });
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(opened.map((db) => db.close({ timeoutMs: 0 }).catch(() => {})));
  await stopAllServers();
}, 60_000);

describe('DHT metrics on a 3-server cluster (R = 2)', () => {
  it('membership, placement, stored souls by role, repair and owner reads add up; /health has dht', async () => {
    const writer = await openClient(servers[0]!.tcpAddress);
    const souls = Array.from({ length: N }, (_, i) => `dht-metrics-${run}/${i}`);
    for (const soul of souls) await writer.get(soul).put({ n: Number(soul.split('/')[1]) });
    await withDeadline('the first server to acknowledge every write', writer.network!.whenSynced(), 20_000);

    // Hand-off settles and the census (recounted every few seconds here) catches up.
    const settled = await waitFor('every soul on exactly R servers, nothing pending', async () => {
      const all = await Promise.all(servers.map(scrape));
      const owned = sum(all, 'rustdht_dht_owned_souls');
      const hinted = sum(all, 'rustdht_dht_stored_souls{role="hinted"}');
      const pending = sum(all, 'rustdht_dht_hints_pending');
      return owned === R * N && hinted === 0 && pending === 0 ? all : undefined;
    }, { timeoutMs: 45_000, intervalMs: 500 });

    for (const [i, metrics] of settled.entries()) {
      const name = servers[i]!.name;
      expect(metrics.get('rustdht_dht_members'), name).toBe(3);
      expect(metrics.get('rustdht_dht_replicas'), name).toBe(R);
      const share = metrics.get('rustdht_dht_ring_share')!;
      expect(share, name).toBeGreaterThan(0.3);
      expect(share, name).toBeLessThanOrEqual(1);
      expect(metrics.get('rustdht_dht_stored_souls{role="owned"}'), name).toBe(metrics.get('rustdht_dht_owned_souls'));
      expect(metrics.get('rustdht_dht_stored_souls{role="cached"}'), name).toBe(0);
      expect(metrics.get('rustdht_dht_under_replicated_souls'), name).toBe(0);
      expect(metrics.get('rustdht_dht_owned_souls'), name).toBeLessThanOrEqual(N);
      const health = (await servers[i]!.health()).body['dht'];
      expect(health, name).toEqual({ members: 3, replicas: R, share });
    }
    // Every sampled soul has exactly R owners among the same 3 members.
    expect(sum(settled, 'rustdht_dht_ring_share')).toBeCloseTo(R, 9);
    // The first server coordinated every write: for each owner of what it does not own it
    // either found the owner holding it already (its feed got there first: digests
    // compared) or pushed it, and let go of it once they all confirmed.
    const first = settled[0]!;
    const kept = first.get('rustdht_dht_owned_souls')!;
    expect(kept).toBeLessThan(N);
    const handled = first.get('rustdht_dht_repair_pushes_total')! + first.get('rustdht_dht_repair_already_held_total')!;
    expect(handled).toBeGreaterThanOrEqual(N - kept);
    expect(first.get('rustdht_dht_repair_releases_total')).toBe(N - kept);
    if (first.get('rustdht_dht_repair_pushes_total')! > 0) expect(first.get('rustdht_dht_repair_bytes_total')).toBeGreaterThan(0);
    expect(first.get('rustdht_dht_repair_passes_total')).toBeGreaterThanOrEqual(1);

    // A read through the first server of a soul it let go of waits for the owners: timed.
    const before = first.get('rustdht_dht_owner_read_seconds_count')!;
    const reader = await openClient(servers[0]!.tcpAddress);
    for (const soul of souls) expect(await reader.get(soul).once(), soul).toEqual({ n: Number(soul.split('/')[1]) });
    const after = await scrape(servers[0]!);
    const reads = after.get('rustdht_dht_owner_read_seconds_count')! - before;
    expect(reads).toBeGreaterThanOrEqual(N - kept);
    expect(after.get('rustdht_dht_owner_read_seconds_bucket{le="+Inf"}')).toBe(after.get('rustdht_dht_owner_read_seconds_count'));
    const meanMs = ((after.get('rustdht_dht_owner_read_seconds_sum')! - (first.get('rustdht_dht_owner_read_seconds_sum') ?? 0)) / reads) * 1000;
    console.log(`owner reads through ${servers[0]!.name}: ${reads}, mean ${meanMs.toFixed(1)} ms; ${servers[0]!.name} kept ${kept} of ${N} souls`);
    expect(meanMs).toBeLessThan(1000);
  }, 120_000);
});
