/**
 * The browser's storage platform (storage-platform.ts): IndexedDB by default, and the
 * Storage API (`navigator.storage`) for persistence and quota. Browser peers are caches
 * of the network, not replicas, so their store is capped (DEFAULT_BROWSER_CACHE_BYTES)
 * and evicts the least recently used nodes beyond it.
 */
import { IndexedDBStore } from '../storage/indexeddb.js';
import type { StorageEstimate, StoragePlatform } from './storage-platform.js';

/**
 * 50 MiB of records: far below the quota browsers grant an origin (a share of the
 * disk), so the cache never meets the quota, while holding a large working set.
 */
export const DEFAULT_BROWSER_CACHE_BYTES = 50 * 1024 * 1024;

/** `navigator.storage` where the Storage API exists (secure contexts, workers included). */
function storageManager(): StorageManager | undefined {
  const nav = (globalThis as { navigator?: { storage?: StorageManager } }).navigator;
  return nav?.storage;
}

export const browserStoragePlatform: StoragePlatform = {
  openDefaultStore: (name) => IndexedDBStore.open(name),
  defaultCacheBytes: DEFAULT_BROWSER_CACHE_BYTES,
  async requestPersistence() {
    const manager = storageManager();
    if (typeof manager?.persist !== 'function') return undefined;
    try {
      // Chromium decides from site engagement without asking; Firefox may ask the user.
      return await manager.persist();
    } catch {
      // Refused or not allowed here (an opaque origin, a sandboxed frame): not an error.
      return false;
    }
  },
  async estimate(): Promise<StorageEstimate> {
    const manager = storageManager();
    if (typeof manager?.estimate !== 'function') return { usage: undefined, quota: undefined };
    try {
      const { usage, quota } = await manager.estimate();
      return { usage, quota };
    } catch {
      return { usage: undefined, quota: undefined };
    }
  },
};
