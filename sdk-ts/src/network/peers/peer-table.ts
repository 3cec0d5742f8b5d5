/**
 * The sessions this peer has, by remote peer. A peer may have several (both sides
 * dialled, or a redial racing the old session's end): the first one ready (its HELLO
 * arrived) is the peer's *duty* session, which carries this peer's duties towards it
 * (subscriptions, outbox, feed); the others only answer. When the duty session ends, the
 * next ready one takes over. A peer is connected (`peer:connect`) from its first ready
 * session until its last session ends (`peer:disconnect`).
 */
import type { SyncSession } from '../sync-session.js';
import type { NetworkEvent, PeerRole, PeerStatus, Transport } from '../types.js';

/** Who is at the other end of a channel. */
export interface RemotePeer {
  readonly peerId: string;
  readonly transport: Transport;
  /** The address it was reached at or came from. */
  readonly address: string;
}

interface PeerEntry {
  readonly sessions: Set<SyncSession>;
  /** The session that carries this peer's duties. */
  duty: SyncSession | undefined;
  status: PeerStatus | undefined;
}

export interface PeerTableOptions {
  /** A session became its peer's duty session: take the duties towards that peer. */
  readonly onDuty: (session: SyncSession) => void;
  readonly emit: (event: NetworkEvent) => void;
  /** Something changed that the network's state depends on. */
  readonly changed: () => void;
  /** True once the network stopped: late hellos are ignored. */
  readonly stopped: () => boolean;
}

export class PeerTable {
  readonly #options: PeerTableOptions;
  readonly #peers = new Map<string, PeerEntry>();
  #everConnected = false;

  constructor(options: PeerTableOptions) {
    this.#options = options;
  }

  /** Whether any peer was ever ready. */
  get everConnected(): boolean {
    return this.#everConnected;
  }

  /** Adds a new session with `remote`; it becomes the duty session once ready, if the peer has none. */
  add(session: SyncSession, remote: RemotePeer): void {
    const { peerId } = remote;
    let entry = this.#peers.get(peerId);
    if (entry === undefined) this.#peers.set(peerId, (entry = { sessions: new Set(), duty: undefined, status: undefined }));
    entry.sessions.add(session);
    const peer = entry;
    session.whenReady().then(
      (role: PeerRole) => {
        if (this.#options.stopped() || session.closed) return;
        peer.status = {
          peerId,
          role,
          transport: remote.transport,
          address: remote.address,
          rttMs: peer.status?.rttMs,
          connectedAt: peer.status?.connectedAt ?? Date.now(),
        };
        if (peer.duty === undefined) {
          peer.duty = session;
          this.#everConnected = true;
          this.#options.emit({ type: 'peer:connect', peer: peer.status });
          this.#options.onDuty(session);
        }
        this.#options.changed();
      },
      () => {},
    );
  }

  /** A session ended: the next ready session of its peer takes the duties, or the peer is gone. */
  remove(session: SyncSession): void {
    const entry = this.#peers.get(session.peerId);
    if (entry === undefined) return;
    entry.sessions.delete(session);
    if (entry.duty === session) {
      entry.duty = undefined;
      const next = [...entry.sessions].find((s) => s.remoteRole !== undefined && !s.closed);
      if (next !== undefined) {
        entry.duty = next;
        this.#options.onDuty(next);
      }
    }
    if (entry.sessions.size === 0) {
      this.#peers.delete(session.peerId);
      if (entry.status !== undefined) this.#options.emit({ type: 'peer:disconnect', peerId: session.peerId });
    }
  }

  /** Every ready peer's duty session (of peers with `role`, if given). */
  dutySessions(role?: PeerRole): SyncSession[] {
    const ready: SyncSession[] = [];
    for (const entry of this.#peers.values()) {
      const duty = entry.duty;
      if (duty !== undefined && !duty.closed && (role === undefined || duty.remoteRole === role)) ready.push(duty);
    }
    return ready;
  }

  /** Every session with `peerId` (all of them, without). */
  sessions(peerId?: string): SyncSession[] {
    if (peerId !== undefined) return [...(this.#peers.get(peerId)?.sessions ?? [])];
    return [...this.#peers.values()].flatMap((entry) => [...entry.sessions]);
  }

  /** The peers with a session now. */
  peerIds(): string[] {
    return [...this.#peers.keys()];
  }

  statuses(): PeerStatus[] {
    const statuses: PeerStatus[] = [];
    for (const entry of this.#peers.values()) if (entry.status !== undefined) statuses.push(entry.status);
    return statuses;
  }

  /** Records a ping's round trip (ignored for a peer that is not connected). */
  setRtt(peerId: string, rttMs: number): void {
    const entry = this.#peers.get(peerId);
    if (entry?.status !== undefined) entry.status = { ...entry.status, rttMs };
  }

  clear(): void {
    this.#peers.clear();
  }
}
