import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/node.js';
import { openDb } from './helpers.js';

describe('put and once', () => {
  it('stores every kind of value and reads it back unchanged', async () => {
    const db = await openDb();
    const values = { s: 'text', t: true, f: false, n: 42.5, z: 0, negZero: -0, nul: null, big: 1e21, tiny: 5e-324, empty: '' };
    const ack = await db.get('kinds').put(values);
    expect(ack).toEqual({ applied: 10, ignored: 0, historical: 0, deferred: 0, rejected: 0 });
    expect(await db.get('kinds').once()).toEqual(values);
    expect(Object.is(await db.get('kinds').get('negZero').once(), -0)).toBe(true);
    expect(await db.get('kinds').get('nul').once()).toBeNull();
    expect(await db.get('kinds').get('absent').once()).toBeUndefined();
    expect(await db.get('unknown-soul').once()).toBeUndefined();
  });

  it('puts a single property through a child ref', async () => {
    const db = await openDb();
    await db.get('user').get('name').put('Ann');
    await db.get('user').get('age').put(31);
    expect(await db.get('user').once()).toEqual({ name: 'Ann', age: 31 });
  });

  it('merges a put into the existing node instead of replacing it', async () => {
    const db = await openDb();
    await db.get('n').put({ a: 1, b: 2 });
    await db.get('n').put({ b: 3, c: 4 });
    expect(await db.get('n').once()).toEqual({ a: 1, b: 3, c: 4 });
  });

  it('turns nested objects into linked child nodes with derived souls', async () => {
    const db = await openDb();
    await db.get('post_1').put({ title: 'Hello', author: { name: 'Ann', address: { city: 'Oslo' } } });
    expect(await db.get('post_1').once()).toEqual({ title: 'Hello', author: { '#': 'post_1/author' } });
    expect(await db.get('post_1/author').once()).toEqual({ name: 'Ann', address: { '#': 'post_1/author/address' } });
    expect(await db.get('post_1/author/address').once()).toEqual({ city: 'Oslo' });
    // A ref to a linked property stands for the linked node.
    expect(await db.get('post_1').get('author').once()).toEqual({ name: 'Ann', address: { '#': 'post_1/author/address' } });
    expect(await db.get('post_1').get('author').get('address').get('city').once()).toBe('Oslo');
  });

  it('chains through an existing link to another soul', async () => {
    const db = await openDb();
    await db.get('ann').put({ name: 'Ann' });
    await db.get('post_1').get('author').put(db.get('ann'));
    expect(await db.get('post_1').get('author').once()).toEqual({ name: 'Ann' });
    expect(await db.get('post_1').get('author').get('name').once()).toBe('Ann');
    // Writing through the chain lands in the linked node, not in a derived one.
    await db.get('post_1').get('author').get('name').put('Annie');
    expect(await db.get('ann').get('name').once()).toBe('Annie');
    expect(await db.get('post_1/author').once()).toBeUndefined();
    // So does a nested object put on the parent.
    await db.get('post_1').put({ author: { email: 'ann@example.org' } });
    expect(await db.get('ann').once()).toEqual({ name: 'Annie', email: 'ann@example.org' });
  });

  it('accepts { "#": soul } as a link', async () => {
    const db = await openDb();
    await db.get('bob').put({ name: 'Bob' });
    await db.get('post_2').put({ author: { '#': 'bob' } });
    expect(await db.get('post_2').get('author').get('name').once()).toBe('Bob');
  });

  it('creates missing intermediate nodes when putting through a chain', async () => {
    const db = await openDb();
    await db.get('a').get('b').get('c').put('deep');
    expect(await db.get('a').once()).toEqual({ b: { '#': 'a/b' } });
    expect(await db.get('a/b').once()).toEqual({ c: 'deep' });
    expect(await db.get('a').get('b').get('c').once()).toBe('deep');
  });

  it('reads a missing chain as undefined', async () => {
    const db = await openDb();
    await db.get('x').put({ leaf: 'primitive' });
    expect(await db.get('x').get('nope').get('deeper').once()).toBeUndefined();
    expect(await db.get('x').get('leaf').get('deeper').once()).toBeUndefined();
  });

  it('reads a linked node without properties as an empty object', async () => {
    const db = await openDb();
    await db.get('p').put({ child: {} });
    expect(await db.get('p').get('child').once()).toEqual({});
  });

  it('deletes by putting null (a tombstone that stays readable as null)', async () => {
    const db = await openDb();
    await db.get('d').put({ keep: 1, drop: 2 });
    await db.get('d').get('drop').put(null);
    expect(await db.get('d').once()).toEqual({ keep: 1, drop: null });
  });

  it('replaces a primitive with a node when an object is put there', async () => {
    const db = await openDb();
    await db.get('r').get('field').put('primitive');
    await db.get('r').get('field').put({ now: 'a node' });
    expect(await db.get('r').get('field').get('now').once()).toBe('a node');
  });

  it('stops following a link once it is overwritten with a value', async () => {
    const db = await openDb();
    await db.get('post').put({ author: { name: 'Ann' } });
    await db.get('post').get('author').put('anonymous');
    expect(await db.get('post').get('author').once()).toBe('anonymous');
    expect(await db.get('post').get('author').get('name').once()).toBeUndefined();
    // Putting an object there again links the derived node afresh.
    await db.get('post').get('author').put({ name: 'Bob' });
    expect(await db.get('post').get('author').once()).toEqual({ name: 'Bob' });
  });

  it('refuses a primitive or a link as the value of a root node', async () => {
    const db = await openDb();
    for (const value of ['text', 1, null, true, { '#': 'other' }]) {
      await expect(db.get('root').put(value as never)).rejects.toBeInstanceOf(InvalidValueError);
    }
    await expect(db.get('root').put(db.get('other') as never)).rejects.toBeInstanceOf(InvalidValueError);
    expect(await db.get('root').once()).toBeUndefined();
  });

  it('keeps "__proto__" as an ordinary property', async () => {
    const db = await openDb();
    await db.get('proto').put(JSON.parse('{"__proto__": "just data", "x": 1}') as Record<string, string>);
    const data = (await db.get('proto').once()) as Record<string, unknown>;
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(data, '__proto__')?.value).toBe('just data');
    expect(await db.get('proto').get('__proto__').once()).toBe('just data');
  });

  it('exposes the path of a ref', async () => {
    const db = await openDb();
    const ref = db.get('post').get('author').get('name');
    expect(ref.root).toBe('post');
    expect(ref.path).toEqual(['author', 'name']);
    expect(ref.key).toBe('name');
    expect(db.get('post').key).toBeUndefined();
  });

  it('honours an aborted signal on reads', async () => {
    const db = await openDb();
    const controller = new AbortController();
    controller.abort();
    await expect(db.get('x').once({ signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError', code: 'abort' });
    await expect(db.get('x').map().once({ signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});
