/**
 * The fair queue between peers in front of the replica (network/serving/fair-queue.ts):
 * a light peer's request goes before what a flooding peer has queued, one peer's
 * requests keep their order, no more than `concurrency` run at once, a peer holds at most
 * MAX_ACTIVE_PER_PEER of them, and a failed request frees its place.
 */
import { describe, expect, it } from 'vitest';
import { FairQueue, MAX_ACTIVE_PER_PEER } from '../../src/network/serving/fair-queue.js';

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

  it(`a flooding peer runs at most ${MAX_ACTIVE_PER_PEER} at once: the other slots stay free for a newcomer, who starts at once`, async () => {
    const queue = new FairQueue(4);
    const started: string[] = [];
    const flood = Array.from({ length: 10 }, (_, i) => gate(started, `flood${i}`));
    const results = flood.map((request) => queue.run('flooder', 100_000, request.work));
    await settle();
    expect(started).toEqual(Array.from({ length: MAX_ACTIVE_PER_PEER }, (_, i) => `flood${i}`));
    expect(queue.waiting).toBe(10 - MAX_ACTIVE_PER_PEER);
    const light = gate(started, 'light');
    const lightResult = queue.run('honest', 300, light.work);
    await settle();
    expect(started.at(-1)).toBe('light');
    light.finish();
    expect(await lightResult).toBe('light');
    // The flooder's requests all run, in order, never more than the cap at once.
    for (let i = 0; i < flood.length; i++) {
      await settle();
      expect(started.filter((name) => name.startsWith('flood')).length - i).toBeLessThanOrEqual(MAX_ACTIVE_PER_PEER);
      flood[i]!.finish();
    }
    expect(await Promise.all(results)).toEqual(flood.map((_, i) => `flood${i}`));
    expect(started.filter((name) => name.startsWith('flood'))).toEqual(flood.map((_, i) => `flood${i}`));
    expect(queue.waiting).toBe(0);
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

  it('a peer idle while the virtual time moved on starts at it: behind a peer that asked earlier at the same time', async () => {
    const queue = new FairQueue(1);
    const started: string[] = [];
    const f0 = gate(started, 'f0');
    const l0 = gate(started, 'l0');
    const f1 = gate(started, 'f1');
    const runs = [queue.run('f', 10_000, f0.work), queue.run('l', 5_000, l0.work), queue.run('f', 10_000, f1.work)];
    await settle();
    f0.finish();
    await settle();
    l0.finish();
    await settle();
    // f1 runs: the virtual time is its start tag, 10,000 (later than l's finish, 5,000).
    expect(started).toEqual(['f0', 'l0', 'f1']);
    const l1 = gate(started, 'l1');
    const n0 = gate(started, 'n0');
    runs.push(queue.run('l', 100, l1.work), queue.run('n', 100, n0.work));
    f1.finish();
    await settle();
    // Both start at 10,000; l asked first. (Had the virtual time stayed at l0's start, the
    // new peer n would start at 0 and pass l.)
    expect(started).toEqual(['f0', 'l0', 'f1', 'l1']);
    l1.finish();
    await settle();
    n0.finish();
    await Promise.all(runs);
    expect(started).toEqual(['f0', 'l0', 'f1', 'l1', 'n0']);
  });

  it('after the queue drained, a new request runs at once', async () => {
    const queue = new FairQueue(1);
    const started: string[] = [];
    const first = gate(started, 'first');
    const second = gate(started, 'second');
    const runs = [queue.run('a', 10, first.work), queue.run('b', 10, second.work)];
    await settle();
    first.finish();
    await settle();
    second.finish();
    await Promise.all(runs);
    expect(queue.waiting).toBe(0);
    expect(await queue.run('c', 10, async () => 'at once')).toBe('at once');
  });

  it('remembers at most 10,000 peers, forgetting the least recently active: a forgotten peer starts afresh', async () => {
    const queue = new FairQueue(1);
    const started: string[] = [];
    const blocker = gate(started, 'blocker');
    const runs: Array<Promise<unknown>> = [queue.run('blocker', 1, blocker.work)];
    const instant = (name: string) => async () => void started.push(name);
    // heavy asks for a lot early, then again after 9,000 others: it is among the recently active.
    runs.push(queue.run('heavy', 1_000_000, instant('h0')));
    for (let i = 0; i < 9_000; i++) runs.push(queue.run(`p${i}`, 1, instant(`p${i}`)));
    runs.push(queue.run('heavy', 1, instant('h1')));
    // ... then 1,000 more peers: past 10,000 the oldest half (blocker, p0…p4999) is forgotten.
    for (let i = 9_000; i < 10_000; i++) runs.push(queue.run(`p${i}`, 1, instant(`p${i}`)));
    runs.push(queue.run('heavy', 1, instant('h2')));
    runs.push(queue.run('p0', 1, instant('p0-again')));
    runs.push(queue.run('probe', 1, instant('probe')));
    blocker.finish();
    await Promise.all(runs);
    const at = (name: string): number => started.indexOf(name);
    // p0 was forgotten: it starts at the virtual time like the new probe, and asked first.
    expect(at('p0-again')).toBeLessThan(at('probe'));
    // heavy was remembered: its next request starts after its 1,000,000-byte one.
    expect(at('probe')).toBeLessThan(at('h2'));
  });

  /** A request that hands its `release` to the test, then runs until the test finishes it. */
  function releasing(started: string[], name: string): { work: (release: () => void) => Promise<string>; release: () => void; finish: () => void } {
    const request = gate(started, name);
    let giveBack: (() => void) | undefined;
    return {
      work: (release) => {
        giveBack = release;
        return request.work();
      },
      release: () => giveBack!(),
      finish: request.finish,
    };
  }

  it('a request that gives its slot back lets the next in line start while it still runs', async () => {
    const queue = new FairQueue(1);
    const started: string[] = [];
    const write = releasing(started, 'write');
    const written = queue.run('flooder', 1000, write.work);
    const other = gate(started, 'honest');
    const honest = queue.run('honest', 100, other.work);
    await settle();
    expect(started).toEqual(['write']);
    write.release();
    write.release(); // a second call changes nothing
    await settle();
    expect(started).toEqual(['write', 'honest']);
    other.finish();
    write.finish();
    expect(await Promise.all([written, honest])).toEqual(['write', 'honest']);
    // Only one slot: a third request runs alone again.
    const a = gate(started, 'a');
    const b = gate(started, 'b');
    const both = [queue.run('x', 1, a.work), queue.run('y', 1, b.work)];
    await settle();
    expect(started.slice(2)).toEqual(['a']);
    a.finish();
    await settle();
    b.finish();
    await Promise.all(both);
  });

  it(`a request that gave its slot back still counts for its peer: it has at most ${MAX_ACTIVE_PER_PEER} in flight`, async () => {
    const queue = new FairQueue(MAX_ACTIVE_PER_PEER + 2);
    const started: string[] = [];
    const writes = Array.from({ length: MAX_ACTIVE_PER_PEER }, (_, i) => releasing(started, `write${i}`));
    const written = writes.map((write) => queue.run('flooder', 1000, write.work));
    await settle();
    for (const write of writes) write.release();
    const next = gate(started, 'next');
    const nextResult = queue.run('flooder', 1000, next.work);
    await settle();
    // Slots are free, but the flooder's released writes still count.
    expect(started).not.toContain('next');
    writes[0]!.finish();
    await settle();
    expect(started).toContain('next');
    next.finish();
    for (const write of writes.slice(1)) write.finish();
    await Promise.all([...written, nextResult]);
  });
});
