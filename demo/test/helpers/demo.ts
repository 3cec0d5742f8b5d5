/**
 * Shared helpers of the demo page's Playwright tests: a real `rustdht serve --demo
 * demo/dist` (the page is served at `/` of the server's HTTP port, finds the server's
 * addresses from its /health and connects by itself), switching transports through the
 * folded "Connection details", console-error watching, screenshots (at 1280 and 375 px)
 * and measurements kept as test artifacts.
 *
 * Every wait is on a condition with a deadline; nothing sleeps a fixed time.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, type Browser, type BrowserContextOptions, type Locator, type Page, type TestInfo } from '@playwright/test';
import { RustDHT } from '../../../sdk-ts/dist/node.js';
import { cliBuilt, CLI_PATH, startServer, withDeadline, type ServerProcess } from '../../../sdk-ts/test/network/helpers/server-process.js';

export { stopAllServers, waitFor, withDeadline, type ServerProcess } from '../../../sdk-ts/test/network/helpers/server-process.js';

/** The built demo page (`vite build` in demo/). */
export const DEMO_DIST = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist');

export type DemoTransport = 'websockets' | 'webrtc-direct';

/** What the page exposes for precise assertions: `window.rustdhtDemo`. */
interface PropertyMetaLike {
  readonly value: unknown;
  readonly state: number;
  readonly signer?: string;
}
interface RefLike {
  get(key: string): RefLike;
  put(value: unknown): Promise<unknown>;
  once(options?: { local?: boolean }): Promise<unknown>;
  on(callback: (value: unknown) => void): () => void;
  meta(options?: { local?: boolean }): Promise<PropertyMetaLike | undefined>;
}
export interface DemoWindow {
  rustdhtDemo?: { connectedMs?: number; db: { get(soul: string): RefLike; network?: { status(): { peers: Array<{ peerId: string; transport: string }> } } }; identity: { publicKey: string } };
  /** Installed by `watchValue` (tests only): values seen by a subscriber, with their epoch-ms times. */
  demoTestSeen?: Record<string, Array<{ value: unknown; at: number }>>;
}

/** Starts a server with all transports (TCP, WebSockets, WebRTC-Direct) serving the demo page. */
/** A Node SDK peer (memory only) connected to `server`: the specs' second kind of peer. */
export async function connectedNodeClient(server: ServerProcess) {
  const client = await RustDHT.open({ store: 'memory', network: { peers: [server.tcpAddress] } });
  await withDeadline('the Node client to connect', client.network.whenConnected(), 15_000);
  return client;
}

/** Closes each page's browser context (its storage and identity go with it). */
export async function closeTabs(...pages: Page[]): Promise<void> {
  await Promise.all(pages.map((page) => page.context().close()));
}

export async function startDemoServer(name: string, extraArgs: readonly string[] = []): Promise<ServerProcess> {
  if (!cliBuilt()) throw new Error(`${CLI_PATH} is missing: run \`npm run build\` first (the server runs from sdk-ts/dist/).`);
  if (!existsSync(resolve(DEMO_DIST, 'index.html'))) throw new Error(`${DEMO_DIST}/index.html is missing: build the demo page first.`);
  // Every tab connects from loopback (WebSockets, WebRTC, relayed), several a second: loopback
  // is exempt from libp2p's per-host connection rate, as for `npm start`'s local server.
  return startServer({ name, allTransports: true, args: ['--demo', DEMO_DIST, '--exempt-loopback', ...extraArgs] });
}

export const pageUrl = (server: ServerProcess): string => `http://127.0.0.1:${server.httpPort}/`;

