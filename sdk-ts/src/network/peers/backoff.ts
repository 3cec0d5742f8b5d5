/**
 * Exponential backoff with jitter for redialling a peer: quick retries while a server
 * restarts, and no thundering herd of clients when it comes back (each waits a
 * slightly different time).
 */
export interface BackoffOptions {
  readonly initialMs?: number;
  readonly maxMs?: number;
  /** ± this fraction of each delay is random (default 0.2). */
  readonly jitter?: number;
}

export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #jitter: number;
  #next: number;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? 250;
    this.#maxMs = options.maxMs ?? 10_000;
    this.#jitter = options.jitter ?? 0.2;
    this.#next = this.#initialMs;
  }

  /** The next delay, doubling up to the maximum. */
  delay(): number {
    const base = this.#next;
    this.#next = Math.min(this.#maxMs, this.#next * 2);
    return Math.round(base * (1 + this.#jitter * (2 * Math.random() - 1)));
  }

  reset(): void {
    this.#next = this.#initialMs;
  }

  /** Waits the next delay; resolves early (without error) when `signal` aborts. */
  wait(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, this.delay());
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
