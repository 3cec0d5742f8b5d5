/**
 * What peers may make this server store, checked before a PUT reaches the engine (and so
 * before anything is applied, stored or acknowledged). A refusal answers the PUT with
 * ERROR and its code; the writer keeps the write in its outbox and sends it again later
 * (duties/write-refusals.ts), so admission slows writers down and never loses a write.
 *
 * - `quota/peer`: one peer's stored bytes per second (token bucket: the rate, and a burst
 *   of BURST_SECONDS of it). Far below the wire's 16 MiB/s: the wire limit is about
 *   messages a peer may send, this is about what it may make the server keep. Each
 *   update counts UPDATE_OVERHEAD_BYTES more than its bytes on the wire: what the
 *   server writes for it besides the value (its property record's key and state, its
 *   change-log mention and index entry) and the work of merging it. Charged by bytes
 *   alone, a peer writing 512-byte values had the server apply 8,000 updates a second
 *   within the 4 MiB/s default (bench row 11's flood), most of the server's time.
 * - `quota/rate`: all peers together, the same way, so a swarm of peer ids (a sybil
 *   attack costs nothing: ids are free) cannot multiply the per-peer quota.
 * - the server's gate (`writeGate`: `rustdht serve` refuses with `storage/full` while
 *   the disk is nearly full, and `quota/public` once the public space reaches its cap).
 * Peers this server chose as servers (its configured peers) are exempt: what they send
 * is replication the operator asked for.
 *
 * Per-peer buckets are kept for at most MAX_TRACKED_PEERS peers (least recently seen
 * leave first; a peer that comes back starts with a full bucket, which the shared
 * bucket still bounds).
 */
import { InvalidValueError, RustDHTError } from '../../api/errors.js';
import type { WriteGate, WriteQuota, WriteRequest } from '../types.js';
import { RecentlyUsed } from '../../util/recently-used.js';
import { TokenBucket, type Clock } from '../wire/rate-limiter.js';

export const DEFAULT_WRITE_QUOTA = Object.freeze({ peerBytesPerSecond: 4 * 1024 * 1024, totalBytesPerSecond: 32 * 1024 * 1024 });
/**
 * A peer may store this many seconds of its rate at once. 30 s let one peer write 120 MiB
 * as fast as the server would take it (4 MiB/s default): the soak's flood had the server
 * busy for its first minute, and honest put → ack p99 over 100 ms there (90 s soaks
 * of every role: p99 92 ms with 30 s, 57 ms with 10 s).
 */
const BURST_SECONDS = 10;
/** What one update costs against the quotas on top of its bytes (see above). */
export const UPDATE_OVERHEAD_BYTES = 512;
const MAX_TRACKED_PEERS = 10_000;

export function resolveWriteQuota(quota: WriteQuota = {}): Required<WriteQuota> {
  if (quota === null || typeof quota !== 'object') throw new InvalidValueError('config/invalid', 'option network.quota must be an object.');
  const resolved = { ...DEFAULT_WRITE_QUOTA, ...Object.fromEntries(Object.entries(quota).filter(([, value]) => value !== undefined)) } as Required<WriteQuota>;
  for (const [name, value] of Object.entries(resolved)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new InvalidValueError('config/invalid', `option network.quota.${name} must be a positive number of bytes per second, got ${String(value)}.`);
    }
  }
  return resolved;
}

export class WriteAdmission {
  readonly #quota: Required<WriteQuota>;
  readonly #gate: WriteGate | undefined;
  readonly #now: Clock | undefined;
  /** Least recently seen first. */
  readonly #peers = new RecentlyUsed<string, TokenBucket>(MAX_TRACKED_PEERS);
  readonly #total: TokenBucket;

  constructor(quota: WriteQuota | undefined, gate: WriteGate | undefined, now?: Clock) {
    this.#quota = resolveWriteQuota(quota);
    this.#gate = gate;
    this.#now = now;
    this.#total = new TokenBucket(this.#quota.totalBytesPerSecond, this.#quota.totalBytesPerSecond * BURST_SECONDS, now);
  }

  /** Throws the refusal (a RustDHTError with its code) if the write may not be stored now; takes its bytes from the quotas otherwise. */
  admit(write: WriteRequest, exempt: boolean): void {
    const refusal = this.#gate?.(write);
    if (refusal !== undefined) throw new RustDHTError(refusal.code, refusal.message);
    if (exempt) return;
    const cost = write.bytes + write.updates * UPDATE_OVERHEAD_BYTES;
    const peer = this.#bucketOf(write.peerId);
    if (!peer.canTake(cost)) {
      throw new RustDHTError('quota/peer', `this peer may have the server store ${Math.round(this.#quota.peerBytesPerSecond / 1024)} KiB/s (bursts of ${BURST_SECONDS} s); try again shortly.`);
    }
    if (!this.#total.take(cost)) {
      throw new RustDHTError('quota/rate', 'the server takes no more writes from peers for now (all peers together are over its write rate); try again shortly.');
    }
    peer.take(cost);
  }

  #bucketOf(peerId: string): TokenBucket {
    return this.#peers.getOrCreate(peerId, () => new TokenBucket(this.#quota.peerBytesPerSecond, this.#quota.peerBytesPerSecond * BURST_SECONDS, this.#now));
  }

}
