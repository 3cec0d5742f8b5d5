/**
 * TaskLimit (util/concurrency.ts): at most `limit` jobs run at once, the others start in
 * the order given as earlier ones end; each call resolves or rejects as its job does, and
 * a failing job frees its slot.
 */
import { describe, expect, it } from 'vitest';
import { TaskLimit } from '../../src/util/concurrency.js';

describe('TaskLimit', () => {
  it('runs at most `limit` jobs at once, in the order given, and passes results and failures through', async () => {
    const limit = new TaskLimit(3);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const job = (i: number) => async (): Promise<number> => {
      started.push(i);
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 1 + (i % 3)));
      running--;
      if (i === 4) throw new Error('job 4 failed');
      return i * 10;
    };
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => limit.run(job(i))));
    expect(most).toBe(3);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(results[4]).toMatchObject({ status: 'rejected', reason: { message: 'job 4 failed' } });
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value)).toEqual([0, 10, 20, 30, 50, 60, 70, 80, 90]);
  });
});
