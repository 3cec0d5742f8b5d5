/**
 * At most `limit` jobs under way at once, the others started in the order they were
 * given as earlier ones end. For work that must not flood what it shares: repair's
 * pushes (network/dht/repair-pacer.ts), anti-entropy's transfers, and background store
 * reads, each a task in the same small native thread pool as the reads a merge waits for.
 */
export class TaskLimit {
  readonly #limit: number;
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /** Runs `job` once fewer than `limit` others run; resolves or rejects as it does. */
  run<T>(job: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const go = (): void => {
        this.#running++;
        job()
          .then(resolve, reject)
          .finally(() => {
            this.#running--;
            this.#waiting.shift()?.();
          });
      };
      if (this.#running < this.#limit) go();
      else this.#waiting.push(go);
    });
  }
}
