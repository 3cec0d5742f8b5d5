/**
 * The serving side of the sync protocol: what this peer answers to a peer's requests.
 * Every frame a peer sends goes through the engine in one call (`replica.receive`):
 * decode, verify, validate, merge. Only what the engine applied is stored, logged,
 * pushed to subscribers or fed to other servers, so nothing invalid is ever forwarded.
 *
 *   GET soul [keys]      → NODE frame (what this peer holds; empty when nothing)
 *   GET_PART soul after  → NODE_PART: the next part of the whole node, within the
 *                          peer's message limit and any batch limit (node-parts.ts)
 *   PUT frame            → ACK, one outcome per update (applied/ignored/historical/deferred/rejected+code),
 *                          or ERROR quota/… / storage/full when admission refuses it (write-admission.ts)
 *   PUT_AT level frame   → ACK_AT once `level` of the owners hold it: on a DHT server,
 *                          checked in the engine, its own souls taken here, the frame
 *                          passed on to the other owners (dht/forward.ts); else taken
 *                          here as a PUT, then replicated (dht/replicate.ts)
 *   SUBSCRIBE, UNSUBSCRIBE → publisher.ts
 *   FEED since           → feed-server.ts (servers only)
 *
 * What makes the replica work (a PUT's merge and commit, a GET's read) takes its turn in
 * a fair queue between peers (fair-queue.ts), so a flood cannot line up ahead of a light
 * peer's request.
 *
 * A NODE, like everything this peer sends, carries only what is durable here
 * (durability.ts); an ACK is sent once the PUT's batch is (`receive` resolves then).
 *
 * EVENTs a peer pushes here answer this peer's own subscriptions: duties/subscriber.ts.
 */
import type { CounterSet } from '../counters.js';
import type { ReceivedBatch, ReplicaForNetwork } from '../replica-port.js';
import type { IncomingRequest, SyncSession } from '../sync-session.js';
import type { ReplicationLevel, WireMessage } from '../wire/messages.js';
import type { DurabilityBarrier } from './durability.js';
import { FairQueue } from './fair-queue.js';
import type { FeedServer } from './feed-server.js';
import { partLimits } from './node-parts.js';
import type { Publisher } from './publisher.js';

/** Runs before a GET or a node's first GET_PART is answered from what is here (undefined: nothing to wait for). */
export type BeforeRead = (session: SyncSession, soul: string, keys: readonly string[] | undefined, level: ReplicationLevel | undefined) => Promise<void> | undefined;

/** What the network adds around answering (each optional). */
export interface ResponderHooks {
  /** Throws the refusal when a peer's PUT may not be stored now (write-admission.ts). */
  readonly admit?: (session: SyncSession, frame: Uint8Array) => void;
  /** Before a read is answered here: a DHT server that does not own the soul asks its owners first (network/dht/). */
  readonly beforeRead?: BeforeRead;
  /**
   * Whether what a peer's PUT changes is sent to this server's live followers. Not for
   * another DHT server's PUT (its replication of a write it coordinated, a hand-off, a
   * repair): it reaches every owner itself, and feeding it on would make each co-owner
   * merge it again. It is logged either way, so a follower catching up from its cursor
   * (one that was away) still reads it. Nor for a PUT_AT (`coordinated`) on a DHT server:
   * replicate() sends it to every other owner itself. Default: always.
   */
  readonly feedsLive?: (session: SyncSession, coordinated: boolean) => boolean;
  /** After a PUT_AT is durable here: how many owners hold it (network/dht/replicate.ts); a lone server: itself. */
  readonly replicate?: (frame: Uint8Array, level: ReplicationLevel) => Promise<{ readonly reached: number; readonly owners: number }>;
  /** On a DHT server, PUT_ATs passed on to their owners rather than taken here whole (dht/forward.ts). Absent: every PUT_AT is taken here. */
  readonly forwarding?: Forwarding;
}

/** How a DHT server passes a PUT_AT on to the owners of its souls (dht/forward.ts). */
export interface Forwarding {
  /** The frame's outcomes, checked in the engine, when it is to be passed on; undefined when it is taken here. */
  check(frame: Uint8Array): ReceivedBatch | undefined;
  /** Passes a checked frame on to its owners: how many confirmed. */
  forward(frame: Uint8Array, level: ReplicationLevel): Promise<{ readonly reached: number; readonly owners: number }>;
}

/**
 * Peers' requests in the replica at once (fair-queue.ts): few, so a light peer waits for
 * little; more than one, so a PUT's merge overlaps another's commit.
 */
const REPLICA_CONCURRENCY = 4;
/** What a read weighs in the fair queue, against a PUT's bytes. */
const READ_COST = 512;

