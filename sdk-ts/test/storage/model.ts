/**
 * What a correct store holds, computed the simplest way possible, and the deterministic
 * random data the conformance checks feed both. The model shares no code with the
 * adapters: keys are kept as lowercase hex, whose string order is exactly byte-wise
 * order (two characters per byte, so a prefix sorts first).
 */
import type { RangeOptions, StorageOperation } from '../../src/storage/adapter.js';
import { hex } from './assertions.js';

export class StoreModel {
  readonly #values = new Map<string, Uint8Array>();

  apply(operations: readonly StorageOperation[]): void {
    for (const operation of operations) {
      if (operation.type === 'put') this.#values.set(hex(operation.key), operation.value.slice());
      else this.#values.delete(hex(operation.key));
    }
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.#values.get(hex(key));
  }

  get size(): number {
    return this.#values.size;
  }

  /** [hex key, value] in the order entries(range) must produce them. */
  select(range: RangeOptions = {}): Array<[string, Uint8Array]> {
    const prefix = range.prefix === undefined ? undefined : hex(range.prefix);
    const gte = range.gte === undefined ? undefined : hex(range.gte);
    const lt = range.lt === undefined ? undefined : hex(range.lt);
    let keys = [...this.#values.keys()]
      .filter((k) => (prefix === undefined || k.startsWith(prefix)) && (gte === undefined || k >= gte) && (lt === undefined || k < lt))
      .sort();
    if (range.reverse === true) keys.reverse();
    if (range.limit !== undefined) keys = keys.slice(0, range.limit);
    return keys.map((k) => [k, this.#values.get(k)!]);
  }
}

/** A small seeded generator (mulberry32): the same data on every backend and every run. */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 2^32). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return this.next() % n;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i += 4) {
      const word = this.next();
      out[i] = word;
      if (i + 1 < length) out[i + 1] = word >>> 8;
      if (i + 2 < length) out[i + 2] = word >>> 16;
      if (i + 3 < length) out[i + 3] = word >>> 24;
    }
    return out;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}
