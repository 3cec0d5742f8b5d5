/**
 * One rate limit per remote peer, shared by all its sessions and remembered after they
 * end. Per session, a peer that opened a new stream got a fresh burst (twice the rate):
 * a flooder whose stream was reset, or that simply redialled, was read at 2–3 times its
 * limit (the soak bench's raw-flood peer did, every ~1.2 s). Remembering it keeps a
 * reconnecting peer at its rate; a peer id nobody has used gets a full burst, which is
 * what connection limits per address are for.
 */
import { RecentlyUsed } from '../../util/recently-used.js';
import { PeerRateLimiter, type ResolvedWireLimits } from '../wire/rate-limiter.js';

/** Peers whose limiter is remembered; past it, the one used least recently is forgotten (its next session starts with a full burst). */
export const REMEMBERED_PEER_LIMITS = 10_000;

export class PeerRateLimits {
  readonly #limits: ResolvedWireLimits;
  readonly #byPeer = new RecentlyUsed<string, PeerRateLimiter>(REMEMBERED_PEER_LIMITS);

  constructor(limits: ResolvedWireLimits) {
    this.#limits = limits;
  }

  /** The limiter every session with `peerId` charges. */
  of(peerId: string): PeerRateLimiter {
    return this.#byPeer.getOrCreate(peerId, () => new PeerRateLimiter(this.#limits));
  }

  get size(): number {
    return this.#byPeer.size;
  }
}