export type ReplicaForResponder = Pick<ReplicaForNetwork, 'nodeFrame' | 'nodeFramePart' | 'receive' | 'limits'>;

export class Responder {
  readonly #replica: ReplicaForResponder;
  readonly #counters: CounterSet;
  readonly #publisher: Publisher;
  readonly #feeds: FeedServer;
  readonly #durability: DurabilityBarrier;

  readonly #hooks: Required<Omit<ResponderHooks, 'forwarding'>>;
  readonly #forwarding: Forwarding | undefined;
  readonly #fair = new FairQueue(REPLICA_CONCURRENCY);

  constructor(replica: ReplicaForResponder, counters: CounterSet, publisher: Publisher, feeds: FeedServer, durability: DurabilityBarrier, hooks: ResponderHooks = {}) {
    this.#hooks = {
      admit: hooks.admit ?? (() => {}),
      beforeRead: hooks.beforeRead ?? (() => undefined),
      feedsLive: hooks.feedsLive ?? (() => true),
      replicate: hooks.replicate ?? (async () => ({ reached: 1, owners: 1 })),
    };
    this.#forwarding = hooks.forwarding;
    this.#replica = replica;
    this.#counters = counters;
    this.#publisher = publisher;
    this.#feeds = feeds;
    this.#durability = durability;
  }

  /** The reply to a request (undefined: already sent, as OK then EVENTs or FEED_ENTRYs). Throwing answers ERROR. */
  async request(session: SyncSession, message: IncomingRequest): Promise<WireMessage | undefined> {
    switch (message.type) {
      case 'get': {
        await this.#hooks.beforeRead(session, message.soul, message.keys.length === 0 ? undefined : message.keys, message.level);
        const frame = await this.#fair.run(session.peerId, READ_COST, () => this.#replica.nodeFrame(message.soul, message.keys.length === 0 ? undefined : message.keys));
        if (frame.length !== 0) await this.#durability.durable();
        return { type: 'node', id: message.id, frame };
      }
      case 'get-part': {
        // The whole node is asked of the owners once, at the first part.
        if (message.after === '') await this.#hooks.beforeRead(session, message.soul, undefined, message.level);
        const limits = partLimits(session.remoteMaxMessageBytes, this.#replica.limits?.maxKeyBytes);
        const part = await this.#fair.run(session.peerId, READ_COST, () => this.#replica.nodeFramePart(message.soul, message.after === '' ? undefined : message.after, limits));
        if (part.frame.length !== 0) await this.#durability.durable();
        // Each property too large for one message is a refusal of its own; the rest still travels.
        for (let i = 0; i < part.skipped.length; i++) this.#counters.reject('wire/too-large');
        return { type: 'node-part', id: message.id, next: part.next ?? '', skipped: part.skipped, frame: part.frame };
      }
      case 'put': {
        const result = await this.#take(session, message.frame, false);
        return {
          type: 'ack',
          id: message.id,
          outcomes: result.outcomes,
        };
      }
      case 'put-at': {
        this.#hooks.admit(session, message.frame);
        // On a DHT server: checked here, passed on to the owners, only its own souls stored.
        const forwarding = this.#forwarding;
        const checked = forwarding === undefined ? undefined : await this.#fair.run(session.peerId, message.frame.length, () => Promise.resolve(forwarding.check(message.frame)));
        if (checked !== undefined) {
          this.#counters.peerBatch(checked);
          const { reached, owners } = await forwarding!.forward(message.frame, message.level);
          return { type: 'ack-at', id: message.id, reached, owners, outcomes: checked.outcomes };
        }
        const result = await this.#take(session, message.frame, true, true);
        // Durable here: now the owners (network/dht/replicate.ts).
        const { reached, owners } = await this.#hooks.replicate(message.frame, message.level);
        return { type: 'ack-at', id: message.id, reached, owners, outcomes: result.outcomes };
      }
      case 'subscribe':
        return this.#publisher.subscribe(session, message);
      case 'unsubscribe':
        return this.#publisher.unsubscribe(session, message);
      case 'feed':
        return this.#feeds.open(session, message);
    }
  }

  /** A PUT's or PUT_AT's frame: admitted (quotas and the gate, before the engine sees it: a refusal applies nothing), merged in its turn, counted; resolves once durable. */
  async #take(session: SyncSession, frame: Uint8Array, coordinated: boolean, admitted = false): Promise<ReceivedBatch> {
    if (!admitted) this.#hooks.admit(session, frame);
    const feedLive = this.#hooks.feedsLive(session, coordinated);
    // The slot goes to the next in line once the merge is staged (see FairQueue).
    const result = await this.#fair.run(session.peerId, frame.length, (release) => this.#replica.receive(frame, { feedLive, staged: release }));
    this.#counters.peerBatch(result);
    return result;
  }
}
