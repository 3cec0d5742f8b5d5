import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeUpdates } from '../../src/engine/load-node.js';
import { DecodeError, Identity, type PropertyMeta, type ReadValue } from '../../src/node.js';
import { openDb, settle, valueRecorder } from './helpers.js';

/**
 * Writers run a second behind the readers: a batch's states are `now`, then the next
 * floats above it, and a receiver whose clock reads the same millisecond would rightly
 * defer all but the first. Real peers are separated by network latency.
 */
const writerClock = { now: () => Date.now() - 1_000 };

describe('replication through onChanges() and receive()', () => {
  it('replays one database into another, links and all', async () => {
    const a = await openDb(writerClock);
    const b = await openDb();
    a.onChanges((frame) => void b.receive(frame));
    await a.get('post').put({ title: 'Hi', author: { name: 'Ann' } });
    await a.get('post').get('author').get('name').put('Annie');
    await settle();
    expect(await b.get('post').get('title').once()).toBe('Hi');
    expect(await b.get('post').get('author').get('name').once()).toBe('Annie');
  });

  it('emits one frame per local write and none for received data', async () => {
    const a = await openDb(writerClock);
    const b = await openDb();
    const fromA: Uint8Array[] = [];
    const fromB: Uint8Array[] = [];
    a.onChanges((frame) => fromA.push(frame));
    const off = b.onChanges((frame) => fromB.push(frame));
    await a.get('x').put({ one: 1, two: 2 });
    expect(fromA).toHaveLength(1);
    expect(fromA[0]).toBeInstanceOf(Uint8Array);
    await b.receive(fromA[0]!);
    expect(fromB).toEqual([]);
    off();
    await b.get('y').put({ z: 1 });
    expect(fromB).toEqual([]);
  });

  it('reports per-update outcomes', async () => {
    const a = await openDb(writerClock);
    const b = await openDb();
    let frame: Uint8Array | undefined;
    a.onChanges((f) => (frame = f));
    await a.get('n').put({ p: 1, q: 2 });
    const first = await b.receive(frame!);
    expect(first).toEqual({
      applied: 2,
      ignored: 0,
      historical: 0,
      deferred: 0,
      rejected: 0,
      outcomes: [{ outcome: 'applied' }, { outcome: 'applied' }],
    });
    await b.get('n').get('p').put('newer');
    const again = await b.receive(frame!);
    expect(again.outcomes).toEqual([{ outcome: 'historical' }, { outcome: 'ignored' }]);
  });

  it('carries signatures: the receiver records the signer, and a tampered signature is rejected', async () => {
    const a = await openDb(writerClock);
    const b = await openDb();
    const me = Identity.generate();
    let frame: Uint8Array | undefined;
    a.onChanges((f) => (frame = f));
    await a.user(me).put({ name: 'Ann' });
    const tampered = frame!.slice();
    tampered[tampered.length - 1]! ^= 1; // the last byte belongs to the signature
    const bad = await b.receive(tampered);
    expect(bad.outcomes).toEqual([{ outcome: 'rejected', code: 'signature/invalid', message: expect.any(String) as string }]);
    expect(await b.user(me).get('name').once()).toBeUndefined();
    expect(await b.receive(frame!)).toMatchObject({ applied: 1 });
    const meta = (await b.user(me).get('name').meta()) as PropertyMeta;
    expect(meta.signer).toBe(me.publicKey);
    expect(meta).toEqual(await a.user(me).get('name').meta());
  });

  it('refuses garbage bytes with DecodeError and changes nothing', async () => {
    const db = await openDb();
    await db.get('kept').put({ v: 1 });
    const seen = valueRecorder<ReadValue>();
    db.get('kept').on(seen.fn);
    await settle();
    const garbage = [
      new Uint8Array([]),
      new Uint8Array([1, 2, 3, 4, 5]),
      new TextEncoder().encode('{"not":"a frame"}'),
      crypto.getRandomValues(new Uint8Array(256)),
    ];
    const other = await openDb();
    let frame: Uint8Array | undefined;
    other.onChanges((f) => (frame = f));
    await other.get('kept').put({ v: 2, w: 3 });
    garbage.push(frame!.slice(0, frame!.length - 1)); // truncated
    garbage.push(new Uint8Array([...frame!, 0])); // trailing byte
    for (const bytes of garbage) {
      await expect(db.receive(bytes)).rejects.toBeInstanceOf(DecodeError);
    }
    await expect(db.receive(new Uint8Array([9, 9, 9]))).rejects.toMatchObject({ code: expect.stringMatching(/^decode\//) as string });
    expect(await db.get('kept').once()).toEqual({ v: 1 });
    expect(seen.calls).toEqual([[{ v: 1 }]]);
  });

  it('refuses a non-Uint8Array frame', async () => {
    const db = await openDb();
    await expect(db.receive('frame' as never)).rejects.toMatchObject({ name: 'InvalidValueError' });
  });
});

describe('convergence', () => {
  it('breaks equal-state ties by JSON text in UTF-16 order, whatever the delivery order', async () => {
    const state = Date.now() - 60_000;
    const values = ['apple', 'banana', '\ue000', '😀', 'Zebra'];
    const frames = values.map((v) => encodeUpdates(['tie', 'k', v], [state]));
    // '\ue000' wins: UTF-16 compares 0xE000 > 0xD83D (😀's first unit); UTF-8 bytes would pick 😀.
    for (const order of [
      [0, 1, 2, 3, 4],
      [4, 3, 2, 1, 0],
      [3, 0, 2, 4, 1],
    ]) {
      const db = await openDb();
      for (const i of order) await db.receive(frames[i]!);
      expect(await db.get('tie').get('k').once()).toBe('\ue000');
    }
  });

  it('converges on the same graph whatever the order, batching and duplication', async () => {
    const base = Date.now() - 60_000;
    const updates: Array<[string, string, unknown, number]> = [];
    for (let i = 0; i < 60; i++) updates.push([`n${i % 4}`, `k${i % 7}`, i % 5 === 0 ? null : `v${i}`, base + (i % 9)]);
    const single = updates.map(([soul, key, value, state]) => encodeUpdates([soul, key, value], [state]));
    const batched = encodeUpdates(updates.flatMap(([soul, key, value]) => [soul, key, value]), updates.map((u) => u[3]));
    const a = await openDb();
    const b = await openDb();
    for (const frame of single) await a.receive(frame);
    await b.receive(batched);
    for (const frame of [...single].reverse()) await b.receive(frame);
    for (let n = 0; n < 4; n++) expect(await b.get(`n${n}`).once()).toEqual(await a.get(`n${n}`).once());
  });
});

describe('clocks: deferred and far-future states', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('applies an update from the future exactly when its time comes, not before', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(1_700_000_000_000);
    const ahead = await openDb({ now: () => Date.now() + 5_000 });
    const local = await openDb();
    let frame: Uint8Array | undefined;
    ahead.onChanges((f) => (frame = f));
    await ahead.get('future').put({ v: 'from the future' });
    const state = ((await ahead.get('future').get('v').meta()) as PropertyMeta).state;
    expect(state).toBe(1_700_000_005_000);

    const seen = valueRecorder<ReadValue>();
    local.get('future').get('v').on(seen.fn);
    expect(await local.receive(frame!)).toMatchObject({ deferred: 1, outcomes: [{ outcome: 'deferred' }] });
    expect(await local.get('future').get('v').once()).toBeUndefined();

    await vi.advanceTimersByTimeAsync(4_999);
    expect(Date.now()).toBe(state - 1);
    expect(await local.get('future').get('v').once()).toBeUndefined();
    expect(seen.calls).toEqual([]);

    await vi.advanceTimersByTimeAsync(1);
    expect(await local.get('future').get('v').once()).toBe('from the future');
    expect(seen.calls).toEqual([['from the future']]);
  });

  it('waits for the whole fraction of a fractional state', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(1_700_000_000_000);
    const db = await openDb();
    await db.receive(encodeUpdates(['f', 'k', 'v'], [1_700_000_001_000.5]));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await db.get('f').get('k').once()).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(await db.get('f').get('k').once()).toBe('v');
  });

  it('rejects a state beyond the maximum clock skew', async () => {
    const ahead = await openDb({ now: () => Date.now() + 11 * 60_000 });
    const local = await openDb({ maxClockSkewMs: 10 * 60_000 });
    let frame: Uint8Array | undefined;
    ahead.onChanges((f) => (frame = f));
    await ahead.get('far').put({ v: 1 });
    const result = await local.receive(frame!);
    expect(result.outcomes).toEqual([{ outcome: 'rejected', code: 'clock/too-far-ahead', message: expect.any(String) as string }]);
    expect(await local.get('far').once()).toBeUndefined();
  });

  it('orders a local write after a state it has seen, even when the wall clock is behind it', async () => {
    let clock = 2_000_000;
    const remote = await openDb({ now: () => 2_000_000 });
    const local = await openDb({ now: () => clock });
    let frame: Uint8Array | undefined;
    remote.onChanges((f) => (frame = f));
    await remote.get('k').put({ v: 'remote' });
    expect(await local.receive(frame!)).toMatchObject({ applied: 1 });
    clock = 1_500_000; // the local wall clock jumps back
    await local.get('k').put({ v: 'local, later' });
    expect(await local.get('k').get('v').once()).toBe('local, later');
    expect(((await local.get('k').get('v').meta()) as PropertyMeta).state).toBeGreaterThan(2_000_000);
  });
});
