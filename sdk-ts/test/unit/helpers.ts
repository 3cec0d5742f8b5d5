/** Shared helpers for the unit tests. */
import { afterEach, beforeEach } from 'vitest';
import { MemoryStore, RustDHT, type OpenOptions } from '../../src/node.js';

const opened: RustDHT[] = [];

/**
 * Opens a database that is closed after the current test. With RUSTDHT_TEST_STORE=memory
 * (see vitest.config.ts) it is backed by a MemoryStore unless the test passes a store.
 */
export async function openDb(options: OpenOptions = {}): Promise<RustDHT> {
  const backed = process.env['RUSTDHT_TEST_STORE'] === 'memory' && options.store === undefined;
  const db = await RustDHT.open(backed ? { ...options, store: new MemoryStore() } : options);
  opened.push(db);
  return db;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close()));
});

/** Lets queued microtasks (initial subscription deliveries) run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Records every call of a callback. */
export function recorder<A extends unknown[]>(): { calls: A[]; fn: (...args: A) => void } {
  const calls: A[] = [];
  return { calls, fn: (...args: A) => void calls.push(args) };
}

/** Records the first argument of every call (the value, for `on()` callbacks). */
export function valueRecorder<V>(): { calls: Array<[V]>; fn: (value: V) => void } {
  const calls: Array<[V]> = [];
  return { calls, fn: (value: V) => void calls.push([value]) };
}

/**
 * Errors Node reports as uncaught while each test of the calling `describe` runs (a
 * listener error is rethrown in a microtask of its own: util/listeners.ts). vitest's own
 * listeners are set aside meanwhile and put back after. The array is emptied before
 * each test.
 */
export function catchUncaught(): unknown[] {
  const uncaught: unknown[] = [];
  let saved: NodeJS.UncaughtExceptionListener[] = [];
  const onUncaught = (error: unknown): void => void uncaught.push(error);
  beforeEach(() => {
    uncaught.length = 0;
    saved = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
  });
  afterEach(() => {
    process.off('uncaughtException', onUncaught);
    for (const listener of saved) process.on('uncaughtException', listener);
  });
  return uncaught;
}
