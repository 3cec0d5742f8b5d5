import { expect, test } from '@playwright/test';

// The browser half of the packaging story: the Vite-built page loads the engine from
// WebAssembly, subscribes, writes, and the subscription sees the write, with nothing
// logged as an error along the way.
test('open → on → put round trip in Chromium', async ({ page }, testInfo) => {
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console.error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`));

  await page.goto('/');
  const status = page.locator('#status');
  await expect(status).toHaveText(/^(ok|error: )/, { timeout: 20_000 });
  const screenshot = await page.screenshot({ path: testInfo.outputPath('smoke.png'), fullPage: true });
  await testInfo.attach('smoke', { body: screenshot, contentType: 'image/png' });

  expect(await status.textContent(), problems.join('\n')).toBe('ok');
  const sent = await page.locator('#sent').textContent();
  expect(sent).toMatch(/^hello /);
  await expect(page.locator('#received')).toHaveText(sent ?? '');
  expect(problems).toEqual([]);
});
