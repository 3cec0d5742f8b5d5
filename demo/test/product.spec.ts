import { randomUUID } from 'node:crypto';
import { expect, test, type Page } from '@playwright/test';
import { RustDHT } from '../../sdk-ts/dist/node.js';
import {
  addressOf,
  byTestId,
  demoReady,
  expectConnected,
  identityOf,
  newTab,
  openDetails,
  openSoul,
  pageUrl,
  peerRow,
  propRow,
  report,
  screenshotWidths,
  closeTabs,
  connectedNodeClient,
  startDemoServer,
  stopAllServers,
  watchProblems,
  withDeadline,
  type ServerProcess,
} from './helpers/demo.js';

// The demo page as a product: it connects by itself and remembers the user's choice,
// keeps the plumbing (addresses) folded with copy buttons, shows chat authors by their
// display names, marks messages the server has not acknowledged as pending, shows who is
// in the room, and explores the graph with times people read, a trail back, and a
// picture of the neighbourhood. Against a real `rustdht serve --demo demo/dist`; each tab
// a browser context of its own (its own IndexedDB, localStorage and identity). Every
// test checks its pages logged no console error, and keeps screenshots at 1280 and 375 px.

test.describe.configure({ mode: 'serial' });

let server: ServerProcess;
let nodeClient: RustDHT;

test.beforeAll(async () => {
  test.setTimeout(90_000);
  server = await startDemoServer('demo-product');
  nodeClient = await connectedNodeClient(server);
});

test.afterAll(async () => {
  await nodeClient?.close();
  await stopAllServers();
});

/** The chat message whose text contains `text`. */
const messageWith = (page: Page, text: string) =>
  page.locator('[data-testid="chat-message"]').filter({ has: page.locator('.chat-text', { hasText: text }) });

async function send(page: Page, text: string): Promise<void> {
  await byTestId(page, 'chat-input').fill(text);
  await byTestId(page, 'chat-send').click();
}

async function setName(page: Page, name: string): Promise<void> {
  await byTestId(page, 'profile-name').fill(name);
  await byTestId(page, 'profile-save').click();
  await expect(byTestId(page, 'profile-status')).toHaveText('Saved');
  await expect(byTestId(page, 'profile-form')).toHaveAttribute('data-name', name);
}

async function joinRoom(page: Page, room: string): Promise<void> {
  await byTestId(page, 'chat-room').fill(room);
  await byTestId(page, 'chat-room').press('Enter');
  await expect(byTestId(page, 'chat-room')).toHaveValue(room);
}

test('the page connects to its server on load, without a click, with the addresses folded away', async ({ browser }, testInfo) => {
  test.setTimeout(60_000);
  const page = await newTab(browser);
  const watched = watchProblems(page);
  try {
    const started = performance.now();
    await page.goto(pageUrl(server));
    // No click anywhere: the header says connected, the status panel lists the server.
    await expectConnected(page, server, 'websockets');
    const gotoToConnectedMs = performance.now() - started;
    await expect(byTestId(page, 'status-state')).toHaveText(/^(syncing|idle)$/);
    // The address came from /health (shown in the folded details, not on the first screen).
    await expect(byTestId(page, 'server-address')).toHaveValue(`${addressOf(server, 'websockets')}`);
    await expect(byTestId(page, 'connection-details')).not.toHaveAttribute('open', '');
    await expect(byTestId(page, 'server-address')).toBeHidden();
    await expect(byTestId(page, 'my-addresses')).toBeHidden();
    await expect(byTestId(page, 'peer-id')).toBeHidden();
    // The first screen is the product: chat and explorer visible.
    await expect(byTestId(page, 'chat-input')).toBeVisible();
    await expect(byTestId(page, 'explorer-soul')).toBeVisible();
    await screenshotWidths(page, testInfo, 'connected-on-load');
    await report(testInfo, 'connect-on-load', { gotoToConnectedMs: Math.round(gotoToConnectedMs) });
    expect(watched.problems).toEqual([]);
  } finally {
    await closeTabs(page);
  }
});

