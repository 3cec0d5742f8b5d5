import { randomUUID } from 'node:crypto';
import { expect, test, type Page } from '@playwright/test';
import { Identity, RustDHT } from '../../sdk-ts/dist/node.js';
import {
  byTestId,
  connect,
  demoReady,
  editProp,
  expectProp,
  identityOf,
  metaOf,
  newTab,
  openAndConnect,
  openSoul,
  peerRow,
  propRow,
  report,
  screenshot,
  closeTabs,
  connectedNodeClient,
  startDemoServer,
  stopAllServers,
  watchProblems,
  withDeadline,
  type ServerProcess,
} from './helpers/demo.js';

// The demo page against a real `rustdht serve --demo demo/dist` (the page comes from
// the server's HTTP port, finds the server's addresses from its /health and connects by
// itself): chat between two tabs, offline edits merged by HAM, reload keeping data and
// identity in IndexedDB, a refused write into another identity's space, a Node SDK peer
// and a tab seeing each other's writes. The page's newer features (connection choice,
// copy buttons, display names, pending marks, presence, explorer trail and picture) are
// product.spec.ts's. Each tab is a browser context of its own (its own
// IndexedDB, hence its own identity). Every test checks that its pages logged no
// console error. The WebRTC page-to-page test, which stops its server, is webrtc.spec.ts.

test.describe.configure({ mode: 'serial' });

let server: ServerProcess;
let nodeClient: RustDHT;

test.beforeAll(async () => {
  test.setTimeout(90_000);
  server = await startDemoServer('demo');
  nodeClient = await connectedNodeClient(server);
});

test.afterAll(async () => {
  await nodeClient?.close();
  await stopAllServers();
});

test('two tabs chat through the local server: each sees the other\'s messages, with author and time', async ({ browser }, testInfo) => {
  test.setTimeout(90_000);
  const run = randomUUID().slice(0, 8); // unique names: tests may be repeated against one server
  const a = await newTab(browser);
  const b = await newTab(browser);
  const watchedA = watchProblems(a);
  const watchedB = watchProblems(b);
  try {
    const [connectedA, connectedB] = await Promise.all([openAndConnect(a, server), openAndConnect(b, server)]);
    expect(connectedA.publicKey, 'two contexts, two identities').not.toBe(connectedB.publicKey);
    await expect(byTestId(a, 'chat-room')).toHaveValue('lobby');
    await expect(byTestId(b, 'chat-room')).toHaveValue('lobby');

    const textA = `hello from tab A (${run})`;
    const textB = `hello from tab B (${run})`;
    await byTestId(a, 'chat-input').fill(textA);
    await byTestId(a, 'chat-send').click();
    await byTestId(b, 'chat-input').fill(textB);
    await byTestId(b, 'chat-send').click();

    for (const page of [a, b]) {
      for (const [text, author] of [[textA, connectedA.publicKey], [textB, connectedB.publicKey]] as const) {
        const message = page.locator('[data-testid="chat-message"]').filter({ has: page.locator('.chat-text', { hasText: text }) });
        await expect(message, `"${text}" in ${page === a ? 'A' : 'B'}'s chat`).toHaveCount(1, { timeout: 15_000 });
        await expect(message).toHaveAttribute('data-author', author);
        await expect(message.locator('.chat-author')).not.toBeEmpty();
        await expect(message.locator('.chat-time')).not.toBeEmpty();
      }
    }
    // A's own message before B's in both tabs (messages are ordered by time).
    for (const page of [a, b]) {
      const texts = await page.locator('[data-testid="chat-message"] .chat-text').allInnerTexts();
      expect(texts.findIndex((t) => t.includes(textA))).toBeLessThan(texts.findIndex((t) => t.includes(textB)));
    }

    await screenshot(a, testInfo, 'chat-tab-a');
    await screenshot(b, testInfo, 'chat-tab-b');
    await a.setViewportSize({ width: 375, height: 812 });
    await screenshot(a, testInfo, 'chat-tab-a-375px');
    await report(testInfo, 'page-load-to-connected-websockets', {
      transport: 'websockets',
      gotoToConnectedMs: { a: Math.round(connectedA.gotoToConnectedMs), b: Math.round(connectedB.gotoToConnectedMs) },
      navigationStartToConnectedMs: { a: Math.round(connectedA.navigationToConnectedMs), b: Math.round(connectedB.navigationToConnectedMs) },
    });
    expect(watchedA.problems).toEqual([]);
    expect(watchedB.problems).toEqual([]);
  } finally {
    await closeTabs(a, b);
  }
});

