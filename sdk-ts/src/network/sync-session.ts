/**
 * One sync-protocol conversation with one peer over one Channel (`/rustdht/sync/1.0.0`,
 * wire/messages.ts): framing, limits, hello, and matching replies to requests. The
 * channel is any transport (transport/channel.ts): a libp2p stream, an in-memory pair.
 * What the messages mean is not decided here: requests and events go to a
 * `SessionHandler` (serving/responder.ts, duties/subscriber.ts), replies to whoever asked.
 *
 * Bad input is contained at this boundary. Bytes that are not a well-formed message
 * (wrong version, unknown type, truncated, oversized) end the conversation with a
 * connection-level ERROR and a closed stream. A message over the peer's rate limit is
 * held back: the session stops reading until the peer's budget has room for it, so the
 * transport holds the peer's further messages back and a flood costs no more than the
 * limit. Only a session that may not stop reading (a server to us, whose replies we wait
 * on) answers it with ERROR `wire/rate-limited` and drops it instead. A request naming a soul or key
 * longer than the engine takes is refused before any part sees it (wire/request-limits.ts);
 * a handler that throws answers that one request with its error. Every message passes
 * the rate limit, whatever its type: replies nobody asked for, connection-level ERRORs
 * and FEED_ENTRYs included. Nothing a peer sends can throw out of here.
 *
 * What this peer sends and the peer has not read is bounded per remote peer, across all
 * its sessions (`PeerSendQueue`): past it, the session ends with `wire/slow-consumer`
 * rather than buffer without bound for a peer that asks and does not read. The other way
 * round is flow control: a peer whose requests wait for answers here (READ_AHEAD_REQUESTS)
 * is not read further until they are answered, the channel paused so the transport holds
 * it back; and a burst is taken MESSAGES_PER_TURN messages a macrotask, so one peer's
 * chunk does not hold up every other peer's messages.
 *
 * Longer than 400 lines on purpose: the path every byte from a peer takes (framing,
 * hello, the rate limit per message type, request limits, replies) is one sequence that
 * is reviewed as one; the limits themselves live in wire/ and peers/send-queue.ts.
 */
import { ClosedError, RustDHTError } from '../api/errors.js';
import type { NetworkCounterSink } from './counters.js';
import { afterMicrotasks } from '../util/macrotask.js';
import { refusalOf } from './refusal.js';
import type { Channel } from './transport/channel.js';
import type { PeerRole } from './types.js';
import { MessageReader, lengthPrefixed } from './wire/framing.js';
import { decodeMessage, encodeMessage, MAX_FRAME_MESSAGE_OVERHEAD, SYNC_PROTOCOL_1_0, SYNC_PROTOCOL_1_1, type WireMessage } from './wire/messages.js';
import { PeerRateLimiter, TokenBucket, type ResolvedWireLimits } from './wire/rate-limiter.js';
import { PeerSendQueue } from './peers/send-queue.js';
import { DEFAULT_REQUEST_LIMITS, requestLimitProblem, type RequestLimits } from './wire/request-limits.js';
import { WireError } from './wire/wire-error.js';

/** The messages a peer starts (as opposed to replies). */
export type IncomingRequest = Extract<WireMessage, { type: 'get' | 'get-part' | 'put' | 'put-at' | 'subscribe' | 'unsubscribe' | 'feed' | 'members-sync' | 'digest' }>;
/** Messages with id 0 that answer nothing and expect nothing: EVENTs, a MEMBERS push, a FEED_ACK. */
export type IncomingEvent = Extract<WireMessage, { type: 'event' | 'feed-ack' }> | (Extract<WireMessage, { type: 'members' }> & { readonly id: 0 });
type Reply = Extract<WireMessage, { type: 'node' | 'node-part' | 'ack' | 'ack-at' | 'ok' | 'error' | 'members' | 'digest-reply' }>;
type FeedEntry = Extract<WireMessage, { type: 'feed-entry' }>;

export interface SessionHandler {
  /** Answers a request; the returned message is sent as the reply. Throwing answers with ERROR. */
  request(session: SyncSession, message: IncomingRequest): Promise<WireMessage | undefined>;
  event(session: SyncSession, message: IncomingEvent): Promise<void>;
  /** The peer broke a rule (its message was refused); for counters and logs. */
  refused(session: SyncSession, code: string, message: string): void;
  closed(session: SyncSession): void;
}

