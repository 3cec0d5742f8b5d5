/**
 * A database's network (docs/ARCHITECTURE.md, "Network"): its public face. Each method
 * hands over to the parts put together in network-parts.ts (the dialler, the peer
 * table, the duties towards each peer, what this peer answers, a server's DHT); the doc
 * comments here are the published API reference.
 */
import { parseMultiaddr, peerIdOf } from './multiaddr.js';
import type { DialFailure } from './dial-failure.js';
import type { Dht } from './dht/dht.js';
import { queryMembers } from './dht/member-query.js';
import type { MemberRecord } from './dht/member-table.js';
import type { RustDHTNode } from './libp2p/shared.js';
import { NetworkParts } from './network-parts.js';
import { validateNetworkOptions } from './options.js';
import type { RemotePeer } from './peers/peer-table.js';
import type { ReplicaForNetwork } from './replica-port.js';
import type { Channel } from './transport/channel.js';
import type { NetworkCounters, NetworkEvent, NetworkOptions, NetworkStatus } from './types.js';

export type { RemotePeer };

/**
 * A database's network (`db.network`): its connections, status and events, and the
 * waits an application needs (`whenConnected`, `whenSynced`). Created by
 * `RustDHT.open({ network })`; stopped by `db.close()`.
 */
export class Network {
  readonly #parts: NetworkParts;

  /** Starts the network of `replica` on `node` (already started) and dials `options.peers`. */
  static async start(node: RustDHTNode, replica: ReplicaForNetwork, options: NetworkOptions): Promise<Network> {
    validateNetworkOptions(options);
    const parts = new NetworkParts(node, replica, options);
    await parts.start(options.peers ?? []);
    return new Network(parts);
  }

  private constructor(parts: NetworkParts) {
    this.#parts = parts;
  }

  /** This peer's libp2p peer id (12D3KooW…). */
  get peerId(): string {
    return this.#parts.peerId;
  }

  /** The libp2p node, for what this API does not cover. */
  get node(): RustDHTNode {
    return this.#parts.node;
  }

