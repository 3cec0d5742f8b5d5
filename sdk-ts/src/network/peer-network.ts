/**
 * A database's network (docs/ARCHITECTURE.md, "Network"): one libp2p node, one sync
 * session per connection, and this peer's duties towards each peer. This class is the
 * public face and the wiring; each job is a part of its own, which takes only the slice
 * of the database it needs (replica-port.ts):
 *
 *   peers/dialler.ts        addresses kept dialled, backoff, dial failures, offline on purpose
 *   peers/peer-table.ts     sessions per peer, the duty session, peer status
 *   duties/subscriber.ts    SUBSCRIBE what is watched here, take the EVENTs that answer
 *   duties/outbox-sender.ts PUT the outbox to each server (joined, windowed, retried)
 *   duties/feed-follower.ts server → server: follow each other's change log
 *   duties/fetcher.ts       read through the servers (`fetch`)
 *   serving/responder.ts    answer GET and PUT; publisher.ts SUBSCRIBE and the EVENTs;
 *                           feed-server.ts FEED; durability.ts: none before it is durable
 *   state.ts                events, state, whenConnected / whenSynced
 *   dht/                    servers: membership, placement, what each member is fed
 *
 * Sessions run over any Channel (transport/channel.ts): libp2p streams, which this
 * class dials and accepts, or channels handed to `attach` (an in-process pair).
 *
 * Longer than 400 lines because the public API's doc comments (the published reference)
 * live here; what each method does is a few lines handing over to a part.
 */
import type { Connection } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Multiaddr } from '@multiformats/multiaddr';
import { AbortError, ClosedError, InvalidValueError, RustDHTError, throwIfAborted } from '../api/errors.js';
import { CounterSet } from './counters.js';
import type { DialFailure } from './dial-failure.js';
import { Fetcher } from './duties/fetcher.js';
import { followFeed } from './duties/feed-follower.js';
import { OutboxSender } from './duties/outbox-sender.js';
import { ReplicationWaitList } from './duties/replication-waits.js';
import { Subscriber } from './duties/subscriber.js';
import { answerDigest } from './dht/anti-entropy.js';
import { Dht } from './dht/dht.js';
import { queryMembers } from './dht/member-query.js';
import type { MemberRecord } from './dht/member-table.js';
import { peerKeyOf, type RustDHTNode } from './libp2p/shared.js';
import { handleChannels, openChannel } from './libp2p/stream-channel.js';
import { transportOf } from './libp2p/transport-of.js';
import { parseMultiaddr, peerIdOf } from './multiaddr.js';
import { DEFAULT_READ_TIMEOUT_MS, validateNetworkOptions } from './options.js';
import { Dialler } from './peers/dialler.js';
import { PeerTable, type RemotePeer } from './peers/peer-table.js';
import { MAX_SESSIONS_PER_PEER } from './peers/peer-table.js';
import { Pinger } from './peers/pinger.js';
import { boundedText, codeOf, knownCode, messageOf } from './refusal.js';
import type { ReplicaForNetwork } from './replica-port.js';
import { DurabilityBarrier } from './serving/durability.js';
import { FeedServer } from './serving/feed-server.js';
import { Publisher } from './serving/publisher.js';
import { Responder } from './serving/responder.js';
import { NetworkSignals, stopped } from './state.js';
import { SyncSession, type IncomingRequest, type SessionHandler } from './sync-session.js';
import type { Channel } from './transport/channel.js';
import type { NetworkCounters, NetworkEvent, NetworkOptions, NetworkStatus, PeerRole } from './types.js';
import { SYNC_PROTOCOLS, type ReplicationLevel, type WireMessage } from './wire/messages.js';
import { resolveWireLimits, type ResolvedWireLimits } from './wire/rate-limiter.js';
import { WriteAdmission } from './serving/write-admission.js';
import { requestLimits, type RequestLimits } from './wire/request-limits.js';

export type { RemotePeer };

