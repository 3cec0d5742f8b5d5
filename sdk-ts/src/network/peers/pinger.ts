/**
 * Round-trip times for `PeerStatus.rttMs`, and the liveness of connections: each peer is
 * pinged when it connects and about every PING_INTERVAL_MS after, through libp2p's ping
 * service. Each peer has its own due time, jittered, so a server with a hundred peers
 * pings two or three of them every tick instead of all hundred at once (a burst of new
 * streams that stalled a process holding many servers); a peer whose session was heard
 * from within the interval, and whose RTT is fresh (RTT_FRESH_MS), is not pinged: it is
 * evidently alive, and the ping would only cost a stream.
 *
 * A missed ping is not an error (the RTT stays as it was), nor is a peer libp2p cannot
 * ping (an attached channel, or a peer without the ping protocol). A peer is hung up only
 * when its pings have timed out for DEAD_AFTER_MS *and* none of its sessions received
 * anything in that time: a busy peer, or a starved event loop on either side, delays
 * pings but keeps sending sync messages, and a connection carrying a sync session must
 * not be dropped for that. (This replaces libp2p's connection monitor, which aborts a
 * connection on the first ping that misses its adaptive timeout.)
 */
import type { PeerTable } from './peer-table.js';

/** What the pinger needs of the peer table (PeerTable provides it). */
export type PingedPeers = Pick<PeerTable, 'statuses' | 'setRtt'> & {
  sessions(peerId: string): ReadonlyArray<{ readonly lastHeardAt: number }>;
};

const PING_INTERVAL_MS = 5_000;
/** How often due pings are looked for (the spread of the pings over the interval). */
const TICK_MS = 250;
/** An RTT younger than this is fresh enough that a peer heard from is not pinged for one. */
const RTT_FRESH_MS = 60_000;
const PING_TIMEOUT_MS = 5_000;
/** Pings timing out, and nothing heard, for this long: the connection is dead. */
export const DEAD_AFTER_MS = 20_000;

export type Ping = (peerId: string, signal: AbortSignal) => Promise<number>;

export interface PingerOptions {
  readonly ping: Ping;
  readonly peers: PingedPeers;
  /** Hangs up on a peer judged dead (its sessions end; the dialler redials what it keeps). */
  readonly hangUp: (peerId: string) => void;
  /** The clock (tests). */
  readonly now?: () => number;
  /** Uniform in [0, 1) (tests). */
  readonly random?: () => number;
  readonly timeoutMs?: number;
}

export class Pinger {
  readonly #options: PingerOptions;
  readonly #now: () => number;
  /** Per peer: when the first of its unanswered pings was sent (absent while they answer). */
  readonly #failingSince = new Map<string, number>();
  /** Per peer: when it is next due, and when its RTT was last measured. */
  readonly #due = new Map<string, number>();
  readonly #measuredAt = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  constructor(options: PingerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    this.#timer = setInterval(() => this.tick(), TICK_MS);
    this.#timer.unref?.();
  }

  /** Pings the peers that are due (start() calls this every TICK_MS; tests call it). */
  tick(): void {
    if (this.#stopped) return;
    const now = this.#now();
    const random = this.#options.random ?? Math.random;
    for (const { peerId } of this.#options.peers.statuses()) {
      const due = this.#due.get(peerId);
      if (due === undefined) {
        // Newly seen (it was pinged as it connected): its first turn anywhere in the interval.
        this.#due.set(peerId, now + random() * PING_INTERVAL_MS);
        continue;
      }
      if (due > now) continue;
      this.#due.set(peerId, now + PING_INTERVAL_MS * (0.75 + 0.5 * random()));
      const heard = this.#lastHeard(peerId);
      const measured = this.#measuredAt.get(peerId) ?? -Infinity;
      if (now - heard < PING_INTERVAL_MS && now - measured < RTT_FRESH_MS && !this.#failingSince.has(peerId)) continue;
      void this.ping(peerId);
    }
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  async ping(peerId: string): Promise<void> {
    if (this.#stopped) return;
    const { peers, ping, hangUp } = this.#options;
    const signal = AbortSignal.timeout(this.#options.timeoutMs ?? PING_TIMEOUT_MS);
    const sentAt = this.#now();
    try {
      peers.setRtt(peerId, await ping(peerId, signal));
      this.#measuredAt.set(peerId, this.#now());
      this.#failingSince.delete(peerId);
    } catch {
      // Only a ping that went unanswered says anything about liveness; one refused at once
      // (no such protocol, not a libp2p connection) came from a live peer.
      if (!signal.aborted || this.#stopped) return;
      const since = this.#failingSince.get(peerId);
      if (since === undefined) {
        this.#failingSince.set(peerId, sentAt);
        return;
      }
      if (this.#now() - since < DEAD_AFTER_MS) return;
      if (this.#lastHeard(peerId) > since) {
        // Silent to pings but talking on a session: alive, only busy.
        this.#failingSince.set(peerId, sentAt);
        return;
      }
      this.#failingSince.delete(peerId);
      if (peers.sessions(peerId).length !== 0) hangUp(peerId);
    }
  }

  /** When any session with `peerId` last received something (-Infinity: none). */
  #lastHeard(peerId: string): number {
    return Math.max(-Infinity, ...this.#options.peers.sessions(peerId).map((session) => session.lastHeardAt));
  }

  /** A peer left: its record goes with it. */
  forget(peerId: string): void {
    this.#failingSince.delete(peerId);
    this.#due.delete(peerId);
    this.#measuredAt.delete(peerId);
  }
}
