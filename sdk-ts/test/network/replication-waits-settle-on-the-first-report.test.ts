/**
 * Local writes waiting for a durability level (network/duties/replication-waits.ts):
 *
 * - a PUT asks for the highest level any of its entries waits for (one < quorum < all),
 *   none when no entry waits;
 * - a server's report settles every wait of the entries it names, once: a later report
 *   finds them gone, and they no longer raise a PUT's level;
 * - a cancelled wait is forgotten (it no longer raises the level, a report passes it by),
 *   the other waits of the same entry stay.
 *
 * Why: the durability tests run a whole DHT, where most writes wait for one level only
 * (mutation testing: scripts/mutation/README.md).
 */
import { describe, expect, it } from 'vitest';
import { ReplicationWaitList } from '../../src/network/duties/replication-waits.js';
import type { ReplicationReport } from '../../src/replica/types.js';

/** Whether `promise` settled by now (a macrotask later), and with what. */
async function settled<T>(promise: Promise<T>): Promise<{ value: T } | undefined> {
  let result: { value: T } | undefined;
  void promise.then((value) => (result = { value }));
  await new Promise((resolve) => setImmediate(resolve));
  return result;
}

const REPORT: ReplicationReport = { reached: 2, owners: 3 };

describe('the level a PUT asks for', () => {
  it('none while no entry waits', () => {
    const waits = new ReplicationWaitList();
    expect(waits.levelOf([])).toBeUndefined();
    expect(waits.levelOf([1, 2])).toBeUndefined();
  });

  it('the highest among the entries it carries, whatever order they waited in, and only theirs', () => {
    const waits = new ReplicationWaitList();
    waits.expect(1, 'quorum');
    waits.expect(2, 'one');
    waits.expect(3, 'all');
    waits.expect(4, 'quorum');
    expect(waits.levelOf([1])).toBe('quorum');
    expect(waits.levelOf([2])).toBe('one');
    expect(waits.levelOf([2, 1])).toBe('quorum');
    expect(waits.levelOf([1, 2])).toBe('quorum');
    expect(waits.levelOf([2, 3, 4])).toBe('all');
    expect(waits.levelOf([3, 2])).toBe('all');
    expect(waits.levelOf([4, 2, 5])).toBe('quorum');
  });

  it('two waits on one entry: the higher', () => {
    const waits = new ReplicationWaitList();
    waits.expect(7, 'all');
    waits.expect(7, 'one');
    expect(waits.levelOf([7])).toBe('all');
  });
});

describe('reports', () => {
  it('settle every wait of the entries named with the report, once; others keep waiting', async () => {
    const waits = new ReplicationWaitList();
    const a = waits.expect(1, 'one');
    const b = waits.expect(1, 'all');
    const c = waits.expect(2, 'quorum');
    const d = waits.expect(3, 'quorum');
    waits.report([1, 2], REPORT);
    expect(await settled(a.result)).toEqual({ value: REPORT });
    expect(await settled(b.result)).toEqual({ value: REPORT });
    expect(await settled(c.result)).toEqual({ value: REPORT });
    expect(await settled(d.result)).toBeUndefined();
    // Settled entries no longer raise a PUT's level; the waiting one does.
    expect(waits.levelOf([1, 2])).toBeUndefined();
    expect(waits.levelOf([1, 2, 3])).toBe('quorum');
    // A report of entries nobody waits for (any more) changes nothing.
    waits.report([1, 9], { reached: 0, owners: 3 });
    expect(await settled(a.result)).toEqual({ value: REPORT });
    waits.report([3], { reached: 3, owners: 3 });
    expect(await settled(d.result)).toEqual({ value: { reached: 3, owners: 3 } });
  });

  it('a wait started after a report of its entry waits for the next report', async () => {
    const waits = new ReplicationWaitList();
    waits.expect(1, 'one');
    waits.report([1], REPORT);
    const again = waits.expect(1, 'all');
    expect(waits.levelOf([1])).toBe('all');
    expect(await settled(again.result)).toBeUndefined();
    waits.report([1], { reached: 3, owners: 3 });
    expect(await settled(again.result)).toEqual({ value: { reached: 3, owners: 3 } });
  });
});

describe('cancel', () => {
  it('forgets that wait only: the level drops to the others, a report passes it by', async () => {
    const waits = new ReplicationWaitList();
    const high = waits.expect(1, 'all');
    const low = waits.expect(1, 'one');
    high.cancel();
    expect(waits.levelOf([1])).toBe('one');
    waits.report([1], REPORT);
    expect(await settled(high.result)).toBeUndefined();
    expect(await settled(low.result)).toEqual({ value: REPORT });
  });

  it('the last wait of an entry cancelled: the entry waits for nothing; a later wait on it starts afresh', async () => {
    const waits = new ReplicationWaitList();
    const only = waits.expect(1, 'quorum');
    only.cancel();
    expect(waits.levelOf([1])).toBeUndefined();
    const next = waits.expect(1, 'one');
    expect(waits.levelOf([1])).toBe('one');
    waits.report([1], REPORT);
    expect(await settled(next.result)).toEqual({ value: REPORT });
    expect(await settled(only.result)).toBeUndefined();
  });

  it('after the report, with no other wait on the entry: does not throw, changes nothing', async () => {
    const waits = new ReplicationWaitList();
    const only = waits.expect(1, 'all');
    waits.report([1], REPORT);
    expect(() => only.cancel()).not.toThrow();
    expect(() => only.cancel()).not.toThrow();
    expect(waits.levelOf([1])).toBeUndefined();
    expect(await settled(only.result)).toEqual({ value: REPORT });
  });

  it('after the report, or twice: changes nothing (a later wait of the entry stays)', async () => {
    const waits = new ReplicationWaitList();
    const first = waits.expect(1, 'all');
    waits.report([1], REPORT);
    const second = waits.expect(1, 'quorum');
    first.cancel();
    first.cancel();
    expect(waits.levelOf([1])).toBe('quorum');
    waits.report([1], REPORT);
    expect(await settled(second.result)).toEqual({ value: REPORT });
  });
});
