/**
 * A database's network: one libp2p node, one sync session per connected peer, and the
 * duties of this peer towards each of them (docs/ARCHITECTURE.md, "Network"):
 *
 * - towards every peer: subscribe to the souls someone here watches (responder.ts
 *   answers the other way round);
 * - towards servers: send the outbox (each entry acknowledged once a server acked it:
 *   the servers replicate it among themselves), and read through them (`fetch`);
 * - server towards server: follow each other's change log from where we left off, so a
 *   server that was down catches up with what it missed.
 *
 * Peers given in `peers` are dialled and, whenever their connection ends, dialled again
 * with exponential backoff. A peer may also have several sessions (both sides dialled):
 * the first ready one carries the duties; the others only answer.
 */
import type { Connection, PeerId } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { AbortError, ClosedError, InvalidValueError, RustDHTError, abortErrorFrom, throwIfAborted } from '../errors.js';
import { notifyAll } from '../listeners.js';
import type { OutboxEntry } from '../outbox.js';
import { decodeFeedCursor, encodeFeedCursor, feedCursorKey } from '../persistence/layout.js';
import { afterMicrotasks } from '../persistence/macrotask.js';
import type { LocalReplica } from '../replica.js';
import { Backoff } from './backoff.js';
import { describeDialFailure, type DialFailure } from './dial-failure.js';
import { CounterSet } from './counters.js';
import type { RustDHTNode } from './libp2p/shared.js';
import { transportOf } from './libp2p/transport-of.js';
import { handleChannels, openChannel, type StreamChannel } from './libp2p/stream-channel.js';
import { Responder } from './responder.js';
import { RemoteError, SyncSession, type IncomingEvent, type IncomingRequest, type SessionHandler } from './sync-session.js';
import type { NetworkCounters, NetworkEvent, NetworkOptions, NetworkStatus, PeerRole, PeerStatus } from './types.js';
import { SYNC_PROTOCOL } from './wire/messages.js';
import { resolveWireLimits, type ResolvedWireLimits } from './wire/rate-limiter.js';

export { SYNC_PROTOCOL };

export type { RustDHTNode };

/** Outbox entries sent to one server and not acknowledged yet, at most. */
const PUT_WINDOW = 2048;
/** Updates per joined PUT: well under the engine's default batch limit (10,000), so any peer takes it. */
const MAX_JOINED_UPDATES = 1000;
const PING_INTERVAL_MS = 5_000;
const SUBSCRIBE_CHUNK = 1000;
/** A write the peer could not take for now (rate limit, busy, timeout) is sent again after this. */
const RETRY_MS = 1_000;

interface PeerEntry {
  readonly peerId: PeerId;
  readonly sessions: Set<SyncSession>;
  /** The session that carries this peer's duties. */
  duty: SyncSession | undefined;
  status: PeerStatus | undefined;
}

/** Per duty session: outbox ids sent and not yet answered. */
interface PutState {
  /** Queued or sent, not answered yet. */
  readonly inFlight: Set<number>;
  /** Waiting for the end of the macrotask to leave as one PUT. */
  readonly queue: OutboxEntry[];
  flushScheduled: boolean;
  draining: boolean;
  again: boolean;
  windowOpen: (() => void) | undefined;
}

/**
 * A database's network (`db.network`): its connections, status and events, and the
 * waits an application needs (`whenConnected`, `whenSynced`). Created by
 * `RustDHT.open({ network })`; stopped by `db.close()`.
 */
