// The browser half of the storage conformance suite: this page imports the same checks
// vitest runs in Node and runs them against the browser backends, on demand from
// storage.spec.ts (window.rustdhtStorage). Results cross back as plain data.
import type { StorageAdapter } from '../../src/storage/adapter.js';
import { IndexedDBStore } from '../../src/storage/indexeddb.js';
import { LocalStorageStore } from '../../src/storage/local-storage.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { runStorageChecks, storageChecks, type CheckResult, type StorageSubject } from '../storage/conformance.js';

export type PlainResult = Omit<CheckResult, 'error'> & { readonly stack?: string };

export interface StoragePageApi {
  readonly subjects: string[];
  checkNames(): string[];
  run(subject: string): Promise<PlainResult[]>;
  /** Writes known data to each persistent backend, for reading back after a reload. */
  writeBeforeReload(): Promise<void>;
  /** What each persistent backend holds of that data now, as hex. */
  readAfterReload(): Promise<Record<string, Array<[string, string]>>>;
  /**
   * Issues one IndexedDB batch of `count` puts and returns without waiting for it, so
   * the test can kill the page while the batch is in flight.
   */
  startIndexedDBBatch(name: string, count: number): Promise<void>;
  /** How many entries the IndexedDB store `name` holds. */
  countIndexedDB(name: string): Promise<number>;
  /** IndexedDBStore facing other connections: a delete while open, a newer schema, a foreign database. */
  indexedDBConnectionEvents(): Promise<Record<string, string>>;
  /** One LocalStorageStore per page, for tests with two tabs: open it, write, list its keys (hex). */
  sharedLocalStorage(namespace: string): Promise<void>;
  sharedWrite(puts: string[], dels: string[]): Promise<void>;
  sharedKeys(): Promise<string[]>;
}

declare global {
  interface Window {
    rustdhtStorage?: StoragePageApi;
  }
}

/** Every store a subject opened is closed, and everything it created deleted, after each check. */
function subjectFor(
  name: string,
  open: (location: string) => Promise<StorageAdapter>,
  destroy: (location: string) => Promise<void>,
  locationOf: (store: StorageAdapter) => string,
  extra: Partial<StorageSubject> = {},
): StorageSubject {
  const locations = new Set<string>();
  const opened = new Set<StorageAdapter>();
  let made = 0;
  const track = (store: StorageAdapter): StorageAdapter => {
    opened.add(store);
    return store;
  };
  return {
    name,
    ...extra,
    async makeStore() {
      const location = `conformance-${made++}`;
      locations.add(location);
      await destroy(location);
      return track(await open(location));
    },
    reopen: async (store) => track(await open(locationOf(store))),
    async cleanup() {
      await Promise.all([...opened].map((store) => store.close()));
      opened.clear();
      for (const location of locations) await destroy(location);
      locations.clear();
    },
  };
}

const subjects: Record<string, () => StorageSubject> = {
  IndexedDBStore: () =>
    subjectFor('IndexedDBStore', (name) => IndexedDBStore.open(name), (name) => IndexedDBStore.destroy(name), (store) => (store as IndexedDBStore).name),
  LocalStorageStore: () =>
    subjectFor(
      'LocalStorageStore',
      (namespace) => LocalStorageStore.open(namespace),
      (namespace) => LocalStorageStore.destroy(namespace),
      (store) => (store as LocalStorageStore).namespace,
      { quotaLimited: true },
    ),
  MemoryStore: () => ({ name: 'MemoryStore', makeStore: async () => new MemoryStore() }),
};

const log = (line: string): void => {
  document.getElementById('log')!.textContent += `${line}\n`;
};

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const RELOAD_DATA: Array<[Uint8Array, Uint8Array]> = [
  [new Uint8Array([]), new Uint8Array([1])],
  [new Uint8Array([0, 0xff]), new Uint8Array(70_000).fill(0xab)],
  [new TextEncoder().encode('outbox/1'), new TextEncoder().encode('survives a reload')],
];
const reloadStores = {
  IndexedDBStore: () => IndexedDBStore.open('reload-test'),
  LocalStorageStore: () => LocalStorageStore.open('reload-test'),
};

