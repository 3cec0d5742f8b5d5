/**
 * `put(value, { durability })`: how a put waits for its write to be held by enough of
 * the owners of its souls (network/dht/replicate.ts does the counting on the server
 * that took it). 'local' (the default) resolves once the write is durable here, as a
 * put always did; 'one', 'quorum' and 'all' then wait for the server's report (ACK_AT)
 * and reject with DurabilityError when it says fewer confirmed, or when no server
 * answered within `timeoutMs`. Either way the write is not lost: it is durable here and
 * in the outbox, or with a server that keeps delivering it.
 */
import { abortErrorFrom, DurabilityError, InvalidValueError } from './errors.js';
import type { ReplicationReport, ReplicationWaits } from '../replica/types.js';

export type Durability = 'local' | 'one' | 'quorum' | 'all';

/** Options of `put()` and `set()`. */
export interface PutOptions {
  /**
   * How many servers must hold the write durably before the put resolves: 'local'
   * (default: this database's own store), 'one', 'quorum' (a majority of the soul's R
   * owners) or 'all' (every owner).
   */
  readonly durability?: Durability;
  /** How long a level other than 'local' waits for the servers (default 10,000 ms). */
  readonly timeoutMs?: number;
  /** Stops waiting for the level (the put rejects with AbortError; the write stays). */
  readonly signal?: AbortSignal;
}

/** What a put that waited for a level learned. */
export interface ReplicationResult {
  readonly level: Exclude<Durability, 'local'>;
  /** Owners that confirmed (the fewest for any soul of the write). */
  readonly reached: number;
  /** How many servers own each soul. */
  readonly owners: number;
}

export const DEFAULT_DURABILITY_TIMEOUT_MS = 10_000;

const LEVELS: readonly Durability[] = ['local', 'one', 'quorum', 'all'];

export function checkPutOptions(options: PutOptions | undefined): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object') throw new InvalidValueError('config/invalid', 'put() options must be an object.');
  if (options.durability !== undefined && !LEVELS.includes(options.durability)) {
    throw new InvalidValueError('config/invalid', `put() option durability must be one of ${LEVELS.join(', ')}, got ${String(options.durability)}.`);
  }
  if (options.timeoutMs !== undefined && (typeof options.timeoutMs !== 'number' || !(options.timeoutMs > 0))) {
    throw new InvalidValueError('config/invalid', 'put() option timeoutMs must be a number of ms > 0.');
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new InvalidValueError('config/invalid', 'put() option signal must be an AbortSignal.');
}

/** How many of `owners` a level needs: the one rule, for the coordinator counting (network/dht/replicate.ts) and the put judging its report. */
export function requiredOwners(level: Exclude<Durability, 'local'>, owners: number): number {
  if (level === 'one') return Math.min(1, owners);
  if (level === 'quorum') return Math.floor(owners / 2) + 1;
  return owners;
}

/**
 * Waits for `wait` (undefined: there is no network) and checks the report against
 * `level`. Rejects with DurabilityError when short, AbortError when `signal` fires.
 */
export async function awaitLevel(
  wait: ReturnType<ReplicationWaits> | undefined,
  level: Exclude<Durability, 'local'>,
  options: PutOptions,
): Promise<ReplicationResult> {
  if (wait === undefined) {
    throw new DurabilityError(level, 0, requiredOwners(level, 1), undefined, `durability '${level}' was asked for, but this database has no network: the write is durable only here (and in its outbox).`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_DURABILITY_TIMEOUT_MS;
  const signal = options.signal;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const report = await new Promise<ReplicationReport | 'timeout'>((resolve, reject) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      if (signal !== undefined) {
        if (signal.aborted) return reject(abortErrorFrom(signal));
        onAbort = () => reject(abortErrorFrom(signal));
        signal.addEventListener('abort', onAbort, { once: true });
      }
      wait.result.then(resolve, reject);
    });
    if (report === 'timeout') {
      throw new DurabilityError(level, 0, requiredOwners(level, 1), undefined, `no server confirmed the write within ${timeoutMs} ms (durability '${level}'); it is durable here and stays in the outbox.`);
    }
    const required = requiredOwners(level, report.owners);
    if (report.reached < required) {
      throw new DurabilityError(
        level,
        report.reached,
        required,
        report.owners,
        `durability '${level}' not reached: ${report.reached} of the ${report.owners} owners confirmed the write, ${required} were needed; the server keeps delivering it to the others.`,
      );
    }
    return { level, reached: report.reached, owners: report.owners };
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    wait.cancel();
  }
}
