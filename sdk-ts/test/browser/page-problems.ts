/** Shared by the SDK's and the demo's Playwright specs. */
import type { Page } from '@playwright/test';

/** Console errors and uncaught exceptions of a page; `allowed` are the unavoidable ones (see their use). */
export function watchProblems(page: Page, allowed: () => RegExp[] = () => []): { problems: string[]; allowed: string[] } {
  const problems: string[] = [];
  const allowedSeen: string[] = [];
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (allowed().some((pattern) => pattern.test(text))) allowedSeen.push(text);
    else problems.push(`console.error: ${text}`);
  });
  return { problems, allowed: allowedSeen };
}