/** Opens `name` at `version` with the plain IndexedDB API, as other code on the origin might. */
function rawOpen(name: string, version: number, upgrade: (db: IDBDatabase) => void = () => {}): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, version);
    request.onupgradeneeded = () => upgrade(request.result);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

const outcome = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'resolved',
    (error: unknown) => `${(error as Error).name} ${(error as { code?: string }).code ?? ''}: ${(error as Error).message}`,
  );

// Kept referenced so the store is not collected while its batch is in flight.
const inFlight: StorageAdapter[] = [];
let shared: LocalStorageStore | undefined;
const fromHex = (text: string): Uint8Array => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));

window.rustdhtStorage = {
  subjects: Object.keys(subjects),
  checkNames: () => storageChecks.map((check) => check.name),
  async run(name) {
    const make = subjects[name];
    if (make === undefined) throw new Error(`unknown subject ${name}`);
    document.getElementById('status')!.textContent = `running ${name}`;
    const results = await runStorageChecks(make(), (result) => log(`${name}: ${result.status} ${result.name} (${result.ms} ms)${result.detail ? ` — ${result.detail}` : ''}`));
    document.getElementById('status')!.textContent = `done ${name}`;
    return results.map(({ error, ...plain }) => ({ ...plain, ...(error instanceof Error && error.stack ? { stack: error.stack } : {}) }));
  },
  async writeBeforeReload() {
    for (const open of Object.values(reloadStores)) {
      const store = await open();
      await store.batch(RELOAD_DATA.map(([key, value]) => ({ type: 'put' as const, key, value })));
      await store.close();
    }
  },
  async readAfterReload() {
    const out: Record<string, Array<[string, string]>> = {};
    for (const [name, open] of Object.entries(reloadStores)) {
      const store = await open();
      const entries: Array<[string, string]> = [];
      for await (const { key, value } of store.entries()) entries.push([hex(key), hex(value)]);
      out[name] = entries;
      await store.close();
    }
    return out;
  },
  async startIndexedDBBatch(name, count) {
    const store = await IndexedDBStore.open(name);
    inFlight.push(store);
    const value = new Uint8Array(2048).fill(0x5a);
    const operations = Array.from({ length: count }, (_, i) => ({ type: 'put' as const, key: new Uint8Array([i >> 8, i & 0xff]), value }));
    void store.batch(operations).then(() => log(`batch of ${count} committed`));
  },
  async indexedDBConnectionEvents() {
    const key = new Uint8Array([1]);
    const store = await IndexedDBStore.open('events-delete');
    await store.batch([{ type: 'put', key, value: new Uint8Array([1]) }]);
    // Resolves only because the open store closes itself instead of blocking the delete.
    await IndexedDBStore.destroy('events-delete');
    const afterDelete = await outcome(store.get(key));
    const reopened = await IndexedDBStore.open('events-delete');
    const reopenedValue = String(await reopened.get(key));
    await reopened.close();

    (await rawOpen('events-newer', 7)).close();
    const newerSchema = await outcome(IndexedDBStore.open('events-newer'));

    (await rawOpen('events-foreign', 1, (db) => db.createObjectStore('something-else'))).close();
    const foreign = await outcome(IndexedDBStore.open('events-foreign'));
    return { afterDelete, reopenedValue, newerSchema, foreign };
  },
  async sharedLocalStorage(namespace) {
    shared = await LocalStorageStore.open(namespace);
  },
  async sharedWrite(puts, dels) {
    await shared!.batch([
      ...puts.map((key) => ({ type: 'put' as const, key: fromHex(key), value: new Uint8Array([1]) })),
      ...dels.map((key) => ({ type: 'del' as const, key: fromHex(key) })),
    ]);
  },
  async sharedKeys() {
    const keys: string[] = [];
    for await (const { key } of shared!.entries()) keys.push(hex(key));
    return keys;
  },
  async countIndexedDB(name) {
    const store = await IndexedDBStore.open(name);
    let count = 0;
    for await (const entry of store.entries()) count += entry.key.length > 0 ? 1 : 0;
    await store.close();
    return count;
  },
};
document.getElementById('status')!.textContent = 'ready';