export interface SessionOptions {
  readonly peerId: string;
  readonly localRole: PeerRole;
  readonly limits: ResolvedWireLimits;
  readonly counters: NetworkCounterSink;
  readonly handler: SessionHandler;
  /** How long a request waits for its reply (default 30 s). */
  readonly requestTimeoutMs?: number;
  /** Soul and key sizes and list lengths a request may have (default: the engine's defaults). */
  readonly requestLimits?: RequestLimits;
  /** Bytes queued for this remote peer across all its sessions (default: this session's own). */
  readonly sendQueue?: PeerSendQueue;
  /** The rate limit this remote peer's sessions share (peers/peer-rate-limits.ts; default: this session's own). */
  readonly rateLimiter?: PeerRateLimiter;
  /**
   * The protocol the stream was negotiated for (wire/messages.ts SYNC_PROTOCOLS); absent
   * (an in-process channel): the newest. On /rustdht/sync/1.0.0 no GET_PART is sent.
   */
  readonly protocol?: string;
  /**
   * Whether this session may stop reading while the peer's requests wait for answers
   * (flow control, READ_AHEAD_REQUESTS). Not for a peer whose replies this peer waits on
   * to answer it (a server to us): its replies arrive on the same channel. Default: yes.
   */
  readonly mayPauseReading?: (session: SyncSession) => boolean;
}

/**
 * A peer that keeps sending past its rate limit is disconnected: refusals spend a budget
 * of REFUSAL_BURST that refills at REFUSALS_PER_SECOND, so a flood just above the limit
 * (whose admitted messages would reset a count of refusals "in a row") is cut off within
 * seconds, while an honest burst costs a few refusals and nothing more.
 */
const REFUSAL_BURST = 2000;
const REFUSALS_PER_SECOND = 100;

/** Requests a peer may have outstanding with us; more is a flood. */
const MAX_IN_FLIGHT = 4096;

/**
 * Flow control: past this many of a peer's requests (or READ_AHEAD_BYTES of them) waiting
 * for their answers, the session stops reading its channel, so the transport holds the
 * peer's further messages back (yamux stops granting it window) until half are answered.
 * A peer that sends faster than it is served is slowed to its turn (serving/fair-queue.ts)
 * instead of being read, decrypted and queued ahead of everyone else's requests.
 */
export const READ_AHEAD_REQUESTS = 32;
export const READ_AHEAD_BYTES = 4 * 1024 * 1024;

/**
 * Messages of one peer taken in one macrotask at most. A transport chunk can carry a
 * thousand small messages; taking them all at once would keep every other peer's
 * messages (and the timers) waiting behind one peer's burst. The rest waits for the next
 * macrotask, with the channel paused meanwhile.
 */
export const MESSAGES_PER_TURN = 64;

/** Message types that may answer a request of ours (MEMBERS too, with an id). */
const REPLY_TYPES: ReadonlySet<WireMessage['type']> = new Set(['node', 'node-part', 'ack', 'ack-at', 'digest-reply', 'ok', 'error', 'members']);

/** The shortest a held-back peer waits before it is read again (#holdBack). */
const HOLD_AT_LEAST_MS = 10;