test('tab A edits offline, tab B edits the same properties online: after A is back both show the HAM winners', async ({ browser }, testInfo) => {
  test.setTimeout(90_000);
  const run = randomUUID().slice(0, 8); // unique names: tests may be repeated against one server
  const a = await newTab(browser);
  const b = await newTab(browser);
  const watchedA = watchProblems(a);
  const watchedB = watchProblems(b);
  const soul = `demo-ham-${run}`;
  type Meta = NonNullable<Awaited<ReturnType<typeof metaOf>>>;
  /** Edits key in the page's explorer, waits for it to be shown, returns the page's record of it. */
  const edit = async (page: Page, key: string, value: string): Promise<Meta> => {
    await editProp(page, key, value);
    await expectProp(page, key, value);
    const meta = await metaOf(page, soul, key);
    expect(meta?.value).toBe(value);
    return meta!;
  };
  try {
    await Promise.all([openAndConnect(a, server), openAndConnect(b, server)]);
    await Promise.all([openSoul(a, soul), openSoul(b, soul)]);

    // A goes offline: no peer, status offline.
    await byTestId(a, 'offline-toggle').check();
    await expect(byTestId(a, 'offline-toggle')).toBeChecked();
    await expect(byTestId(a, 'status-state')).toHaveText('offline', { timeout: 15_000 });
    await expect(peerRow(a, server.peerId)).toHaveCount(0);

    // Two conflicts while A is offline, one won by each side:
    //   color: A (offline) first, then B (online)  → B's later write wins;
    //   size:  B (online) first, then A (offline)  → A's later write, queued in its outbox, wins.
    const sizeB = await edit(b, 'size', `small (tab B, online, ${run})`);
    const colorA = await edit(a, 'color', `red (tab A, offline, ${run})`);
    const sizeA = await edit(a, 'size', `large (tab A, offline, ${run})`);
    await expect(byTestId(a, 'outbox-size')).toHaveText(/^\s*[1-9]\d*\s*$/);
    const colorB = await edit(b, 'color', `blue (tab B, online, ${run})`);
    await expect(byTestId(b, 'outbox-size')).toHaveText(/^\s*0\s*$/, { timeout: 15_000 });
    await expect(byTestId(a, 'status-state')).toHaveText('offline');
    await screenshot(a, testInfo, 'offline-tab-a-outbox');
    await screenshot(b, testInfo, 'offline-tab-b-online-edits');

    // HAM: per property, the write with the greater state wins (writes made at different times).
    const conflicts = { color: { a: colorA, b: colorB }, size: { a: sizeA, b: sizeB } };
    const winners: Record<string, { by: 'A' | 'B'; meta: Meta }> = {};
    for (const [key, { a: byA, b: byB }] of Object.entries(conflicts)) {
      expect(byA.state, key).not.toBe(byB.state);
      winners[key] = byA.state > byB.state ? { by: 'A', meta: byA } : { by: 'B', meta: byB };
    }
    // The states follow the order of the writes (the later write has the greater state).
    expect(Object.fromEntries(Object.entries(winners).map(([key, w]) => [key, w.by]))).toEqual({ color: 'B', size: 'A' });

    // A comes back: its outbox drains, both converge on the winners.
    await byTestId(a, 'offline-toggle').uncheck();
    await expect(peerRow(a, server.peerId)).toHaveCount(1, { timeout: 30_000 });
    await expect(byTestId(a, 'outbox-size')).toHaveText(/^\s*0\s*$/, { timeout: 15_000 });
    await expect(byTestId(a, 'status-state')).toHaveText('idle', { timeout: 15_000 });
    for (const [key, { meta: winner }] of Object.entries(winners)) {
      for (const page of [a, b]) {
        await expectProp(page, key, winner.value as string);
        // The winning state: exact on the row and in the time's tooltip (the cell shows it as a time).
        await expect(propRow(page, key)).toHaveAttribute('data-state', String(winner.state));
        await expect(propRow(page, key).locator('[data-testid="prop-time"]')).toHaveAttribute('title', new RegExp(`state ${String(winner.state).replace('.', '\\.')}$`));
        const meta = await metaOf(page, soul, key);
        expect(meta, `${page === a ? 'A' : 'B'}'s record of ${soul}.${key}`).toMatchObject({ value: winner.value, state: winner.state });
      }
    }
    await screenshot(a, testInfo, 'online-again-tab-a');
    await screenshot(b, testInfo, 'online-again-tab-b');
    await report(testInfo, 'ham-offline-merge', Object.fromEntries(Object.entries(conflicts).map(([key, { a: byA, b: byB }]) => [key, {
      a: { value: byA.value, state: byA.state },
      b: { value: byB.value, state: byB.state },
      winner: winners[key]!.by,
    }])));
    expect(watchedA.problems).toEqual([]);
    expect(watchedB.problems).toEqual([]);
  } finally {
    await closeTabs(a, b);
  }
});