/**
 * How long a DHT server waits for a soul's owners before answering a read of a soul it
 * does not own with what it has (a soul nobody has: "not found", bounded).
 */
const OWNER_READ_TIMEOUT_MS = 1_000;

/**
 * A database's network (`db.network`): its connections, status and events, and the
 * waits an application needs (`whenConnected`, `whenSynced`). Created by
 * `RustDHT.open({ network })`; stopped by `db.close()`.
 */
export class Network {
  readonly #node: RustDHTNode;
  readonly #replica: ReplicaForNetwork;
  readonly #role: PeerRole;
  readonly #limits: ResolvedWireLimits;
  readonly #requestLimits: RequestLimits;
  readonly #readTimeoutMs: number;
  readonly #counters = new CounterSet();
  readonly #stop = new AbortController();
  readonly #signals: NetworkSignals;
  readonly #peers: PeerTable;
  readonly #dialler: Dialler;
  readonly #subscriber: Subscriber;
  readonly #fetcher: Fetcher;
  readonly #publisher: Publisher;
  readonly #feeds: FeedServer;
  /** What every session calls back: requests to the responder, events to the subscriber, the rest here. */
  readonly #handler: SessionHandler;
  /** Per server duty session: what sends it the outbox. */
  readonly #senders = new Map<SyncSession, OutboxSender>();
  /** Sessions this peer opened itself, to an address it keeps dialled (or attached as such). */
  readonly #dialled = new WeakSet<SyncSession>();
  readonly #pinger: Pinger;
  /** Local writes waiting for a durability level (put's `durability`). */
  readonly #replicationWaits = new ReplicationWaitList();
  /** Servers with a peer key: membership and placement (network/dht/). */
  readonly #dht: Dht | undefined;
  readonly #cleanups: Array<() => void> = [];
  #stopped = false;

