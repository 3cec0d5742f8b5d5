import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { expect, test, type Browser, type Page, type TestInfo } from '@playwright/test';
import { RustDHT } from '../../src/node.js';
import { cliBuilt, CLI_PATH, freeTcpPort, startServer, stopAllServers, waitFor, withDeadline, type ServerProcess } from '../network/helpers/server-process.js';
import type { NetworkPageApi } from './network-main.js';
import { watchProblems } from './page-problems.js';

// Browser peers on the network, in Chromium: a page dials a real `rustdht serve` over
// WebSockets and over WebRTC-Direct and exchanges live updates with a Node SDK peer
// through it; two pages reserve a relay slot on the server, connect to each other over
// direct WebRTC (the relay only carries the handshake) and exchange updates over that
// connection alone once the server is gone.
//
// Needs the build (`npm run build`): the server runs from dist/. Every wait has a
// deadline; nothing sleeps a fixed time.

test.describe.configure({ mode: 'serial' });

const run = randomUUID().slice(0, 8);
const soulOf = (name: string): string => `browser-net-${run}/${name}`;

let server: ServerProcess;
let nodeClient: RustDHT;

function addressOf(target: ServerProcess, transport: 'ws' | 'webrtc-direct'): string {
  const address = target.addresses.find((a) => a.startsWith('/ip4/127.0.0.1/') && (transport === 'ws' ? /\/tcp\/\d+\/ws\//.test(a) : a.includes('/webrtc-direct/')));
  if (address === undefined) throw new Error(`${target.name} has no ${transport} address among ${JSON.stringify(target.addresses)}`);
  return address;
}

test.beforeAll(async () => {
  if (!cliBuilt()) throw new Error(`${CLI_PATH} is missing: run \`npm run build\` in sdk-ts first (the server runs from dist/).`);
  // Pages and Node peers all connect from loopback, several a second: loopback is exempt from the per-host connection rate.
  server = await startServer({ name: 'browser-net', allTransports: true, args: ['--exempt-loopback'] });
  nodeClient = await RustDHT.open({ store: 'memory', network: { peers: [server.tcpAddress] } });
  await withDeadline('the Node client to connect', nodeClient.network!.whenConnected(), 15_000);
});

test.afterAll(async () => {
  await nodeClient?.close();
  await stopAllServers();
});

/** The `reject` and `dial:failed` events a page's network emitted, as "code: message". */
async function rejectsOf(page: Page): Promise<string[]> {
  const events = await page.evaluate(() => window.rustdhtNet!.events());
  return events.flatMap((e) => (e.type === 'reject' || e.type === 'dial:failed' ? [`${e.code}: ${e.message}`] : []));
}

/** A page's network events since `since` (epoch ms), times relative to it: for failure messages. */
async function timeline(page: Page, since: number): Promise<string> {
  const [events, connections] = await page.evaluate(() => [window.rustdhtNet!.events(), window.rustdhtNet!.connectionLog()] as const);
  const lines = events.map((e) => ({
    at: e.at,
    text: `${e.type} ${e.type === 'reject' || e.type === 'dial:failed' ? `${e.code} ${e.message}` : e.type === 'peer:connect' ? `${e.peer.peerId} ${e.peer.transport}` : e.type === 'state' ? e.state : e.peerId}`,
  }));
  for (const line of connections) {
    const [at, ...rest] = line.split(' ');
    lines.push({ at: Number(at), text: `connection ${rest.join(' ')}` });
  }
  return lines
    .filter((l) => l.at >= since - 1)
    .sort((x, y) => x.at - y.at)
    .map((l) => `+${(l.at - since).toFixed(0)}ms ${l.text}`)
    .join('\n');
}

interface Loaded {
  readonly peerId: string;
  /** ms from navigation start to the first ready sync session (measured in the page). */
  readonly connectedMs: number;
  /** ms from page.goto() to the page saying "connected" (measured here). */
  readonly gotoToConnectedMs: number;
}

async function load(page: Page, peers: readonly string[]): Promise<Loaded> {
  const query = peers.map((p) => `peer=${encodeURIComponent(p)}`).join('&');
  const started = performance.now();
  await page.goto(`/network.html?${query}`);
  await expect(page.locator('#status')).toHaveText('connected', { timeout: 30_000 });
  const gotoToConnectedMs = performance.now() - started;
  const { peerId, connectedMs } = await page.evaluate(() => ({ peerId: window.rustdhtNet!.peerId, connectedMs: window.rustdhtNet!.connectedMs }));
  return { peerId, connectedMs, gotoToConnectedMs };
}

/** The page's API, called from here (arguments and results cross as JSON). */
const net = (page: Page) => ({
  status: () => page.evaluate(() => window.rustdhtNet!.status()),
  events: () => page.evaluate(() => window.rustdhtNet!.events()),
  dial: (address: string) => page.evaluate((a) => window.rustdhtNet!.dial(a), address),
  watch: (soul: string, key: string) => page.evaluate(([s, k]) => window.rustdhtNet!.watch(s, k), [soul, key] as const),
  waitForValue: (soul: string, key: string, value: unknown, timeoutMs = 15_000) =>
    page.evaluate(([s, k, v, t]) => window.rustdhtNet!.waitForValue(s, k, v, t), [soul, key, value, timeoutMs] as const),
  put: (soul: string, key: string, value: string | number) => page.evaluate(([s, k, v]) => window.rustdhtNet!.put(s, k, v), [soul, key, value] as const),
  waitForPeer: (peerId: string, transport?: string, timeoutMs = 20_000) =>
    page.evaluate(([p, tr, t]) => window.rustdhtNet!.waitForPeer(p, tr ?? undefined, t), [peerId, transport ?? null, timeoutMs] as const),
  waitForPeerGone: (peerId: string, timeoutMs = 20_000) => page.evaluate(([p, t]) => window.rustdhtNet!.waitForPeerGone(p, t), [peerId, timeoutMs] as const),
  waitForAddress: (parts: string[], timeoutMs = 20_000) => page.evaluate(([p, t]) => window.rustdhtNet!.waitForAddress(p, t), [parts, timeoutMs] as const),
  connections: (peerId: string) => page.evaluate((p) => window.rustdhtNet!.connections(p), peerId),
  close: () => page.evaluate(() => window.rustdhtNet!.close()),
});

/** Resolves with the first value of `soul`.`key` that equals `expected`, seen by a Node `on` subscriber. */
function nodeSees(db: RustDHT, soul: string, key: string, expected: unknown, timeoutMs = 15_000): { seen: Promise<void> } {
  let stop: (() => void) | undefined;
  const seen = new Promise<void>((resolve) => {
    stop = db.get(soul).get(key).on((value) => {
      if (value === expected) resolve();
    });
  });
  return { seen: withDeadline(`${soul}.${key} = ${JSON.stringify(expected)} at the Node subscriber`, seen, timeoutMs).finally(() => stop?.()) };
}

async function screenshot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

async function report(testInfo: TestInfo, name: string, numbers: Record<string, unknown>): Promise<void> {
  console.log(`[network.spec] ${name}: ${JSON.stringify(numbers)}`);
  await testInfo.attach(name, { body: JSON.stringify(numbers, null, 2), contentType: 'application/json' });
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

for (const transport of ['websockets', 'webrtc-direct'] as const) {
  test(`a page joins the server over ${transport} and exchanges live updates with a Node peer`, async ({ page }, testInfo) => {
    const { problems } = watchProblems(page);
    const address = addressOf(server, transport === 'websockets' ? 'ws' : 'webrtc-direct');
    const loaded = await load(page, [address]);
    const api = net(page);

    const status = await api.status();
    expect(status.role).toBe('client');
    expect(status.peers).toHaveLength(1);
    expect(status.peers[0]).toMatchObject({ peerId: server.peerId, role: 'server', transport });
    await waitFor('the server to list the page', async () => {
      const { body } = await server.health();
      return typeof body.peers !== 'number' && body.peers.list.some((p) => p.peerId === loaded.peerId);
    });

    // Node → page.
    const soul = soulOf(`pair-${transport}`);
    await api.watch(soul, 'fromNode');
    const fromNode = `hello page, from node (${transport})`;
    await nodeClient.get(soul).get('fromNode').put(fromNode);
    await api.waitForValue(soul, 'fromNode', fromNode);

    // Page → Node.
    const fromPage = `hello node, from the page (${transport})`;
    const { seen } = nodeSees(nodeClient, soul, 'fromPage', fromPage);
    await api.put(soul, 'fromPage', fromPage);
    await seen;

    await screenshot(page, testInfo, `page-${transport}`);
    await report(testInfo, `connect-${transport}`, {
      transport,
      connectedMsSinceNavigationStart: Math.round(loaded.connectedMs),
      gotoToConnectedMs: Math.round(loaded.gotoToConnectedMs),
      rttMs: (await api.status()).peers[0]?.rttMs,
    });
    expect(await rejectsOf(page)).toEqual([]);
    expect(await api.close()).toEqual({ undelivered: 0, kept: false, lost: 0 });
    expect(problems).toEqual([]);
  });
}

test('a wrong address in a page is named, with a code, not "[object Event]"', async ({ page }) => {
  await load(page, [addressOf(server, 'ws')]);
  const refused = `/ip4/127.0.0.1/tcp/${await freeTcpPort()}/ws`;
  await net(page).dial(refused);
  const failure = await page.waitForFunction(
    (address) => window.rustdhtNet!.events().find((e) => e.type === 'dial:failed' && e.address === address),
    refused,
    { timeout: 15_000 },
  );
  const event = (await failure.jsonValue()) as { code: string; message: string };
  expect(event.code).toBe('network/unreachable');
  expect(event.message).toContain(refused);
  expect(event.message).toMatch(/error event from ws:\/\/127\.0\.0\.1:\d+/);
  expect(event.message).not.toContain('[object');
  await net(page).close();
});

async function newPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  // RUSTDHT_NET_DEBUG=<debug pattern, e.g. libp2p:webrtc*>: the page's libp2p logs, kept in
  // the page (cheap: printing each one through the console would change the timing) and
  // written to the test's output by dumpDebugLog().
  const pattern = process.env.RUSTDHT_NET_DEBUG;
  if (pattern !== undefined && pattern !== '') {
    await page.addInitScript((p) => {
      localStorage.setItem('debug', p);
      const log: string[] = [];
      (window as unknown as { rustdhtDebugLog: string[] }).rustdhtDebugLog = log;
      const keep = (...args: unknown[]): void => void log.push(`${(performance.timeOrigin + performance.now()).toFixed(0)} ${args.map((a) => (typeof a === 'string' ? a.replace(/%c/g, '') : a instanceof Error ? a.stack : String(a))).join(' ')}`);
      console.debug = keep;
      console.log = keep;
      // The 'init' data channel of each WebRTC handshake: when it opens and closes.
      const create = RTCPeerConnection.prototype.createDataChannel;
      RTCPeerConnection.prototype.createDataChannel = function (label: string, init?: RTCDataChannelInit) {
        const channel = create.call(this, label, init);
        if (label === 'init') {
          keep(`probe: init channel created, ${channel.readyState}`);
          for (const type of ['open', 'closing', 'close']) channel.addEventListener(type, () => keep(`probe: init channel ${type} event, readyState ${channel.readyState}`));
        }
        return channel;
      };
    }, pattern);
  }
  return page;
}

async function dumpDebugLog(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  if (process.env.RUSTDHT_NET_DEBUG === undefined || page.isClosed()) return;
  const log = await page.evaluate(() => (window as unknown as { rustdhtDebugLog?: string[] }).rustdhtDebugLog ?? []);
  const path = testInfo.outputPath(`${name}-libp2p.log`);
  await writeFile(path, log.join('\n'));
  await testInfo.attach(`${name}-libp2p.log`, { path, contentType: 'text/plain' });
}

test('two pages reserve a relay slot, connect over direct WebRTC and sync over it alone', async ({ browser }, testInfo) => {
  test.setTimeout(120_000);
  // A server of its own: this test stops it to prove the pages talk without it.
  const relay = await startServer({ name: 'browser-relay', allTransports: true, args: ['--exempt-loopback'] });
  const relayWs = addressOf(relay, 'ws');
  const wsPort = /\/tcp\/(\d+)\/ws\//.exec(relayWs)![1]!;
  let relayStopped = false;
  // Once the relay is stopped (on purpose), the pages keep redialling it (network.peers
  // are redialled with backoff) and Chromium itself logs each refused WebSocket as a
  // console error, which no page code can prevent. Only that, only then, is allowed.
  const afterStop = (): RegExp[] => (relayStopped ? [new RegExp(`WebSocket connection to 'ws://127\\.0\\.0\\.1:${wsPort}/' failed`)] : []);
  const pageA = await newPage(browser);
  const pageB = await newPage(browser);
  const watchedA = watchProblems(pageA, afterStop);
  const watchedB = watchProblems(pageB, afterStop);
  try {
    const [loadedA, loadedB] = await Promise.all([load(pageA, [relayWs]), load(pageB, [relayWs])]);
    const a = net(pageA);
    const b = net(pageB);

    // Each holds a reservation on the relay, hence a WebRTC address through it.
    const reserveStarted = performance.now();
    const [addressesA, addressesB] = await Promise.all([a.waitForAddress(['/p2p-circuit', '/webrtc']), b.waitForAddress(['/p2p-circuit', '/webrtc'])]);
    const reservedMs = performance.now() - reserveStarted;
    const webrtcB = addressesB.find((x) => x.includes(`/p2p/${relay.peerId}/p2p-circuit/webrtc/p2p/${loadedB.peerId}`));
    expect(webrtcB, `B's addresses: ${JSON.stringify(addressesB)}`).toBeDefined();
    expect(addressesA.some((x) => x.includes(`/p2p-circuit/webrtc/p2p/${loadedA.peerId}`))).toBe(true);

    // A dials B over WebRTC through the relay; both see a direct 'webrtc' peer.
    const dialStarted = performance.now();
    const dialStartedAt = Date.now();
    await a.dial(webrtcB!);
    const [peerBatA, peerAatB] = await Promise.all([a.waitForPeer(loadedB.peerId, 'webrtc'), b.waitForPeer(loadedA.peerId, 'webrtc')]);
    const webrtcConnectMs = performance.now() - dialStarted;
    expect(peerBatA.role).toBe('client');
    expect(peerAatB.role).toBe('client');
    // libp2p's own view: a direct, unlimited connection (not the relayed one) each way.
    for (const connections of [await a.connections(loadedB.peerId), await b.connections(loadedA.peerId)]) {
      expect(connections.some((c) => c.direct && !c.limited && c.transport.endsWith('webrtc')), JSON.stringify(connections)).toBe(true);
    }

    // With the relay up: B watches, A writes; B gets it (through A's push, the relay's, or both).
    const soul = soulOf('p2p');
    await b.watch(soul, 'msg');
    await a.put(soul, 'msg', 'via relay or direct');
    await b.waitForValue(soul, 'msg', 'via relay or direct');

    // No refusals, except one known libp2p race (@libp2p/webrtc 6.0.33, initiate-connection.js):
    // when B's side of the RTCPeerConnection connects first, B's muxer closes A's 'init'
    // data channel before A waits for it to open; A then waits for an 'open' event that
    // already fired (readyState is 'closed') until the 6 s per-address dial timeout, and
    // the SDK's redial succeeds over the same relayed connection. Each redial can meet the
    // race again (seen twice in a row on a loaded 2-core machine), so up to two are
    // tolerated; the connection itself must come (waitForPeer above). Counted in the report.
    const rejectsA = await rejectsOf(pageA);
    const initChannelRace = rejectsA.filter((r) => /^network\/(dial-failed|unreachable): could not reach .*signal timed out/.test(r) && r.includes(webrtcB!));
    expect(initChannelRace.length, `A's events since the dial:\n${await timeline(pageA, dialStartedAt)}`).toBeLessThanOrEqual(2);
    expect(rejectsA.filter((r) => !initChannelRace.includes(r)), `A's events since the dial:\n${await timeline(pageA, dialStartedAt)}`).toEqual([]);
    expect(await rejectsOf(pageB), `B's events since the dial:\n${await timeline(pageB, dialStartedAt)}`).toEqual([]);

    // Relay gone: only the direct WebRTC connection is left between A and B.
    relayStopped = true;
    await relay.stop();
    await Promise.all([a.waitForPeerGone(relay.peerId), b.waitForPeerGone(relay.peerId)]);
    expect((await a.status()).peers.map((p) => [p.peerId, p.transport])).toEqual([[loadedB.peerId, 'webrtc']]);
    expect((await b.status()).peers.map((p) => [p.peerId, p.transport])).toEqual([[loadedA.peerId, 'webrtc']]);

    // ~20 writes in A, each awaited at B's subscriber: latency over the direct connection.
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const value = `direct ${i}`;
      const sentAt = await a.put(soul, 'msg', value);
      const seenAt = await b.waitForValue(soul, 'msg', value, 10_000);
      latencies.push(seenAt - sentAt);
    }
    await screenshot(pageA, testInfo, 'page-a');
    await screenshot(pageB, testInfo, 'page-b');
    await report(testInfo, 'webrtc-page-to-page', {
      connectedMsSinceNavigationStart: { a: Math.round(loadedA.connectedMs), b: Math.round(loadedB.connectedMs) },
      gotoToConnectedMs: { a: Math.round(loadedA.gotoToConnectedMs), b: Math.round(loadedB.gotoToConnectedMs) },
      reservationMs: Math.round(reservedMs),
      webrtcDialToSessionMs: Math.round(webrtcConnectMs),
      // Dials lost to the init-channel race before one connected (see above).
      webrtcDialsLostToInitChannelRace: initChannelRace.length,
      directLatencyMs: {
        median: Number(median(latencies).toFixed(2)),
        min: Number(Math.min(...latencies).toFixed(2)),
        max: Number(Math.max(...latencies).toFixed(2)),
        samples: latencies.map((l) => Number(l.toFixed(2))),
      },
      allowedConsoleErrorsAfterRelayStop: { a: watchedA.allowed.length, b: watchedB.allowed.length },
      rejectsAfterRelayStop: { a: await rejectsOf(pageA), b: await rejectsOf(pageB) },
    });
    // Written page to page with no server left: delivered to B, acknowledged by no
    // server, so a memory-only database says it loses them on close.
    const [closedA, closedB] = await Promise.all([a.close(), b.close()]);
    expect(closedA).toEqual({ undelivered: latencies.length, kept: false, lost: latencies.length });
    expect(closedB).toEqual({ undelivered: 0, kept: false, lost: 0 });
    expect(watchedA.problems).toEqual([]);
    expect(watchedB.problems).toEqual([]);
  } finally {
    await dumpDebugLog(pageA, testInfo, 'page-a');
    await dumpDebugLog(pageB, testInfo, 'page-b');
    await Promise.all([pageA.context().close(), pageB.context().close()]);
  }
});
