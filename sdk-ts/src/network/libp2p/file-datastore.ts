/**
 * A libp2p datastore that keeps everything in memory but also writes the entries under a
 * few key prefixes to files, one file per key, and reads them back on open.
 *
 * Why not a full on-disk datastore: libp2p writes its peer store and DHT records to the
 * datastore all the time, and a RustDHT server rebuilds both from the network in seconds,
 * so persisting them would only cost disk writes and serve stale addresses after a
 * restart. What must survive a restart is small and rarely written: the keychain entries
 * and the WebRTC-Direct certificate, so that the server's /certhash (part of the address
 * browsers are configured with) stays the same.
 */

import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryDatastore } from 'datastore-core';
import { Key } from 'interface-datastore';
import type { AbortOptions } from '@libp2p/interface';

export class FilePrefixDatastore extends MemoryDatastore {
  readonly #directory: string;
  readonly #prefixes: readonly string[];
  /** File writes in call order, so a later put of a key never loses to an earlier one. */
  #writes: Promise<void> = Promise.resolve();

  private constructor(directory: string, prefixes: readonly string[]) {
    super();
    this.#directory = directory;
    this.#prefixes = prefixes;
  }

  /**
   * Opens (creating if needed, mode 0700: it holds private keys) `directory` and loads
   * every entry stored there. `prefixes` are datastore key prefixes such as '/pkcs8/'.
   */
  static async open(directory: string, prefixes: readonly string[]): Promise<FilePrefixDatastore> {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const store = new FilePrefixDatastore(directory, prefixes);
    await store.#load();
    return store;
  }

  async #load(): Promise<void> {
    for (const name of await readdir(this.#directory)) {
      // Leftovers of a write interrupted before its rename; the previous value (if any)
      // is still in its own file.
      if (name.endsWith('.tmp')) continue;
      const key = new Key(Buffer.from(name, 'base64url').toString('utf8'));
      // super.put: the value is already on disk, only the memory copy is missing.
      await super.put(key, new Uint8Array(await readFile(join(this.#directory, name))));
    }
  }

  override async put(key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    await super.put(key, value, options);
    if (this.#persists(key)) {
      await this.#enqueue(async () => {
        const file = this.#fileOf(key);
        // Write then rename: a crash mid-write leaves the old value, never half a key.
        await writeFile(`${file}.tmp`, value, { mode: 0o600 });
        await rename(`${file}.tmp`, file);
      });
    }
    return key;
  }

  override async delete(key: Key, options?: AbortOptions): Promise<void> {
    await super.delete(key, options);
    if (this.#persists(key)) {
      await this.#enqueue(() => rm(this.#fileOf(key), { force: true }));
    }
  }

  #persists(key: Key): boolean {
    const text = key.toString();
    return this.#prefixes.some((prefix) => text.startsWith(prefix));
  }

  /** Key strings contain '/', so file names are their base64url form. */
  #fileOf(key: Key): string {
    return join(this.#directory, Buffer.from(key.toString(), 'utf8').toString('base64url'));
  }

  #enqueue(write: () => Promise<void>): Promise<void> {
    const next = this.#writes.then(write);
    // The queue goes on after a failed write; the caller of that put sees the failure.
    this.#writes = next.catch(() => undefined);
    return next;
  }
}
