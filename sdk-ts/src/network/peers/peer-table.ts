/**
 * The sessions this peer has, by remote peer. A peer may have several (both sides
 * dialled, or a redial racing the old session's end): the first one ready (its HELLO
 * arrived) is the peer's *duty* session, which carries this peer's duties towards it
 * (subscriptions, outbox, feed); the others only answer. When the duty session ends, the
 * next ready one takes over. A peer is connected (`peer:connect`) from its first ready
 * session until its last session ends (`peer:disconnect`).
 *
 * A peer has at most MAX_SESSIONS_PER_PEER sessions, whatever the connections they came
 * on (libp2p already allows 4 sync streams per connection; this bounds the connections
 * too), and one PeerSendQueue that all of them charge: a peer cannot get more of our
 * memory by opening more sessions.
 *
 * The role a peer says in its HELLO is what it *claims*: it is reported (PeerStatus.role),
 * but what this peer grants a server (our outbox, following its change log) is decided by
 * the network from its own configuration (server-choice.ts).
 */
import type { SyncSession } from '../sync-session.js';
import type { NetworkEvent, PeerRole, PeerStatus, Transport } from '../types.js';
import { PeerSendQueue } from './send-queue.js';

/** Sessions one remote peer may have with us at once (both sides dialling, a redial racing the old session's end, and room to spare). */
export const MAX_SESSIONS_PER_PEER = 4;

/** Who is at the other end of a channel. */
export interface RemotePeer {
  readonly peerId: string;
  readonly transport: Transport;
  /** The address it was reached at or came from. */
  readonly address: string;
  /**
   * This side opened the channel to a peer it chose (network.peers, dial()): for
   * `attach`, a channel the caller set up as such a dial. Sessions Network dials itself
   * are marked by it.
   */
  readonly dialled?: boolean;
}

interface PeerEntry {
  readonly sessions: Set<SyncSession>;
  /** What all its sessions have queued for it. */
  readonly sendQueue: PeerSendQueue;
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

  /** The send queue all sessions with `peerId` share (for a session about to be added). */
  sendQueueOf(peerId: string): PeerSendQueue {
    return this.#entry(peerId).sendQueue;
  }

  /**
   * Adds a new session with `remote`; it becomes the duty session once ready, if the peer
   * has none. False (and not added) when the peer has MAX_SESSIONS_PER_PEER already: the
   * caller ends it.
   */
  add(session: SyncSession, remote: RemotePeer): boolean {
    const { peerId } = remote;
    const entry = this.#entry(peerId);
    if (entry.sessions.size >= MAX_SESSIONS_PER_PEER) return false;
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
    return true;
  }

  #entry(peerId: string): PeerEntry {
    let entry = this.#peers.get(peerId);
    if (entry === undefined) this.#peers.set(peerId, (entry = { sessions: new Set(), sendQueue: new PeerSendQueue(), duty: undefined, status: undefined }));
    return entry;
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

  /** Every ready peer's duty session (those `accept` takes, if given). */
  dutySessions(accept?: (session: SyncSession) => boolean): SyncSession[] {
    const ready: SyncSession[] = [];
    for (const entry of this.#peers.values()) {
      const duty = entry.duty;
      if (duty !== undefined && !duty.closed && (accept === undefined || accept(duty))) ready.push(duty);
    }
    return ready;
  }

  /** `peerId`'s duty session, if it has a ready one. */
  dutySession(peerId: string): SyncSession | undefined {
    const duty = this.#peers.get(peerId)?.duty;
    return duty !== undefined && !duty.closed ? duty : undefined;
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
