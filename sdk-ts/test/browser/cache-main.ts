// A browser app that opens RustDHT without naming a store, driven by cache.spec.ts: the
// default store must be IndexedDB (data survives reloads), persistent storage must be
// requested, usage() must report numbers, and a small cap (?cap=N) must evict the least
// recently used nodes, across reloads too.
import { IndexedDBStore, RustDHT, type StorageUsage } from '../../src/browser.js';

export const CACHE_DB = 'rustdht-cache-test';
const VALUE = 'x'.repeat(1000);

export interface CacheInfo {
  /** IndexedDB databases of the origin, by name. */
  readonly databases: string[];
  /** How often the page called navigator.storage.persist() (counted by the spec's init script). */
  readonly persistCalls: number;
  readonly persistence: boolean | undefined;
  readonly usage: StorageUsage;
}

export interface CachePageApi {
  /** Closes the database and deletes its IndexedDB database. */
  reset(): Promise<void>;
  /** Writes VALUE to `<soul>.v` for each soul; the network acknowledges each write at once. */
  write(souls: string[]): Promise<void>;
  /** Reads `<soul>.v` (a use: it makes the soul recent). */
  read(soul: string): Promise<unknown>;
  flush(): Promise<void>;
  info(): Promise<CacheInfo>;
  /** The souls with records in IndexedDB, read through a second connection (no access recorded). */
  storedSouls(): Promise<string[]>;
}

declare global {
  interface Window {
    rustdhtCache?: CachePageApi;
    rustdhtPersistCalls?: number;
  }
}

async function main(): Promise<void> {
  const cap = new URL(location.href).searchParams.get('cap');
  // No `store`: the browser entry opens IndexedDB ('rustdht' unless named).
  const db = await RustDHT.open({ name: CACHE_DB, ...(cap === null ? {} : { cache: { maxBytes: Number(cap) } }) });
  const api: CachePageApi = {
    async reset() {
      await db.close();
      await IndexedDBStore.destroy(CACHE_DB);
    },
    async write(souls) {
      for (const soul of souls) {
        await db.get(soul).get('v').put(VALUE);
        for await (const { id } of db.outbox.pending()) await db.outbox.acknowledge(id);
      }
    },
    read: (soul) => db.get(soul).get('v').once(),
    flush: () => db.flush(),
    async info() {
      return {
        databases: (await indexedDB.databases()).map((database) => database.name ?? ''),
        persistCalls: window.rustdhtPersistCalls ?? 0,
        persistence: await db.storage.persistence,
        usage: await db.storage.usage(),
      };
    },
    async storedSouls() {
      const store = await IndexedDBStore.open(CACHE_DB);
      const souls = new Set<string>();
      try {
        for await (const { key } of store.entries({ prefix: Uint8Array.of(0x50) })) {
          const length = new DataView(key.buffer, key.byteOffset).getUint32(1);
          souls.add(new TextDecoder().decode(key.subarray(5, 5 + length)));
        }
      } finally {
        await store.close();
      }
      return [...souls].sort();
    },
  };
  window.rustdhtCache = api;
  document.getElementById('status')!.textContent = 'ready';
}

main().catch((error: unknown) => {
  document.getElementById('status')!.textContent = `error: ${String(error)}`;
  console.error(error);
});
