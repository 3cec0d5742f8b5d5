// Typed reads: `db.get<Todo>(soul)` types what reads return and what its children hold;
// untyped refs stay untyped; `db.network` is defined when `network` was passed. The
// expectTypeOf lines are checked by the type check that `npm test` runs over the tests
// (a wrong type fails it); the expect lines check the same reads at run time.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { RustDHT, type Network, type ReadValue, type Ref } from '../../src/node.js';
import { openDb, settle } from './helpers.js';

interface Todo {
  title: string;
  done: boolean;
  owner: { name: string };
}

describe('typed refs', () => {
  it('db.get<T>() reads a T, and get(key) refs hold T[key]', async () => {
    const db = await openDb();
    const todo = db.get<Todo>('todos/1');
    await todo.put({ title: 'write docs', done: false, owner: { name: 'Ann' } });

    const value = await todo.once();
    expectTypeOf(value).toEqualTypeOf<Todo | undefined>();
    expect(value?.title).toBe('write docs');

    const title = todo.get('title');
    expectTypeOf(title).toEqualTypeOf<Ref<string>>();
    const text = await title.once();
    expectTypeOf(text).toEqualTypeOf<string | undefined>();
    expect(text).toBe('write docs');

    const owner = await todo.get('owner').once();
    expectTypeOf(owner).toEqualTypeOf<{ name: string } | undefined>();
    expect(owner?.name).toBe('Ann');
    expectTypeOf(await todo.get('owner').get('name').once()).toEqualTypeOf<string | undefined>();

    const seen: Array<boolean | undefined> = [];
    const off = todo.get('done').on((done) => {
      expectTypeOf(done).toEqualTypeOf<boolean | undefined>();
      seen.push(done);
    });
    await settle(); // the current value is delivered in a microtask
    await todo.get('done').put(true);
    await settle();
    off();
    expect(seen).toEqual([false, true]);
  });

  it('untyped refs read any value, and keys a type does not have are untyped', async () => {
    const db = await openDb();
    expectTypeOf(await db.get('anything').once()).toEqualTypeOf<ReadValue>();
    expectTypeOf(await db.get('anything').get('x').get('y').once()).toEqualTypeOf<ReadValue>();
    expectTypeOf(db.get<Todo>('todos/1').get('not-a-field')).toEqualTypeOf<Ref<ReadValue>>();
  });

  it('db.network is Network when open() was given network, possibly undefined otherwise', async () => {
    const networked = await RustDHT.open({ store: 'memory', network: { peers: [] } });
    expectTypeOf(networked.network).toEqualTypeOf<Network>();
    expect(networked.network.status().state).toBe('offline');
    await networked.close();
    const plain = await openDb();
    expectTypeOf(plain.network).toEqualTypeOf<Network | undefined>();
    expect(plain.network).toBeUndefined();
  });
});