interface Pending {
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

export class RemoteError extends RustDHTError {
  override readonly name: string = 'RemoteError';
}

export class SyncSession {
  readonly peerId: string;
  readonly #channel: Channel;
  readonly #options: SessionOptions;
  readonly #reader: MessageReader;
  readonly #limiter: PeerRateLimiter;
  readonly #requestLimits: RequestLimits;
  readonly #sendQueue: PeerSendQueue;
  readonly #pending = new Map<number, Pending>();
  readonly #feeds = new Map<number, (entry: FeedEntry) => void>();
  readonly #hello: Promise<PeerRole>;
  #resolveHello!: (role: PeerRole) => void;
  #rejectHello!: (error: unknown) => void;
  #remoteRole: PeerRole | undefined;
  /** The largest message the peer takes (its hello); until then, ours. */
  #remoteMaxMessageBytes: number;
  #nextId = 1;
  /** Bytes handed to the stream that it has not taken yet (the peer reads slower than we send). */
  #queuedBytes = 0;
  #inFlight = 0;
  /** Bytes of the requests counted in #inFlight. */
  #inFlightBytes = 0;
  /** Reading waits for the peer's requests to be answered (READ_AHEAD_REQUESTS). */
  #behind = false;
  /** Messages received and not taken yet (MESSAGES_PER_TURN), from #backlogHead on. */
  #backlog: Uint8Array[] = [];
  #backlogHead = 0;
  /** Messages taken in this macrotask. */
  #takenThisTurn = 0;
  /** The message at the backlog's head is over the rate limit: nothing is taken until this timer fires. */
  #heldBack: ReturnType<typeof setTimeout> | undefined;
  /** A later macrotask takes the rest of the backlog. */
  #turnScheduled = false;
  /** The channel is paused (for any reason above). */
  #channelPaused = false;
  /** Refusals this session may still earn before it is cut off (REFUSAL_BURST, refilled at REFUSALS_PER_SECOND). */
  readonly #refusals = new TokenBucket(REFUSALS_PER_SECOND, REFUSAL_BURST);
  /** No message is taken any more (set at once when the peer breaks the protocol). */
  #closed = false;
  /** When bytes last arrived from the peer (liveness: see peers/pinger.ts). */
  #lastHeardAt = Date.now();
  /** The end was reported (handler.closed, pending requests rejected): exactly once. */
  #ended = false;
  #resolveClosed!: () => void;
  readonly #closedPromise = new Promise<void>((resolve) => (this.#resolveClosed = resolve));

