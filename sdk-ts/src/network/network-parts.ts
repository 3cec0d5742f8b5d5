/**
 * How a database's network is put together (peer-network.ts is its public face): one
 * libp2p node, one sync session per connection, and a part per job, each taking only the
 * slice of the database it needs (replica-port.ts):
 *
 *   peers/dialler.ts          addresses kept dialled, backoff, dial failures, offline on purpose
 *   peers/peer-table.ts       sessions per peer, the duty session, peer status
 *   peers/server-choice.ts    which peers are servers to us
 *   peers/pinger.ts           liveness of quiet peers
 *   duties/duty-roster.ts     what this peer does for each peer: subscriber.ts (SUBSCRIBE
 *                             what is watched here), outbox-sender.ts (PUT the outbox to
 *                             each server), feed-follower.ts (server → server change logs)
 *   duties/fetcher.ts         read through the servers (`fetch`)
 *   serving/serving.ts        what this peer answers: responder.ts (GET, PUT), publisher.ts
 *                             (SUBSCRIBE, EVENTs), feed-server.ts (FEED), durability.ts
 *   state.ts                  events, state, whenConnected / whenSynced
 *   dht/                      servers: membership, placement, what each member is fed
 *
 * Sessions run over any Channel (transport/channel.ts): libp2p streams, which this
 * dials and accepts, or channels handed to `adopt` (an in-process pair).
 */
import type { Connection } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Multiaddr } from '@multiformats/multiaddr';
import { AbortError, ClosedError, InvalidValueError, throwIfAborted } from '../api/errors.js';
import { CounterSet } from './counters.js';
import { Fetcher } from './duties/fetcher.js';
import { DutyRoster } from './duties/duty-roster.js';
import { ReplicationWaitList } from './duties/replication-waits.js';
import { Subscriber } from './duties/subscriber.js';
import { Dht } from './dht/dht.js';
import { peerKeyOf, type RustDHTNode } from './libp2p/shared.js';
import { handleChannels, openChannel } from './libp2p/stream-channel.js';
import { transportOf } from './libp2p/transport-of.js';
import { DEFAULT_READ_TIMEOUT_MS } from './options.js';
import { Dialler } from './peers/dialler.js';
import { PeerTable, type RemotePeer } from './peers/peer-table.js';
import { MAX_SESSIONS_PER_PEER } from './peers/peer-table.js';
import { PeerRateLimits } from './peers/peer-rate-limits.js';
import { Pinger } from './peers/pinger.js';
import { ServerChoice } from './peers/server-choice.js';
import { boundedText, codeOf, knownCode, messageOf } from './refusal.js';
import type { ReplicaForNetwork } from './replica-port.js';
import { Serving } from './serving/serving.js';
import { NetworkSignals, stopped } from './state.js';
import { SyncSession, type SessionHandler } from './sync-session.js';
import type { Channel } from './transport/channel.js';
import type { NetworkEvent, NetworkOptions, PeerRole } from './types.js';
import { SYNC_PROTOCOLS, type ReplicationLevel } from './wire/messages.js';
import { resolveWireLimits, type ResolvedWireLimits } from './wire/rate-limiter.js';
import { requestLimits, type RequestLimits } from './wire/request-limits.js';


export class NetworkParts {
  readonly node: RustDHTNode;
  readonly replica: ReplicaForNetwork;
  readonly role: PeerRole;
  readonly readTimeoutMs: number;
  readonly counters = new CounterSet();
  readonly signals: NetworkSignals;
  readonly peers: PeerTable;
  readonly dialler: Dialler;
  readonly fetcher: Fetcher;
  /** Which peers are servers to us. */
  readonly choice: ServerChoice;
  /** This peer's duties towards each peer. */
  readonly roster: DutyRoster;
  /** Servers with a peer key: membership and placement (network/dht/). */
  readonly dht: Dht | undefined;
  readonly #limits: ResolvedWireLimits;
  readonly #rateLimits: PeerRateLimits;
  readonly #requestLimits: RequestLimits;
  readonly #stop = new AbortController();
  readonly #subscriber: Subscriber;
  readonly #serving: Serving;
  /** What every session calls back: requests to serving, events to the subscriber, the rest here. */
  readonly #handler: SessionHandler;
  readonly #pinger: Pinger;
  /** Local writes waiting for a durability level (put's `durability`). */
  readonly #replicationWaits = new ReplicationWaitList();
  readonly #cleanups: Array<() => void> = [];
  #isStopped = false;

