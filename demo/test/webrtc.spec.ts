import { randomUUID } from 'node:crypto';
import { expect, test } from '@playwright/test';
import {
  addressOf,
  byTestId,
  openDetails,
  editProp,
  expectProp,
  median,
  newTab,
  openAndConnect,
  openSoul,
  peerRow,
  putAt,
  report,
  round,
  screenshot,
  seenAt,
  startDemoServer,
  stopAllServers,
  watchProblems,
  watchValue,
  type DemoWindow,
} from './helpers/demo.js';

// Two demo pages connect to each other over direct WebRTC: both join the local server
// (which serves the page and is a circuit relay), each gets a /p2p-circuit/webrtc
// address through its reservation, B dials A's through the connection panel's direct
// dial. Then the server is stopped: edits in A still reach B, so they travel over the
// direct connection alone. Measured: browser-to-browser update latency over it.

test.afterAll(async () => {
  await stopAllServers();
});

test('two tabs connect directly over WebRTC through the server\'s relay and sync over it alone', async ({ browser }, testInfo) => {
  test.setTimeout(150_000);
  const run = randomUUID().slice(0, 8);
  // A server of its own: this test stops it.
  const relay = await startDemoServer('demo-relay');
  const wsPort = /\/tcp\/(\d+)\/ws\//.exec(addressOf(relay, 'websockets'))![1]!;
  let relayStopped = false;
  // Once the server is stopped on purpose the pages keep redialling it, and Chromium
  // itself logs each refused connection as a console error (no page code can prevent
  // that). Only those, only then, are allowed.
  const afterStop = (): RegExp[] =>
    relayStopped ? [new RegExp(`WebSocket connection to 'ws://127\\.0\\.0\\.1:${wsPort}/' failed`)] : [];
  const a = await newTab(browser);
  const b = await newTab(browser);
  const watchedA = watchProblems(a, afterStop);
  const watchedB = watchProblems(b, afterStop);
  try {
    const [connectedA, connectedB] = await Promise.all([openAndConnect(a, relay), openAndConnect(b, relay)]);

    // A's relay reservation gives it a WebRTC address through the server, shown in its connection details.
    const suffix = `/p2p/${relay.peerId}/p2p-circuit/webrtc/p2p/${connectedA.peerId}`;
    const reserveStarted = performance.now();
    await openDetails(a);
    await expect(byTestId(a, 'my-addresses')).toContainText(suffix, { timeout: 30_000 });
    const reservationMs = performance.now() - reserveStarted;
    const tokens = (await a.locator('[data-testid="my-address"]').evaluateAll((items) => items.map((li) => li.getAttribute('data-address') ?? ''))).filter((t) => t.startsWith('/') && t.endsWith(suffix));
    const webrtcA = tokens.find((t) => t.startsWith('/ip4/127.0.0.1/')) ?? tokens[0];
    expect(webrtcA, `A's /webrtc address among ${JSON.stringify(tokens)}`).toBeDefined();

    // B dials it (direct-dial); both list the other as a direct 'webrtc' peer. The first
    // dial may be lost to a known @libp2p/webrtc race (see sdk-ts/test/browser/network.spec.ts:
    // the 'init' data channel closes before the dialer waits for it, a 6 s dial timeout,
    // then the redial connects), hence the generous deadline.
    const dialStarted = performance.now();
    await openDetails(b);
    await byTestId(b, 'direct-peer-address').fill(webrtcA!);
    await byTestId(b, 'direct-dial').click();
    await expect(peerRow(b, connectedA.peerId, 'webrtc'), 'A in B\'s peer list over webrtc').toHaveCount(1, { timeout: 30_000 });
    await expect(peerRow(a, connectedB.peerId, 'webrtc'), 'B in A\'s peer list over webrtc').toHaveCount(1, { timeout: 30_000 });
    const webrtcConnectMs = performance.now() - dialStarted;

    // An edit in A appears in B (relay still up).
    const soul = `demo-p2p-${run}`;
    await Promise.all([openSoul(a, soul), openSoul(b, soul)]);
    await editProp(a, 'msg', `hello B, from A (${run})`);
    await expectProp(b, 'msg', `hello B, from A (${run})`);
    await screenshot(a, testInfo, 'webrtc-tab-a');
    await screenshot(b, testInfo, 'webrtc-tab-b');

    // Server gone: only the direct WebRTC connection is left between A and B.
    relayStopped = true;
    await relay.stop();
    await expect(peerRow(a, relay.peerId)).toHaveCount(0, { timeout: 20_000 });
    await expect(peerRow(b, relay.peerId)).toHaveCount(0, { timeout: 20_000 });
    for (const [page, other] of [[a, connectedB.peerId], [b, connectedA.peerId]] as const) {
      const rows = page.locator('[data-testid="peer-row"]');
      await expect(rows).toHaveCount(1);
      await expect(rows.first()).toHaveAttribute('data-peer-id', other);
      await expect(rows.first()).toHaveAttribute('data-transport', 'webrtc');
      await expect(rows.first().locator('[data-testid="peer-rtt"]')).toHaveText(/\d/, { timeout: 15_000 });
    }
    const direct = `over the direct connection only (${run})`;
    await editProp(a, 'msg', direct);
    await expectProp(b, 'msg', direct);
    await editProp(b, 'reply', `and back (${run})`);
    await expectProp(a, 'reply', `and back (${run})`);

    // Latency, database to database: ~20 writes in A, each awaited at a subscriber in B.
    await watchValue(b, soul, 'latency');
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const value = `direct ${i} (${run})`;
      const sentAt = await putAt(a, soul, 'latency', value);
      latencies.push((await seenAt(b, soul, 'latency', value)) - sentAt);
    }

    // Latency, screen to screen: A's explorer Save click to B's explorer showing the value.
    await b.evaluate(() => {
      const w = window as unknown as DemoWindow & { demoUiSeen?: Array<{ value: string; at: number }> };
      const list: Array<{ value: string; at: number }> = (w.demoUiSeen = []);
      const check = (): void => {
        const text = document.querySelector('[data-testid="explorer-prop"][data-key="ui-latency"] .prop-value')?.textContent?.trim();
        if (text !== undefined && list[list.length - 1]?.value !== text) list.push({ value: text, at: performance.timeOrigin + performance.now() });
      };
      new MutationObserver(check).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    });
    const uiLatencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const value = `ui ${i} (${run})`;
      await byTestId(a, 'explorer-edit-key').fill('ui-latency');
      await byTestId(a, 'explorer-edit-value').fill(value);
      const clickedAt = await a.evaluate(() => {
        const at = performance.timeOrigin + performance.now();
        (document.querySelector('[data-testid="explorer-save"]') as HTMLElement).click();
        return at;
      });
      const handle = await b.waitForFunction(
        (v) => (window as unknown as { demoUiSeen?: Array<{ value: string; at: number }> }).demoUiSeen?.find((x) => x.value === v)?.at,
        value,
        { timeout: 10_000 },
      );
      uiLatencies.push(((await handle.jsonValue()) as number) - clickedAt);
    }

    await screenshot(a, testInfo, 'webrtc-tab-a-server-stopped');
    await screenshot(b, testInfo, 'webrtc-tab-b-server-stopped');
    const summary = (values: number[]) => ({
      median: round(median(values)),
      min: round(Math.min(...values)),
      max: round(Math.max(...values)),
      samples: values.map(round),
    });
    await report(testInfo, 'webrtc-page-to-page', {
      gotoToConnectedMs: { a: Math.round(connectedA.gotoToConnectedMs), b: Math.round(connectedB.gotoToConnectedMs) },
      navigationStartToConnectedMs: { a: Math.round(connectedA.navigationToConnectedMs), b: Math.round(connectedB.navigationToConnectedMs) },
      reservationMs: Math.round(reservationMs),
      directDialToBothListedMs: Math.round(webrtcConnectMs),
      directUpdateLatencyMs: summary(latencies),
      directUiToUiLatencyMs: summary(uiLatencies),
      allowedConsoleErrorsAfterServerStop: { a: watchedA.allowed, b: watchedB.allowed },
    });
    expect(watchedA.problems).toEqual([]);
    expect(watchedB.problems).toEqual([]);
  } finally {
    await Promise.all([a.context().close(), b.context().close()]);
  }
});