/** The server address of a transport among a server's addresses. */
export function addressOf(server: ServerProcess, transport: DemoTransport): string {
  const address = server.addresses.find((a) => a.startsWith('/ip4/127.0.0.1/') && (transport === 'websockets' ? /\/tcp\/\d+\/ws\//.test(a) : a.includes('/webrtc-direct/')));
  if (address === undefined) throw new Error(`${server.name} has no ${transport} address among ${JSON.stringify(server.addresses)}`);
  return address;
}

export const byTestId = (scope: Page | Locator, id: string): Locator => scope.locator(`[data-testid="${id}"]`);

/** The status panel's row of peer `peerId` (optionally only over `transport`). */
export function peerRow(page: Page, peerId: string, transport?: string): Locator {
  return page.locator(`[data-testid="peer-row"][data-peer-id="${peerId}"]${transport === undefined ? '' : `[data-transport="${transport}"]`}`);
}

/** The explorer's row of property `key`. */
export function propRow(page: Page, key: string): Locator {
  return page.locator(`[data-testid="explorer-prop"][data-key="${key}"]`);
}

export { watchProblems } from '../../../sdk-ts/test/browser/page-problems.js';

/** A page in a browser context of its own (its own IndexedDB and localStorage, hence its own identity and connection choice). */
export async function newTab(browser: Browser, options: BrowserContextOptions = {}): Promise<Page> {
  const context = await browser.newContext(options);
  return context.newPage();
}

/** Unfolds "Connection details and addresses" (transport, server address, addresses, direct dial). */
export async function openDetails(page: Page): Promise<void> {
  const details = byTestId(page, 'connection-details');
  if ((await details.getAttribute('open')) === null) await details.locator('summary').click();
  await expect(details).toHaveAttribute('open', '');
}

/** Waits until the header says connected and the status panel lists `server` (over `transport`, if given). */
export async function expectConnected(page: Page, server: ServerProcess, transport?: DemoTransport, timeoutMs = 30_000): Promise<void> {
  await expect(peerRow(page, server.peerId, transport), `the server's row${transport === undefined ? '' : ` over ${transport}`} in the status panel`).toHaveCount(1, { timeout: timeoutMs });
  // Same bound as the row: a session that drops right after connecting is redialled with backoff.
  await expect(byTestId(page, 'connection-state')).toHaveAttribute('data-state', 'connected', { timeout: timeoutMs });
  await expect(byTestId(page, 'connection-toggle')).toHaveText('Disconnect');
}

export interface Connected {
  readonly peerId: string;
  readonly publicKey: string;
  /** ms from page.goto() to the server's peer row in the status panel (a transport switch included). */
  readonly gotoToConnectedMs: number;
  /** ms from the page's navigation start to its first peer connection (the page's own clock). */
  readonly navigationToConnectedMs: number;
}

/**
 * Loads the page from `server` and waits until it is connected to it over `transport`:
 * over WebSockets by itself (no click); over WebRTC-Direct after switching the transport
 * in the connection details (see `connect`).
 */
export async function openAndConnect(page: Page, server: ServerProcess, transport: DemoTransport = 'websockets'): Promise<Connected> {
  const started = performance.now();
  await page.goto(pageUrl(server));
  await connect(page, server, transport);
  const gotoToConnectedMs = performance.now() - started;
  // The page records performance.now() at its first peer:connect (window.rustdhtDemo.connectedMs).
  const navigationToConnectedMs = await page.evaluate(() => (window as unknown as DemoWindow).rustdhtDemo?.connectedMs ?? performance.now());
  return { ...(await identityOf(page)), gotoToConnectedMs, navigationToConnectedMs };
}

/**
 * Makes sure a loaded page is connected to `server` over `transport`. The page connects
 * by itself on load (over WebSockets, to the address it read from /health, shown in the
 * connection details); another transport is chosen there and connected with a click, as
 * a user would.
 */
export async function connect(page: Page, server: ServerProcess, transport: DemoTransport = 'websockets'): Promise<void> {
  // The page has set up its panels (a choice made before that would be overwritten by the remembered one).
  await demoReady(page);
  const input = byTestId(page, 'server-address');
  if (transport === 'websockets') {
    // Prefilled from the server's /health: its WebSockets address, dialled on load.
    await expect(input).toHaveValue(/\/ws\/p2p\//, { timeout: 15_000 });
    await expect(input).toHaveValue(new RegExp(`/p2p/${server.peerId}$`));
    await expectConnected(page, server, transport);
  } else {
    await openDetails(page);
    await byTestId(page, 'transport-select').selectOption(transport);
    await expect(input).toHaveValue(/\/webrtc-direct\//, { timeout: 15_000 });
    await expect(input).toHaveValue(new RegExp(`/p2p/${server.peerId}$`));
    await byTestId(page, 'connect-button').click();
    await expectConnected(page, server, transport);
  }
  await expect(byTestId(page, 'status-state')).toHaveText(/^(syncing|idle)$/);
}

/** The page's peer id and identity public key, as the connection details show them. */
export async function identityOf(page: Page): Promise<{ peerId: string; publicKey: string }> {
  const peerId = byTestId(page, 'peer-id');
  const publicKey = byTestId(page, 'identity-public-key');
  await expect(peerId).toHaveText(/^\s*12D3\S+\s*$/);
  await expect(publicKey).toHaveText(/^\s*[A-Za-z0-9_-]{43}\s*$/);
  // textContent: they sit in the folded connection details (innerText of a hidden element is empty).
  return { peerId: ((await peerId.textContent()) ?? '').trim(), publicKey: ((await publicKey.textContent()) ?? '').trim() };
}

/** Opens `soul` in the explorer and waits for it to be shown. */
export async function openSoul(page: Page, soul: string): Promise<void> {
  await byTestId(page, 'explorer-soul').fill(soul);
  await byTestId(page, 'explorer-open').click();
  await expect(byTestId(page, 'explorer-soul')).toHaveValue(soul);
}

/** Edits property `key` of the open soul through the explorer. */
export async function editProp(page: Page, key: string, value: string): Promise<void> {
  await byTestId(page, 'explorer-edit-key').fill(key);
  await byTestId(page, 'explorer-edit-value').fill(value);
  await byTestId(page, 'explorer-save').click();
}

/** Waits until the explorer shows `value` for `key`. */
export async function expectProp(page: Page, key: string, value: string, timeoutMs = 15_000): Promise<void> {
  await expect(propRow(page, key).locator('.prop-value'), `${key} = ${value} in the explorer`).toHaveText(value, { timeout: timeoutMs });
}

/** The page database's own record of soul.key (value, state, signer), or undefined. */
export function metaOf(page: Page, soul: string, key: string): Promise<PropertyMetaLike | undefined> {
  return page.evaluate(async ([s, k]) => {
    const demo = (window as unknown as DemoWindow).rustdhtDemo;
    if (demo === undefined) throw new Error('window.rustdhtDemo is missing');
    const meta = await demo.db.get(s).get(k).meta({ local: true });
    return meta === undefined ? undefined : { value: meta.value, state: meta.state, ...(meta.signer === undefined ? {} : { signer: meta.signer }) };
  }, [soul, key] as const);
}

/** Waits until the page exposes window.rustdhtDemo. */
export async function demoReady(page: Page): Promise<void> {
  await page.waitForFunction(() => (window as unknown as DemoWindow).rustdhtDemo?.db !== undefined, undefined, { timeout: 30_000 });
}

/** Subscribes (in the page, through window.rustdhtDemo) to soul.key, recording each value with its epoch-ms arrival time. */
export async function watchValue(page: Page, soul: string, key: string): Promise<void> {
  await page.evaluate(([s, k]) => {
    const w = window as unknown as DemoWindow;
    const seen = (w.demoTestSeen ??= {});
    const id = `${s}\u0000${k}`;
    if (seen[id] !== undefined) return;
    const list: Array<{ value: unknown; at: number }> = (seen[id] = []);
    w.rustdhtDemo!.db.get(s).get(k).on((value) => list.push({ value, at: performance.timeOrigin + performance.now() }));
  }, [soul, key] as const);
}

/** The epoch-ms time the page's `watchValue` subscriber saw `value`. */
export async function seenAt(page: Page, soul: string, key: string, value: string, timeoutMs = 10_000): Promise<number> {
  const handle = await page.waitForFunction(
    ([s, k, v]) => (window as unknown as DemoWindow).demoTestSeen?.[`${s}\u0000${k}`]?.find((x) => x.value === v)?.at,
    [soul, key, value] as const,
    { timeout: timeoutMs },
  );
  return (await handle.jsonValue()) as number;
}

/** Writes through the page's database; resolves with the epoch-ms time just before the write. */
export function putAt(page: Page, soul: string, key: string, value: string): Promise<number> {
  return page.evaluate(async ([s, k, v]) => {
    const at = performance.timeOrigin + performance.now();
    await (window as unknown as DemoWindow).rustdhtDemo!.db.get(s).get(k).put(v);
    return at;
  }, [soul, key, value] as const);
}

export async function screenshot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

/**
 * Screenshots of one view at 1280 px and at 375 px (a phone), `locator` scrolled into
 * view (the full page is kept too); the page's width is restored after. Also checks the
 * page does not scroll sideways at either width (the responsive layout holds).
 */
export async function screenshotWidths(page: Page, testInfo: TestInfo, name: string, locator?: Locator): Promise<void> {
  const before = page.viewportSize() ?? { width: 1280, height: 720 };
  try {
    for (const [width, height] of [[1280, 900], [375, 812]] as const) {
      await page.setViewportSize({ width, height });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, `no horizontal scrolling at ${width} px`).toBeLessThanOrEqual(0);
      await screenshot(page, testInfo, `${name}-${width}px`);
      if (locator !== undefined) {
        await locator.scrollIntoViewIfNeeded();
        const path = testInfo.outputPath(`${name}-${width}px-view.png`);
        await page.screenshot({ path });
        await testInfo.attach(`${name}-${width}px-view`, { path, contentType: 'image/png' });
      }
    }
  } finally {
    await page.setViewportSize(before);
  }
}

export async function report(testInfo: TestInfo, name: string, numbers: Record<string, unknown>): Promise<void> {
  console.log(`[demo] ${name}: ${JSON.stringify(numbers)}`);
  await testInfo.attach(`${name}.json`, { body: JSON.stringify(numbers, null, 2), contentType: 'application/json' });
}

export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

export const round = (ms: number): number => Number(ms.toFixed(2));
