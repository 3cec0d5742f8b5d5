/**
 * Identities the user chose to keep with the database (`db.identities`), so an app or
 * a server can sign as the same identity after a restart without handling key files.
 *
 * What is kept is the identity's 32-byte seed, as is: whoever can read the store can
 * write as that identity. Keep only identities whose store is as private as the key
 * (a server's own directory, a browser profile), or keep `identity.export()` elsewhere.
 */
import { decodeBase64url, encodeBase64url } from '../util/base64url.js';
import { InvalidValueError } from '../api/errors.js';
import type { Identity } from '../api/identity.js';
import type { GroupCommit } from '../persistence/group-commit.js';
import { corrupt, IDENTITY_PREFIX, identityKey, publicKeyOf } from '../persistence/layout.js';
import type { StorageAdapter } from '../storage/adapter.js';

/** Rebuilds an Identity of the database's platform from its exported form. */
export type IdentityImporter = (exported: { publicKey: string; secretKey: string }) => Identity;

interface Persisted {
  readonly store: StorageAdapter;
  readonly commit: GroupCommit;
}

function checkPublicKey(publicKey: unknown, method: string): asserts publicKey is string {
  if (typeof publicKey !== 'string' || publicKey === '') {
    throw new InvalidValueError('identity/invalid', `${method} takes an identity's publicKey (a base64url string).`);
  }
}

export class IdentityKeeper {
  readonly #persisted: Persisted | undefined;
  readonly #import: IdentityImporter;
  /** Without a store: publicKey → seed, for the life of the database. */
  readonly #memory = new Map<string, Uint8Array>();
  readonly #assertOpen: () => void;

  /** @internal The database creates its keeper. */
  constructor(persisted: Persisted | undefined, importer: IdentityImporter, assertOpen: () => void) {
    this.#persisted = persisted;
    this.#import = importer;
    this.#assertOpen = assertOpen;
  }

  /** Keeps `identity` (replacing an earlier copy). With a store, resolves once durable. */
  async keep(identity: Identity): Promise<void> {
    this.#assertOpen();
    const { publicKey, secretKey } = identity.export();
    const seed = decodeBase64url(secretKey)!;
    if (this.#persisted === undefined) {
      this.#memory.set(publicKey, seed);
      return;
    }
    this.#persisted.commit.put(identityKey(publicKey), seed);
    await this.#persisted.commit.durable();
  }

  /** Public keys of the kept identities, in byte order. */
  async list(): Promise<string[]> {
    this.#assertOpen();
    if (this.#persisted === undefined) return [...this.#memory.keys()].sort();
    await this.#settled();
    const keys: string[] = [];
    for await (const { key } of this.#persisted.store.entries({ prefix: IDENTITY_PREFIX })) keys.push(publicKeyOf(key));
    return keys;
  }

  /** The kept identity with this public key, or undefined. */
  async load(publicKey: string): Promise<Identity | undefined> {
    this.#assertOpen();
    checkPublicKey(publicKey, 'identities.load()');
    let seed: Uint8Array | undefined;
    if (this.#persisted === undefined) {
      seed = this.#memory.get(publicKey);
    } else {
      await this.#settled();
      seed = await this.#persisted.store.get(identityKey(publicKey));
    }
    if (seed === undefined) return undefined;
    try {
      return this.#import({ publicKey, secretKey: encodeBase64url(seed) });
    } catch (error) {
      throw corrupt(`the kept identity ${publicKey} does not match its key`, error);
    }
  }

  /** Deletes a kept identity. Resolves to whether it was kept; with a store, once durable. */
  async forget(publicKey: string): Promise<boolean> {
    this.#assertOpen();
    checkPublicKey(publicKey, 'identities.forget()');
    if (this.#persisted === undefined) return this.#memory.delete(publicKey);
    await this.#settled();
    const key = identityKey(publicKey);
    if ((await this.#persisted.store.get(key)) === undefined) return false;
    this.#persisted.commit.del(key);
    await this.#persisted.commit.durable();
    return true;
  }

  /** Reads see every keep/forget made before them (whether or not their batch landed). */
  #settled(): Promise<void> {
    return this.#persisted!.commit.durable().catch(() => {});
  }
}
