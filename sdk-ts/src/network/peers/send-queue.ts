/**
 * What one remote peer may leave unread, across all its sessions and connections: a
 * subscriber that reads slower than its updates arrive, or a peer that asks and does not
 * read the replies. Each session charges what it hands to its stream and credits it once
 * the stream took it (sync-session.ts); a session that would go past the bound ends with
 * `wire/slow-consumer` instead. Per peer, not per session: otherwise a peer opening more
 * sessions (or connections) would get more buffer (40 stalled sessions held 1.3 GB).
 */

/** The default bound: what one subscriber session could hold before, now shared by all of a peer's. */
export const MAX_QUEUED_BYTES_PER_PEER = 32 * 1024 * 1024;

/** Bytes sent to one remote peer that it has not read yet, shared by all its sessions. */
export class PeerSendQueue {
  /** Past this, the session that would queue more ends with wire/slow-consumer. */
  readonly maxBytes: number;
  bytes = 0;

  constructor(maxBytes = MAX_QUEUED_BYTES_PER_PEER) {
    this.maxBytes = maxBytes;
  }
}
