/**
 * Persists the database as the sequence of its changes frames and rebuilds it by
 * ingesting them again at open. The engine's merge is order- and duplicate-
 * insensitive, so replaying the log reproduces the graph exactly, signatures included.
 *
 * Keys: "log/" + 8-byte big-endian sequence number, so byte order is append order.
 * (Node-keyed records that compact the log are planned; this format is the simple,
 * always-correct baseline.)
 */
import { throwIfAborted } from './errors.js';
import type { StorageAdapter } from './storage/adapter.js';

const PREFIX = new TextEncoder().encode('log/');
const KEY_LENGTH = PREFIX.length + 8;

function keyFor(sequence: number): Uint8Array {
  const key = new Uint8Array(KEY_LENGTH);
  key.set(PREFIX, 0);
  const view = new DataView(key.buffer);
  view.setUint32(PREFIX.length, Math.floor(sequence / 2 ** 32));
  view.setUint32(PREFIX.length + 4, sequence >>> 0);
  return key;
}

function sequenceOf(key: Uint8Array): number {
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  return view.getUint32(PREFIX.length) * 2 ** 32 + view.getUint32(PREFIX.length + 4);
}

export class ChangeLog {
  readonly store: StorageAdapter;
  #next: number;
  readonly #pending = new Set<Promise<void>>();

  private constructor(store: StorageAdapter, next: number) {
    this.store = store;
    this.#next = next;
  }

  /** Feeds every stored frame, oldest first, to `replay`, then opens the log for appends. */
  static async open(store: StorageAdapter, replay: (frame: Uint8Array) => void, signal?: AbortSignal): Promise<ChangeLog> {
    let next = 0;
    for await (const { key, value } of store.entries({ prefix: PREFIX })) {
      throwIfAborted(signal);
      replay(value);
      if (key.length === KEY_LENGTH) next = sequenceOf(key) + 1;
    }
    return new ChangeLog(store, next);
  }

  /** Resolves once the frame is durable in the store. */
  append(frame: Uint8Array): Promise<void> {
    const written = this.store.batch([{ type: 'put', key: keyFor(this.#next++), value: frame }]);
    this.#pending.add(written);
    const forget = (): void => void this.#pending.delete(written);
    written.then(forget, forget);
    return written;
  }

  /** Waits for every append made so far (successful or not). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }
}
