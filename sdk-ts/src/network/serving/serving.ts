/**
 * Everything this peer answers, put together: the responder (GET, GET_PART, PUT,
 * PUT_AT), the publisher (SUBSCRIBE and its EVENTs), the feed server (FEED), one
 * durability barrier in front of all three (so EVENTs, FEED_ENTRYs and NODEs keep the
 * order of their batches), write admission (quotas, the store's gate) and, on a DHT
 * server, what the DHT adds around answering: reads of souls it does not own go to
 * their owners first, writes are replicated to them, hints are bounded, and the
 * members' own requests (MEMBERS_SYNC, DIGEST) are answered by the DHT.
 *
 * network-parts.ts creates one per network and routes every session's requests here.
 */
import { RustDHTError } from '../../api/errors.js';
import type { CounterSet } from '../counters.js';
import { answerDigest } from '../dht/anti-entropy.js';
import type { Dht } from '../dht/dht.js';
import { Fetcher } from '../duties/fetcher.js';
import type { ReplicaForNetwork } from '../replica-port.js';
import type { IncomingRequest, SyncSession } from '../sync-session.js';
import type { NetworkEvent, NetworkOptions, PeerRole } from '../types.js';
import type { WireMessage } from '../wire/messages.js';
import type { ResolvedWireLimits } from '../wire/rate-limiter.js';
import { DurabilityBarrier } from './durability.js';
import { FeedServer } from './feed-server.js';
import { Publisher } from './publisher.js';
import { Responder } from './responder.js';
import { WriteAdmission } from './write-admission.js';

/** Enough of a frame for its header: magic (2), version (1), update count (varint, ≤ 5). */
const FRAME_HEADER_BYTES = 8;

/**
 * How long a DHT server waits for a soul's owners before answering a read of a soul it
 * does not own with what it has (a soul nobody has: "not found", bounded).
 */
const OWNER_READ_TIMEOUT_MS = 1_000;

export interface ServingOptions {
  readonly replica: ReplicaForNetwork;
  readonly counters: CounterSet;
  readonly role: PeerRole;
  readonly limits: ResolvedWireLimits;
  readonly quota: NetworkOptions['quota'];
  readonly writeGate: NetworkOptions['writeGate'];
  /** A server's DHT (absent on clients, and on servers without a peer key). */
  readonly dht: Dht | undefined;
  readonly emit: (event: NetworkEvent) => void;
  /** Whether the peer of `session` is a server this one chose (they replicate what the operator asked for: no quota). */
  readonly isServer: (session: SyncSession) => boolean;
}

export class Serving {
  readonly publisher: Publisher;
  readonly feeds: FeedServer;
  readonly #responder: Responder;
  readonly #dht: Dht | undefined;

  constructor(options: ServingOptions) {
    const { replica, counters, dht } = options;
    this.#dht = dht;
    const durability = new DurabilityBarrier(replica);
    // A DHT server subscribes at the owners of what its subscribers watch and it does not own.
    this.publisher = new Publisher(replica, counters, durability, (soul, watched) => dht?.ownerSubscriptions.interest(soul, watched));
    this.feeds = new FeedServer(replica, counters, options.role, durability, options.limits, dht?.route);
    const admission = new WriteAdmission(options.quota, options.writeGate);
    // A DHT server reads what it does not own from the owners before answering.
    const ownerReads = new Fetcher({
      replica,
      counters,
      emit: options.emit,
      readSessions: (soul) => dht?.ownerSessions(soul) ?? [],
      firstConnectionPending: () => false,
      whenConnected: async () => {},
      changed: () => {},
    });
    // The update count is in a frame's header (its first bytes): only those go to the engine.
    const updatesIn = (frame: Uint8Array): number => {
      try {
        return replica.engineModule.frameUpdateCount(frame.subarray(0, FRAME_HEADER_BYTES));
      } catch {
        return 0;
      }
    };
    this.#responder = new Responder(replica, counters, this.publisher, this.feeds, durability, {
      admit: (session, frame) => {
        // The servers this one chose replicate what the operator asked for.
        const exempt = options.isServer(session);
        const hints = exempt ? undefined : dht?.hintRefusal(() => replica.soulsOf(frame));
        if (hints !== undefined) throw new RustDHTError(hints.code, hints.message);
        admission.admit({ peerId: session.peerId, bytes: frame.length, updates: updatesIn(frame), ownedOnly: () => replica.soulsOf(frame).every((soul) => replica.spaceOwner(soul) !== undefined) }, exempt);
      },
      // Only a client's read is passed on to the owners: a member asking is itself reading
      // for a client (or repairing), and passing its read on again would echo between
      // owners that all lack the soul.
      beforeRead: (session, soul, keys, level) =>
        dht === undefined || dht.placement.isMember(session.peerId)
          ? undefined
          : dht.readFromOwners(soul, level, async (needed) => {
              // Beyond a full mesh, owners this server has no connection to are dialled first, within the same bound.
              const deadline = Date.now() + OWNER_READ_TIMEOUT_MS;
              await dht.reachOwners(soul, deadline);
              await ownerReads.fetch(soul, { keys, needed, timeoutMs: Math.max(1, deadline - Date.now()) });
            }),
      // Another member's PUT reaches every owner by itself (replicate.ts, handoff.ts,
      // anti-entropy.ts), and so does a PUT_AT this server coordinates (replicate.ts).
      feedsLive: (session, coordinated) => dht === undefined || (!coordinated && !dht.placement.isMember(session.peerId)),
      replicate: async (frame, level) => (dht === undefined ? { reached: 1, owners: 1 } : dht.replicate(frame, level)),
      forwarding: dht === undefined ? undefined : { check: (frame) => dht.checkForForwarding(frame), forward: (frame, level) => dht.forward(frame, level) },
    });
  }

  /** A peer's request: the DHT's own (MEMBERS_SYNC, DIGEST) to the DHT, the rest to the responder. */
  async request(session: SyncSession, message: IncomingRequest): Promise<WireMessage | undefined> {
    if (message.type === 'members-sync') {
      // A peer without a DHT knows nobody.
      return this.#dht === undefined ? { type: 'members', id: message.id, records: [] } : this.#dht.membership.answer(message);
    }
    if (message.type === 'digest') return answerDigest(this.#dht?.antiEntropy, session, message);
    return this.#responder.request(session, message);
  }

  /** A session ended: its subscriptions and feeds end with it. */
  forget(session: SyncSession): void {
    this.publisher.forget(session);
    this.feeds.forget(session);
  }

  stop(): void {
    this.publisher.stop();
    this.feeds.stop();
  }
}