  private constructor(node: RustDHTNode, replica: ReplicaForNetwork, options: NetworkOptions) {
    this.#node = node;
    this.#replica = replica;
    this.#role = options.role ?? 'client';
    this.#limits = resolveWireLimits(options.limits);
    this.#requestLimits = requestLimits(replica.limits);
    this.#readTimeoutMs = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    const counters = this.#counters;
    const emit = (event: NetworkEvent): void => this.#emit(event);
    const changed = (): void => this.#updateState();
    const requestFailed = (session: SyncSession, error: unknown): void => this.#requestFailed(session, error);
    this.#signals = new NetworkSignals({ stop: this.#stop.signal, onOutboxChange: (listener) => replica.outbox.onChange(listener) });
    this.#peers = new PeerTable({ onDuty: (session) => this.#takeDuties(session), emit, changed, stopped: () => this.#stopped });
    this.#pinger = new Pinger({
      ping: (peerId, signal) => this.#node.services.ping.ping(peerIdFromString(peerId), { signal }),
      peers: this.#peers,
      hangUp: (peerId) => void this.#hangUpPeer(peerId),
    });
    this.#dialler = new Dialler({ localPeerId: this.peerId, stop: this.#stop.signal, connect: (target, signal) => this.#dial(target, signal), emit });
    this.#subscriber = new Subscriber({
      replica,
      counters,
      sessions: () => this.#peers.dutySessions(),
      requestFailed,
      // EVENTs from a soul's owners, for this server's own subscribers (dht/owner-subscriptions.ts).
      accepts: (soul) => this.#dht?.ownerSubscriptions.accepts(soul) === true,
    });
    this.#fetcher = new Fetcher({
      replica,
      counters,
      emit,
      readSessions: () => this.#readSessions(),
      firstConnectionPending: () => this.#firstConnectionPending(),
      whenConnected: (signal) => this.whenConnected({ signal }),
      changed,
    });
    this.#dht = this.#role === 'server' ? this.#createDht(options) : undefined;
    // One barrier for everything served, so EVENTs, FEED_ENTRYs and NODEs keep the order of their batches.
    const durability = new DurabilityBarrier(replica);
    // A DHT server subscribes at the owners of what its subscribers watch and it does not own.
    this.#publisher = new Publisher(replica, counters, durability, (soul, watched) => this.#dht?.ownerSubscriptions.interest(soul, watched));
    this.#feeds = new FeedServer(replica, counters, this.#role, durability, this.#limits, this.#dht?.route);
    const admission = new WriteAdmission(options.quota, options.writeGate);
    // A DHT server reads what it does not own from the owners before answering.
    const ownerReads = new Fetcher({
      replica,
      counters,
      emit,
      readSessions: (soul) => this.#ownerSessions(soul),
      firstConnectionPending: () => false,
      whenConnected: async () => {},
      changed: () => {},
    });
    const responder = new Responder(replica, counters, this.#publisher, this.#feeds, durability, {
      admit: (session, frame) => {
        // The servers this one chose replicate what the operator asked for.
        const exempt = this.#isServer(session);
        const hints = exempt ? undefined : this.#dht?.hintRefusal(() => replica.soulsOf(frame));
        if (hints !== undefined) throw new RustDHTError(hints.code, hints.message);
        admission.admit({ peerId: session.peerId, bytes: frame.length, ownedOnly: () => replica.soulsOf(frame).every((soul) => replica.spaceOwner(soul) !== undefined) }, exempt);
      },
      // Only a client's read is passed on to the owners: a member asking is itself reading
      // for a client (or repairing), and passing its read on again would echo between
      // owners that all lack the soul.
      beforeRead: (session, soul, keys, level) =>
        this.#dht === undefined || this.#dht.placement.isMember(session.peerId)
          ? undefined
          : this.#dht.readFromOwners(soul, level, (needed) => ownerReads.fetch(soul, { keys, needed, timeoutMs: OWNER_READ_TIMEOUT_MS })),
      replicate: async (frame, level) => (this.#dht === undefined ? { reached: 1, owners: 1 } : this.#dht.replicate(frame, level)),
    });
    this.#handler = {
      request: (session, message) =>
        message.type === 'members-sync'
          ? this.#membersSync(message)
          : message.type === 'digest'
            ? answerDigest(this.#dht?.antiEntropy, session, message)
            : responder.request(session, message),
      event: async (session, message) => {
        if (message.type === 'event') return this.#subscriber.event(message);
        if (message.type === 'feed-ack') return this.#feeds.acked(session, message.feed, message.seq);
        this.#dht?.membership.take(session.peerId, message.records);
      },
      refused: (session, code, message) => this.#refused(session.peerId, code, message),
      closed: (session) => this.#sessionClosed(session),
    };
  }

  /** Starts the network of `replica` on `node` (already started) and dials `options.peers`. */
  static async start(node: RustDHTNode, replica: ReplicaForNetwork, options: NetworkOptions): Promise<Network> {
    validateNetworkOptions(options);
    const network = new Network(node, replica, options);
    await network.#start(options.peers ?? []);
    return network;
  }

  /** This peer's libp2p peer id (12D3KooW…). */
  get peerId(): string {
    return this.#node.peerId.toString();
  }

  /** The libp2p node, for what this API does not cover. */
  get node(): RustDHTNode {
    return this.#node;
  }

  /** A snapshot: addresses, connected peers, outbox size and state (offline, syncing, idle). */
  status(): NetworkStatus {
    return {
      peerId: this.peerId,
      role: this.#role,
      addresses: this.#node.getMultiaddrs().map(String),
      peers: this.#peers.statuses(),
      outboxSize: this.#replica.closed ? 0 : this.#replica.outbox.size,
      state: this.#signals.state,
      ...(this.#dht === undefined ? {} : { dht: this.#dht.status() }),
    };
  }

  /** Servers: the DHT's membership and placement (undefined on clients). @internal */
  get dht(): Dht | undefined {
    return this.#dht;
  }

  /** The servers of the network, as the connected servers' signed member records say (dht/member-query.ts). @internal `rustdht where`. */
  members(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<MemberRecord[]> {
    return queryMembers(this.#readSessions(), this.#replica.engineModule, this.peerId, { timeoutMs: this.#readTimeoutMs, ...options });
  }

  /** Running totals since start: messages and bytes each way, updates by outcome, refusals by code. */
  counters(): NetworkCounters {
    return this.#counters.snapshot();
  }

  /** Calls `listener` with every network event (connects, disconnects, state, refusals, dial failures). Returns the function that unsubscribes. */
  on(listener: (event: NetworkEvent) => void): () => void {
    return this.#signals.on(listener);
  }

  /** False after `goOffline()`: no peer is connected or dialled until `goOnline()`. */
  get online(): boolean {
    return this.#dialler.online;
  }

  /**
   * Works offline on purpose (the demo's switch, or an app saving data): hangs up every
   * peer and stops dialling. Writes keep landing in the outbox; reads answer locally.
   */
  async goOffline(): Promise<void> {
    this.#assertRunning();
    if (!this.#dialler.online) return;
    this.#dialler.pause();
    const peerIds = this.#peers.peerIds();
    await Promise.all(this.#peers.sessions().map((session) => session.close().catch(() => {})));
    await Promise.all(peerIds.map((peerId) => this.#hangUpPeer(peerId)));
    this.#updateState();
  }

  /** Dials every known peer again (those of `peers` and `dial()`); they re-subscribe and drain the outbox. */
  goOnline(): void {
    this.#assertRunning();
    if (this.#dialler.online) return;
    this.#dialler.resume();
  }

  /** Dials `address` now and keeps it dialled (as if given in `peers`). */
  dial(address: string): void {
    this.#assertRunning();
    this.#dialler.keep(address);
    // Already connected (it dialled us): it is a peer we chose now, so it gets what a server gets.
    const remote = peerIdOf(parseMultiaddr(address));
    const duty = remote === undefined ? undefined : this.#peers.dutySession(remote);
    if (duty !== undefined) this.#takeServerDuties(duty);
  }

  /**
   * Stops dialling `address` (given in `peers` or to `dial()`) and hangs up on its peer
   * (the peer named by its /p2p/ component; without one, only the dialling stops).
   * The demo's disconnect button. Resolves once the peer is hung up.
   */
  async hangUp(address: string): Promise<void> {
    this.#assertRunning();
    this.#dialler.drop(address);
    const remote = peerIdOf(parseMultiaddr(address));
    const sessions = remote === undefined ? [] : this.#peers.sessions(remote);
    if (sessions.length === 0) return;
    await Promise.all(sessions.map((session) => session.close().catch(() => {})));
    await this.#hangUpPeer(remote!);
    this.#updateState();
  }

  /**
   * Resolves once sync sessions are ready with at least `count` peers (default 1).
   * Aborted, it rejects with an AbortError that says why no peer is connected (the last
   * dial failure of each address, e.g. `network/refused`), the signal's reason as cause.
   */
  whenConnected(options: { count?: number; signal?: AbortSignal } = {}): Promise<void> {
    const count = options.count ?? 1;
    return this.#signals.waitFor(() => this.#peers.dutySessions().length >= count, options.signal).catch((error: unknown) => {
      if (!(error instanceof AbortError)) throw error;
      const reason = this.#dialler.notConnectedReason(this.#peers.dutySessions().length);
      throw new AbortError(`stopped waiting for ${count === 1 ? 'a connection' : `${count} connections`}: ${reason}`, { cause: error.cause });
    });
  }

  /** The last dial failure of each address kept dialled that is not connected now. */
  dialFailures(): ReadonlyMap<string, DialFailure> {
    return new Map(this.#dialler.failures());
  }

  /**
   * `close()`'s wait: resolves once the outbox is empty, or after `timeoutMs`, or when
   * `signal` fires, or at once when there is nobody to deliver to (offline on purpose,
   * or no server dialled or connected). Never rejects.
   */
  async deliverOutbox(options: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    if (this.#stopped || !this.#dialler.online || this.#replica.closed || options.timeoutMs <= 0) return;
    if (this.#dialler.size === 0 && this.#servers().length === 0) return;
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
    return this.#signals.waitFor(() => this.#replica.closed || this.#replica.outbox.size === 0, options.signal);
  }

  /**
   * Asks the connected servers (or, with none, every connected peer) for `soul` and
   * merges each answer into the database. Resolves when all answered or after
   * `timeoutMs` (default `readTimeoutMs`), whichever comes first; at once when offline.
   */
  async fetch(soul: string, options: { keys?: readonly string[]; signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    return this.#fetch(soul, options);
  }

  async #fetch(soul: string, options: { keys?: readonly string[]; signal?: AbortSignal; timeoutMs?: number; consistency?: ReplicationLevel }): Promise<void> {
    this.#assertRunning();
    if (typeof soul !== 'string' || soul === '') throw new InvalidValueError('soul/invalid', 'fetch() takes a non-empty string soul.');
    throwIfAborted(options.signal);
    await this.#fetcher.fetch(soul, { keys: options.keys, signal: options.signal, timeoutMs: options.timeoutMs ?? this.#readTimeoutMs, level: options.consistency });
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
    this.#adopt(channel, peer);
  }

  /** Closes every session and stops the node. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stop.abort(stopped());
    this.#pinger.stop();
    // Says goodbye (a `leaving` record) while the sessions are still open.
    await this.#dht?.stop().catch(() => {});
    for (const cleanup of this.#cleanups) cleanup();
    this.#subscriber.stop();
    this.#publisher.stop();
    this.#feeds.stop();
    await Promise.all(this.#peers.sessions().map((session) => session.close().catch(() => {})));
    await this.#node.stop();
    this.#peers.clear();
    this.#signals.set('offline');
  }

  // ---- start-up and sessions -------------------------------------------------------------

  async #start(peers: readonly string[]): Promise<void> {
    await handleChannels(this.#node, SYNC_PROTOCOLS, (channel, connection) => void this.#adopt(channel, remotePeerOf(connection)), {
      maxInboundStreams: 4,
      maxOutboundStreams: 4,
    });
    const replica = this.#replica;
    this.#cleanups.push(
      replica.outbox.onChange((change) => {
        if (change.type === 'added') {
          for (const session of this.#servers()) this.#senders.get(session)?.offer({ id: change.id, frame: change.frame });
        }
        this.#updateState();
      }),
      replica.onClose(() => void this.stop()),
    );
    this.#cleanups.push(replica.useRemoteReads((soul, keys, signal, consistency) => this.#fetch(soul, { keys, signal, consistency })));
    this.#cleanups.push(replica.useReplication((id, level) => this.#replicationWaits.expect(id, level)));
    this.#pinger.start();
    for (const address of peers) this.#dialler.keep(address);
    this.#dht?.start();
    this.#updateState();
  }

  /** The DHT of a server whose node has a registered Ed25519 key (libp2p/shared.ts); none otherwise. */
  #createDht(options: NetworkOptions): Dht | undefined {
    const privateKey = peerKeyOf(this.#node);
    if (privateKey === undefined) return undefined;
    const peers = this.#peers;
    return new Dht(
      {
        engine: this.#replica.engineModule,
        selfId: this.peerId,
        privateKey,
        addresses: () => this.#node.getMultiaddrs().map(String),
        sessions: () => peers.dutySessions((session) => session.remoteRole === 'server' && session.speaksDht),
        connected: (peerId) => peers.sessions(peerId).some((session) => !session.closed),
        keep: (address) => this.#dialler.keep(address),
        drop: (address) => this.#dialler.drop(address),
        kept: (peerId) => this.#dialler.keepsPeer(peerId),
        refused: (peerId, code, message) => this.#refused(peerId, code, message),
        replica: this.#replica,
        sessionOf: (peerId) => {
          const session = peers.dutySession(peerId);
          return session !== undefined && !session.closed && session.remoteRole === 'server' ? session : undefined;
        },
        watched: (soul) => this.#publisher.isWatched(soul),
        requestFailed: (session, error) => this.#requestFailed(session, error),
      },
      options.dht,
    );
  }

  /** MEMBERS_SYNC: what this server knows of the members; a peer without a DHT knows nobody. */
  async #membersSync(message: Extract<IncomingRequest, { type: 'members-sync' }>): Promise<WireMessage> {
    if (this.#dht === undefined) return { type: 'members', id: message.id, records: [] };
    return this.#dht.membership.answer(message);
  }

  /** One dial of the dialler: a libp2p connection, then a sync stream on it. */
  async #dial(target: Multiaddr, signal: AbortSignal): Promise<SyncSession> {
    const connection = await this.#node.dial(target, { signal });
    const channel = await openChannel(this.#node, connection.remotePeer, SYNC_PROTOCOLS, { signal });
    return this.#adopt(channel, { ...remotePeerOf(connection), dialled: true });
  }

  #adopt(channel: Channel, remote: RemotePeer): SyncSession {
    // Offline on purpose: a peer that dials us (another browser, through a relay) is hung up on.
    if (!this.#dialler.online) channel.abort(new ClosedError('network/offline', 'this peer is offline.'));
    const session = new SyncSession(channel, {
      peerId: remote.peerId,
      localRole: this.#role,
      limits: this.#limits,
      requestLimits: this.#requestLimits,
      // One queue for all of the peer's sessions: more sessions get it no more of our memory.
      sendQueue: this.#peers.sendQueueOf(remote.peerId),
      counters: this.#counters,
      handler: this.#handler,
      protocol: channel.protocol,
    });
    if (!this.#peers.add(session, remote)) {
      session.end('wire/too-many-sessions', `more than ${MAX_SESSIONS_PER_PEER} sessions with one peer.`);
      return session;
    }
    if (remote.dialled === true) {
      this.#dialled.add(session);
      // The peer's duty session may be one it dialled in on before ours was ready (both
      // sides dial): once ours is, the peer is one we chose, and that session carries
      // what a server gets. (After the peer table's own handler: registered later.)
      session.whenReady().then(() => {
        const duty = this.#peers.dutySession(remote.peerId);
        if (duty !== undefined) this.#takeServerDuties(duty);
      }, () => {});
    }
    return session;
  }

  /**
   * Whether `session`'s peer is a server *to us*: it says so in its HELLO, and it is a
   * peer this one chose, i.e. named by an address kept dialled (network.peers,
   * --bootstrap, dial(); whichever side's dial the session came on), or one we have a
   * session with that we dialled (an address without /p2p/). A peer that only *claims* the server role (any peer
   * may dial in and say it) is treated as a client: it gets no outbox (its ACKs would
   * empty ours) and its change log is not followed (its entries would skip every limit
   * a PUT passes). Reads prefer these servers too.
   */
  #isServer(session: SyncSession): boolean {
    if (session.remoteRole !== 'server') return false;
    if (this.#dialler.keepsPeer(session.peerId)) return true;
    return this.#peers.sessions(session.peerId).some((s) => this.#dialled.has(s) && !s.closed);
  }

  /** The duty sessions of peers that are servers to us (#isServer). */
  #servers(): SyncSession[] {
    return this.#peers.dutySessions((session) => this.#isServer(session));
  }

  /** What this peer does for a peer once a session with it carries its duties. */
  #takeDuties(session: SyncSession): void {
    if (this.#replica.closed) return;
    this.#subscriber.subscribeAll(session);
    this.#takeServerDuties(session);
    this.#dht?.membership.sessionReady(session);
    this.#dht?.ownerSubscriptions.sessionReady(session);
    void this.#pinger.ping(session.peerId);
  }

  /** Towards a server (#isServer): send it the outbox; between servers, follow its change log. Once per session. */
  #takeServerDuties(session: SyncSession): void {
    if (this.#replica.closed || session.closed || this.#senders.has(session) || !this.#isServer(session)) return;
    const sender = new OutboxSender(session, {
      replica: this.#replica,
      counters: this.#counters,
      stop: this.#stop.signal,
      emit: (event) => this.#emit(event),
      changed: () => this.#updateState(),
      levelOf: (ids) => this.#replicationWaits.levelOf(ids),
      replicated: (ids, report) => this.#replicationWaits.report(ids, report),
    });
    this.#senders.set(session, sender);
    void sender.drain();
    if (this.#role === 'server') {
      void followFeed(session, {
        replica: this.#replica,
        counters: this.#counters,
        refused: (peerId, code, message) => this.#refused(peerId, code, message),
        requestFailed: (s, error) => this.#requestFailed(s, error),
      });
    }
  }

  #sessionClosed(session: SyncSession): void {
    this.#publisher.forget(session);
    this.#feeds.forget(session);
    this.#senders.get(session)?.close();
    this.#senders.delete(session);
    this.#peers.remove(session);
    if (this.#peers.sessions(session.peerId).length === 0) {
      this.#pinger.forget(session.peerId);
      this.#dht?.membership.peerGone(session.peerId);
    }
    this.#updateState();
  }

  /** The sessions with `soul`'s owners other than this server (a DHT server's reads of souls it does not own). */
  #ownerSessions(soul: string): SyncSession[] {
    const dht = this.#dht;
    if (dht === undefined) return [];
    const sessions: SyncSession[] = [];
    for (const owner of dht.placement.ownersOf([soul])[0]!) {
      if (owner === this.peerId) continue;
      const session = this.#peers.dutySession(owner);
      if (session !== undefined && !session.closed) sessions.push(session);
    }
    return sessions;
  }

  /** Reads go to servers (#isServer); without any, to whoever is connected (e.g. another browser). Every answer is merged through the engine either way. */
  #readSessions(): SyncSession[] {
    const servers = this.#servers();
    return servers.length !== 0 ? servers : this.#peers.dutySessions();
  }

  /**
   * True from start until the first peer connects, while some address is being dialled
   * for the first time (no failure yet): reads wait for that connection (bounded by their
   * timeout). Once connected, or once every address failed, reads without peers are local.
   */
  #firstConnectionPending(): boolean {
    if (this.#peers.everConnected || !this.#dialler.online || this.#stopped) return false;
    return this.#dialler.firstAttemptPending();
  }

  async #hangUpPeer(peerId: string): Promise<void> {
    try {
      await this.#node.hangUp(peerIdFromString(peerId));
    } catch {
      // Not connected through libp2p (an attached channel), or already gone.
    }
  }

  // ---- bookkeeping -------------------------------------------------------------------------

  #requestFailed(session: SyncSession, error: unknown): void {
    if (session.closed || this.#stopped) return;
    this.#refused(session.peerId, codeOf(error), messageOf(error));
  }

  #refused(peerId: string, code: string, message: string): void {
    this.#counters.reject(code);
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
      this.#signals.emit({ type: 'reject', peerId: event.peerId, code: knownCode(event.code), message: boundedText(event.message) });
      return;
    }
    this.#signals.emit(event);
  }

  #updateState(): void {
    if (this.#stopped) return;
    // A server that listens is online whether or not anyone is connected yet.
    const connected = this.#peers.dutySessions().length !== 0 || (this.#role === 'server' && this.#node.getMultiaddrs().length !== 0);
    const busy = this.#fetcher.inFlight !== 0 || (!this.#replica.closed && this.#replica.outbox.size !== 0);
    this.#signals.set(!connected ? 'offline' : busy ? 'syncing' : 'idle');
  }

  #assertRunning(): void {
    if (this.#stopped) throw stopped();
  }
}

/** Who is at the other end of a libp2p connection. */
function remotePeerOf(connection: Connection): RemotePeer {
  return { peerId: connection.remotePeer.toString(), transport: transportOf(connection), address: connection.remoteAddr.toString() };
}
