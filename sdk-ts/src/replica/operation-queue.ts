/**
 * Keeps the database's operations (puts, received frames, reads, subscription starts)
 * in call order although some must first wait for nodes to load from the store.
 *
 * An operation runs synchronously when nothing is queued before it, which is the
 * common case and the only case without a store; its result is then returned as is,
 * so a put that needs no load costs no extra promise hop. Once an operation has to
 * wait, every later one waits behind it: a put issued after another is applied after
 * it, and a read issued after a put sees it, exactly as without a store.
 */

function isPromise(value: unknown): value is Promise<unknown> {
  return value instanceof Promise;
}

export class OperationQueue {
  #waiting = 0;
  #tail: Promise<void> = Promise.resolve();

  /** True while an operation waits: a new one will wait behind it. */
  get busy(): boolean {
    return this.#waiting !== 0;
  }

  run<T>(operation: () => T | Promise<T>): T | Promise<T> {
    if (this.#waiting === 0) {
      const result = operation();
      if (isPromise(result)) this.#track(result);
      return result;
    }
    const result = this.#tail.then(operation);
    this.#track(result);
    return result;
  }

  /** Resolves once every operation queued so far has finished (failed ones included). */
  drained(): Promise<void> {
    return this.#tail;
  }

  #track(result: Promise<unknown>): void {
    this.#waiting++;
    const done = (): void => void this.#waiting--;
    this.#tail = result.then(done, done);
  }
}