  /** A snapshot: addresses, connected peers, outbox size and state (offline, syncing, idle). */
  status(): NetworkStatus {
    return {
      peerId: this.peerId,
      role: this.#parts.role,
      addresses: this.#parts.node.getMultiaddrs().map(String),
      peers: this.#parts.peers.statuses(),
      outboxSize: this.#parts.replica.closed ? 0 : this.#parts.replica.outbox.size,
      state: this.#parts.signals.state,
      ...(this.#parts.dht === undefined ? {} : { dht: this.#parts.dht.status() }),
    };
  }

  /** Servers: the DHT's membership and placement (undefined on clients). @internal */
  get dht(): Dht | undefined {
    return this.#parts.dht;
  }

  /** The servers of the network, as the connected servers' signed member records say (dht/member-query.ts). @internal `rustdht where`. */
  members(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<MemberRecord[]> {
    return queryMembers(this.#parts.choice.readSessions(), this.#parts.replica.engineModule, this.peerId, { timeoutMs: this.#parts.readTimeoutMs, ...options });
  }

  /** Running totals since start: messages and bytes each way, updates by outcome, refusals by code. */
  counters(): NetworkCounters {
    return this.#parts.counters.snapshot();
  }

  /** Calls `listener` with every network event (connects, disconnects, state, refusals, dial failures). Returns the function that unsubscribes. */
  on(listener: (event: NetworkEvent) => void): () => void {
    return this.#parts.signals.on(listener);
  }

  /** False after `goOffline()`: no peer is connected or dialled until `goOnline()`. */
  get online(): boolean {
    return this.#parts.dialler.online;
  }

  /**
   * Works offline on purpose (the demo's switch, or an app saving data): hangs up every
   * peer and stops dialling. Writes keep landing in the outbox; reads answer locally.
   */
  async goOffline(): Promise<void> {
    this.#assertRunning();
    if (!this.#parts.dialler.online) return;
    this.#parts.dialler.pause();
    const peerIds = this.#parts.peers.peerIds();
    await Promise.all(this.#parts.peers.sessions().map((session) => session.close().catch(() => {})));
    await Promise.all(peerIds.map((peerId) => this.#parts.hangUpPeer(peerId)));
    this.#parts.updateState();
  }

  /** Dials every known peer again (those of `peers` and `dial()`); they re-subscribe and drain the outbox. */
  goOnline(): void {
    this.#assertRunning();
    if (this.#parts.dialler.online) return;
    this.#parts.dialler.resume();
  }

  /** Dials `address` now and keeps it dialled (as if given in `peers`). */
  dial(address: string): void {
    this.#assertRunning();
    this.#parts.dialler.keep(address);
    // Already connected (it dialled us): it is a peer we chose now, so it gets what a server gets.
    const remote = peerIdOf(parseMultiaddr(address));
    const duty = remote === undefined ? undefined : this.#parts.peers.dutySession(remote);
    if (duty !== undefined) this.#parts.roster.takeServerDuties(duty);
  }

  /**
   * Stops dialling `address` (given in `peers` or to `dial()`) and hangs up on its peer
   * (the peer named by its /p2p/ component; without one, only the dialling stops).
   * The demo's disconnect button. Resolves once the peer is hung up.
   */
  async hangUp(address: string): Promise<void> {
    this.#assertRunning();
    this.#parts.dialler.drop(address);
    const remote = peerIdOf(parseMultiaddr(address));
    const sessions = remote === undefined ? [] : this.#parts.peers.sessions(remote);
    if (sessions.length === 0) return;
    await Promise.all(sessions.map((session) => session.close().catch(() => {})));
    await this.#parts.hangUpPeer(remote!);
    this.#parts.updateState();
  }

  /**
   * Resolves once sync sessions are ready with at least `count` peers (default 1).
   * Aborted, it rejects with an AbortError that says why no peer is connected (the last
   * dial failure of each address, e.g. `network/refused`), the signal's reason as cause.
   */
  whenConnected(options: { count?: number; signal?: AbortSignal } = {}): Promise<void> {
    return this.#parts.whenConnected(options.count ?? 1, options.signal);
  }

  /** The last dial failure of each address kept dialled that is not connected now. */
  dialFailures(): ReadonlyMap<string, DialFailure> {
    return new Map(this.#parts.dialler.failures());
  }

  /**
   * `close()`'s wait: resolves once the outbox is empty, or after `timeoutMs`, or when
   * `signal` fires, or at once when there is nobody to deliver to (offline on purpose,
   * or no server dialled or connected). Never rejects.
   */
  async deliverOutbox(options: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    if (this.#parts.stopped || !this.#parts.dialler.online || this.#parts.replica.closed || options.timeoutMs <= 0) return;
    if (this.#parts.dialler.size === 0 && this.#parts.choice.servers().length === 0) return;
    const expired = new AbortController();
    const timer = setTimeout(() => expired.abort(), options.timeoutMs);
    const signal = options.signal === undefined ? expired.signal : AbortSignal.any([expired.signal, options.signal]);
    try {
      await this.whenSynced({ signal });
    } catch {
      // Timed out or aborted: close() reports what is left.
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves once the outbox is empty: every local write acknowledged by a server. */
  whenSynced(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#parts.signals.waitFor(() => this.#parts.replica.closed || this.#parts.replica.outbox.size === 0, options.signal);
  }

  /**
   * Asks the connected servers (or, with none, every connected peer) for `soul` and
   * merges each answer into the database. Resolves when all answered or after
   * `timeoutMs` (default `readTimeoutMs`), whichever comes first; at once when offline.
   */
  async fetch(soul: string, options: { keys?: readonly string[]; signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    return this.#parts.fetch(soul, options);
  }

  /**
   * Runs the sync protocol with `peer` over `channel`, a transport libp2p did not open
   * (an in-process pair from transport/memory-channel.ts): the session is treated like
   * one the peer dialled in. It ends when the channel closes.
   *
   * @internal The transport seam (the sync conformance suite, peers in one process);
   * not part of the public API yet.
   */
  attach(channel: Channel, peer: RemotePeer): void {
    this.#assertRunning();
    this.#parts.adopt(channel, peer);
  }

  /** Closes every session and stops the node. Idempotent. */
  stop(): Promise<void> {
    return this.#parts.stop();
  }

  #assertRunning(): void {
    this.#parts.assertRunning();
  }
}
