import { expect, test, type Page } from '@playwright/test';
import type { ReloadPageApi, ReloadState } from './offline-reload-main.js';

// A browser peer keeps its data and its outbox across page reloads: writes made with no
// peers, on IndexedDB, are read back by the reloaded page with their signatures, the
// identity the app kept, and every outbox entry (acknowledgements persist too). The page
// is reloaded without closing the database: a put that resolved must already be durable.

async function load(page: Page, problems: string[]): Promise<void> {
  await page.goto('/offline-reload.html');
  await expect(page.locator('#status')).toHaveText('ready', { timeout: 20_000 });
  expect(problems).toEqual([]);
}

const api = (page: Page) => ({
  reset: () => page.evaluate(() => (window.rustdhtReload as ReloadPageApi).reset()),
  write: () => page.evaluate(() => (window.rustdhtReload as ReloadPageApi).write()),
  state: (): Promise<ReloadState> => page.evaluate(() => (window.rustdhtReload as ReloadPageApi).state()),
  acknowledge: (id: number) => page.evaluate((n) => (window.rustdhtReload as ReloadPageApi).acknowledge(n), id),
});

test('data, signatures, kept identity and outbox survive page reloads', async ({ page }) => {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console.error: ${msg.text()}`);
  });
  const { reset, write, state, acknowledge } = api(page);

  await load(page, problems);
  await reset();
  await load(page, problems);
  const publicKey = await write();
  const before = await state();
  expect(before.outboxSize).toBe(4);

  await page.reload();
  await load(page, problems);
  const after = await state();
  expect(after).toEqual(before);
  expect(after.note).toEqual({ text: 'written offline' });
  expect(after.items.map(([, value]) => value)).toEqual([{ text: 'one' }, { text: 'two' }]);
  expect(after.signed).toMatchObject({ value: 'signed offline', signer: publicKey });
  expect(after.identities).toEqual([publicKey]);
  expect(after.outboxIds).toEqual([0, 1, 2, 3]);

  expect(await acknowledge(0)).toBe(true);
  await page.reload();
  await load(page, problems);
  expect((await state()).outboxIds).toEqual([1, 2, 3]);

  await reset();
  expect(problems).toEqual([]);
});
