/**
 * The server's HTTP endpoints with a fake network: /health's JSON shape, /metrics as
 * valid Prometheus text exporting every RustDHT metric with the network's values, and
 * the answers to anything else (404, 405). Also the helpers behind them: the store-size
 * cache and the logger.
 */
import { mkdtemp, rm, writeFile, mkdir, symlink } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NetworkCounters, NetworkStatus } from '../../src/network/types.js';
import { contentTypeOf, startHttpServer, type HealthJson, type HttpServer } from '../../src/server/http.js';
import { createLogger } from '../../src/server/log.js';
import { Census, COST_FACTOR, MIN_INTERVAL_MS } from '../../src/network/dht/census.js';
import { createMetricsRegistry, METRIC_NAMES, type DhtMetricsSource, type MetricsSource } from '../../src/server/metrics.js';
import { directoryBytes, directorySizer } from '../../src/server/store-size.js';
import { RepeatThrottle } from '../../src/server/throttle.js';
import { VERSION } from '../../src/server/version.js';

const SERVER_PEER = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN';
const BROWSER_PEER = '12D3KooWBrowserBrowserBrowserBrowserBrowserBrowser';

const status: NetworkStatus = {
  peerId: '12D3KooWSelf',
  role: 'server',
  addresses: ['/ip4/127.0.0.1/tcp/7401/p2p/12D3KooWSelf'],
  peers: [
    { peerId: SERVER_PEER, role: 'server', transport: 'tcp', address: '/ip4/10.0.0.2/tcp/7401', rttMs: 12, connectedAt: 1 },
    { peerId: BROWSER_PEER, role: 'client', transport: 'websockets', address: '/ip4/10.0.0.9/tcp/7402/ws', rttMs: undefined, connectedAt: 2 },
  ],
  outboxSize: 4,
  state: 'syncing',
};

const counters: NetworkCounters = {
  messagesIn: 120,
  messagesOut: 95,
  bytesIn: 40_000,
  bytesOut: 31_000,
  heldBack: 6,
  updates: { applied: 50, ignored: 7, historical: 2, deferred: 1, rejected: 3 },
  rejects: { 'signature/invalid': 2, 'wire/rate-limited': 1 },
};

/** The last registry's owner-read listener: the tests time reads through it. */
let ownerRead: ((seconds: number) => void) | undefined;
const dht: DhtMetricsSource = {
  status: () => ({ members: 5, replicas: 3, share: 0.6, version: 7 }),
  census: async () => ({ owned: 120, cached: 4, hinted: 2, takenAt: 0, durationMs: 3 }),
  handoff: { counters: { pushes: 9, alreadyHeld: 5, bytes: 4096, released: 6, passes: 2 }, pendingSouls: 2 },
  antiEntropy: {
    counters: { rounds: 11, failedRounds: 1, bytesSent: 700, bytesReceived: 900, updateBytes: 5000, soulsRepaired: 3, pushed: 2, pulled: 1, served: 4, servedBytes: 1200 },
  },
  onOwnerRead: (listener) => {
    ownerRead = listener;
    return () => {};
  },
};

const source: MetricsSource = {
  status: () => status,
  counters: () => counters,
  storeBytes: async () => 123_456,
  uptimeSeconds: () => 42.5,
  dht,
};

function healthOf(s: NetworkStatus): HealthJson {
  return {
    status: 'ok',
    peerId: s.peerId,
    addresses: s.addresses,
    peers: { count: s.peers.length, list: s.peers.map(({ peerId, transport, role, rttMs }) => ({ peerId, transport, role, rttMs })) },
    state: s.state,
    uptimeSeconds: 42,
    store: { bytes: 123_456 },
    outboxSize: s.outboxSize,
    version: VERSION,
  };
}