  constructor(channel: Channel, options: SessionOptions) {
    this.peerId = options.peerId;
    this.#channel = channel;
    this.#options = options;
    this.#reader = new MessageReader(options.limits.maxMessageBytes);
    this.#remoteMaxMessageBytes = options.limits.maxMessageBytes;
    this.#limiter = options.rateLimiter ?? new PeerRateLimiter(options.limits);
    this.#requestLimits = options.requestLimits ?? DEFAULT_REQUEST_LIMITS;
    this.#sendQueue = options.sendQueue ?? new PeerSendQueue();
    this.#hello = new Promise<PeerRole>((resolve, reject) => {
      this.#resolveHello = resolve;
      this.#rejectHello = reject;
    });
    this.#hello.catch(() => {});
    channel.onBytes((chunk) => this.#onBytes(chunk));
    channel.onClose(() => this.#onClosed());
    this.#send({ type: 'hello', id: 0, role: options.localRole, maxMessageBytes: options.limits.maxMessageBytes });
  }

  /** Resolves when the session has ended, for whatever reason. */
  whenClosed(): Promise<void> {
    return this.#closedPromise;
  }

  /** The peer's role from its hello; rejects if the session ends first. */
  whenReady(): Promise<PeerRole> {
    return this.#hello;
  }

  get remoteRole(): PeerRole | undefined {
    return this.#remoteRole;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** When the peer last sent anything on this session (ms since the epoch; creation time before that). */
  get lastHeardAt(): number {
    return this.#lastHeardAt;
  }

  /** Bytes waiting for the peer to read them, on this session. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Bytes waiting for the peer to read them, on all its sessions. */
  get peerQueuedBytes(): number {
    return this.#sendQueue.bytes;
  }

  /** Ends the session for a reason of ours (a peer that cannot keep up): tells the peer why, then closes. */
  end(code: string, message: string): void {
    if (!this.#closed) this.#violation(new RustDHTError(code, message));
  }

  /** Whether the peer speaks 1.1 (GET_PART/NODE_PART: whole nodes in parts). */
  get partialReads(): boolean {
    return this.#options.protocol !== SYNC_PROTOCOL_1_0;
  }

  /** Whether the peer speaks 1.2 (MEMBERS_SYNC, MEMBERS, FEED_ACK: the DHT). */
  get speaksDht(): boolean {
    return this.#options.protocol !== SYNC_PROTOCOL_1_0 && this.#options.protocol !== SYNC_PROTOCOL_1_1;
  }

  /** The largest message the peer takes (its hello; ours until it arrives). */
  get remoteMaxMessageBytes(): number {
    return this.#remoteMaxMessageBytes;
  }

  /** Whether a frame of `bytes` fits in one message the peer accepts. */
  fits(frameBytes: number): boolean {
    return frameBytes + MAX_FRAME_MESSAGE_OVERHEAD <= this.#remoteMaxMessageBytes;
  }

  /** Sends a request and waits for its reply; an ERROR reply rejects with RemoteError. */
  request(message: DistributiveOmit<IncomingRequest, 'id'>, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Reply> {
    return this.#request(this.#nextId++, message, options);
  }

  /**
   * Asks for the peer's change log from `since`; `onEntry` hears each entry (backlog,
   * then live) until the session ends. Resolves once the peer accepted the request.
   */
  async follow(since: number, onEntry: (entry: FeedEntry) => void, onStarted?: (feed: number) => void): Promise<void> {
    const id = this.#nextId++;
    onStarted?.(id);
    // Registered before the request leaves: entries may follow the OK at once.
    this.#feeds.set(id, onEntry);
    try {
      await this.#request(id, { type: 'feed', since }, {});
    } catch (error) {
      this.#feeds.delete(id);
      throw error;
    }
  }

  #request(id: number, message: DistributiveOmit<IncomingRequest, 'id'>, options: { signal?: AbortSignal; timeoutMs?: number }): Promise<Reply> {
    if (this.#closed) return Promise.reject(new ClosedError('network/closed', `the connection to ${this.peerId} is closed.`));
    return new Promise<Reply>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new RustDHTError('network/timeout', `${this.peerId} did not answer a ${message.type} within ${timeoutMs} ms.`));
      }, timeoutMs);
      const onAbort = (): void => {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(options.signal!.reason);
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (reply) => {
          options.signal?.removeEventListener('abort', onAbort);
          if (reply.type === 'error') reject(new RemoteError(reply.code, `${this.peerId} refused the ${message.type}: ${reply.message}`));
          else resolve(reply);
        },
        reject: (error) => {
          options.signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
        timer,
      });
      this.#send({ ...message, id } as WireMessage).catch((error: unknown) => {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(error);
      });
    });
  }

  /** Sends a message that expects no reply (events, feed entries). Resolves when the stream took it; rejects if it cannot be sent. */
  notify(message: WireMessage): Promise<void> {
    return this.#send(message);
  }

  /** Ends the conversation; outstanding requests reject with ClosedError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#channel.close().catch(() => this.#channel.abort(new Error('close failed')));
    this.#onClosed();
  }

  /**
   * Rejects (sending nothing) when the message cannot be encoded or is larger than the
   * peer takes: sending it would only make the peer end the session.
   */
  #send(message: WireMessage, farewell = false): Promise<void> {
    if (this.#closed || this.#channel.closed) return Promise.resolve();
    let bytes: Uint8Array;
    try {
      bytes = lengthPrefixed(encodeMessage(message));
    } catch (error) {
      return Promise.reject(error);
    }
    if (bytes.length > this.#remoteMaxMessageBytes + 5) {
      return Promise.reject(new WireError('wire/too-large', `a ${message.type} of ${bytes.length} bytes is more than ${this.peerId} takes (${this.#remoteMaxMessageBytes}).`));
    }
    const queue = this.#sendQueue;
    if (!farewell && queue.bytes + bytes.length > queue.maxBytes) {
      // The peer does not read what it is sent (on this session or its others): end this
      // session rather than buffer more (its farewell is the one message still sent).
      const text = `more than ${queue.maxBytes} bytes waiting for this peer to read them.`;
      this.end('wire/slow-consumer', text);
      return Promise.reject(new WireError('wire/busy', `not sent: ${text}`));
    }
    this.#options.counters.sent(bytes.length);
    this.#queuedBytes += bytes.length;
    queue.bytes += bytes.length;
    const taken = (): void => {
      this.#queuedBytes -= bytes.length;
      queue.bytes -= bytes.length;
    };
    // Rejected: the stream closed under us, and #onClosed reports it.
    return this.#channel.send(bytes).then(taken, taken);
  }

  #onBytes(chunk: Uint8Array): void {
    if (this.#closed) return;
    this.#lastHeardAt = Date.now();
    let bodies: Uint8Array[];
    try {
      bodies = this.#reader.push(chunk);
    } catch (error) {
      this.#violation(error);
      return;
    }
    for (const body of bodies) this.#backlog.push(body);
    this.#takeTurn();
  }

  /**
   * Takes the backlog's messages in order, at most MESSAGES_PER_TURN a macrotask; stops
   * while the peer is behind (its requests wait for answers) and goes on once it is not.
   */
  #takeTurn(): void {
    while (this.#backlogHead < this.#backlog.length && !this.#closed && !this.#behind && this.#heldBack === undefined) {
      if (this.#takenThisTurn === MESSAGES_PER_TURN) {
        this.#scheduleTurn();
        break;
      }
      const body = this.#backlog[this.#backlogHead]!;
      // Held back (over the rate limit): it stays at the head and is taken when its time comes.
      if (!this.#onMessage(body)) break;
      this.#backlogHead++;
      if (this.#takenThisTurn++ === 0) afterMicrotasks(() => (this.#takenThisTurn = 0));
      this.#options.counters.received(body.length);
    }
    if (this.#backlogHead === this.#backlog.length || this.#closed) {
      this.#backlog = [];
      this.#backlogHead = 0;
    }
    this.#updateReading();
  }

  #scheduleTurn(): void {
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    afterMicrotasks(() => {
      this.#turnScheduled = false;
      this.#takeTurn();
    });
  }

  /** Takes one message; false (and nothing done) when it is held back for the rate limit. */
  #onMessage(body: Uint8Array): boolean {
    let message: WireMessage;
    try {
      message = decodeMessage(body);
    } catch (error) {
      this.#violation(error);
      return true;
    }
    if (this.#remoteRole === undefined) {
      if (message.type !== 'hello') {
        this.#violation(new WireError('wire/malformed', `expected a hello first, got ${message.type}.`));
        return true;
      }
      this.#remoteRole = message.role;
      // A peer that claims to take nothing still gets replies small enough for anyone.
      this.#remoteMaxMessageBytes = Math.max(1024, message.maxMessageBytes);
      this.#resolveHello(message.role);
      return true;
    }
    const budget = this.#budgetOf(message);
    if (budget !== undefined && this.#holdBack(body.length, budget)) return false;
    this.#dispatch(message, body);
    return true;
  }

  /**
   * Which rate-limit budget a message draws on: none for replies to our own requests (and
   * a second HELLO, which ends the session anyway), the EVENT budget for what answers our
   * subscriptions and feeds, the message budget for everything else.
   */
  #budgetOf(message: WireMessage): 'message' | 'event' | undefined {
    if (message.type === 'hello') return undefined;
    if (message.type === 'event') return 'event';
    if (message.type === 'feed-entry') return this.#feeds.has(message.id) ? 'event' : 'message';
    // Only a reply type answers a request of ours: a request's id is the peer's own.
    const answersOurs = REPLY_TYPES.has(message.type) && message.id !== 0 && this.#pending.has(message.id);
    return answersOurs ? undefined : 'message';
  }

  /**
   * Over its rate limit, a peer this session may pause is held back rather than refused:
   * nothing more is read until its budget has room for the message (the channel paused,
   * so the transport stops granting the peer window). A flood then costs what the limit
   * allows and no more, and an honest burst is slowed instead of answered with errors it
   * must retry. A session that may not pause (a server to us) refuses instead (#admit).
   */
  #holdBack(bytes: number, budget: 'message' | 'event'): boolean {
    const waitMs = this.#limiter.msUntilAdmitted(bytes, budget === 'event');
    if (waitMs === 0 || !(this.#options.mayPauseReading?.(this) ?? true)) return false;
    this.#options.counters.heldBack();
    // At least HOLD_AT_LEAST_MS: at 2,000 a second a token comes every 0.5 ms, and a wake-up
    // per message would cost more than the messages; the budget fills meanwhile.
    this.#heldBack = setTimeout(() => {
      this.#heldBack = undefined;
      this.#takeTurn();
    }, Math.max(HOLD_AT_LEAST_MS, Math.ceil(waitMs)));
    return true;
  }

  #dispatch(message: WireMessage, body: Uint8Array): void {
    switch (message.type) {
      case 'node':
      case 'node-part':
      case 'ack':
      case 'ack-at':
      case 'digest-reply':
      case 'ok':
      case 'error':
        this.#onReply(message, body.length);
        return;
      case 'members':
        if (message.id !== 0) {
          this.#onReply(message, body.length);
          return;
        }
        if (!this.#admit(body.length, message)) return;
        this.#options.handler.event(this, message as IncomingEvent).catch((error: unknown) => this.#refuseQuietly(error));
        return;
      case 'feed-ack':
        if (!this.#admit(body.length, message)) return;
        this.#options.handler.event(this, message).catch((error: unknown) => this.#refuseQuietly(error));
        return;
      case 'feed-entry': {
        const follow = this.#feeds.get(message.id);
        if (follow === undefined) {
          // No FEED of ours asked for it: never applied, and it counts against the rate
          // limit like a request (a peer cannot push entries past the limits this way).
          if (this.#admit(body.length, message)) this.#options.handler.refused(this, 'feed/unsolicited', 'a FEED_ENTRY for no feed this peer follows on the session.');
          return;
        }
        // Entries of a feed we follow answer our own request, like EVENTs. One cannot be
        // dropped (the cursor would pass it), so past the limit the session ends and the
        // feed resumes from its cursor on the next one.
        if (!this.#limiter.admitEvent(body.length)) {
          this.#violation(new WireError('wire/rate-limited', 'feed entries beyond the rate limit; the feed resumes from its cursor on the next session.'));
          return;
        }
        follow(message);
        return;
      }
      case 'hello':
        this.#violation(new WireError('wire/malformed', 'a second hello.'));
        return;
      case 'event':
        if (!this.#admit(body.length, message)) return;
        this.#options.handler.event(this, message).catch((error: unknown) => this.#refuseQuietly(error));
        return;
      default: {
        if (!this.#admit(body.length, message)) return;
        // Before any part sees it: nothing is loaded or remembered for a refused request.
        const problem = requestLimitProblem(message, this.#requestLimits);
        if (problem !== undefined) {
          this.#options.handler.refused(this, problem.code, problem.message);
          void this.#send({ type: 'error', id: message.id, code: problem.code, message: problem.message }).catch(() => {});
          return;
        }
        this.#answer(message, body.length);
      }
    }
  }

  #onReply(reply: Reply, bytes: number): void {
    if (reply.id === 0 && reply.type === 'error') {
      // Connection-level error: the peer ends the session, so we do too (a peer that
      // went on sending them would otherwise have a free channel into our counters and
      // logs). Its code and text are its own: counters and events take them bounded
      // (known-codes.ts).
      if (!this.#admit(bytes, reply)) return;
      this.#options.handler.refused(this, reply.code, `the peer ended the session: ${reply.message}`);
      // Nothing after it is taken (the rest of its chunk included), then the channel closes.
      this.#closed = true;
      void this.#channel.close().catch(() => this.#channel.abort(new Error('close failed'))).finally(() => this.#onClosed());
      return;
    }
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) {
      // A late reply to a request that timed out, or a peer inventing replies: the
      // latter must not get around the rate limit this way.
      this.#admit(bytes, reply);
      return;
    }
    this.#pending.delete(reply.id);
    clearTimeout(pending.timer);
    pending.resolve(reply);
  }

  /** Rate limit and in-flight cap; a refused request is answered, then forgotten. */
  #admit(bytes: number, message: WireMessage): boolean {
    const overLimit = !(message.type === 'event' ? this.#limiter.admitEvent(bytes) : this.#limiter.admit(bytes));
    const busy = this.#inFlight >= MAX_IN_FLIGHT;
    if (!overLimit && !busy) return true;
    const code = overLimit ? 'wire/rate-limited' : 'wire/busy';
    const text = overLimit ? 'too many messages or bytes per second; slow down.' : `more than ${MAX_IN_FLIGHT} requests in flight.`;
    this.#options.handler.refused(this, code, text);
    // Requests get an answer; an unwanted reply is just dropped (answering it would echo).
    const isRequest =
      message.type === 'get' || message.type === 'get-part' || message.type === 'put' || message.type === 'put-at' || message.type === 'subscribe' || message.type === 'unsubscribe' || message.type === 'feed' || message.type === 'members-sync' || message.type === 'digest';
    if (isRequest) void this.#send({ type: 'error', id: message.id, code, message: text }).catch(() => {});
    if (!this.#refusals.take(1)) {
      this.#violation(new WireError(code, `disconnected: more than ${REFUSAL_BURST} refused messages at over ${REFUSALS_PER_SECOND} a second.`));
    }
    return false;
  }

  #answer(message: IncomingRequest, bytes: number): void {
    this.#inFlight++;
    this.#inFlightBytes += bytes;
    this.#pauseIfBehind();
    const answered = (): void => {
      this.#inFlight--;
      this.#inFlightBytes -= bytes;
      this.#resumeIfCaughtUp();
    };
    this.#options.handler.request(this, message).then(
      (reply) => {
        answered();
        if (reply === undefined) return;
        this.#send(reply).catch((error: unknown) => {
          const { code, message: text } = refusalOf(error);
          void this.#send({ type: 'error', id: message.id, code, message: text }).catch(() => {});
        });
      },
      (error: unknown) => {
        answered();
        const { code, message: text } = refusalOf(error);
        this.#options.handler.refused(this, code, text);
        void this.#send({ type: 'error', id: message.id, code, message: text }).catch(() => {});
      },
    );
  }

  #pauseIfBehind(): void {
    if (this.#behind || (this.#inFlight < READ_AHEAD_REQUESTS && this.#inFlightBytes < READ_AHEAD_BYTES)) return;
    if (!(this.#options.mayPauseReading?.(this) ?? true)) return;
    this.#behind = true;
    this.#updateReading();
  }

  #resumeIfCaughtUp(): void {
    if (!this.#behind || this.#inFlight > READ_AHEAD_REQUESTS / 2 || this.#inFlightBytes > READ_AHEAD_BYTES / 2) return;
    this.#behind = false;
    if (this.#backlogHead < this.#backlog.length) this.#scheduleTurn();
    this.#updateReading();
  }

  /** Pauses the channel while the peer is behind or messages wait for their turn; resumes it otherwise. */
  #updateReading(): void {
    const pause = this.#behind || this.#heldBack !== undefined || this.#backlogHead < this.#backlog.length;
    if (pause === this.#channelPaused || this.#closed) return;
    this.#channelPaused = pause;
    if (pause) this.#channel.pause();
    else this.#channel.resume();
  }

  /** Whether the session has stopped reading the peer (its requests wait for answers, or its messages for their turn or its rate limit). */
  get readingPaused(): boolean {
    return this.#channelPaused;
  }

  #refuseQuietly(error: unknown): void {
    const { code, message: text } = refusalOf(error);
    this.#options.handler.refused(this, code, text);
  }

  /** The peer broke the protocol: tell it why (best effort) and end the session. */
  #violation(error: unknown): void {
    const { code, message: text } = refusalOf(error);
    this.#options.handler.refused(this, code, text);
    const farewell = this.#send({ type: 'error', id: 0, code, message: text }, true).catch(() => {});
    this.#closed = true;
    void farewell.finally(() => {
      this.#channel.abort(new Error(`${code}: ${text}`));
      this.#onClosed();
    });
    // A peer that stops reading must not keep us waiting for the farewell.
    setTimeout(() => this.#channel.abort(new Error(code)), 1000).unref?.();
  }

  #onClosed(): void {
    const first = !this.#ended;
    this.#ended = true;
    this.#closed = true;
    clearTimeout(this.#heldBack);
    if (!first) return;
    const error = new ClosedError('network/closed', `the connection to ${this.peerId} closed.`);
    this.#rejectHello(error);
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#pending.clear();
    this.#feeds.clear();
    this.#resolveClosed();
    this.#options.handler.closed(this);
  }
}

/** Omit over each member of a union (Omit on a union would collapse it). */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