test('reload: the identity and a note created before are still there (IndexedDB)', async ({ browser }, testInfo) => {
  test.setTimeout(90_000);
  const run = randomUUID().slice(0, 8); // unique names: tests may be repeated against one server
  const page = await newTab(browser);
  const watched = watchProblems(page);
  try {
    const before = await openAndConnect(page, server);
    const text = `a note kept across reloads (${run})`;
    await byTestId(page, 'note-text').fill(text);
    await byTestId(page, 'note-create').click();
    // The note lives in the tab's own ~ space and is opened in the explorer.
    const soulInput = byTestId(page, 'explorer-soul');
    await expect(soulInput).toHaveValue(new RegExp(`^~${before.publicKey.replace(/[-]/g, '\\-')}`), { timeout: 15_000 });
    const noteSoul = await soulInput.inputValue();
    const textRow = page.locator('[data-testid="explorer-prop"]').filter({ has: page.locator('.prop-value', { hasText: text }) });
    await expect(textRow).toHaveCount(1, { timeout: 15_000 });
    const noteKey = (await textRow.getAttribute('data-key'))!;
    await expect(textRow).toHaveAttribute('data-signer', before.publicKey);
    await expect(textRow.locator('.prop-signer')).toContainText('you');
    await expect(textRow.locator('.prop-signer')).toHaveAttribute('title', before.publicKey);
    expect(await metaOf(page, noteSoul, noteKey)).toMatchObject({ value: text, signer: before.publicKey });
    await screenshot(page, testInfo, 'note-created');

    await page.reload();
    await demoReady(page);
    const after = await identityOf(page);
    expect(after.publicKey, 'the identity survives the reload').toBe(before.publicKey);
    // Read from the page's own store only (no network read): the note came back from IndexedDB.
    expect(await metaOf(page, noteSoul, noteKey)).toMatchObject({ value: text, signer: before.publicKey });
    await openSoul(page, noteSoul);
    await expectProp(page, noteKey, text);
    await connect(page, server);
    await screenshot(page, testInfo, 'after-reload');
    expect(watched.problems).toEqual([]);
  } finally {
    await closeTabs(page);
  }
});

test('a write into another identity\'s ~ space is refused, shown in the explorer, and not stored', async ({ browser }, testInfo) => {
  test.setTimeout(60_000);
  const run = randomUUID().slice(0, 8); // unique names: tests may be repeated against one server
  const page = await newTab(browser);
  const watched = watchProblems(page);
  try {
    const me = await openAndConnect(page, server);
    const other = Identity.generate();
    expect(other.publicKey).not.toBe(me.publicKey);
    const soul = `~${other.publicKey}`;
    const key = `hijack-${run}`;
    await openSoul(page, soul);
    await editProp(page, key, 'not yours');
    const error = byTestId(page, 'explorer-error');
    await expect(error).toBeVisible({ timeout: 15_000 });
    await expect(error).toContainText(/namespace\/not-owner|signature\/missing/);
    const shown = (await error.innerText()).trim();
    // A message beside the code.
    expect(shown.replace(/namespace\/not-owner|signature\/missing/, '').trim().length).toBeGreaterThan(5);
    await expect(propRow(page, key)).toHaveCount(0);
    expect(await metaOf(page, soul, key), 'the refused write is not in the page\'s database').toBeUndefined();
    // Nor on the server (read through the Node peer, which asks the server).
    expect(await nodeClient.get(soul).get(key).once()).toBeUndefined();
    await screenshot(page, testInfo, 'explorer-refused-write');
    await report(testInfo, 'refused-write', { soul, key, shown });
    expect(watched.problems).toEqual([]);
  } finally {
    await closeTabs(page);
  }
});

test('a Node SDK peer and a browser tab (over WebRTC-Direct) see each other\'s writes', async ({ browser }, testInfo) => {
  test.setTimeout(60_000);
  const run = randomUUID().slice(0, 8); // unique names: tests may be repeated against one server
  const page = await newTab(browser);
  const watched = watchProblems(page);
  try {
    const connected = await openAndConnect(page, server, 'webrtc-direct');
    const soul = `demo-node-${run}`;
    await openSoul(page, soul);

    // Node → tab, live in the open explorer.
    const fromNode = `hello tab, from node (${run})`;
    await nodeClient.get(soul).get('fromNode').put(fromNode);
    await expectProp(page, 'fromNode', fromNode);

    // Tab → Node, seen by a Node subscriber.
    const fromTab = `hello node, from the tab (${run})`;
    let stop: (() => void) | undefined;
    const seen = new Promise<void>((resolve) => {
      stop = nodeClient.get(soul).get('fromTab').on((value) => {
        if (value === fromTab) resolve();
      });
    });
    try {
      await editProp(page, 'fromTab', fromTab);
      await expectProp(page, 'fromTab', fromTab);
      await withDeadline(`${soul}.fromTab at the Node subscriber`, seen, 15_000);
    } finally {
      stop?.();
    }
    await screenshot(page, testInfo, 'explorer-node-peer');
    await report(testInfo, 'page-load-to-connected-webrtc-direct', {
      transport: 'webrtc-direct',
      gotoToConnectedMs: Math.round(connected.gotoToConnectedMs),
      navigationStartToConnectedMs: Math.round(connected.navigationToConnectedMs),
    });
    expect(watched.problems).toEqual([]);
  } finally {
    await closeTabs(page);
  }
});