/** A raw request (fetch cannot send every method, and hides HEAD bodies). */
function call(server: HttpServer, method: string, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: server.host, port: server.port, method, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Checks the Prometheus text exposition format line by line and returns the samples
 * (name with labels → value). Strict enough to catch a malformed line or a sample
 * without its # TYPE. Values are Go ParseFloat syntax, so prom-client's "Nan" is valid.
 */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta !== null) {
      if (meta[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(meta[3]);
        typed.add(meta[2]!);
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|[Nn]a[Nn]|[+-]Inf)( -?\d+)?$/.exec(line);
    expect(sample, `not a Prometheus sample line: ${line}`).not.toBeNull();
    const family = sample![1]!.replace(/_(bucket|sum|count)$/, '');
    expect(typed.has(sample![1]!) || typed.has(family), `no # TYPE before ${line}`).toBe(true);
    samples.set(`${sample![1]}${sample![2] ?? ''}`, Number(sample![3]));
  }
  return samples;
}

describe('startHttpServer', () => {
  let server: HttpServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function start(health: () => Promise<HealthJson> | HealthJson = () => healthOf(status), defaultMetrics = true): Promise<HttpServer> {
    server = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      health,
      metrics: createMetricsRegistry(source, defaultMetrics ? {} : { defaultMetrics: false }),
    });
    return server;
  }

  it('binds a free port for port 0 and reports its URL', async () => {
    const http = await start();
    expect(http.port).toBeGreaterThan(0);
    expect(http.url).toBe(`http://127.0.0.1:${http.port}`);
  });

  it('GET /health answers the health JSON', async () => {
    const http = await start(async () => healthOf(status));
    const response = await fetch(`${http.url}/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({
      status: 'ok',
      peerId: '12D3KooWSelf',
      addresses: ['/ip4/127.0.0.1/tcp/7401/p2p/12D3KooWSelf'],
      peers: {
        count: 2,
        list: [
          { peerId: SERVER_PEER, transport: 'tcp', role: 'server', rttMs: 12 },
          // rttMs undefined before the first ping: absent from the JSON.
          { peerId: BROWSER_PEER, transport: 'websockets', role: 'client' },
        ],
      },
      state: 'syncing',
      uptimeSeconds: 42,
      store: { bytes: 123_456 },
      outboxSize: 4,
      version: VERSION,
    });
    // A trailing slash and a query string are the same endpoint.
    expect((await fetch(`${http.url}/health/?verbose=1`)).status).toBe(200);
  });

  it('GET /health answers 503 when the health function fails', async () => {
    const http = await start(() => {
      throw new Error('store unreadable');
    });
    const response = await fetch(`${http.url}/health`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: 'error', error: 'store unreadable' });
  });

  it('GET /metrics answers Prometheus text with every RustDHT metric and the network values', async () => {
    const http = await start();
    // Two reads of souls owned elsewhere, as the DHT times them.
    ownerRead!(0.02);
    ownerRead!(0.3);
    const response = await fetch(`${http.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4; charset=utf-8/);
    const text = await response.text();
    for (const name of METRIC_NAMES) expect(text).toContain(`# TYPE ${name} `);
    const samples = parsePrometheus(text);
    const histogram = 'rustdht_dht_owner_read_seconds';
    expect(samples.get(`${histogram}_count`)).toBe(2);
    expect(samples.get(`${histogram}_sum`)).toBeCloseTo(0.32);
    expect(samples.get(`${histogram}_bucket{le="0.01"}`)).toBe(0);
    expect(samples.get(`${histogram}_bucket{le="0.025"}`)).toBe(1);
    expect(samples.get(`${histogram}_bucket{le="0.5"}`)).toBe(2);
    expect(samples.get(`${histogram}_bucket{le="+Inf"}`)).toBe(2);
    const own = (key: string): boolean => !key.startsWith('rustdht_process_') && !key.startsWith('rustdht_nodejs_') && !key.startsWith(histogram);
    expect(Object.fromEntries([...samples].filter(([key]) => own(key)))).toEqual({
      [`rustdht_info{version="${VERSION}",peer_id="12D3KooWSelf"}`]: 1,
      'rustdht_peers{transport="tcp"}': 1,
      'rustdht_peers{transport="websockets"}': 1,
      'rustdht_peers{transport="webrtc-direct"}': 0,
      'rustdht_peers{transport="webrtc"}': 0,
      'rustdht_peers{transport="circuit-relay"}': 0,
      'rustdht_peers{transport="other"}': 0,
      [`rustdht_peer_rtt_seconds{peer="${SERVER_PEER}",transport="tcp"}`]: 0.012,
      'rustdht_network_state{state="offline"}': 0,
      'rustdht_network_state{state="syncing"}': 1,
      'rustdht_network_state{state="idle"}': 0,
      'rustdht_messages_total{direction="in"}': 120,
      'rustdht_messages_total{direction="out"}': 95,
      'rustdht_bytes_total{direction="in"}': 40_000,
      'rustdht_bytes_total{direction="out"}': 31_000,
      'rustdht_updates_total{outcome="applied"}': 50,
      'rustdht_updates_total{outcome="ignored"}': 7,
      'rustdht_updates_total{outcome="historical"}': 2,
      'rustdht_updates_total{outcome="deferred"}': 1,
      'rustdht_updates_total{outcome="rejected"}': 3,
      rustdht_held_back_total: 6,
      'rustdht_rejects_total{reason="signature/invalid"}': 2,
      'rustdht_rejects_total{reason="wire/rate-limited"}': 1,
      rustdht_store_bytes: 123_456,
      rustdht_outbox_entries: 4,
      rustdht_uptime_seconds: 42.5,
      rustdht_dht_members: 5,
      rustdht_dht_replicas: 3,
      rustdht_dht_ring_share: 0.6,
      rustdht_dht_owned_souls: 120,
      'rustdht_dht_stored_souls{role="owned"}': 120,
      'rustdht_dht_stored_souls{role="cached"}': 4,
      'rustdht_dht_stored_souls{role="hinted"}': 2,
      rustdht_dht_under_replicated_souls: 2,
      rustdht_dht_hints_pending: 2,
      rustdht_dht_repair_pushes_total: 9,
      rustdht_dht_repair_already_held_total: 5,
      rustdht_dht_repair_bytes_total: 4096,
      rustdht_dht_repair_releases_total: 6,
      rustdht_dht_repair_passes_total: 2,
      'rustdht_dht_anti_entropy_rounds_total{result="ok"}': 11,
      'rustdht_dht_anti_entropy_rounds_total{result="failed"}': 1,
      'rustdht_dht_anti_entropy_bytes_total{kind="metadata_sent"}': 700,
      'rustdht_dht_anti_entropy_bytes_total{kind="metadata_received"}': 900,
      'rustdht_dht_anti_entropy_bytes_total{kind="updates"}': 5000,
      'rustdht_dht_anti_entropy_bytes_total{kind="served"}': 1200,
      rustdht_dht_anti_entropy_souls_repaired_total: 3,
    });
    expect(text).toContain('# TYPE rustdht_messages_total counter');
    expect(text).toContain(`# TYPE ${histogram} histogram`);
    expect(text).toContain('# TYPE rustdht_peers gauge');
    // prom-client's process metrics, under the rustdht_ prefix.
    expect(samples.has('rustdht_process_cpu_user_seconds_total')).toBe(true);
    expect([...samples.keys()].some((key) => key.startsWith('rustdht_nodejs_'))).toBe(true);
  });

  it('counters follow the running totals from scrape to scrape; departed peers leave no series', async () => {
    let messagesIn = 10;
    let peers = status.peers;
    const registry = createMetricsRegistry(
      { ...source, counters: () => ({ ...counters, messagesIn }), status: () => ({ ...status, peers }) },
      { defaultMetrics: false },
    );
    expect(parsePrometheus(await registry.metrics()).get('rustdht_messages_total{direction="in"}')).toBe(10);
    messagesIn = 25;
    peers = [];
    const second = parsePrometheus(await registry.metrics());
    expect(second.get('rustdht_messages_total{direction="in"}')).toBe(25);
    expect([...second.keys()].filter((key) => key.startsWith('rustdht_peer_rtt_seconds'))).toEqual([]);
    expect(second.get('rustdht_peers{transport="tcp"}')).toBe(0);
  });

  it('metrics without the default process metrics', async () => {
    const http = await start(undefined, false);
    const text = await (await fetch(`${http.url}/metrics`)).text();
    expect(text).not.toContain('process_cpu');
    for (const name of METRIC_NAMES) expect(text).toContain(`# TYPE ${name} `);
  });

  it('without a DHT (no network.dht) the rustdht_dht_* series are typed and 0; with fewer members than R every stored soul is under-replicated', async () => {
    const { dht: _dht, ...withoutDht } = source;
    const bare = parsePrometheus(await createMetricsRegistry(withoutDht, { defaultMetrics: false }).metrics());
    expect(bare.get('rustdht_dht_members')).toBe(0);
    expect(bare.get('rustdht_dht_hints_pending')).toBe(0);
    expect(bare.get('rustdht_dht_repair_pushes_total')).toBe(0);
    expect(bare.get('rustdht_dht_owner_read_seconds_count')).toBe(0);
    expect([...bare.keys()].filter((key) => key.startsWith('rustdht_dht_stored_souls'))).toEqual([]);

    const small: DhtMetricsSource = { ...dht, status: () => ({ members: 2, replicas: 3, share: 1, version: 1 }), handoff: { ...dht.handoff, pendingSouls: 0 } };
    const text = await createMetricsRegistry({ ...source, dht: small }, { defaultMetrics: false }).metrics();
    expect(parsePrometheus(text).get('rustdht_dht_under_replicated_souls')).toBe(120 + 4 + 2);
  });

  it('answers 404 JSON for other paths', async () => {
    const http = await start();
    for (const path of ['/', '/healthz', '/metrics/extra']) {
      const response = await call(http, 'GET', path);
      expect(response.status, path).toBe(404);
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(JSON.parse(response.body)).toMatchObject({ error: 'not found', endpoints: ['/health', '/metrics'] });
    }
  });

  it('answers 405 with Allow for methods other than GET and HEAD', async () => {
    const http = await start();
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      for (const path of ['/health', '/metrics']) {
        const response = await call(http, method, path);
        expect(response.status, `${method} ${path}`).toBe(405);
        expect(response.headers['allow']).toBe('GET, HEAD');
        expect(JSON.parse(response.body)).toMatchObject({ error: `method ${method} not allowed` });
      }
    }
  });

  it('answers HEAD like GET, without a body', async () => {
    const http = await start();
    const response = await call(http, 'HEAD', '/health');
    expect(response.status).toBe(200);
    expect(response.body).toBe('');
    expect(Number(response.headers['content-length'])).toBeGreaterThan(0);
  });

  it('with staticDir (rustdht serve --demo DIR), serves DIR at / next to /health and /metrics, and nothing outside it', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'rustdht-static-'));
    try {
      const root = join(parent, 'dist');
      await mkdir(join(root, 'assets'), { recursive: true });
      await mkdir(join(root, 'docs'));
      await writeFile(join(root, 'index.html'), '<!doctype html><title>demo</title>');
      await writeFile(join(root, 'docs', 'index.html'), '<p>docs</p>');
      await writeFile(join(root, 'assets', 'index-abc123.js'), 'console.log(1);');
      await writeFile(join(root, 'assets', 'index-abc123.css'), 'body{}');
      const wasm = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
      await writeFile(join(root, 'assets', 'engine-abc123.wasm'), wasm);
      await writeFile(join(parent, 'secret.txt'), 'not for the web');
      await symlink(join(parent, 'secret.txt'), join(root, 'link-out.txt'));
      server = await startHttpServer({ port: 0, health: () => healthOf(status), metrics: createMetricsRegistry(source, { defaultMetrics: false }), staticDir: root });
      const http = server;

      const page = await fetch(`${http.url}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('cache-control')).toBe('no-cache');
      expect(await page.text()).toBe('<!doctype html><title>demo</title>');
      expect(await (await fetch(`${http.url}/index.html`)).text()).toBe('<!doctype html><title>demo</title>');
      expect(await (await fetch(`${http.url}/docs/`)).text()).toBe('<p>docs</p>');
      for (const [path, type] of [
        ['/assets/index-abc123.js', 'text/javascript; charset=utf-8'],
        ['/assets/index-abc123.css', 'text/css; charset=utf-8'],
        ['/assets/engine-abc123.wasm', 'application/wasm'],
      ] as const) {
        const response = await fetch(`${http.url}${path}`);
        expect(response.status, path).toBe(200);
        expect(response.headers.get('content-type'), path).toBe(type);
        expect(response.headers.get('cache-control'), path).toBe('public, max-age=31536000, immutable');
        expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
      }
      expect(Buffer.from(await (await fetch(`${http.url}/assets/engine-abc123.wasm`)).arrayBuffer())).toEqual(wasm);
      const head = await call(http, 'HEAD', '/assets/engine-abc123.wasm');
      expect(head.status).toBe(200);
      expect(head.body).toBe('');
      expect(head.headers['content-length']).toBe(String(wasm.length));

      // The endpoints are unchanged.
      expect(await (await fetch(`${http.url}/health`)).json()).toMatchObject({ status: 'ok', peerId: '12D3KooWSelf' });
      expect((await fetch(`${http.url}/metrics`)).headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);

      // Nothing outside the directory, however the path is spelled; unknown files are 404.
      for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/..%5csecret.txt', '/link-out.txt', '/missing.js', '/assets/', '/index.html%00.js', '/%E0%A4%A']) {
        const response = await call(http, 'GET', path);
        expect(response.status, path).toBe(404);
        expect(response.body, path).not.toContain('not for the web');
        expect(JSON.parse(response.body), path).toMatchObject({ error: 'not found', endpoints: ['/', '/health', '/metrics'] });
      }
      const post = await call(http, 'POST', '/');
      expect(post.status).toBe(405);
      expect(post.headers['allow']).toBe('GET, HEAD');
      expect(contentTypeOf('x.unknown')).toBe('application/octet-stream');
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('close() resolves with a keep-alive connection open, and the port is then free', async () => {
    const http = await start();
    await (await fetch(`${http.url}/metrics`)).text(); // fetch keeps the connection alive
    await http.close();
    await http.close(); // idempotent
    server = undefined;
    const again = await startHttpServer({ port: http.port, host: '127.0.0.1', health: () => healthOf(status), metrics: createMetricsRegistry(source, { defaultMetrics: false }) });
    await again.close();
  });

  it('rejects with http/listen when the port is taken', async () => {
    const http = await start();
    await expect(
      startHttpServer({ port: http.port, host: '127.0.0.1', health: () => healthOf(status), metrics: createMetricsRegistry(source, { defaultMetrics: false }) }),
    ).rejects.toMatchObject({ code: 'http/listen', message: `cannot serve HTTP on 127.0.0.1:${http.port}: the port is already in use` });
  });
});

describe('DHT census (rustdht_dht_stored_souls)', () => {
  /** Souls named own/… are owned here, watch/… are watched by a subscriber; the rest are hints. */
  function census(souls: string[], clock: { now: number; perCountMs?: number }): Census {
    return new Census({
      replica: {
        closed: false,
        async *storedSouls() {
          yield* souls;
          // The store's walk takes this long (on the census's clock).
          clock.now += clock.perCountMs ?? 0;
        },
      },
      placement: { ownersOf: (list) => list.map((soul) => (soul.startsWith('own/') ? ['me', 'other'] : ['other', 'third'])) },
      selfId: 'me',
      watched: (soul) => soul.startsWith('watch/'),
      now: () => clock.now,
    });
  }

  it('counts stored souls by role, in chunks across placement calls', async () => {
    const souls = [...Array.from({ length: 2500 }, (_, i) => `own/${i}`), 'watch/a', 'watch/b', 'hint/a'];
    expect(await census(souls, { now: 1_000 }).read()).toEqual({ owned: 2500, cached: 2, hinted: 1, takenAt: 1_000, durationMs: 0 });
  });

  it('recounts only once the last count is old enough (MIN_INTERVAL_MS, or COST_FACTOR × its duration)', async () => {
    const souls = ['own/1', 'hint/1'];
    const clock = { now: 0 };
    const counter = census(souls, clock);
    expect((await counter.read())?.hinted).toBe(1);
    souls.push('hint/2');
    clock.now = MIN_INTERVAL_MS - 1;
    expect((await counter.read())?.hinted).toBe(1);
    clock.now = MIN_INTERVAL_MS;
    expect((await counter.read())?.hinted).toBe(2);
  });

  it('a slow count spaces the next one out: COST_FACTOR × its duration', async () => {
    const souls = ['hint/1'];
    const clock = { now: 0, perCountMs: 500 };
    const counter = census(souls, clock);
    expect(await counter.read()).toMatchObject({ hinted: 1, takenAt: 500, durationMs: 500 });
    souls.push('hint/2');
    clock.now = 500 + COST_FACTOR * 500 - 1;
    expect((await counter.read())?.hinted).toBe(1);
    clock.now = 500 + COST_FACTOR * 500;
    expect((await counter.read())?.hinted).toBe(2);
  });
});

describe('store size', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('sums the files under a directory, recursively, and caches for the TTL', async () => {
    dir = await mkdtemp(join(tmpdir(), 'rustdht-size-'));
    await writeFile(join(dir, 'a.log'), Buffer.alloc(1000));
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'b.ldb'), Buffer.alloc(234));
    expect(await directoryBytes(dir)).toBe(1234);
    expect(await directoryBytes(join(dir, 'missing'))).toBe(0);

    let now = 0;
    const size = directorySizer(dir, { ttlMs: 5000, now: () => now });
    const [first, concurrent] = await Promise.all([size(), size()]);
    expect([first, concurrent]).toEqual([1234, 1234]);
    await writeFile(join(dir, 'c'), Buffer.alloc(6));
    now = 4999;
    expect(await size()).toBe(1234);
    now = 5000;
    expect(await size()).toBe(1240);
  });
});

describe('logger and throttle', () => {
  const at = new Date(2024, 0, 2, 3, 4, 5, 6);

  it('writes JSON lines with time, level, msg first; drops lines below the level; errors keep their message', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', format: 'json', write: (line) => lines.push(line), now: () => at });
    log.debug('hidden');
    log.info('peer connected', { peer: 'p1', msg: 'cannot override', n: 2 });
    log.warn('rejected', { error: Object.assign(new Error('bad sig'), { code: 'signature/invalid' }) });
    expect(log.enabled('debug')).toBe(false);
    expect(lines).toHaveLength(2);
    expect(lines.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n'))).toBe(true);
    expect(Object.keys(JSON.parse(lines[0]!) as object)).toEqual(['time', 'level', 'msg', 'peer', 'n']);
    expect(JSON.parse(lines[0]!)).toEqual({ time: at.toISOString(), level: 'info', msg: 'peer connected', peer: 'p1', n: 2 });
    expect(JSON.parse(lines[1]!)).toMatchObject({ level: 'warn', error: { name: 'Error', code: 'signature/invalid', message: 'bad sig' } });
  });

  it('writes pretty lines: local time, level, message, key=value fields', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', format: 'pretty', write: (line) => lines.push(line), now: () => at });
    log.debug('network state', { state: 'idle', note: 'two words', list: ['a', 'b'], skipped: undefined });
    expect(lines).toEqual(['03:04:05.006 DEBUG network state state=idle note="two words" list=["a","b"]\n']);
  });

  it('the throttle admits the first of a kind per window and counts the rest', () => {
    let now = 0;
    const throttle = new RepeatThrottle(10_000, () => now);
    expect(throttle.admit('p1 wire/malformed')).toBe(0);
    expect(throttle.admit('p1 wire/malformed')).toBeUndefined();
    expect(throttle.admit('p2 wire/malformed')).toBe(0);
    now = 5000;
    expect(throttle.admit('p1 wire/malformed')).toBeUndefined();
    now = 10_000;
    expect(throttle.admit('p1 wire/malformed')).toBe(2);
  });
});
