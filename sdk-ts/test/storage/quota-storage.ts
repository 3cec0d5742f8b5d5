/**
 * A Web Storage area for Node tests of LocalStorageStore: the Storage interface over a
 * Map, with Chromium's quota rule (keys and values together may hold at most
 * `quotaUnits` UTF-16 code units; Chromium allows 5 Mi) and its error
 * (a DOMException named QuotaExceededError, nothing changed). The real thing is
 * tested in Chromium (test/browser/storage.spec.ts); this lets the same suite run in
 * vitest in a second.
 */
export class QuotaStorage implements Storage {
  readonly #items = new Map<string, string>();
  #used = 0;

  constructor(readonly quotaUnits = 5 * 1024 * 1024) {}

  get length(): number {
    return this.#items.size;
  }

  key(index: number): string | null {
    return [...this.#items.keys()][index] ?? null;
  }

  getItem(key: string): string | null {
    return this.#items.get(String(key)) ?? null;
  }

  setItem(key: string, value: string): void {
    const name = String(key);
    const text = String(value);
    const previous = this.#items.get(name);
    const used = this.#used - (previous === undefined ? 0 : name.length + previous.length) + name.length + text.length;
    if (used > this.quotaUnits) {
      throw new DOMException(`Setting the value of '${name}' exceeded the quota.`, 'QuotaExceededError');
    }
    this.#items.set(name, text);
    this.#used = used;
  }

  removeItem(key: string): void {
    const name = String(key);
    const previous = this.#items.get(name);
    if (previous === undefined) return;
    this.#items.delete(name);
    this.#used -= name.length + previous.length;
  }

  clear(): void {
    this.#items.clear();
    this.#used = 0;
  }

  [name: string]: unknown;
}
