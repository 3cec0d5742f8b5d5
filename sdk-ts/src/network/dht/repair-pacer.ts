/**
 * How fast repair may go: at most `concurrency` jobs (pushes of a chunk of souls) at
 * once, in the order they were asked for, and at most `bytesPerSecond` of what they send
 * together, so repair cannot starve foreground traffic (the hand-off: handoff.ts).
 */
import { TaskLimit } from '../../util/concurrency.js';
import { TokenBucket } from '../wire/rate-limiter.js';
import { paced } from './soul-transfer.js';

export class RepairPacer {
  readonly #jobs: TaskLimit;
  readonly #bucket: TokenBucket;

  constructor(bytesPerSecond: number, concurrency: number) {
    this.#bucket = new TokenBucket(bytesPerSecond, bytesPerSecond);
    this.#jobs = new TaskLimit(concurrency);
  }

  /** Runs `job` once fewer than `concurrency` others run; resolves or rejects as it does. */
  run<T>(job: () => Promise<T>): Promise<T> {
    return this.#jobs.run(job);
  }

  /** Waits until `bytes` may be sent. */
  take(bytes: number): Promise<void> {
    return paced(this.#bucket, bytes);
  }
}
