import { describe, expect, it } from 'vitest';
import { ClosedError, Identity, InvalidValueError, PermissionError, type PropertyMeta } from '../../src/node.js';
import { openDb } from './helpers.js';

describe('Identity', () => {
  it('generates distinct Ed25519 identities with base64url public keys', () => {
    const a = Identity.generate();
    const b = Identity.generate();
    expect(a.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.publicKey).not.toBe(b.publicKey);
  });

  it('exports and imports the same identity', async () => {
    const original = Identity.generate();
    const exported = original.export();
    expect(exported.publicKey).toBe(original.publicKey);
    expect(exported.secretKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const restored = Identity.import(exported);
    expect(restored.publicKey).toBe(original.publicKey);
    // And it can write into the original's space.
    const db = await openDb();
    await db.user(original).put({ by: 'original' });
    await db.user(restored).put({ also: 'restored' });
    expect(await db.user(original).once()).toEqual({ by: 'original', also: 'restored' });
  });

  it('import checks the public key against the secret key', () => {
    const a = Identity.generate().export();
    const b = Identity.generate().export();
    expect(() => Identity.import({ publicKey: b.publicKey, secretKey: a.secretKey })).toThrow(
      expect.objectContaining({ name: 'InvalidValueError', code: 'identity/mismatch' }),
    );
  });

  it('import refuses malformed input', () => {
    const good = Identity.generate().export();
    for (const bad of [
      undefined,
      {},
      { publicKey: good.publicKey },
      { publicKey: good.publicKey, secretKey: 'too-short' },
      { publicKey: good.publicKey, secretKey: `${good.secretKey}A` },
      { publicKey: good.publicKey, secretKey: good.secretKey.replace(/.$/, '+') },
      { publicKey: good.publicKey, secretKey: `${good.secretKey.slice(0, 42)}B` }, // non-zero trailing bits
    ]) {
      expect(() => Identity.import(bad as never), JSON.stringify(bad)).toThrow(InvalidValueError);
    }
  });

  it('dispose() makes the identity unusable', async () => {
    const db = await openDb();
    const identity = Identity.generate();
    const ref = db.user(identity);
    identity.dispose();
    expect(identity.disposed).toBe(true);
    expect(() => identity.export()).toThrow(ClosedError);
    expect(() => db.user(identity)).toThrow(ClosedError);
    await expect(ref.put({ a: 1 })).rejects.toBeInstanceOf(ClosedError);
    identity.dispose(); // idempotent
  });
});

describe('db.user(identity)', () => {
  it('signs every write and the engine records the signer', async () => {
    const db = await openDb();
    const me = Identity.generate();
    await db.user(me).put({ name: 'Ann', profile: { bio: 'hi' } });
    const meta = (await db.user(me).get('name').meta()) as PropertyMeta;
    expect(meta.value).toBe('Ann');
    expect(meta.signer).toBe(me.publicKey);
    expect(meta.signature).toMatch(/^[A-Za-z0-9_-]{86}$/);
    // Nested nodes live in the same protected space and are signed too.
    const bio = (await db.user(me).get('profile').get('bio').meta()) as PropertyMeta;
    expect(bio.signer).toBe(me.publicKey);
    expect(await db.get(`~${me.publicKey}/profile`).get('bio').once()).toBe('hi');
  });

  it('records the node-wide metadata of a root ref', async () => {
    const db = await openDb();
    const me = Identity.generate();
    await db.user(me).put({ a: 1, b: 2 });
    const meta = await db.user(me).meta();
    expect(meta).toMatchObject({ soul: `~${me.publicKey}`, props: { a: { value: 1, signer: me.publicKey }, b: { value: 2 } } });
    expect(await db.get('unsigned').meta()).toBeUndefined();
    await db.get('unsigned').put({ x: 1 });
    const unsigned = (await db.get('unsigned').get('x').meta()) as PropertyMeta;
    expect(unsigned.signer).toBeUndefined();
    expect(unsigned.state).toBeGreaterThan(0);
  });

  it("refuses writes into another identity's space with PermissionError", async () => {
    const db = await openDb();
    const alice = Identity.generate();
    const mallory = Identity.generate();
    await db.user(alice).put({ name: 'Alice' });
    // Mallory writing through a path that leads into Alice's space.
    const intoAlice = db.user(mallory).get('stolen').put(db.get(`~${alice.publicKey}`));
    await expect(intoAlice).resolves.toBeDefined(); // a link to Alice is fine: it lives in Mallory's space
    await expect(db.user(mallory).get('stolen').get('name').put('Mallory')).rejects.toMatchObject({
      name: 'PermissionError',
      code: 'namespace/not-owner',
    });
    // Unsigned writes there are refused too.
    await expect(db.get(`~${alice.publicKey}`).put({ name: 'Anon' })).rejects.toBeInstanceOf(PermissionError);
    expect(await db.user(alice).get('name').once()).toBe('Alice');
  });

  it('refuses a ~ soul that is not a public key', async () => {
    const db = await openDb();
    await expect(db.get('~not-a-key').put({ a: 1 })).rejects.toMatchObject({ name: 'PermissionError', code: 'namespace/bad-key' });
  });

  it('accepts content-addressed writes only under the content hash, immutably', async () => {
    const { contentKey } = await import('../../src/engine/load-node.js');
    const db = await openDb();
    const key = contentKey('hello');
    await db.get('#greetings').get(key).put('hello');
    expect(await db.get('#greetings').get(key).once()).toBe('hello');
    await expect(db.get('#greetings').get(key).put('changed')).rejects.toMatchObject({
      name: 'PermissionError',
      code: 'content/hash-mismatch',
    });
    await expect(db.get('#greetings').get('my-key').put('hello')).rejects.toBeInstanceOf(PermissionError);
    // Writing the same content again is a no-op, not an error.
    expect(await db.get('#greetings').get(key).put('hello')).toMatchObject({ applied: 0, ignored: 1 });
  });
});
