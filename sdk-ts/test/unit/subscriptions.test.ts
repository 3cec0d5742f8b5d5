import { describe, expect, it, vi } from 'vitest';
import type { ChangeEvent, ReadValue } from '../../src/node.js';
import { openDb, recorder, settle, valueRecorder } from './helpers.js';

describe('on()', () => {
  it('fires with the current value, then once per changing batch', async () => {
    const db = await openDb();
    await db.get('n').put({ a: 1 });
    const seen = valueRecorder<ReadValue>();
    const off = db.get('n').on(seen.fn);
    await settle();
    expect(seen.calls).toEqual([[{ a: 1 }]]);
    await db.get('n').put({ a: 2, b: 3 }); // one batch, one delivery
    expect(seen.calls).toEqual([[{ a: 1 }], [{ a: 2, b: 3 }]]);
    off();
    await db.get('n').put({ a: 4 });
    expect(seen.calls).toHaveLength(2);
  });

  it('does not fire initially for a missing value, but does once it appears', async () => {
    const db = await openDb();
    const seen = valueRecorder<ReadValue>();
    db.get('later').get('x').on(seen.fn);
    await settle();
    expect(seen.calls).toEqual([]);
    await db.get('later').get('x').put('here');
    expect(seen.calls).toEqual([['here']]);
  });

  it('passes the key of the ref as second argument', async () => {
    const db = await openDb();
    const seen = recorder<[ReadValue, string | undefined]>();
    db.get('p').get('title').on(seen.fn);
    db.get('p').on(seen.fn);
    await db.get('p').put({ title: 'T' });
    expect(seen.calls).toHaveLength(2);
    expect(seen.calls).toContainEqual(['T', 'title']);
    expect(seen.calls).toContainEqual([{ title: 'T' }, undefined]);
  });

  it('watches only its own property', async () => {
    const db = await openDb();
    const seen = valueRecorder<ReadValue>();
    db.get('p').get('mine').on(seen.fn);
    await db.get('p').get('other').put(1);
    await db.get('other-soul').put({ mine: 1 });
    expect(seen.calls).toEqual([]);
    await db.get('p').get('mine').put(2);
    expect(seen.calls).toEqual([[2]]);
  });

  it('follows links: fires when the linked node changes and when the link is re-pointed', async () => {
    const db = await openDb();
    await db.get('ann').put({ name: 'Ann' });
    await db.get('bob').put({ name: 'Bob' });
    await db.get('post').put({ author: db.get('ann') as never });
    const name = valueRecorder<ReadValue>();
    db.get('post').get('author').get('name').on(name.fn);
    await settle();
    expect(name.calls).toEqual([['Ann']]);
    await db.get('ann').get('name').put('Annie');
    expect(name.calls.at(-1)).toEqual(['Annie']);
    await db.get('post').get('author').put(db.get('bob'));
    expect(name.calls.at(-1)).toEqual(['Bob']);
    // The old target no longer matters; the new one does.
    const before = name.calls.length;
    await db.get('ann').get('name').put('ignored');
    expect(name.calls).toHaveLength(before);
    await db.get('bob').get('name').put('Robert');
    expect(name.calls.at(-1)).toEqual(['Robert']);
  });

  it('delivers the whole linked node for a ref to a link', async () => {
    const db = await openDb();
    await db.get('post').put({ author: { name: 'Ann' } });
    const seen = valueRecorder<ReadValue>();
    db.get('post').get('author').on(seen.fn);
    await settle();
    await db.get('post/author').put({ age: 30 });
    expect(seen.calls).toEqual([[{ name: 'Ann' }], [{ name: 'Ann', age: 30 }]]);
  });

  it('fires nothing for an idempotent re-application', async () => {
    // A batch's states are now, then the next floats above it; time moves on before the
    // frames come back, so they are judged as past (not deferred) by both replicas.
    let clock = 1_700_000_000_000;
    const db = await openDb({ now: () => clock });
    const frames: Uint8Array[] = [];
    db.onChanges((frame) => frames.push(frame));
    await db.get('same').put({ v: 'x', w: 1 });
    const seen = valueRecorder<ReadValue>();
    db.get('same').on(seen.fn);
    await settle();
    expect(seen.calls).toHaveLength(1);
    clock += 1_000;
    // Our own changes coming back (as they do from peers) change nothing.
    const result = await db.receive(frames[0]!);
    expect(result).toMatchObject({ applied: 0, ignored: 2 });
    expect(seen.calls).toHaveLength(1);
    // The same frame delivered to another replica twice: only the first applies.
    const other = await openDb();
    const otherSeen = valueRecorder<ReadValue>();
    other.get('same').on(otherSeen.fn);
    expect(await other.receive(frames[0]!)).toMatchObject({ applied: 2 });
    expect(await other.receive(frames[0]!)).toMatchObject({ applied: 0, ignored: 2 });
    await settle();
    expect(otherSeen.calls).toEqual([[{ v: 'x', w: 1 }]]);
  });

  it('lets a callback unsubscribe itself during the initial delivery', async () => {
    const db = await openDb();
    await db.get('once-only').put({ a: 1 });
    let calls = 0;
    const off = db.get('once-only').on(() => {
      calls++;
      off();
    });
    await settle();
    await db.get('once-only').put({ a: 2 });
    expect(calls).toBe(1);
  });

  it('keeps delivering to other subscribers when one throws, and rethrows asynchronously', async () => {
    const db = await openDb();
    const rethrown: unknown[] = [];
    const queue = globalThis.queueMicrotask;
    const spy = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((task) =>
      queue(() => {
        try {
          task();
        } catch (error) {
          rethrown.push(error);
        }
      }),
    );
    try {
      const seen = valueRecorder<ReadValue>();
      db.get('t').on(() => {
        throw new Error('subscriber bug');
      });
      db.get('t').on(seen.fn);
      await db.get('t').put({ a: 1 });
      expect(seen.calls).toEqual([[{ a: 1 }]]);
      await settle();
      expect(rethrown).toEqual([new Error('subscriber bug')]);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('changes()', () => {
  it('yields one event per batch with the new value and the changes, and ends when the signal aborts', async () => {
    const db = await openDb();
    const controller = new AbortController();
    const events: ChangeEvent[] = [];
    const done = (async () => {
      for await (const event of db.get('c').changes({ signal: controller.signal })) {
        events.push(event);
        if (events.length === 2) controller.abort();
      }
    })();
    await db.get('c').put({ a: 1 });
    await db.get('c').put({ a: 2, b: 'x' });
    await done;
    expect(events.map((e) => e.value)).toEqual([{ a: 1 }, { a: 2, b: 'x' }]);
    expect(events[1]!.changes.map(({ soul, key, value, signer }) => ({ soul, key, value, signer }))).toEqual([
      { soul: 'c', key: 'a', value: 2, signer: null },
      { soul: 'c', key: 'b', value: 'x', signer: null },
    ]);
    expect(events[1]!.changes[0]!.state).toBeGreaterThan(events[0]!.changes[0]!.state);
    // Ended: later writes reach nobody, and the stream stays done.
    await db.get('c').put({ a: 3 });
    expect(events).toHaveLength(2);
  });

  it('is empty when the signal is already aborted', async () => {
    const db = await openDb();
    const iterator = db.get('c').changes({ signal: AbortSignal.abort() });
    await db.get('c').put({ a: 1 });
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
  });

  it('ends cleanly when the database closes, after delivering what was queued', async () => {
    const db = await openDb();
    const iterator = db.get('c').changes();
    await db.get('c').put({ a: 1 });
    await db.close();
    expect((await iterator.next()).value).toMatchObject({ value: { a: 1 } });
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
  });

  it('a pending next() resolves as done when the signal aborts', async () => {
    const db = await openDb();
    const controller = new AbortController();
    const iterator = db.get('c').changes({ signal: controller.signal });
    const pending = iterator.next();
    controller.abort();
    expect(await pending).toEqual({ value: undefined, done: true });
  });

  it('stops watching when the consumer breaks out of the loop', async () => {
    const db = await openDb();
    let count = 0;
    const loop = (async () => {
      for await (const _ of db.get('c').changes()) {
        count++;
        break;
      }
    })();
    await db.get('c').put({ a: 1 });
    await loop;
    await db.get('c').put({ a: 2 });
    expect(count).toBe(1);
  });
});

describe('map() and set()', () => {
  it('lists children, resolving linked ones to their data and leaving deleted ones out', async () => {
    const db = await openDb();
    await db.get('people').put({ ann: { name: 'Ann' }, bob: { name: 'Bob' }, count: 2, gone: 'x' });
    await db.get('people').get('gone').put(null);
    expect(await db.get('people').map().once()).toEqual([
      ['ann', { name: 'Ann' }],
      ['bob', { name: 'Bob' }],
      ['count', 2],
    ]);
    expect(await db.get('nobody').map().once()).toEqual([]);
  });

  it('set() adds items under unique keys that keep insertion order', async () => {
    const db = await openDb();
    const list = db.get('chat').get('messages');
    const refs = [];
    for (let i = 0; i < 20; i++) refs.push(await list.set({ text: `message ${i}` }));
    const keys = refs.map((r) => r.key!);
    expect(new Set(keys).size).toBe(20);
    expect([...keys].sort()).toEqual(keys);
    const entries = await list.map().once();
    expect(entries.map(([, value]) => (value as { text: string }).text)).toEqual(refs.map((_, i) => `message ${i}`));
    expect(await refs[3]!.get('text').once()).toBe('message 3');
    // Primitives and links can be set too.
    const primitive = await list.set('plain');
    expect(await primitive.once()).toBe('plain');
  });

  it('set() keys from two databases never collide', async () => {
    const a = await openDb({ now: () => 1_700_000_000_000 });
    const b = await openDb({ now: () => 1_700_000_000_000 });
    const keys = new Set<string>();
    for (let i = 0; i < 100; i++) {
      keys.add((await a.get('l').set(i)).key!);
      keys.add((await b.get('l').set(i)).key!);
    }
    expect(keys.size).toBe(200);
  });

  it('map().on() delivers current children, then each changed child once per batch', async () => {
    const db = await openDb();
    await db.get('todo').put({ t1: { title: 'write', done: false } });
    const seen = recorder<[unknown, string]>();
    const off = db.get('todo').map().on(seen.fn);
    await settle();
    expect(seen.calls).toEqual([[{ title: 'write', done: false }, 't1']]);
    await db.get('todo').get('t1').get('done').put(true); // a change inside a linked child
    expect(seen.calls.at(-1)).toEqual([{ title: 'write', done: true }, 't1']);
    const added = await db.get('todo').set({ title: 'test', done: false });
    expect(seen.calls.at(-1)).toEqual([{ title: 'test', done: false }, added.key]);
    await db.get('todo').get('t1').put(null); // deleted
    expect(seen.calls.at(-1)).toEqual([null, 't1']);
    const count = seen.calls.length;
    await db.get('todo/t1').put({ title: 'unlinked now' }); // no longer a child
    expect(seen.calls).toHaveLength(count);
    off();
    await db.get('todo').put({ t3: 'after unsubscribe' });
    expect(seen.calls).toHaveLength(count);
  });

  it('map().changes() streams children and ends on abort', async () => {
    const db = await openDb();
    await db.get('m').put({ a: 1 });
    const controller = new AbortController();
    const seen: Array<[string, unknown]> = [];
    const loop = (async () => {
      for await (const { key, value } of db.get('m').map().changes({ signal: controller.signal })) {
        seen.push([key, value]);
        if (seen.length === 2) controller.abort();
      }
    })();
    await settle();
    await db.get('m').put({ b: 2 });
    await loop;
    expect(seen).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
  });

  it('map() follows the path when its node is linked later', async () => {
    const db = await openDb();
    const seen = recorder<[unknown, string]>();
    db.get('owner').get('items').map().on(seen.fn);
    await settle();
    await db.get('shared-items').put({ x: 1, y: 2 });
    expect(seen.calls).toEqual([]);
    await db.get('owner').get('items').put(db.get('shared-items'));
    expect(seen.calls).toEqual([
      [1, 'x'],
      [2, 'y'],
    ]);
  });
});
