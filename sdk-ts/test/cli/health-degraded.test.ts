/**
 * /health tells the truth (issue 11, item 6): a server whose store refuses writes, whose
 * engine trapped, or whose event loop is blocked answers 503 with `degraded` and the
 * reasons, so a load balancer routes around it; a healthy one answers 200 `ok`.
 * HealthChecks is the server's own; the failures are real ones (a blocked event loop) or
 * the sources' values (a store failure as db.storage.failure() reports it).
 */
import { afterEach, expect, it } from 'vitest';
import { HealthChecks, LAG_LIMIT_MS, memoryReasons, OVER_BUDGET } from '../../src/server/health-checks.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelStore, RustDHT } from '../../src/node.js';
import { startHttpServer, type HealthJson, type HttpServer } from '../../src/server/http.js';
import { createMetricsRegistry } from '../../src/server/metrics.js';
import { VERSION } from '../../src/server/version.js';

let server: HttpServer | undefined;
let checks: HealthChecks | undefined;
afterEach(async () => {
  await server?.close();
  checks?.stop();
  server = undefined;
  checks = undefined;
});

it('reports degraded with reasons, as HTTP 503, while writes are refused or the event loop is blocked; ok again after', async () => {
  let failure: { code: string; message: string; since: number } | undefined;
  checks = new HealthChecks({ storageFailure: () => failure, engineTrap: () => undefined });
  const running = checks;
  const health = (): HealthJson => {
    const reasons = running.reasons();
    return {
      status: reasons.length === 0 ? 'ok' : 'degraded',
      ...(reasons.length === 0 ? {} : { reasons }),
      peerId: 'p',
      addresses: [],
      peers: { count: 0, list: [] },
      state: 'idle',
      uptimeSeconds: 1,
      store: { bytes: 0 },
      outboxSize: 0,
      version: VERSION,
    };
  };
  const metrics = createMetricsRegistry({ status: () => ({ peerId: 'p', role: 'server', addresses: [], peers: [], outboxSize: 0, state: 'idle' }), counters: () => ({ messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, heldBack: 0, updates: { applied: 0, ignored: 0, historical: 0, deferred: 0, rejected: 0 }, rejects: {} }), storeBytes: async () => 0, uptimeSeconds: () => 1 }, { defaultMetrics: false });
  server = await startHttpServer({ port: 0, host: '127.0.0.1', health, metrics });

  const get = async (): Promise<{ status: number; body: HealthJson }> => {
    const response = await fetch(`${server!.url}/health`);
    return { status: response.status, body: (await response.json()) as HealthJson };
  };
  expect(await get()).toMatchObject({ status: 200, body: { status: 'ok' } });

  failure = { code: 'storage/full', message: 'the disk is full', since: Date.now() };
  const full = await get();
  expect(full.status).toBe(503);
  expect(full.body.status).toBe('degraded');
  expect(full.body.reasons).toEqual([{ code: 'storage/full', message: expect.stringContaining('the disk is full') as string }]);
  failure = undefined;
  expect((await get()).status).toBe(200);

  // Block the event loop well past the limit: the lag is measured, not told.
  const until = Date.now() + LAG_LIMIT_MS * 2;
  while (Date.now() < until) {
    // busy
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  const lagging = await get();
  expect(lagging.status).toBe(503);
  expect(lagging.body.reasons?.map((reason) => reason.code)).toEqual(['event-loop/lag']);
});

it('a database whose loaded nodes cannot leave memory (all protected) stays over its budget, without spinning, and health says memory/over-budget', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rustdht-over-budget-'));
  const budget = 1024 * 1024;
  // No network: its own writes stay in its outbox, and outbox souls are never unloaded.
  const db = await RustDHT.open({ store: await LevelStore.open(dir), memoryBudget: budget });
  try {
    for (let i = 0; i < 200; i++) await db.get(`own-${i}`).put({ body: 'b'.repeat(5_000) });
    const usage = await db.storage.usage();
    expect(usage.residentNodes).toBe(200);
    expect(usage.residentBytes!).toBeGreaterThan(budget * OVER_BUDGET);
    expect(memoryReasons({ residentBytes: usage.residentBytes, budgetBytes: usage.memoryBudget }).map((reason) => reason.code)).toEqual(['memory/over-budget']);
    expect(memoryReasons({ residentBytes: budget, budgetBytes: budget })).toEqual([]);
    expect(memoryReasons({ residentBytes: undefined, budgetBytes: undefined })).toEqual([]);
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
});
