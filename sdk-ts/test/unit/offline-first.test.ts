import { describe, expect, it } from 'vitest';
import { Identity, RustDHT, type OutboxEntry, type OutboxEvent } from '../../src/node.js';
import { openDb, settle, valueRecorder } from './helpers.js';
import { ReusableStore } from './store-helpers.js';

async function pendingOf(db: RustDHT): Promise<OutboxEntry[]> {
  const entries: OutboxEntry[] = [];
  for await (const entry of db.outbox.pending()) entries.push(entry);
  return entries;
}

const writerClock = { now: () => Date.now() - 1_000 };

describe('offline: no peers at all', () => {
  it('every API works against local data, and subscriptions fire locally', async () => {
    const store = new ReusableStore();
    const db = await openDb({ store });
    const me = Identity.generate();
    const seen = valueRecorder<unknown>();
    db.get('room').get('topic').on(seen.fn);
    const stream = db.get('room').changes();
    const children: Array<[unknown, string]> = [];
    db.get('room').get('messages').map().on((value, key) => children.push([value, key]));
    await db.get('room').put({ topic: 'offline' });
    const message = await db.get('room').get('messages').set({ text: 'queued' });
    await db.user(me).put({ name: 'Me' });
    await settle();
    expect(seen.calls).toEqual([['offline']]);
    expect((await stream.next()).value).toMatchObject({ value: { topic: 'offline' } });
    expect(children).toEqual([[{ text: 'queued' }, message.key]]);
    expect(await db.get('room').get('messages').map().once()).toEqual([[message.key, { text: 'queued' }]]);
    expect(await db.user(me).get('name').meta()).toMatchObject({ value: 'Me', signer: me.publicKey });
    expect(db.outbox.size).toBe(3); // one entry per put: the topic, the set() (links and child), the user's name
  });
});

describe('the outbox', () => {
  it('queues each local write that changes the graph, as the frame peers need', async () => {
    const db = await openDb(writerClock);
    const announced: Uint8Array[] = [];
    db.onChanges((frame) => announced.push(frame));
    const events: OutboxEvent[] = [];
    db.outbox.onChange((event) => events.push(event));
    const me = Identity.generate();
    await db.get('a').put({ x: 1, y: 2 });
    await db.user(me).get('signed').put('yes');
    expect(db.outbox.size).toBe(2);
    const entries = await pendingOf(db);
    expect(entries.map((e) => e.id)).toEqual([0, 1]);
    expect(entries.map((e) => e.frame)).toEqual(announced);
    expect(events).toEqual([
      { type: 'added', id: 0, size: 1, frame: announced[0] },
      { type: 'added', id: 1, size: 2, frame: announced[1] },
    ]);
    // The frames carry everything a peer needs, signatures included.
    const peer = await openDb();
    for (const { frame } of entries) expect(await peer.receive(frame)).toMatchObject({ rejected: 0 });
    expect(await peer.get('a').once()).toEqual({ x: 1, y: 2 });
    expect(await peer.user(me).get('signed').meta()).toEqual(await db.user(me).get('signed').meta());
    // Received data is not ours to send.
    expect(peer.outbox.size).toBe(0);
  });

  it('acknowledge() removes an entry once; unknown ids are refused or ignored', async () => {
    const db = await openDb();
    const events: OutboxEvent[] = [];
    db.outbox.onChange((event) => events.push(event));
    await db.get('a').put({ v: 1 });
    await db.get('b').put({ v: 2 });
    expect(await db.outbox.acknowledge(0)).toBe(true);
    expect(await db.outbox.acknowledge(0)).toBe(false);
    expect(await db.outbox.acknowledge(7)).toBe(false);
    await expect(db.outbox.acknowledge(-1)).rejects.toMatchObject({ name: 'InvalidValueError', code: 'outbox/id' });
    expect(db.outbox.size).toBe(1);
    expect((await pendingOf(db)).map((e) => e.id)).toEqual([1]);
    expect(events.at(-1)).toEqual({ type: 'removed', id: 0, size: 1 });
  });

  it('survives reopening: entries, ids and acknowledgements', async () => {
    const store = new ReusableStore();
    const first = await RustDHT.open({ store });
    for (let i = 0; i < 4; i++) await first.get('n').get(`k${i}`).put(i);
    const written = await pendingOf(first);
    expect(await first.outbox.acknowledge(1)).toBe(true);
    await first.close();

    const second = await RustDHT.open({ store });
    expect(second.outbox.size).toBe(3);
    expect(await pendingOf(second)).toEqual(written.filter((e) => e.id !== 1));
    // Entries of an earlier session are acknowledged through the store, durably.
    expect(await second.outbox.acknowledge(0)).toBe(true);
    expect(await second.outbox.acknowledge(0)).toBe(false);
    await second.get('n').get('later').put('x');
    expect((await pendingOf(second)).map((e) => e.id)).toEqual([2, 3, 4]);
    await second.close();

    const third = await RustDHT.open({ store });
    expect(third.outbox.size).toBe(3);
    for (const id of [2, 3, 4]) expect(await third.outbox.acknowledge(id)).toBe(true);
    expect(third.outbox.size).toBe(0);
    await third.get('n').get('after').put('y');
    // Ids are never reused, even once everything was acknowledged.
    expect((await pendingOf(third)).map((e) => e.id)).toEqual([5]);
    await third.close();
  });

  it('lists entries still on their way to the store, and skips ones acknowledged during the iteration', async () => {
    const store = new ReusableStore();
    const db = await openDb({ store });
    await db.get('s').put({ a: 1 });
    await db.get('s').put({ b: 2 });
    void db.get('s').put({ c: 3 }); // not durable yet when the iteration starts
    const ids: number[] = [];
    for await (const { id } of db.outbox.pending()) {
      ids.push(id);
      if (id === 0) await db.outbox.acknowledge(1);
    }
    expect(ids).toEqual([0, 2]);
  });

  it('stops iterating when the signal aborts', async () => {
    const db = await openDb();
    for (let i = 0; i < 3; i++) await db.get('z').get(`k${i}`).put(i);
    const controller = new AbortController();
    const ids: number[] = [];
    for await (const { id } of db.outbox.pending({ signal: controller.signal })) {
      ids.push(id);
      controller.abort();
    }
    expect(ids).toEqual([0]);
  });
});
