/**
 * An AsyncIterable fed by callbacks: the bridge from subscriptions to `for await`.
 * Items queue while the consumer is busy. It ends when its AbortSignal fires (queued
 * items are dropped: the consumer asked to stop), when its source ends (queued items
 * are still delivered), or when the consumer breaks out of its loop.
 */
export class PushStream<T> implements AsyncIterableIterator<T> {
  #queue: T[] = [];
  #head = 0;
  #waiting: ((result: IteratorResult<T, undefined>) => void) | undefined;
  #ended = false;
  #onEnd: (() => void) | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.end({ drop: true });

  constructor(signal?: AbortSignal) {
    this.#signal = signal;
    if (signal?.aborted) this.#ended = true;
    else signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Runs once when the stream ends, however it ends (to unsubscribe its source). */
  set onEnd(cleanup: () => void) {
    if (this.#ended) cleanup();
    else this.#onEnd = cleanup;
  }

  push(item: T): void {
    if (this.#ended) return;
    const waiting = this.#waiting;
    if (waiting !== undefined) {
      this.#waiting = undefined;
      waiting({ value: item, done: false });
    } else {
      this.#queue.push(item);
    }
  }

  end({ drop = false }: { drop?: boolean } = {}): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (drop) {
      this.#queue = [];
      this.#head = 0;
    }
    const cleanup = this.#onEnd;
    this.#onEnd = undefined;
    cleanup?.();
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as T;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<T, undefined>> {
    this.end({ drop: true });
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
