/**
 * Which peers are servers *to us*, and so which sessions get what a server gets (our
 * outbox, reads, following its change log). A peer's HELLO role is only what it claims:
 * any peer may dial in and say "server". It is one to us when it says so *and* this
 * peer chose it: an address kept dialled names it (network.peers, --bootstrap, dial(),
 * DHT members), whichever side's dial the session came on, or we have a session with it
 * that we dialled ourselves (an address without /p2p/). A peer that only claims the role
 * is treated as a client: its ACKs would otherwise empty our outbox, and its change-log
 * entries would skip every limit a PUT passes.
 */
import type { SyncSession } from '../sync-session.js';
import type { PeerTable } from './peer-table.js';

export interface ServerChoiceOptions {
  readonly peers: PeerTable;
  /** Whether some address kept dialled names `peerId` (peers/dialler.ts). */
  readonly keepsPeer: (peerId: string) => boolean;
}

export class ServerChoice {
  readonly #options: ServerChoiceOptions;
  /** Sessions this peer opened itself, to an address it keeps dialled (or attached as such). */
  readonly #dialled = new WeakSet<SyncSession>();

  constructor(options: ServerChoiceOptions) {
    this.#options = options;
  }

  /** `session` is one this peer dialled. */
  markDialled(session: SyncSession): void {
    this.#dialled.add(session);
  }

  /** Whether `session`'s peer is a server to us (the header above). */
  isServer(session: SyncSession): boolean {
    if (session.remoteRole !== 'server') return false;
    if (this.#options.keepsPeer(session.peerId)) return true;
    return this.#options.peers.sessions(session.peerId).some((s) => this.#dialled.has(s) && !s.closed);
  }

  /** The duty sessions of peers that are servers to us. */
  servers(): SyncSession[] {
    return this.#options.peers.dutySessions((session) => this.isServer(session));
  }

  /** Reads go to servers; without any, to whoever is connected (e.g. another browser). Every answer is merged through the engine either way. */
  readSessions(): SyncSession[] {
    const servers = this.servers();
    return servers.length !== 0 ? servers : this.#options.peers.dutySessions();
  }
}
