// LocalStorageStore against the shared suite in Node, over QuotaStorage (Chromium's
// quota rule on a Map). The acceptance run is in Chromium's real localStorage
// (test/browser/storage.spec.ts); this one is fast and runs everywhere.
import type { StorageAdapter } from '../../src/storage/adapter.js';
import { LocalStorageStore } from '../../src/storage/local-storage.js';
import { QuotaStorage } from './quota-storage.js';
import { describeConformance } from './vitest-conformance.js';

const storage = new QuotaStorage();
let made = 0;
const open = new Set<StorageAdapter>();
const track = (store: LocalStorageStore): LocalStorageStore => {
  open.add(store);
  return store;
};

describeConformance({
  name: 'LocalStorageStore (Node, QuotaStorage)',
  makeStore: async () => track(await LocalStorageStore.open(`conformance-${made++}`, storage)),
  reopen: async (store) => track(await LocalStorageStore.open((store as LocalStorageStore).namespace, storage)),
  quotaLimited: true,
  async cleanup() {
    await Promise.all([...open].map((store) => store.close()));
    open.clear();
    storage.clear();
  },
});
