/**
 * What a platform entry point adds to opening a database, the way it binds the engine
 * (engine-binding.ts): its default store and what it can tell about storage. Node binds
 * none (memory by default, no cap); the browser entry binds browser-storage.ts, so
 * `idb` stays out of Node and out of the shared index.
 */
import type { StorageAdapter } from '../storage/adapter.js';

/** What the platform says about the origin's storage (`navigator.storage.estimate()`). */
export interface StorageEstimate {
  readonly usage: number | undefined;
  readonly quota: number | undefined;
}

export interface StoragePlatform {
  /** Opens the store a database uses when `open()` is given none. */
  openDefaultStore(name: string): Promise<StorageAdapter>;
  /** The cache cap, in bytes of stored records, for databases that persist here. */
  readonly defaultCacheBytes: number;
  /** Asks for storage the platform will not clear under pressure; never rejects. */
  requestPersistence(): Promise<boolean | undefined>;
  /** The origin's usage and quota, as far as the platform says; never rejects. */
  estimate(): Promise<StorageEstimate>;
}

/** The default name of the browser's default store (an IndexedDB database). */
export const DEFAULT_STORE_NAME = 'rustdht';