test('a degraded server (its disk nearly full: /health answers 503) is still found and connected to on load', async ({ browser }) => {
  test.setTimeout(60_000);
  // More free disk asked for than any machine has: the server refuses writes (storage/full)
  // and says degraded, but serves reads and sessions; the page must still find it.
  const degraded = await startDemoServer('demo-product-degraded', ['--min-free-disk', '1000000GiB']);
  const page = await newTab(browser);
  try {
    const health = await fetch(`http://127.0.0.1:${degraded.httpPort}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'degraded', peerId: degraded.peerId });
    await page.goto(pageUrl(degraded));
    await expectConnected(page, degraded, 'websockets');
    await expect(byTestId(page, 'server-address')).toHaveValue(addressOf(degraded, 'websockets'));
  } finally {
    await closeTabs(page);
    await degraded.stop();
  }
});

test('the connection choice survives reloads: disconnected stays disconnected, connected reconnects, a pasted server is remembered', async ({ browser }, testInfo) => {
  test.setTimeout(120_000);
  const page = await newTab(browser);
  const watched = watchProblems(page);
  const other = await startDemoServer('demo-product-other');
  try {
    await page.goto(pageUrl(server));
    await expectConnected(page, server, 'websockets');

    // Disconnect: the server is hung up, the header says so, the button offers Connect.
    await byTestId(page, 'connection-toggle').click();
    await expect(byTestId(page, 'connection-state')).toHaveAttribute('data-state', 'disconnected');
    await expect(byTestId(page, 'connection-toggle')).toHaveText('Connect');
    await expect(peerRow(page, server.peerId)).toHaveCount(0, { timeout: 15_000 });
    await expect(byTestId(page, 'status-state')).toHaveText('offline');

    // Reload: the page starts disconnected (its first state, decided from the remembered
    // choice, before any dial could happen) and stays so once /health has answered.
    await page.reload();
    await demoReady(page);
    await expect(byTestId(page, 'connection-state')).toHaveAttribute('data-state', 'disconnected');
    await expect(byTestId(page, 'connection-toggle')).toHaveText('Connect');
    await expect(byTestId(page, 'server-addresses').locator('[data-testid="server-address-item"]')).toHaveCount(server.addresses.length, { timeout: 15_000 });
    await expect(byTestId(page, 'server-address')).toHaveValue(addressOf(server, 'websockets'));
    expect(await page.evaluate(() => (window as unknown as { rustdhtDemo: { network: { status(): { peers: unknown[] } } } }).rustdhtDemo.network.status().peers.length)).toBe(0);
    await expect(byTestId(page, 'connection-state')).toHaveAttribute('data-state', 'disconnected');
    await screenshotWidths(page, testInfo, 'disconnected-after-reload');

    // Connect, reload: connected again without a click.
    await byTestId(page, 'connection-toggle').click();
    await expectConnected(page, server, 'websockets');
    await page.reload();
    await demoReady(page);
    await expectConnected(page, server, 'websockets');

    // Another server's address, pasted in the details: connected there, and after a reload too.
    const otherAddress = addressOf(other, 'websockets');
    await openDetails(page);
    await byTestId(page, 'server-address').fill(otherAddress);
    await byTestId(page, 'connect-button').click();
    await expectConnected(page, other, 'websockets');
    await expect(peerRow(page, server.peerId)).toHaveCount(0, { timeout: 15_000 });
    await page.reload();
    await demoReady(page);
    await expect(byTestId(page, 'server-address')).toHaveValue(otherAddress);
    await expectConnected(page, other, 'websockets');
    await expect(peerRow(page, server.peerId)).toHaveCount(0);
    const remembered = await page.evaluate(() => JSON.parse(localStorage.getItem('rustdht-demo:connection') ?? 'null') as unknown);
    expect(remembered).toEqual({ connect: true, transport: 'websockets', address: otherAddress });
    await report(testInfo, 'connection-choice', { remembered });
    expect(watched.problems).toEqual([]);
  } finally {
    await closeTabs(page);
    await other.stop();
  }
});

test('the addresses are folded away with working copy buttons', async ({ browser }, testInfo) => {
  test.setTimeout(60_000);
  const page = await newTab(browser, { permissions: ['clipboard-read', 'clipboard-write'] });
  const watched = watchProblems(page);
  const clipboard = (): Promise<string> => page.evaluate(() => navigator.clipboard.readText());
  try {
    await page.goto(pageUrl(server));
    await expectConnected(page, server, 'websockets');
    const me = await identityOf(page);
    await openDetails(page);
    await expect(byTestId(page, 'server-address')).toBeVisible();

    // This server's addresses (from /health), each with its copy button.
    const serverItems = page.locator('[data-testid="server-address-item"]');
    await expect(serverItems).toHaveCount(server.addresses.length);
    expect((await serverItems.evaluateAll((items) => items.map((li) => li.getAttribute('data-address')))).sort()).toEqual([...server.addresses].sort());
    const wsItem = serverItems.filter({ hasText: addressOf(server, 'websockets') });
    await wsItem.getByTestId('copy-button').click();
    await expect(wsItem.getByTestId('copy-button')).toHaveAttribute('data-copied', 'true');
    await expect.poll(clipboard).toBe(addressOf(server, 'websockets'));

    // The identity key and this tab's own (relay) address.
    await page.locator('#identity-copy [data-testid="copy-button"]').click();
    await expect.poll(clipboard).toBe(me.publicKey);
    const mine = page.locator('[data-testid="my-address"]').filter({ hasText: `/p2p-circuit/webrtc/p2p/${me.peerId}` }).first();
    await expect(mine).toBeVisible({ timeout: 30_000 });
    const address = (await mine.getAttribute('data-address'))!;
    await mine.getByTestId('copy-button').click();
    await expect.poll(clipboard).toBe(address);
    await screenshotWidths(page, testInfo, 'connection-details-open', byTestId(page, 'connection-details'));
    expect(watched.problems).toEqual([]);
  } finally {
    await closeTabs(page);
  }
});

test('chat shows display names from each author\'s profile, live, in another browser context', async ({ browser }, testInfo) => {
  test.setTimeout(90_000);
  const run = randomUUID().slice(0, 8);
  const room = `names-${run}`;
  const a = await newTab(browser);
  const b = await newTab(browser);
  const watchedA = watchProblems(a);
  const watchedB = watchProblems(b);
  try {
    await Promise.all([a.goto(pageUrl(server)), b.goto(pageUrl(server))]);
    await Promise.all([expectConnected(a, server), expectConnected(b, server)]);
    const [idA, idB] = await Promise.all([identityOf(a), identityOf(b)]);
    await Promise.all([joinRoom(a, room), joinRoom(b, room)]);

    // A writes before choosing a name: B shows A's short key.
    const first = `first, before my name (${run})`;
    await send(a, first);
    const firstInB = messageWith(b, first);
    await expect(firstInB).toHaveCount(1, { timeout: 15_000 });
    await expect(firstInB).toHaveAttribute('data-author', idA.publicKey);
    await expect(firstInB.getByTestId('chat-author')).toHaveText(`${idA.publicKey.slice(0, 8)}…`);

    // A and B choose names: every message, old and new, shows them, in both contexts.
    const nameA = `Alice ${run}`;
    const nameB = `Bob ${run}`;
    await setName(a, nameA);
    await setName(b, nameB);
    await expect(firstInB.getByTestId('chat-author')).toHaveText(nameA, { timeout: 15_000 });
    await expect(firstInB.getByTestId('chat-author')).toHaveAttribute('data-named', 'true');
    const fromB = `hello Alice, Bob here (${run})`;
    await send(b, fromB);
    await expect(messageWith(a, fromB).getByTestId('chat-author')).toHaveText(nameB, { timeout: 15_000 });
    await expect(messageWith(a, first).getByTestId('chat-author')).toHaveText(`${nameA} (you)`);
    await expect(messageWith(b, fromB).getByTestId('chat-author')).toHaveText(`${nameB} (you)`);

    // The name lives in A's own space, signed by A: ~<A>/profile.
    const profile = await nodeClient.get(`~${idA.publicKey}/profile`).get('name').meta();
    expect(profile).toMatchObject({ value: nameA, signer: idA.publicKey });

    // A renames: B's chat follows live.
    const renamed = `Alice R. ${run}`;
    await setName(a, renamed);
    await expect(firstInB.getByTestId('chat-author')).toHaveText(renamed, { timeout: 15_000 });
    await screenshotWidths(b, testInfo, 'chat-display-names', byTestId(b, 'chat-messages'));
    await report(testInfo, 'display-names', { a: idA.publicKey, b: idB.publicKey, profileSoul: `~${idA.publicKey}/profile` });
    expect(watchedA.problems).toEqual([]);
    expect(watchedB.problems).toEqual([]);
  } finally {
    await closeTabs(a, b);
  }
});

test('a message written offline is marked pending until the server acknowledges it', async ({ browser }, testInfo) => {
  test.setTimeout(90_000);
  const run = randomUUID().slice(0, 8);
  const room = `pending-${run}`;
  const a = await newTab(browser);
  const b = await newTab(browser);
  const watchedA = watchProblems(a);
  const watchedB = watchProblems(b);
  try {
    await Promise.all([a.goto(pageUrl(server)), b.goto(pageUrl(server))]);
    await Promise.all([expectConnected(a, server), expectConnected(b, server)]);
    await Promise.all([joinRoom(a, room), joinRoom(b, room)]);

    // Online: a message is acknowledged at once; no pending mark stays.
    const online = `sent online (${run})`;
    await send(a, online);
    await expect(messageWith(a, online)).toHaveAttribute('data-pending', 'false', { timeout: 15_000 });
    await expect(messageWith(b, online)).toHaveCount(1, { timeout: 15_000 });

    // Offline: the message shows at once, marked pending; the outbox holds it.
    await byTestId(a, 'offline-toggle').check();
    await expect(byTestId(a, 'connection-state')).toHaveAttribute('data-state', 'offline');
    await expect(peerRow(a, server.peerId)).toHaveCount(0, { timeout: 15_000 });
    const offline = `written offline (${run})`;
    await send(a, offline);
    const inA = messageWith(a, offline);
    await expect(inA).toHaveCount(1);
    await expect(inA).toHaveAttribute('data-pending', 'true');
    await expect(inA.getByTestId('chat-pending')).toHaveText('pending');
    await expect(byTestId(a, 'outbox-size')).toHaveText(/^\s*[1-9]\d*\s*$/);
    await expect(messageWith(a, online)).toHaveAttribute('data-pending', 'false');
    await screenshotWidths(a, testInfo, 'chat-pending-offline', byTestId(a, 'chat-messages'));

    // Back online: the outbox drains, the mark goes, B gets the message.
    await byTestId(a, 'offline-toggle').uncheck();
    await expect(inA).toHaveAttribute('data-pending', 'false', { timeout: 30_000 });
    await expect(inA.getByTestId('chat-pending')).toHaveCount(0);
    await expect(messageWith(b, offline)).toHaveCount(1, { timeout: 15_000 });
    await expect(byTestId(a, 'connection-state')).toHaveAttribute('data-state', 'connected');
    await screenshotWidths(a, testInfo, 'chat-acknowledged-online', byTestId(a, 'chat-messages'));
    expect(watchedA.problems).toEqual([]);
    expect(watchedB.problems).toEqual([]);
  } finally {
    await closeTabs(a, b);
  }
});

/** A small known graph, written by the Node peer: root → b → d, root → c. */
async function writeSmallGraph(soul: string): Promise<void> {
  await nodeClient.get(soul).put({ title: 'the root', b: { name: 'bee', d: { name: 'dee' } }, c: { name: 'cee' } });
  await withDeadline('the Node peer\'s graph to reach the server', nodeClient.network!.whenSynced(), 15_000);
}

test('the explorer shows times people read, and a trail back along the links followed', async ({ browser }, testInfo) => {
  test.setTimeout(60_000);
  const run = randomUUID().slice(0, 8);
  const soul = `explore-${run}`;
  const page = await newTab(browser);
  const watched = watchProblems(page);
  try {
    await writeSmallGraph(soul);
    await page.goto(pageUrl(server));
    await expectConnected(page, server);
    await openSoul(page, soul);

    // States are shown as "just now" / "12 s ago"; the exact state and local time are in the tooltip.
    const title = propRow(page, 'title');
    await expect(title.locator('.prop-value')).toHaveText('the root', { timeout: 15_000 });
    const state = (await title.getAttribute('data-state'))!;
    expect(Number(state)).toBeGreaterThan(Date.now() - 120_000);
    const time = title.getByTestId('prop-time');
    await expect(time).toHaveText(/^(just now|\d+ s ago)$/);
    await expect(time).toHaveAttribute('title', new RegExp(`state ${state.replace('.', '\\.')}$`));
    await expect(time).toHaveAttribute('datetime', new Date(Number(state)).toISOString());
    expect(await time.getAttribute('title')).toContain(await page.evaluate((ms) => new Date(ms).toLocaleString(), Number(state)));

    // Nothing to go back to yet.
    const crumbs = page.getByTestId('crumb');
    await expect(crumbs).toHaveCount(1);
    await expect(byTestId(page, 'explorer-back')).toBeDisabled();

    // Follow root → b → d through the table's links: the trail grows.
    await propRow(page, 'b').locator('.prop-link').click();
    await expect(byTestId(page, 'explorer-current')).toHaveText(`${soul}/b`);
    await expect(propRow(page, 'name').locator('.prop-value')).toHaveText('bee', { timeout: 15_000 });
    await propRow(page, 'd').locator('.prop-link').click();
    await expect(byTestId(page, 'explorer-current')).toHaveText(`${soul}/b/d`);
    await expect(crumbs).toHaveCount(3);
    await expect(crumbs.last()).toHaveAttribute('aria-current', 'location');
    expect(await crumbs.evaluateAll((items) => items.map((c) => c.getAttribute('data-soul')))).toEqual([soul, `${soul}/b`, `${soul}/b/d`]);
    await expect(propRow(page, 'name').locator('.prop-value')).toHaveText('dee', { timeout: 15_000 });
    await screenshotWidths(page, testInfo, 'explorer-trail', byTestId(page, 'explorer-trail'));

    // Back: one step; a crumb: straight there.
    await byTestId(page, 'explorer-back').click();
    await expect(byTestId(page, 'explorer-current')).toHaveText(`${soul}/b`);
    await expect(crumbs).toHaveCount(2);
    await expect(propRow(page, 'name').locator('.prop-value')).toHaveText('bee');
    await crumbs.first().click();
    await expect(byTestId(page, 'explorer-current')).toHaveText(soul);
    await expect(crumbs).toHaveCount(1);
    await expect(byTestId(page, 'explorer-back')).toBeDisabled();
    await expect(propRow(page, 'title').locator('.prop-value')).toHaveText('the root');
    expect(watched.problems).toEqual([]);
  } finally {
    await closeTabs(page);
  }
});

test('the graph view draws the neighbourhood\'s nodes and links, and a click on a node opens it', async ({ browser }, testInfo) => {
  test.setTimeout(60_000);
  const run = randomUUID().slice(0, 8);
  const soul = `graph-${run}`;
  const page = await newTab(browser);
  const watched = watchProblems(page);
  try {
    await writeSmallGraph(soul);
    await page.goto(pageUrl(server));
    await expectConnected(page, server);
    await openSoul(page, soul);

    // root → b → d and root → c: 4 nodes, 3 links, labelled by their title/name.
    const svg = byTestId(page, 'explorer-graph');
    const nodes = svg.locator('[data-testid="graph-node"]');
    const edges = svg.locator('[data-testid="graph-edge"]');
    await expect(nodes).toHaveCount(4, { timeout: 15_000 });
    await expect(edges).toHaveCount(3);
    expect((await nodes.evaluateAll((items) => items.map((n) => n.getAttribute('data-soul')))).sort()).toEqual([soul, `${soul}/b`, `${soul}/b/d`, `${soul}/c`].sort());
    expect((await edges.evaluateAll((items) => items.map((e) => `${e.getAttribute('data-from')} -${e.getAttribute('data-key')}-> ${e.getAttribute('data-to')}`))).sort()).toEqual(
      [`${soul} -b-> ${soul}/b`, `${soul} -c-> ${soul}/c`, `${soul}/b -d-> ${soul}/b/d`].sort(),
    );
    const node = (s: string) => svg.locator(`[data-testid="graph-node"][data-soul="${s}"]`);
    await expect(node(soul)).toHaveAttribute('data-depth', '0');
    await expect(node(`${soul}/b/d`)).toHaveAttribute('data-depth', '2');
    for (const [s, label] of [[soul, 'the root'], [`${soul}/b`, 'bee'], [`${soul}/c`, 'cee'], [`${soul}/b/d`, 'dee']] as const) {
      await expect(node(s).locator('.node-label')).toHaveText(label);
      await expect(node(s).locator('circle')).toHaveCount(1);
    }
    // Drawn, not only listed: each node has a place in the picture, all distinct.
    const boxes = await nodes.evaluateAll((items) => items.map((n) => n.getAttribute('transform')));
    expect(new Set(boxes).size).toBe(4);
    await expect(byTestId(page, 'explorer-graph-note')).toContainText('4 nodes, 3 links');
    await screenshotWidths(page, testInfo, 'explorer-graph', svg);

    // Click a node: it opens (table, trail), and the picture redraws around it, with where we came from.
    await node(`${soul}/b`).click();
    await expect(byTestId(page, 'explorer-current')).toHaveText(`${soul}/b`);
    await expect(propRow(page, 'name').locator('.prop-value')).toHaveText('bee', { timeout: 15_000 });
    await expect(page.getByTestId('crumb')).toHaveCount(2);
    await expect(svg).toHaveAttribute('data-root', `${soul}/b`);
    await expect(nodes).toHaveCount(3); // b, d, and the root it was reached from
    await expect(edges).toHaveCount(2);
    await expect(node(`${soul}/b`)).toHaveAttribute('data-depth', '0');
    await expect(node(soul)).toHaveAttribute('data-depth', '-1');
    await node(`${soul}/b/d`).click();
    await expect(byTestId(page, 'explorer-current')).toHaveText(`${soul}/b/d`);
    await expect(propRow(page, 'name').locator('.prop-value')).toHaveText('dee', { timeout: 15_000 });
    await expect(page.getByTestId('crumb')).toHaveCount(3);
    // The node we came from, clicked, goes back along the trail.
    await node(`${soul}/b`).click();
    await expect(byTestId(page, 'explorer-current')).toHaveText(`${soul}/b`);
    await expect(page.getByTestId('crumb')).toHaveCount(2);
    await screenshotWidths(page, testInfo, 'explorer-graph-followed', svg);
    expect(watched.problems).toEqual([]);
  } finally {
    await closeTabs(page);
  }
});

test('presence: two contexts see each other in the room; one drops out when offline, comes back, and drops out after it closes', async ({ browser }, testInfo) => {
  test.setTimeout(90_000);
  const run = randomUUID().slice(0, 8);
  const room = `presence-${run}`;
  const a = await newTab(browser);
  const b = await newTab(browser);
  const watchedA = watchProblems(a);
  const watchedB = watchProblems(b);
  let bClosed = false;
  try {
    await Promise.all([a.goto(pageUrl(server)), b.goto(pageUrl(server))]);
    await Promise.all([expectConnected(a, server), expectConnected(b, server)]);
    const [idA, idB] = await Promise.all([identityOf(a), identityOf(b)]);
    await setName(b, `Bea ${run}`);
    await Promise.all([joinRoom(a, room), joinRoom(b, room)]);

    const members = (page: Page) => page.locator('[data-testid="presence-member"]');
    for (const page of [a, b]) {
      await expect(members(page), `both in ${page === a ? 'A' : 'B'}'s room`).toHaveCount(2, { timeout: 20_000 });
      expect((await members(page).evaluateAll((items) => items.map((m) => m.getAttribute('data-key')))).sort()).toEqual([idA.publicKey, idB.publicKey].sort());
    }
    await expect(members(a).filter({ has: a.locator('.member-name', { hasText: `Bea ${run}` }) })).toHaveCount(1, { timeout: 15_000 });
    await expect(byTestId(a, 'presence-count')).toHaveText('2 here');
    await screenshotWidths(a, testInfo, 'presence-two', byTestId(a, 'presence-list'));

    // B goes offline (it stops beating and cannot say goodbye): A drops it once its last
    // heartbeat is 15 s old; B back online: A shows it again.
    const offlineAt = performance.now();
    await byTestId(b, 'offline-toggle').check();
    await expect(members(a)).toHaveCount(1, { timeout: 30_000 });
    const droppedOfflineAfterMs = performance.now() - offlineAt;
    await expect(members(a)).toHaveAttribute('data-key', idA.publicKey);
    await expect(members(b), 'B still sees itself, offline').toHaveCount(1);
    await byTestId(b, 'offline-toggle').uncheck();
    await expect(members(a)).toHaveCount(2, { timeout: 20_000 });

    // B closes: A drops it (a closing tab writes its leave on the way out when it can;
    // otherwise its heartbeat times out after 15 s).
    const closedAt = performance.now();
    await b.context().close();
    bClosed = true;
    await expect(members(a)).toHaveCount(1, { timeout: 30_000 });
    const droppedAfterMs = performance.now() - closedAt;
    await expect(members(a)).toHaveAttribute('data-key', idA.publicKey);
    await expect(byTestId(a, 'presence-count')).toHaveText('only you');
    await report(testInfo, 'presence', { droppedOfflineAfterMs: Math.round(droppedOfflineAfterMs), droppedClosedAfterMs: Math.round(droppedAfterMs) });
    expect(watchedA.problems).toEqual([]);
    expect(watchedB.problems).toEqual([]);
  } finally {
    await closeTabs(a, ...(bClosed ? [] : [b]));
  }
});
