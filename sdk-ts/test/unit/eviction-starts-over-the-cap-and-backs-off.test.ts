/**
 * When a change starts an eviction run (persistence/eviction.ts, Evictor.maybeRun): only
 * once the store weighs more than the cap, so a run that brought it down frees room for
 * many writes; after a run that could not get under the cap (everything left protected),
 * only once the store has grown by 10 % of the cap more, or once something stopped being
 * protected (relax); a background run that fails is reported as uncaught, except while
 * the database is closing.
 *
 * Why: cache-eviction.test.ts sees which souls are left, not how many runs it took; a
 * run on every write, or a backoff that never ends, passes there (StrykerJS survivors in
 * eviction.ts). A run is counted by its scan of the "A" records.
 */
import { describe, expect, it } from 'vitest';
import { evictionHarness, soul, until, writeSouls, type Harness } from './eviction-helpers.js';
import { catchUncaught } from './helpers.js';

/** Writes s<i> (100 bytes, after every soul so far) and waits for the run it may start. */
async function writeOne(h: Harness, i: number, bytes = 100): Promise<void> {
  await h.write(soul(i), 'v', bytes);
  await h.evictor.idle();
}

describe('a write starts a run', () => {
  it('only once the store is over its cap: at the cap exactly, none', async () => {
    const h = await evictionHarness(1000);
    await writeSouls(h, 0, 10, 100); // 1000 bytes, one write at a time
    expect(h.store.accessScans).toBe(0);
    await writeOne(h, 10);
    expect(h.store.accessScans).toBe(1);
    expect(await h.storedSouls()).toEqual([soul(2), soul(3), soul(4), soul(5), soul(6), soul(7), soul(8), soul(9), soul(10)]);
  });

  it('a run that brought the store well under the cap: the next runs only when it is over the cap again', async () => {
    const h = await evictionHarness(1000);
    await h.write('big', 'v', 600); // the oldest, and heavy
    await writeSouls(h, 0, 5, 100); // 1100 bytes: the run evicts big alone, down to 500
    expect(h.store.accessScans).toBe(1);
    expect(h.accounting.usage.bytes).toBe(500);
    for (let i = 5; i < 10; i++) await writeOne(h, i); // back to 1000: no run
    expect(h.store.accessScans).toBe(1);
    await writeOne(h, 10);
    expect(h.store.accessScans).toBe(2);
  });
});

describe('a run that cannot get under the cap backs off', () => {
  it('everything protected: the next run waits until the store has grown by 10 % of the cap more', async () => {
    const h = await evictionHarness(1000);
    for (let i = 0; i < 11; i++) h.protectedSouls.add(soul(i));
    await writeSouls(h, 0, 11, 100); // 1100: a run, nothing to evict
    expect(h.protectionCalls).toBe(1);
    await writeOne(h, 11, 50);
    await writeOne(h, 12, 50); // 1200 = 1100 + 10 % of the cap: still no run
    expect(h.protectionCalls).toBe(1);
    expect(h.store.accessScans).toBe(1);
    await writeOne(h, 13, 20); // over: a run
    expect(h.protectionCalls).toBe(2);
    expect(h.accounting.usage.bytes).toBe(1100); // s11, s12 and s13 were not protected: they went
  });

  it('a run that evicts what it can and ends exactly at the cap does not back off', async () => {
    const h = await evictionHarness(1000);
    for (let i = 1; i < 11; i++) h.protectedSouls.add(soul(i));
    await writeSouls(h, 0, 11, 100); // 1100: only s00 may go
    expect(h.protectionCalls).toBe(1);
    expect(h.accounting.usage.bytes).toBe(1000);
    h.protectedSouls.add(soul(11));
    await writeOne(h, 11, 20); // 1020: over the cap, so a run
    expect(h.protectionCalls).toBe(2);
  });

  it('relax(): something stopped being protected, so the next change over the cap starts a run', async () => {
    const h = await evictionHarness(1000);
    for (let i = 0; i < 11; i++) h.protectedSouls.add(soul(i));
    await writeSouls(h, 0, 11, 100);
    expect(h.protectionCalls).toBe(1);
    h.protectedSouls.clear(); // without relax(), the run still backs off
    await writeOne(h, 11, 20);
    expect(h.protectionCalls).toBe(1);
    h.evictor.relax();
    await writeOne(h, 12, 20);
    expect(h.protectionCalls).toBe(2);
    expect(await h.storedSouls()).not.toContain(soul(0));
  });
});

describe('a background run that fails', () => {
  // The error is rethrown in a microtask of its own (reportListenerError): Node reports it as uncaught.
  const uncaught = catchUncaught();

  it('is reported as uncaught, with its error, once however many changes asked for it', async () => {
    const h = await evictionHarness(1000);
    await writeSouls(h, 0, 10, 100);
    const failure = new Error('the disk cannot be read');
    h.store.failAccessScans = failure;
    h.autoRun = false;
    await h.write(soul(10), 'v', 100);
    // Two changes while the run is under way: they join it, and its failure is reported once.
    h.evictor.maybeRun();
    h.evictor.maybeRun();
    await h.evictor.idle();
    await until(() => uncaught.length !== 0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(uncaught).toEqual([failure]);
    expect(h.store.accessScans).toBe(1);
  });

  it('is not reported while the database is closing', async () => {
    const h = await evictionHarness(1000);
    await writeSouls(h, 0, 10, 100);
    h.store.failAccessScans = new Error('the store is closed');
    h.usable = false;
    await writeOne(h, 10);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(h.store.accessScans).toBe(1);
    expect(uncaught).toEqual([]);
  });
});
