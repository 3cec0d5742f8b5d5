import { expect, test, type Page } from '@playwright/test';
import type { CacheInfo, CachePageApi } from './cache-main.js';

// Browser cache discipline in Chromium: RustDHT.open() without a store persists to
// IndexedDB, asks for persistent storage, reports usage, and a capped cache evicts the
// least recently used nodes, with the access order and the accounting kept across reloads.

const MiB = 1024 * 1024;

function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console.error: ${msg.text()}`);
  });
  // Counts the SDK's calls of navigator.storage.persist(), before any page script runs.
  void page.addInitScript(() => {
    const storage = navigator.storage;
    const persist = storage.persist.bind(storage);
    storage.persist = () => {
      window.rustdhtPersistCalls = (window.rustdhtPersistCalls ?? 0) + 1;
      return persist();
    };
  });
  return problems;
}

async function load(page: Page, query = ''): Promise<void> {
  await page.goto(`/cache.html${query}`);
  await expect(page.locator('#status')).toHaveText('ready', { timeout: 20_000 });
}

const api = (page: Page) => ({
  reset: () => page.evaluate(() => (window.rustdhtCache as CachePageApi).reset()),
  write: (souls: string[]) => page.evaluate((s) => (window.rustdhtCache as CachePageApi).write(s), souls),
  read: (soul: string) => page.evaluate((s) => (window.rustdhtCache as CachePageApi).read(s), soul),
  flush: () => page.evaluate(() => (window.rustdhtCache as CachePageApi).flush()),
  info: (): Promise<CacheInfo> => page.evaluate(() => (window.rustdhtCache as CachePageApi).info()),
  storedSouls: () => page.evaluate(() => (window.rustdhtCache as CachePageApi).storedSouls()),
});

const names = (from: number, to: number): string[] =>
  Array.from({ length: to - from }, (_, i) => `s${String(from + i).padStart(2, '0')}`);

test('the default store is IndexedDB, persistence is requested, usage is reported', async ({ page }) => {
  const problems = watch(page);
  const { reset, write, read, info } = api(page);
  await load(page);
  await reset();
  await load(page);
  await write(['note']);

  const first = await info();
  expect(first.databases).toContain('rustdht-cache-test');
  expect(first.persistCalls).toBe(1);
  expect(typeof first.persistence).toBe('boolean'); // granted or not: both are fine
  expect(first.usage.persisted).toBe(first.persistence);
  expect(first.usage.usage).toBeGreaterThan(0);
  expect(first.usage.quota).toBeGreaterThan(first.usage.usage!);
  expect(first.usage).toMatchObject({ cachedNodes: 1, maxBytes: 50 * MiB });
  expect(first.usage.cacheBytes).toBeGreaterThan(1000);

  await page.reload();
  await load(page);
  expect(await read('note')).toBe('x'.repeat(1000)); // no store was passed: IndexedDB kept it
  expect((await info()).usage).toMatchObject({ cachedNodes: 1, cacheBytes: first.usage.cacheBytes });
  await reset();
  expect(problems).toEqual([]);
});

test('a small cap evicts the least recently used nodes, across reloads', async ({ page }) => {
  const problems = watch(page);
  const { reset, write, read, flush, info, storedSouls } = api(page);
  await load(page);
  await reset();
  await load(page);

  // 18 nodes under the default cap; then s00 is used again, so it is the most recent.
  const old = names(0, 18);
  await write(old);
  expect(await read('s00')).toBe('x'.repeat(1000));
  await flush();
  const weight = (await info()).usage.cacheBytes! / 18;
  const cap = Math.floor(19.5 * weight);

  // Reopened with room for 19.5 nodes; 12 more make 30: the run keeps 0.9 × cap.
  await page.reload();
  await load(page, `?cap=${cap}`);
  await write(names(18, 30));
  await flush();
  const stored = await storedSouls();
  const { usage } = await info();
  expect(usage.maxBytes).toBe(cap);
  expect(usage.cacheBytes).toBeLessThanOrEqual(cap);
  expect(usage.cachedNodes).toBe(stored.length);
  expect(stored.length).toBeLessThan(20);
  expect(stored).toContain('s00'); // used after s01…s17: outlives them
  for (const evicted of names(1, 6)) expect(stored).not.toContain(evicted);
  for (const recent of names(18, 30)) expect(stored).toContain(recent);

  // After another reload: still evicted, accounting unchanged.
  await page.reload();
  await load(page, `?cap=${cap}`);
  expect((await info()).usage).toMatchObject({ cachedNodes: usage.cachedNodes, cacheBytes: usage.cacheBytes });
  expect(await read('s01')).toBeUndefined();
  expect(await read('s00')).toBe('x'.repeat(1000));
  expect(await storedSouls()).toEqual(stored);
  await reset();
  expect(problems).toEqual([]);
});
