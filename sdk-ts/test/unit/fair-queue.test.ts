/**
 * The fair queue between peers in front of the replica (network/serving/fair-queue.ts):
 * a light peer's request goes before what a flooding peer has queued, one peer's
 * requests keep their order, no more than `concurrency` run at once, and a failed
 * request frees its place.
 */
import { describe, expect, it } from 'vitest';
import { FairQueue } from '../../src/network/serving/fair-queue.js';

/** A request the test finishes by hand; `started` records the order requests began in. */
function gate(started: string[], name: string): { work: () => Promise<string>; finish: () => void; fail: (error: Error) => void } {
  let finish!: () => void;
  let fail!: (error: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return {
    work: async () => {
      started.push(name);
      await done;
      return name;
    },
    finish: () => finish(),
    fail: (error) => fail(error),
  };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('FairQueue', () => {
  it('runs a light peer’s request before the requests a flooding peer queued earlier', async () => {
    const queue = new FairQueue(1);
    const started: string[] = [];
    const flood = Array.from({ length: 6 }, (_, i) => gate(started, `flood${i}`));
    const results = flood.map((request) => queue.run('flooder', 100_000, request.work));
    await settle();
    expect(started).toEqual(['flood0']);
    expect(queue.waiting).toBe(5);
    const light = gate(started, 'light');
    const lightResult = queue.run('honest', 300, light.work);
    flood[0]!.finish();
    await settle();
    // Next is the light peer's, not flood1.
    expect(started).toEqual(['flood0', 'light']);
    light.finish();
    expect(await lightResult).toBe('light');
    for (const request of flood.slice(1)) {
      await settle();
      request.finish();
    }
    expect(await Promise.all(results)).toEqual(flood.map((_, i) => `flood${i}`));
    // The flooder's own requests kept their order.
    expect(started).toEqual(['flood0', 'light', 'flood1', 'flood2', 'flood3', 'flood4', 'flood5']);
  });

  it('shares turns by bytes: a peer sending twice the bytes gets about half the turns', async () => {
    const queue = new FairQueue(1);
    const started: string[] = [];
    const block = gate(started, 'block');
    const blocking = queue.run('x', 1, block.work);
    const requests = [
      ...Array.from({ length: 8 }, (_, i) => ({ peer: 'big', request: gate(started, `big${i}`) })),
      ...Array.from({ length: 8 }, (_, i) => ({ peer: 'small', request: gate(started, `small${i}`) })),
    ];
    const results = requests.map(({ peer, request }) => queue.run(peer, peer === 'big' ? 2_000 : 1_000, request.work));
    block.finish();
    await blocking;
    const byName = new Map(requests.map(({ peer, request }, k) => [`${peer}${k % 8}`, request]));
    for (let i = 0; i < requests.length; i++) {
      await settle();
      byName.get(started.at(-1)!)!.finish();
    }
    await Promise.all(results);
    // Start tags: big 0, 2,000, 4,000…; small 0, 1,000, 2,000…: in the first 9 turns after
    // the block the small peer had twice the turns of the big one.
    expect(started.slice(1, 10)).toEqual(['big0', 'small0', 'small1', 'big1', 'small2', 'small3', 'big2', 'small4', 'small5']);
  });

  it('runs no more than `concurrency` at once, and a peer alone at once', async () => {
    const queue = new FairQueue(2);
    const started: string[] = [];
    const requests = Array.from({ length: 4 }, (_, i) => gate(started, `r${i}`));
    const results = requests.map((request, i) => queue.run(`peer${i}`, 10, request.work));
    await settle();
    expect(started).toEqual(['r0', 'r1']);
    requests[1]!.finish();
    await settle();
    expect(started).toEqual(['r0', 'r1', 'r2']);
    requests[0]!.finish();
    requests[2]!.finish();
    await settle();
    requests[3]!.finish();
    expect(await Promise.all(results)).toEqual(['r0', 'r1', 'r2', 'r3']);
  });

  it('a request that fails frees its place and rejects with its own error', async () => {
    const queue = new FairQueue(1);
    const started: string[] = [];
    const failing = gate(started, 'failing');
    const next = gate(started, 'next');
    const failed = queue.run('a', 10, failing.work);
    const after = queue.run('b', 10, next.work);
    await settle();
    failing.fail(new Error('store refused'));
    await expect(failed).rejects.toThrow('store refused');
    await settle();
    expect(started).toEqual(['failing', 'next']);
    next.finish();
    expect(await after).toBe('next');
  });
});