  constructor(node: RustDHTNode, replica: ReplicaForNetwork, options: NetworkOptions) {
    this.node = node;
    this.replica = replica;
    this.role = options.role ?? 'client';
    this.#limits = resolveWireLimits(options.limits);
    this.#rateLimits = new PeerRateLimits(this.#limits);
    this.#requestLimits = requestLimits(replica.limits);
    this.readTimeoutMs = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    const counters = this.counters;
    const emit = (event: NetworkEvent): void => this.#emit(event);
    const changed = (): void => this.updateState();
    const requestFailed = (session: SyncSession, error: unknown): void => this.#requestFailed(session, error);
    this.signals = new NetworkSignals({ stop: this.#stop.signal, onOutboxChange: (listener) => replica.outbox.onChange(listener) });
    this.peers = new PeerTable({ onDuty: (session) => this.roster.take(session), emit, changed, stopped: () => this.#isStopped });
    this.#pinger = new Pinger({
      ping: (peerId, signal) => this.node.services.ping.ping(peerIdFromString(peerId), { signal }),
      peers: this.peers,
      hangUp: (peerId) => void this.hangUpPeer(peerId),
    });
    this.dialler = new Dialler({ localPeerId: this.peerId, stop: this.#stop.signal, connect: (target, signal) => this.#dial(target, signal), emit });
    this.choice = new ServerChoice({
      peers: this.peers,
      keepsPeer: (peerId) => this.dialler.keepsPeer(peerId),
    });
    this.#subscriber = new Subscriber({
      replica,
      counters,
      sessions: () => this.peers.dutySessions(),
      requestFailed,
      // EVENTs from a soul's owners, for this server's own subscribers (dht/owner-subscriptions.ts).
      accepts: (soul) => this.dht?.ownerSubscriptions.accepts(soul) === true,
    });
    this.fetcher = new Fetcher({
      replica,
      counters,
      emit,
      readSessions: () => this.choice.readSessions(),
      firstConnectionPending: () => this.#firstConnectionPending(),
      whenConnected: (signal) => this.whenConnected(1, signal),
      changed,
    });
    this.dht = this.role === 'server' ? this.#createDht(options) : undefined;
    const dht = this.dht;
    this.#serving = new Serving({
      replica,
      counters,
      role: this.role,
      limits: this.#limits,
      quota: options.quota,
      writeGate: options.writeGate,
      dht,
      emit,
      isServer: (session) => this.choice.isServer(session),
    });
    this.roster = new DutyRoster({
      replica,
      counters,
      role: this.role,
      stop: this.#stop.signal,
      choice: this.choice,
      subscriber: this.#subscriber,
      pinger: this.#pinger,
      replicationWaits: this.#replicationWaits,
      dht: () => this.dht,
      emit,
      changed,
      refused: (peerId, code, message) => this.#refused(peerId, code, message),
      requestFailed,
    });
    this.#handler = {
      request: (session, message) => this.#serving.request(session, message),
      event: async (session, message) => {
        if (message.type === 'event') return this.#subscriber.event(message);
        if (message.type === 'feed-ack') return this.#serving.feeds.acked(session, message.feed, message.seq);
        this.dht?.membership.take(session.peerId, message.records);
      },
      refused: (session, code, message) => this.#refused(session.peerId, code, message),
      closed: (session) => this.#sessionClosed(session),
    };
  }

  /** This peer's libp2p peer id. */
  get peerId(): string {
    return this.node.peerId.toString();
  }

  get stopped(): boolean {
    return this.#isStopped;
  }

  assertRunning(): void {
    if (this.#isStopped) throw stopped();
  }

  /** Closes every session and stops the node. Idempotent. */
  async stop(): Promise<void> {
    if (this.#isStopped) return;
    this.#isStopped = true;
    this.#stop.abort(stopped());
    this.#pinger.stop();
    // Says goodbye (a `leaving` record) while the sessions are still open.
    await this.dht?.stop().catch(() => {});
    for (const cleanup of this.#cleanups) cleanup();
    this.#subscriber.stop();
    this.#serving.stop();
    await Promise.all(this.peers.sessions().map((session) => session.close().catch(() => {})));
    await this.node.stop();
    this.peers.clear();
    this.signals.set('offline');
  }

  // ---- start-up and sessions ----

  async start(peers: readonly string[]): Promise<void> {
    await handleChannels(this.node, SYNC_PROTOCOLS, (channel, connection) => void this.adopt(channel, remotePeerOf(connection)), {
      maxInboundStreams: 4,
      maxOutboundStreams: 4,
    });
    const replica = this.replica;
    this.#cleanups.push(
      replica.outbox.onChange((change) => {
        if (change.type === 'added') this.roster.offer({ id: change.id, frame: change.frame });
        this.updateState();
      }),
      replica.onClose(() => void this.stop()),
    );
    this.#cleanups.push(replica.useRemoteReads((soul, keys, signal, consistency) => this.fetch(soul, { keys, signal, consistency })));
    this.#cleanups.push(replica.useReplication((id, level) => this.#replicationWaits.expect(id, level)));
    this.#pinger.start();
    for (const address of peers) this.dialler.keep(address);
    this.dht?.start();
    this.updateState();
  }

  /** The DHT of a server whose node has a registered Ed25519 key (libp2p/shared.ts); none otherwise. */
  #createDht(options: NetworkOptions): Dht | undefined {
    const privateKey = peerKeyOf(this.node);
    if (privateKey === undefined) return undefined;
    const peers = this.peers;
    return new Dht(
      {
        engine: this.replica.engineModule,
        selfId: this.peerId,
        privateKey,
        addresses: () => this.node.getMultiaddrs().map(String),
        sessions: () => peers.dutySessions((session) => session.remoteRole === 'server' && session.speaksDht),
        connected: (peerId) => peers.sessions(peerId).some((session) => !session.closed),
        keep: (address) => this.dialler.keep(address),
        drop: (address) => this.dialler.drop(address),
        dialFailed: (address) => this.dialler.failures().has(address),
        kept: (peerId) => this.dialler.keepsPeer(peerId),
        refused: (peerId, code, message) => this.#refused(peerId, code, message),
        replica: this.replica,
        sessionOf: (peerId) => {
          const session = peers.dutySession(peerId);
          return session !== undefined && !session.closed && session.remoteRole === 'server' ? session : undefined;
        },
        watched: (soul) => this.#serving.publisher.isWatched(soul),
        requestFailed: (session, error) => this.#requestFailed(session, error),
      },
      options.dht,
    );
  }

  /** One dial of the dialler: a libp2p connection, then a sync stream on it. */
  async #dial(target: Multiaddr, signal: AbortSignal): Promise<SyncSession> {
    const connection = await this.node.dial(target, { signal });
    const channel = await openChannel(this.node, connection.remotePeer, SYNC_PROTOCOLS, { signal });
    return this.adopt(channel, { ...remotePeerOf(connection), dialled: true });
  }

  adopt(channel: Channel, remote: RemotePeer): SyncSession {
    // Offline on purpose: a peer that dials us (another browser, through a relay) is hung up on.
    if (!this.dialler.online) channel.abort(new ClosedError('network/offline', 'this peer is offline.'));
    const session = new SyncSession(channel, {
      peerId: remote.peerId,
      localRole: this.role,
      limits: this.#limits,
      requestLimits: this.#requestLimits,
      // One queue for all of the peer's sessions: more sessions get it no more of our memory.
      sendQueue: this.peers.sendQueueOf(remote.peerId),
      // And one rate limit, remembered across reconnects: a new stream is no fresh burst.
      rateLimiter: this.#rateLimits.of(remote.peerId),
      counters: this.counters,
      handler: this.#handler,
      protocol: channel.protocol,
      // Never a server to us: we wait on its replies, which come on the same channel.
      mayPauseReading: (session) => !this.choice.isServer(session),
    });
    if (!this.peers.add(session, remote)) {
      session.end('wire/too-many-sessions', `more than ${MAX_SESSIONS_PER_PEER} sessions with one peer.`);
      return session;
    }
    if (remote.dialled === true) {
      this.choice.markDialled(session);
      // The peer's duty session may be one it dialled in on before ours was ready (both
      // sides dial): once ours is, the peer is one we chose, and that session carries
      // what a server gets. (After the peer table's own handler: registered later.)
      session.whenReady().then(() => {
        const duty = this.peers.dutySession(remote.peerId);
        if (duty !== undefined) this.roster.takeServerDuties(duty);
      }, () => {});
    }
    return session;
  }

  #sessionClosed(session: SyncSession): void {
    this.#serving.forget(session);
    this.roster.ended(session);
    this.peers.remove(session);
    if (this.peers.sessions(session.peerId).length === 0) {
      this.#pinger.forget(session.peerId);
      this.dht?.membership.peerGone(session.peerId);
    }
    this.updateState();
  }

  /**
   * True from start until the first peer connects, while some address is being dialled
   * for the first time (no failure yet): reads wait for that connection (bounded by their
   * timeout). Once connected, or once every address failed, reads without peers are local.
   */
  #firstConnectionPending(): boolean {
    if (this.peers.everConnected || !this.dialler.online || this.#isStopped) return false;
    return this.dialler.firstAttemptPending();
  }

  async hangUpPeer(peerId: string): Promise<void> {
    try {
      await this.node.hangUp(peerIdFromString(peerId));
    } catch {
      // Not connected through libp2p (an attached channel), or already gone.
    }
  }

  // ---- bookkeeping -------------------------------------------------------------------------

  #requestFailed(session: SyncSession, error: unknown): void {
    if (session.closed || this.#isStopped) return;
    this.#refused(session.peerId, codeOf(error), messageOf(error));
  }

  #refused(peerId: string, code: string, message: string): void {
    this.counters.reject(code);
    this.#emit({ type: 'reject', peerId, code, message });
  }

  /**
   * Every event leaves through here. A refusal's code and text may be a peer's own (an
   * ERROR it sent, a reply's code): the code is reported only from the fixed set
   * (`other` otherwise) and the text cut short, so no peer decides what an application's
   * logs or labels hold (known-codes.ts).
   */
  #emit(event: NetworkEvent): void {
    if (event.type === 'reject') {
      this.signals.emit({ type: 'reject', peerId: event.peerId, code: knownCode(event.code), message: boundedText(event.message) });
      return;
    }
    this.signals.emit(event);
  }

  updateState(): void {
    if (this.#isStopped) return;
    // A server that listens is online whether or not anyone is connected yet.
    const connected = this.peers.dutySessions().length !== 0 || (this.role === 'server' && this.node.getMultiaddrs().length !== 0);
    const busy = this.fetcher.inFlight !== 0 || (!this.replica.closed && this.replica.outbox.size !== 0);
    this.signals.set(!connected ? 'offline' : busy ? 'syncing' : 'idle');
  }

  /** `Network.fetch`, and reads through the network (`consistency`: how many owners a DHT server asks). */
  async fetch(soul: string, options: { keys?: readonly string[]; signal?: AbortSignal; timeoutMs?: number; consistency?: ReplicationLevel }): Promise<void> {
    this.assertRunning();
    if (typeof soul !== 'string' || soul === '') throw new InvalidValueError('soul/invalid', 'fetch() takes a non-empty string soul.');
    throwIfAborted(options.signal);
    await this.fetcher.fetch(soul, { keys: options.keys, signal: options.signal, timeoutMs: options.timeoutMs ?? this.readTimeoutMs, level: options.consistency });
  }

  whenConnected(count: number, signal: AbortSignal | undefined): Promise<void> {
    return this.signals.waitFor(() => this.peers.dutySessions().length >= count, signal).catch((error: unknown) => {
      if (!(error instanceof AbortError)) throw error;
      const reason = this.dialler.notConnectedReason(this.peers.dutySessions().length);
      throw new AbortError(`stopped waiting for ${count === 1 ? 'a connection' : `${count} connections`}: ${reason}`, { cause: error.cause });
    });
  }
}

/** Who is at the other end of a libp2p connection. */
function remotePeerOf(connection: Connection): RemotePeer {
  return { peerId: connection.remotePeer.toString(), transport: transportOf(connection), address: connection.remoteAddr.toString() };
}
