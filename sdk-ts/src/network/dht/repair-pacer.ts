/**
 * How fast repair may go: at most `concurrency` jobs (pushes of a chunk of souls) at
 * once, in the order they were asked for, and at most `bytesPerSecond` of what they send
 * together, so repair cannot starve foreground traffic (the hand-off: handoff.ts).
 */
import { TokenBucket } from '../wire/rate-limiter.js';
import { paced } from './soul-transfer.js';

export class RepairPacer {
  readonly #concurrency: number;
  readonly #bucket: TokenBucket;
  #inFlight = 0;
  readonly #queue: Array<() => void> = [];

  constructor(bytesPerSecond: number, concurrency: number) {
    this.#bucket = new TokenBucket(bytesPerSecond, bytesPerSecond);
    this.#concurrency = concurrency;
  }

  /** Runs `job` once fewer than `concurrency` others run; resolves or rejects as it does. */
  run<T>(job: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const go = (): void => {
        this.#inFlight++;
        job()
          .then(resolve, reject)
          .finally(() => {
            this.#inFlight--;
            this.#queue.shift()?.();
          });
      };
      if (this.#inFlight < this.#concurrency) go();
      else this.#queue.push(go);
    });
  }

  /** Waits until `bytes` may be sent. */
  take(bytes: number): Promise<void> {
    return paced(this.#bucket, bytes);
  }
}