export class Network {
  readonly #node: RustDHTNode;
  readonly #replica: LocalReplica;
  readonly #role: PeerRole;
  readonly #limits: ResolvedWireLimits;
  readonly #readTimeoutMs: number;
  readonly #counters = new CounterSet();
  readonly #responder: Responder;
  /** What every session calls back: requests and events to the responder, the rest here. */
  readonly #handler: SessionHandler;
  readonly #peers = new Map<string, PeerEntry>();
  readonly #puts = new Map<SyncSession, PutState>();
  readonly #listeners = new Set<(event: NetworkEvent) => void>();
  readonly #stop = new AbortController();
  /** Every address kept dialled, with the controller that stops its current dial loop. */
  readonly #dialers = new Map<string, AbortController>();
  #online = true;
  /** Why each address kept dialled failed last (until it connects): what whenConnected() reports. */
  readonly #dialFailures = new Map<string, DialFailure>();
  /** Souls whose UNSUBSCRIBE is on its way, with how many are: EVENTs for them may still arrive. */
  readonly #unsubscribing = new Map<string, number>();
  /** Whether any peer was ever ready (see #firstConnectionPending). */
  #everConnected = false;
  readonly #cleanups: Array<() => void> = [];
  #fetching = 0;
  #state: NetworkStatus['state'] = 'offline';
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  private constructor(node: RustDHTNode, replica: LocalReplica, options: NetworkOptions) {
    this.#node = node;
    this.#replica = replica;
    this.#role = options.role ?? 'client';
    this.#limits = resolveWireLimits(options.limits);
    this.#readTimeoutMs = options.readTimeoutMs ?? 2000;
    this.#responder = new Responder(replica, this.#counters, this.#role, (soul) => this.#unsubscribing.has(soul));
    this.#handler = {
      request: (session, message: IncomingRequest) => this.#responder.request(session, message),
      event: (_session, message: IncomingEvent) => this.#responder.event(message),
      refused: (session, code, message) => this.#refused(session.peerId, code, message),
      closed: (session) => this.#sessionClosed(session),
    };
  }

  /** Starts the network of `replica` on `node` (already started) and dials `options.peers`. */
  static async start(node: RustDHTNode, replica: LocalReplica, options: NetworkOptions): Promise<Network> {
    validateOptions(options);
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
    const peers: PeerStatus[] = [];
    for (const entry of this.#peers.values()) if (entry.status !== undefined) peers.push(entry.status);
    return {
      peerId: this.peerId,
      role: this.#role,
      addresses: this.#node.getMultiaddrs().map(String),
      peers,
      outboxSize: this.#replica.closed ? 0 : this.#replica.outbox.size,
      state: this.#state,
    };
  }

  /** Running totals since start: messages and bytes each way, updates by outcome, refusals by code. */
  counters(): NetworkCounters {
    return this.#counters.snapshot();
  }

  /** Calls `listener` with every network event (connects, disconnects, state, refusals, dial failures). Returns the function that unsubscribes. */
  on(listener: (event: NetworkEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** False after `goOffline()`: no peer is connected or dialled until `goOnline()`. */
  get online(): boolean {
    return this.#online;
  }

  /**
   * Works offline on purpose (the demo's switch, or an app saving data): hangs up every
   * peer and stops dialling. Writes keep landing in the outbox; reads answer locally.
   */
  async goOffline(): Promise<void> {
    this.#assertRunning();
    if (!this.#online) return;
    this.#online = false;
    for (const [address, dialer] of this.#dialers) {
      dialer.abort();
      this.#dialers.set(address, new AbortController());
    }
    const peers = [...this.#peers.values()];
    await Promise.all(peers.flatMap((entry) => [...entry.sessions].map((session) => session.close().catch(() => {}))));
    await Promise.all(peers.map((entry) => this.#node.hangUp(entry.peerId).catch(() => {})));
    this.#updateState();
  }

  /** Dials every known peer again (those of `peers` and `dial()`); they re-subscribe and drain the outbox. */
  goOnline(): void {
    this.#assertRunning();
    if (this.#online) return;
    this.#online = true;
    for (const [address, dialer] of this.#dialers) {
      const target = multiaddr(address);
      this.#startDialling(address, target, peerIdOf(target), dialer);
    }
  }

  /** Dials `address` now and keeps it dialled (as if given in `peers`). */
  dial(address: string): void {
    this.#assertRunning();
    this.#keepDialled(address);
  }

  /**
   * Stops dialling `address` (given in `peers` or to `dial()`) and hangs up on its peer
   * (the peer named by its /p2p/ component; without one, only the dialling stops).
   * The demo's disconnect button. Resolves once the peer is hung up.
   */
  async hangUp(address: string): Promise<void> {
    this.#assertRunning();
    const dialer = this.#dialers.get(address);
    dialer?.abort();
    this.#dialers.delete(address);
    this.#dialFailures.delete(address);
    const remote = peerIdOf(multiaddr(address));
    const entry = remote === undefined ? undefined : this.#peers.get(remote);
    if (entry === undefined) return;
    await Promise.all([...entry.sessions].map((session) => session.close().catch(() => {})));
    await this.#node.hangUp(entry.peerId).catch(() => {});
    this.#updateState();
  }

  /**
   * Resolves once sync sessions are ready with at least `count` peers (default 1).
   * Aborted, it rejects with an AbortError that says why no peer is connected (the last
   * dial failure of each address, e.g. `network/refused`), the signal's reason as cause.
   */
  whenConnected(options: { count?: number; signal?: AbortSignal } = {}): Promise<void> {
    const count = options.count ?? 1;
    return this.#waitFor(() => this.#readyPeers().length >= count, options.signal).catch((error: unknown) => {
      if (!(error instanceof AbortError)) throw error;
      throw new AbortError(`stopped waiting for ${count === 1 ? 'a connection' : `${count} connections`}: ${this.#notConnectedReason()}`, { cause: error.cause });
    });
  }

  /** Why this network has no (or too few) peers, from what it knows. */
  #notConnectedReason(): string {
    if (!this.#online) return 'the network is offline on purpose (goOffline()).';
    const connected = this.#readyPeers().length;
    const failures = [...this.#dialFailures.values()].map((failure) => `${failure.message} [${failure.code}]`);
    if (failures.length !== 0) return `${connected} connected; ${failures.join(' ')}`;
    if (this.#dialers.size === 0) return `${connected} connected, and no peer to dial (give network.peers, or call dial()).`;
    return `${connected} connected; still dialling ${[...this.#dialers.keys()].join(', ')} (no answer yet).`;
  }

  /**
   * True from start until the first peer connects, while some address is being dialled
   * for the first time (no failure yet): reads wait for that connection (bounded by their
   * timeout). Once connected, or once every address failed, reads without peers are local.
   */
  #firstConnectionPending(): boolean {
    if (this.#everConnected || !this.#online || this.#stopped) return false;
    for (const address of this.#dialers.keys()) if (!this.#dialFailures.has(address)) return true;
    return false;
  }

  /** The last dial failure of each address kept dialled that is not connected now. */
  dialFailures(): ReadonlyMap<string, DialFailure> {
    return new Map(this.#dialFailures);
  }

  /**
   * `close()`'s wait: resolves once the outbox is empty, or after `timeoutMs`, or when
   * `signal` fires, or at once when there is nobody to deliver to (offline on purpose,
   * or no server dialled or connected). Never rejects.
   */
  async deliverOutbox(options: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    if (this.#stopped || !this.#online || this.#replica.closed || options.timeoutMs <= 0) return;
    if (this.#dialers.size === 0 && this.#dutySessions('server').length === 0) return;
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
    return this.#waitFor(() => this.#replica.closed || this.#replica.outbox.size === 0, options.signal);
  }

  /**
   * Asks the connected servers (or, with none, every connected peer) for `soul` and
   * merges each answer into the database. Resolves when all answered or after
   * `timeoutMs` (default `readTimeoutMs`), whichever comes first; at once when offline.
   */
  async fetch(soul: string, options: { keys?: readonly string[]; signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    this.#assertRunning();
    if (typeof soul !== 'string' || soul === '') throw new InvalidValueError('soul/invalid', 'fetch() takes a non-empty string soul.');
    throwIfAborted(options.signal);
    let sessions = this.#readSessions();
    if (sessions.length === 0 && !this.#firstConnectionPending()) return;
    const timeoutMs = options.timeoutMs ?? this.#readTimeoutMs;
    // A plain timer, held until the fetch ends: Node 20 may collect an
    // AbortSignal.timeout() combined through AbortSignal.any() before it fires.
    const expired = new AbortController();
    const timer = setTimeout(() => expired.abort(new RustDHTError('network/timeout', `no answer for ${soul} within ${timeoutMs} ms.`)), timeoutMs);
    const signal = options.signal === undefined ? expired.signal : AbortSignal.any([expired.signal, options.signal]);
    this.#fetching++;
    this.#updateState();
    try {
      if (sessions.length === 0) {
        // Just opened and still dialling: a read made now is meant for the network.
        await this.whenConnected({ signal }).catch(() => {});
        sessions = this.#readSessions();
      }
      await Promise.all(
        sessions.map(async (session) => {
          try {
            const reply = await session.request({ type: 'get', soul, keys: [...(options.keys ?? [])] }, { signal, timeoutMs });
            if (reply.type === 'node' && reply.frame.length !== 0) {
              const result = await this.#replica.receive(reply.frame);
              this.#counters.peerBatch(result);
            }
          } catch (error) {
            if (!signal.aborted) this.#emit({ type: 'reject', peerId: session.peerId, code: codeOf(error), message: messageOf(error) });
          }
        }),
      );
    } finally {
      clearTimeout(timer);
      this.#fetching--;
      this.#updateState();
    }
    if (options.signal?.aborted) throw abortErrorFrom(options.signal);
  }

  /** Closes every session and stops the node. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stop.abort(new ClosedError('network/closed', 'the network stopped.'));
    clearInterval(this.#pingTimer);
    for (const cleanup of this.#cleanups) cleanup();
    this.#responder.stop();
    const sessions = [...this.#peers.values()].flatMap((entry) => [...entry.sessions]);
    await Promise.all(sessions.map((session) => session.close().catch(() => {})));
    await this.#node.stop();
    this.#peers.clear();
    this.#setState('offline');
  }

  // ---- start-up ------------------------------------------------------------------------

  async #start(peers: readonly string[]): Promise<void> {
    await handleChannels(this.#node, SYNC_PROTOCOL, (channel, connection) => this.#adopt(channel, connection), {
      maxInboundStreams: 4,
      maxOutboundStreams: 4,
    });
    const replica = this.#replica;
    this.#cleanups.push(
      replica.subscriptions.onInterest((soul, watched) => this.#interest(soul, watched)),
      replica.outbox.onChange((event) => {
        if (event.type === 'added') {
          for (const session of this.#dutySessions('server')) this.#sendPut(session, { id: event.id, frame: event.frame });
        }
        this.#updateState();
      }),
      replica.onClose(() => void this.stop()),
    );
    replica.remoteReads = (soul, signal) => this.fetch(soul, { signal });
    this.#cleanups.push(() => {
      if (replica.remoteReads !== undefined) replica.remoteReads = undefined;
    });
    this.#pingTimer = setInterval(() => this.#pingAll(), PING_INTERVAL_MS);
    this.#pingTimer.unref?.();
    for (const address of peers) this.#keepDialled(address);
    this.#updateState();
  }


  /** Dials `address` until the network stops, again after each disconnection, with backoff. */
  #keepDialled(address: string): void {
    const target = multiaddr(address);
    const remote = peerIdOf(target);
    if (remote === this.peerId) return; // our own address in a shared bootstrap list
    if (this.#dialers.has(address)) return;
    const dialer = new AbortController();
    this.#dialers.set(address, dialer);
    if (!this.#online) return; // dialled when the network goes online
    this.#startDialling(address, target, remote, dialer);
  }

  #startDialling(address: string, target: ReturnType<typeof multiaddr>, remote: string | undefined, dialer: AbortController): void {
    const signal = AbortSignal.any([this.#stop.signal, dialer.signal]);
    const backoff = new Backoff();
    void (async () => {
      while (!signal.aborted) {
        const started = Date.now();
        try {
          const connection = await this.#node.dial(target, { signal });
          const channel = await openChannel(this.#node, connection.remotePeer, SYNC_PROTOCOL, { signal });
          const session = this.#adopt(channel, connection);
          this.#dialFailures.delete(address);
          await session.whenClosed();
          // A session that lasted a while was healthy: start the backoff afresh.
          if (Date.now() - started > 10_000) backoff.reset();
        } catch (error) {
          if (signal.aborted) return;
          const failure = describeDialFailure(address, error);
          this.#dialFailures.set(address, failure);
          this.#emit({ type: 'dial:failed', address, peerId: remote, code: failure.code, message: failure.message });
        }
        await backoff.wait(signal);
      }
    })();
  }

  // ---- sessions ------------------------------------------------------------------------

  #adopt(channel: StreamChannel, connection: Connection): SyncSession {
    const peerId = connection.remotePeer.toString();
    // Offline on purpose: a peer that dials us (another browser, through a relay) is hung up on.
    if (!this.#online) channel.abort(new ClosedError('network/offline', 'this peer is offline.'));
    const session = new SyncSession(channel, {
      peerId,
      localRole: this.#role,
      limits: this.#limits,
      counters: this.#counters,
      handler: this.#handler,
    });
    let entry = this.#peers.get(peerId);
    if (entry === undefined) this.#peers.set(peerId, (entry = { peerId: connection.remotePeer, sessions: new Set(), duty: undefined, status: undefined }));
    entry.sessions.add(session);
    const peer = entry;
    session.whenReady().then(
      (role) => {
        if (this.#stopped || session.closed) return;
        peer.status = {
          peerId,
          role,
          transport: transportOf(connection),
          address: connection.remoteAddr.toString(),
          rttMs: peer.status?.rttMs,
          connectedAt: peer.status?.connectedAt ?? Date.now(),
        };
        if (peer.duty === undefined) {
          peer.duty = session;
          this.#everConnected = true;
          this.#emit({ type: 'peer:connect', peer: peer.status });
          this.#takeDuties(session);
          void this.#ping(peer);
        }
        this.#updateState();
      },
      () => {},
    );
    return session;
  }

  #sessionClosed(session: SyncSession): void {
    this.#responder.forget(session);
    const putState = this.#puts.get(session);
    this.#puts.delete(session);
    putState?.windowOpen?.();
    const entry = this.#peers.get(session.peerId);
    if (entry === undefined) return;
    entry.sessions.delete(session);
    if (entry.duty === session) {
      entry.duty = undefined;
      const next = [...entry.sessions].find((s) => s.remoteRole !== undefined && !s.closed);
      if (next !== undefined) {
        entry.duty = next;
        this.#takeDuties(next);
      }
    }
    if (entry.sessions.size === 0) {
      this.#peers.delete(session.peerId);
      if (entry.status !== undefined) this.#emit({ type: 'peer:disconnect', peerId: session.peerId });
    }
    this.#updateState();
  }

  /** What this peer does for a peer once their session is ready. */
  #takeDuties(session: SyncSession): void {
    if (this.#replica.closed) return;
    const souls = [...this.#replica.subscriptions.watchedSouls()];
    for (let i = 0; i < souls.length; i += SUBSCRIBE_CHUNK) {
      session.request({ type: 'subscribe', souls: souls.slice(i, i + SUBSCRIBE_CHUNK) }).catch((error: unknown) => this.#requestFailed(session, error));
    }
    if (session.remoteRole === 'server') {
      this.#puts.set(session, { inFlight: new Set(), queue: [], flushScheduled: false, draining: false, again: false, windowOpen: undefined });
      void this.#drain(session);
      if (this.#role === 'server') void this.#follow(session);
    }
  }

  #readyPeers(): SyncSession[] {
    const ready: SyncSession[] = [];
    for (const entry of this.#peers.values()) if (entry.duty !== undefined && !entry.duty.closed) ready.push(entry.duty);
    return ready;
  }

  #dutySessions(role?: PeerRole): SyncSession[] {
    return this.#readyPeers().filter((session) => role === undefined || session.remoteRole === role);
  }

  /** Reads go to servers; without any, to whoever is connected (e.g. another browser). */
  #readSessions(): SyncSession[] {
    const servers = this.#dutySessions('server');
    return servers.length !== 0 ? servers : this.#dutySessions();
  }

  // ---- duties --------------------------------------------------------------------------

  #interest(soul: string, watched: boolean): void {
    for (const session of this.#dutySessions()) {
      if (watched) {
        session.request({ type: 'subscribe', souls: [soul] }).catch((error: unknown) => this.#requestFailed(session, error));
        continue;
      }
      this.#unsubscribing.set(soul, (this.#unsubscribing.get(soul) ?? 0) + 1);
      session
        .request({ type: 'unsubscribe', souls: [soul] })
        .catch((error: unknown) => this.#requestFailed(session, error))
        .finally(() => {
          const left = (this.#unsubscribing.get(soul) ?? 1) - 1;
          if (left === 0) this.#unsubscribing.delete(soul);
          else this.#unsubscribing.set(soul, left);
        });
    }
  }

  /** Sends every outbox entry not yet in flight to this server, a window at a time. */
  async #drain(session: SyncSession): Promise<void> {
    const state = this.#puts.get(session);
    if (state === undefined) return;
    if (state.draining) {
      state.again = true;
      return;
    }
    state.draining = true;
    try {
      do {
        state.again = false;
        for await (const entry of this.#replica.outbox.pending({ signal: this.#stop.signal })) {
          if (session.closed || this.#replica.closed) return;
          if (state.inFlight.has(entry.id)) continue;
          while (state.inFlight.size >= PUT_WINDOW && !session.closed) {
            await new Promise<void>((resolve) => (state.windowOpen = resolve));
          }
          this.#sendPut(session, entry);
        }
      } while (state.again && !session.closed);
    } catch (error) {
      if (!this.#stopped && !this.#replica.closed) this.#emit({ type: 'reject', peerId: session.peerId, code: codeOf(error), message: `could not read the outbox: ${messageOf(error)}` });
    } finally {
      state.draining = false;
    }
  }

  /**
   * Queues an outbox entry for this server. Entries queued in the same macrotask leave
   * as one PUT whose frame joins theirs (engine joinFrames): one message, one batch
   * signature check and one store commit at the server instead of one per write.
   */
  #sendPut(session: SyncSession, entry: OutboxEntry): void {
    const state = this.#puts.get(session);
    if (state === undefined || state.inFlight.has(entry.id) || session.closed) return;
    if (!session.fits(entry.frame.length)) {
      // No peer will take it in one message: keep it local and say so, rather than
      // retry forever. It still reaches peers through their reads and subscriptions.
      this.#emit({ type: 'reject', peerId: session.peerId, code: 'wire/too-large', message: `outbox entry ${entry.id} is larger than a message may be; not sent.` });
      void this.#replica.outbox.acknowledge(entry.id);
      return;
    }
    state.inFlight.add(entry.id);
    state.queue.push(entry);
    if (!state.flushScheduled) {
      state.flushScheduled = true;
      afterMicrotasks(() => this.#flushPuts(session, state));
    }
    this.#updateState();
  }

  #flushPuts(session: SyncSession, state: PutState): void {
    state.flushScheduled = false;
    const { joinFrames } = this.#replica.engineModule;
    while (state.queue.length !== 0) {
      // As many entries as fit in one message, then as many of those as fit in one
      // engine batch (the engine counts updates: one call per PUT, not per entry).
      let end = 1;
      let bytes = state.queue[0]!.frame.length;
      while (end < state.queue.length && session.fits(bytes + state.queue[end]!.frame.length)) bytes += state.queue[end++]!.frame.length;
      if (end === 1) {
        this.#putBatch(session, state, state.queue.splice(0, 1), undefined);
        continue;
      }
      const [frame, taken] = joinFrames(state.queue.slice(0, end).map((entry) => entry.frame), MAX_JOINED_UPDATES) as [Uint8Array, number];
      this.#putBatch(session, state, state.queue.splice(0, taken), frame);
    }
  }

  /** Sends `batch` as one PUT (`frame`: their joined frame; undefined for a single entry). */
  #putBatch(session: SyncSession, state: PutState, batch: readonly OutboxEntry[], frame: Uint8Array | undefined): void {
    const ids = batch.map((entry) => entry.id);
    const what = ids.length === 1 ? `outbox entry ${ids[0]}` : `outbox entries ${ids[0]}–${ids[ids.length - 1]}`;
    const settle = (): void => {
      for (const id of ids) state.inFlight.delete(id);
      const open = state.windowOpen;
      state.windowOpen = undefined;
      open?.();
      this.#updateState();
    };
    const acknowledge = (): Promise<unknown> => (this.#replica.closed ? Promise.resolve() : Promise.all(ids.map((id) => this.#replica.outbox.acknowledge(id))));
    if (session.closed) {
      settle();
      return;
    }
    session.request({ type: 'put', frame: frame ?? batch[0]!.frame }).then(
      (reply) => {
        if (reply.type === 'ack') {
          for (const outcome of reply.outcomes) {
            if (outcome.outcome === 'rejected') {
              this.#counters.reject(outcome.code);
              this.#emit({ type: 'reject', peerId: session.peerId, code: outcome.code, message: `the peer refused an update of ${what}.` });
            }
          }
        }
        // Acked (a rejected update will never be taken: keeping it would only retry forever).
        return acknowledge().finally(settle);
      },
      (error: unknown) => {
        if (error instanceof RemoteError && !isTransient(error.code)) {
          if (batch.length > 1) {
            // One entry may be what the peer refuses: send them one by one, so the others still go.
            for (const entry of batch) this.#putBatch(session, state, [entry], undefined);
            return undefined;
          }
          this.#emit({ type: 'reject', peerId: session.peerId, code: error.code, message: error.message });
          return acknowledge().finally(settle);
        }
        settle();
        if (!session.closed && !this.#stopped) {
          // Rate limited, busy or slow: try again shortly on the same session.
          setTimeout(() => void this.#drain(session), RETRY_MS).unref?.();
        }
        return undefined;
      },
    ).catch(() => {});
  }

  /** Server to server: replicate the peer's change log from where we left off. */
  async #follow(session: SyncSession): Promise<void> {
    const cursorKey = feedCursorKey(session.peerId);
    let since = 0;
    try {
      const stored = await this.#replica.readRecord(cursorKey);
      if (stored !== undefined) since = decodeFeedCursor(stored);
    } catch (error) {
      this.#refused(session.peerId, codeOf(error), `could not read the feed cursor: ${messageOf(error)}`);
    }
    let applied = since;
    let chain = Promise.resolve();
    await session
      .follow(since, (entry) => {
        // In order, one engine call per entry; the cursor moves once an entry is stored.
        chain = chain.then(async () => {
          if (this.#replica.closed || entry.seq <= applied) return;
          try {
            const result = await this.#replica.receive(entry.frame);
            this.#counters.peerBatch(result);
            applied = entry.seq;
            this.#replica.stageRecord(cursorKey, encodeFeedCursor(applied));
          } catch (error) {
            if (this.#replica.closed) return;
            this.#refused(session.peerId, codeOf(error), `a feed entry was refused: ${messageOf(error)}`);
          }
        });
      })
      .catch((error: unknown) => this.#requestFailed(session, error));
  }

  async #ping(entry: PeerEntry): Promise<void> {
    if (entry.status === undefined || this.#stopped) return;
    try {
      const rttMs = await this.#node.services.ping.ping(entry.peerId, { signal: AbortSignal.timeout(5_000) });
      if (entry.status !== undefined) entry.status = { ...entry.status, rttMs };
    } catch {
      // A missed ping is not an error of ours: the RTT stays as it was.
    }
  }

  #pingAll(): void {
    for (const entry of this.#peers.values()) void this.#ping(entry);
  }

  // ---- bookkeeping ---------------------------------------------------------------------

  #requestFailed(session: SyncSession, error: unknown): void {
    if (session.closed || this.#stopped) return;
    this.#refused(session.peerId, codeOf(error), messageOf(error));
  }

  #refused(peerId: string, code: string, message: string): void {
    this.#counters.reject(code);
    this.#emit({ type: 'reject', peerId, code, message });
  }

  #updateState(): void {
    if (this.#stopped) return;
    // A server that listens is online whether or not anyone is connected yet.
    const connected = this.#readyPeers().length !== 0 || (this.#role === 'server' && this.#node.getMultiaddrs().length !== 0);
    let busy = this.#fetching !== 0;
    if (!busy && !this.#replica.closed && this.#replica.outbox.size !== 0) busy = true;
    this.#setState(!connected ? 'offline' : busy ? 'syncing' : 'idle');
  }

  #setState(state: NetworkStatus['state']): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#emit({ type: 'state', state });
  }

  #emit(event: NetworkEvent): void {
    notifyAll(this.#listeners, event);
    this.#wake();
  }

  readonly #waiters = new Set<() => void>();

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** Resolves when `done()` holds, re-checked after every network and outbox event. */
  #waitFor(done: () => boolean, signal: AbortSignal | undefined): Promise<void> {
    throwIfAborted(signal);
    if (done()) return Promise.resolve();
    this.#assertRunning();
    return new Promise<void>((resolve, reject) => {
      const stopOutbox = this.#replica.outbox.onChange(() => check());
      const finish = (error?: unknown): void => {
        this.#waiters.delete(check);
        stopOutbox();
        signal?.removeEventListener('abort', onAbort);
        this.#stop.signal.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      const check = (): void => {
        if (done()) finish();
      };
      const onAbort = (): void => finish(signal?.aborted ? abortErrorFrom(signal) : new ClosedError('network/closed', 'the network stopped.'));
      this.#waiters.add(check);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#stop.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #assertRunning(): void {
    if (this.#stopped) throw new ClosedError('network/closed', 'the network stopped.');
  }
}

function validateOptions(options: NetworkOptions): void {
  if (options === null || typeof options !== 'object') throw new InvalidValueError('config/invalid', 'option network must be an object.');
  const { role, peers, readTimeoutMs } = options;
  if (role !== undefined && role !== 'server' && role !== 'client') throw new InvalidValueError('config/invalid', `option network.role must be 'server' or 'client', got ${String(role)}.`);
  if (peers !== undefined && (!Array.isArray(peers) || peers.some((p) => typeof p !== 'string'))) {
    throw new InvalidValueError('config/invalid', 'option network.peers must be an array of multiaddr strings.');
  }
  for (const address of peers ?? []) {
    try {
      multiaddr(address);
    } catch (error) {
      throw new InvalidValueError('config/invalid', `option network.peers has an address that is not a multiaddr: ${JSON.stringify(address)}.`, { cause: error });
    }
  }
  if (readTimeoutMs !== undefined && (typeof readTimeoutMs !== 'number' || !(readTimeoutMs > 0))) {
    throw new InvalidValueError('config/invalid', 'option network.readTimeoutMs must be a number of ms > 0.');
  }
}

/** The peer id an address names (its last /p2p/ component), if any. */
function peerIdOf(address: ReturnType<typeof multiaddr>): string | undefined {
  return address.getComponents().filter((c) => c.name === 'p2p').pop()?.value;
}

function isTransient(code: string): boolean {
  return code === 'wire/rate-limited' || code === 'wire/busy' || code === 'network/timeout' || code === 'internal';
}

function codeOf(error: unknown): string {
  return error instanceof RustDHTError ? error.code : 'internal';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
