/**
 * /health tells the truth (issue 11, item 6): a server whose store refuses writes, whose
 * engine trapped, or whose event loop is blocked answers 503 with `degraded` and the
 * reasons, so a load balancer routes around it; a healthy one answers 200 `ok`.
 * HealthChecks is the server's own; the failures are real ones (a blocked event loop) or
 * the sources' values (a store failure as db.storage.failure() reports it).
 */
import { afterEach, expect, it } from 'vitest';
import { HealthChecks, LAG_LIMIT_MS } from '../../src/server/health-checks.js';
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
  const metrics = createMetricsRegistry({ status: () => ({ peerId: 'p', role: 'server', addresses: [], peers: [], outboxSize: 0, state: 'idle' }), counters: () => ({ messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, updates: { applied: 0, ignored: 0, historical: 0, deferred: 0, rejected: 0 }, rejects: {} }), storeBytes: async () => 0, uptimeSeconds: () => 1 }, { defaultMetrics: false });
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
