/**
 * Round-trip times for `PeerStatus.rttMs`: each peer is pinged when it connects and
 * every PING_INTERVAL_MS after, through libp2p's ping service. A missed ping is not an
 * error (the RTT stays as it was), nor is a peer libp2p cannot ping (an attached
 * channel).
 */
import type { PeerTable } from './peer-table.js';

const PING_INTERVAL_MS = 5_000;
const PING_TIMEOUT_MS = 5_000;

export type Ping = (peerId: string, signal: AbortSignal) => Promise<number>;

export class Pinger {
  readonly #ping: Ping;
  readonly #peers: PeerTable;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  constructor(ping: Ping, peers: PeerTable) {
    this.#ping = ping;
    this.#peers = peers;
  }

  start(): void {
    this.#timer = setInterval(() => {
      for (const status of this.#peers.statuses()) void this.ping(status.peerId);
    }, PING_INTERVAL_MS);
    this.#timer.unref?.();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  async ping(peerId: string): Promise<void> {
    if (this.#stopped) return;
    try {
      this.#peers.setRtt(peerId, await this.#ping(peerId, AbortSignal.timeout(PING_TIMEOUT_MS)));
    } catch {
      // The RTT stays as it was.
    }
  }
}
