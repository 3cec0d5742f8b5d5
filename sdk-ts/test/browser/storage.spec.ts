import { expect, test, type Page } from '@playwright/test';
import { storageChecks } from '../storage/conformance.js';
import type { PlainResult, StoragePageApi } from './storage-main.js';

// The storage conformance suite in real Chromium: storage.html imports the very checks
// vitest runs in Node and runs them against each browser backend. Every check must pass
// (or be skipped for the stated reason), and the page must run the same list of checks
// as Node does.

/** Checks that do not apply to each backend (the suite reports them skipped, with the reason). */
const GET_MANY = 'getMany returns what get of each key would, in the order asked; rejects bad keys and a closed store';
const KEYS = 'keys yields the keys entries would, for 300 random ranges; rejects a closed store';
const expectedSkips: Record<string, string[]> = {
  IndexedDBStore: [GET_MANY, KEYS, 'a batch that exceeds the quota rejects with StorageQuotaError, and nothing is lost'],
  LocalStorageStore: [GET_MANY, KEYS],
  MemoryStore: [GET_MANY, KEYS, 'reopening a persistent store keeps its data', 'a batch that exceeds the quota rejects with StorageQuotaError, and nothing is lost'],
};

function watchForProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console.error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  return problems;
}

async function openPage(page: Page): Promise<void> {
  await page.goto('/storage.html');
  await expect(page.locator('#status')).toHaveText('ready', { timeout: 20_000 });
}

for (const subject of Object.keys(expectedSkips)) {
  test(`storage conformance in Chromium: ${subject}`, async ({ page }, testInfo) => {
    test.setTimeout(240_000);
    const problems = watchForProblems(page);
    await openPage(page);
    const pageNames = await page.evaluate(() => (window.rustdhtStorage as StoragePageApi).checkNames());
    expect(pageNames, 'the page runs the same checks as Node').toEqual(storageChecks.map((check) => check.name));

    const results: PlainResult[] = await page.evaluate((name) => (window.rustdhtStorage as StoragePageApi).run(name), subject);
    await testInfo.attach(`${subject}-results.json`, { body: JSON.stringify(results, null, 2), contentType: 'application/json' });
    expect(results.map((r) => r.name)).toEqual(storageChecks.map((check) => check.name));
    for (const result of results) {
      await test.step(`${result.status}: ${result.name} (${result.ms} ms)`, () => {
        expect.soft(result.status, `${result.name}\n${result.detail ?? ''}\n${result.stack ?? ''}`).not.toBe('failed');
      });
    }
    const count = (status: PlainResult['status']): number => results.filter((r) => r.status === status).length;
    console.log(`${subject} in Chromium: ${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped of ${results.length} checks`);
    const skipped = results.filter((r) => r.status === 'skipped').map((r) => r.name);
    expect(skipped, 'skipped checks').toEqual(expectedSkips[subject]);
    expect(results.filter((r) => r.status === 'passed').length).toBe(storageChecks.length - skipped.length);
    expect(problems).toEqual([]);
  });
}

test('IndexedDB and localStorage stores keep their data across a page reload', async ({ page }) => {
  const problems = watchForProblems(page);
  await openPage(page);
  await page.evaluate(() => (window.rustdhtStorage as StoragePageApi).writeBeforeReload());
  await page.reload();
  await expect(page.locator('#status')).toHaveText('ready', { timeout: 20_000 });
  const after = await page.evaluate(() => (window.rustdhtStorage as StoragePageApi).readAfterReload());
  const hex = (s: string): string => Buffer.from(s).toString('hex');
  const expected: Array<[string, string]> = [
    ['', '01'],
    ['00ff', 'ab'.repeat(70_000)],
    [hex('outbox/1'), hex('survives a reload')],
  ];
  expect(after).toEqual({ IndexedDBStore: expected, LocalStorageStore: expected });
  expect(problems).toEqual([]);
});

// Atomicity under a crash: the renderer is killed (CDP Page.crash) while one IndexedDB
// batch of 2,000 puts is in flight, at a different moment each round. A new page must
// find all of the batch or none of it. (A store that split the batch into several
// transactions leaves part of it behind here.)
test('an IndexedDB batch interrupted by a renderer crash lands whole or not at all', async ({ context }) => {
  test.setTimeout(120_000);
  const outcomes: number[] = [];
  for (let round = 0; round < 12; round++) {
    const name = `crash-${round}`;
    const page = await context.newPage();
    await openPage(page);
    await page.evaluate((n) => (window.rustdhtStorage as StoragePageApi).startIndexedDBBatch(n, 2000), name);
    await new Promise((resolve) => setTimeout(resolve, round * 12));
    const cdp = await context.newCDPSession(page);
    const crashed = page.waitForEvent('crash');
    void cdp.send('Page.crash').catch(() => {}); // never answers: the renderer is gone
    await crashed;
    await page.close();
    const reader = await context.newPage();
    await openPage(reader);
    outcomes.push(await reader.evaluate((n) => (window.rustdhtStorage as StoragePageApi).countIndexedDB(n), name));
    await reader.close();
  }
  console.log(`IndexedDB batch of 2,000 after a crash, per round: ${outcomes.join(', ')}`);
  expect(outcomes.filter((count) => count !== 0 && count !== 2000), 'partial batches').toEqual([]);
});

test('IndexedDBStore steps aside for a delete, and refuses newer or foreign databases', async ({ page }) => {
  const problems = watchForProblems(page);
  await openPage(page);
  const events = await page.evaluate(() => (window.rustdhtStorage as StoragePageApi).indexedDBConnectionEvents());
  expect(events.afterDelete).toMatch(/^ClosedError closed: .*another connection is upgrading or deleting the database/);
  expect(events.reopenedValue).toBe('undefined');
  expect(events.newerSchema).toMatch(/^RustDHTError storage\/version: /);
  expect(events.foreign).toMatch(/^RustDHTError storage\/foreign: /);
  expect(problems).toEqual([]);
});

// Web Storage is shared by every tab of the origin but cannot list keys in order, so
// each LocalStorageStore keeps a key index; `storage` events keep it current when
// another tab writes.
test('a LocalStorageStore sees what another tab writes to the same namespace', async ({ context }) => {
  const [writer, reader] = [await context.newPage(), await context.newPage()];
  for (const page of [writer, reader]) {
    await openPage(page);
    await page.evaluate(() => (window.rustdhtStorage as StoragePageApi).sharedLocalStorage('two-tabs'));
  }
  const keysIn = (page: Page): Promise<string[]> => page.evaluate(() => (window.rustdhtStorage as StoragePageApi).sharedKeys());
  await writer.evaluate(() => (window.rustdhtStorage as StoragePageApi).sharedWrite(['02', '00ff', '01'], []));
  await expect.poll(() => keysIn(reader)).toEqual(['00ff', '01', '02']);
  await writer.evaluate(() => (window.rustdhtStorage as StoragePageApi).sharedWrite(['03'], ['01']));
  await expect.poll(() => keysIn(reader)).toEqual(['00ff', '02', '03']);
  await writer.evaluate(() => localStorage.clear());
  await expect.poll(() => keysIn(reader)).toEqual([]);
});
