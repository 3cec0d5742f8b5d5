/**
 * A server's part in the DHT (docs/ARCHITECTURE.md, "The DHT"): who the members are
 * (member-table.ts, membership.ts), who owns each soul (placement-view.ts), and what
 * each server's change log feeds each member (only the part it owns: `route`).
 *
 * The network (network-parts.ts) creates one on servers and hands it the slices of
 * itself it needs (DhtHost); nothing here reaches into sessions or the database
 * otherwise.
 */
import type { PrivateKey } from '@libp2p/interface';
import { InvalidValueError } from '../../api/errors.js';
import type { AppliedBatch, ReceivedBatch } from '../replica-port.js';
import type { SyncSession } from '../sync-session.js';
import { AntiEntropy, type ReplicaForAntiEntropy } from './anti-entropy.js';
import type { DigestEngine } from './digest-cache.js';
import { Census, type SoulCensus } from './census.js';
import { Handoff, type ReplicaForHandoff } from './handoff.js';
import { OwnerSubscriptions } from './owner-subscriptions.js';
import type { DhtOptions, DhtStatus } from '../types.js';
import { type MemberRecordEngine, MemberTable } from './member-table.js';
import { Membership } from './membership.js';
import { DEFAULT_REPLICAS, type PlacementEngine, PlacementView } from './placement-view.js';
import { type Replicated, replicate } from './replicate.js';
import { checkForForwarding, forward, type ForwardHost } from './forward.js';
import { requiredOwners } from '../../api/durability.js';
import type { ReplicationLevel } from '../wire/messages.js';

/** DhtOptions.maxHints by default: ~10 MiB of soul names in memory at most, whatever is stored. */
export const DEFAULT_MAX_HINTS = 100_000;

export interface DhtHost {
  readonly engine: PlacementEngine & MemberRecordEngine & DigestEngine;
  readonly selfId: string;
  readonly privateKey: PrivateKey;
  readonly addresses: () => readonly string[];
  readonly sessions: () => readonly SyncSession[];
  readonly connected: (peerId: string) => boolean;
  readonly keep: (address: string) => void;
  readonly drop: (address: string) => void;
  /** Whether the last dial of `address` failed. */
  readonly dialFailed: (address: string) => boolean;
  readonly kept: (peerId: string) => boolean;
  readonly refused: (peerId: string, code: string, message: string) => void;
  readonly replica: ReplicaForHandoff & ReplicaForAntiEntropy & ForwardHost['replica'] & { onApplied(listener: (batch: AppliedBatch) => void): () => void; holds(soul: string): Promise<boolean> };
  /** A ready session with server `peerId`. */
  readonly sessionOf: (peerId: string) => SyncSession | undefined;
  /** Whether a peer subscribed to `soul` here. */
  readonly watched: (soul: string) => boolean;
  /** A request of ours failed (reported unless the session ended). */
  readonly requestFailed: (session: SyncSession, error: unknown) => void;
}

export class Dht {
  readonly table: MemberTable;
  readonly placement: PlacementView;
  readonly membership: Membership;
  readonly handoff: Handoff;
  /** Owners reconcile by digests (anti-entropy.ts). */
  readonly antiEntropy: AntiEntropy;
  readonly ownerSubscriptions: OwnerSubscriptions;
  readonly #host: DhtHost;
  readonly #maxHints: number;
  #stopApplied: (() => void) | undefined;

  constructor(host: DhtHost, options: DhtOptions = {}) {
    if (host.privateKey.type !== 'Ed25519') {
      throw new InvalidValueError('config/invalid', `a DHT server needs an Ed25519 peer key (its member record is signed with it); this one is ${host.privateKey.type}.`);
    }
    this.#host = host;
    this.#maxHints = options.maxHints ?? DEFAULT_MAX_HINTS;
    this.table = new MemberTable(host.engine, host.selfId, options.trustedMembers);
    this.placement = new PlacementView(host.engine, this.table, options.replicas ?? DEFAULT_REPLICAS, host.selfId);
    this.#forwarding = { replica: host.replica, placement: this.placement, selfId: host.selfId, replicate: (frame, level) => this.replicate(frame, level), refused: host.refused };
    const announce = options.announce;
    this.membership = new Membership({
      table: this.table,
      selfId: host.selfId,
      // libp2p's raw Ed25519 private key is the 32-byte seed followed by the public key.
      seed: host.privateKey.raw.subarray(0, 32),
      addresses: announce === undefined ? host.addresses : () => announce,
      capacity: options.capacity ?? 0,
      sessions: host.sessions,
      connected: host.connected,
      keep: host.keep,
      drop: host.drop,
      dialFailed: host.dialFailed,
      kept: host.kept,
      neighbours: (perBucket) => this.placement.neighbours(perBucket),
      needed: () => this.ownerSubscriptions.owners(),
      fullMeshMax: options.fullMeshMax,
      refused: host.refused,
    });
    this.ownerSubscriptions = new OwnerSubscriptions({
      placement: this.placement,
      table: this.table,
      selfId: host.selfId,
      sessionOf: this.sessionOf,
      requestFailed: host.requestFailed,
    });
    this.handoff = new Handoff({
      replica: host.replica,
      engine: host.engine,
      table: this.table,
      placement: this.placement,
      selfId: host.selfId,
      sessionOf: this.sessionOf,
      watched: host.watched,
      refused: host.refused,
      heldBy: (session, souls) => this.antiEntropy.heldBy(session, souls),
    });
    this.antiEntropy = new AntiEntropy({
      replica: host.replica,
      engine: host.engine,
      table: this.table,
      placement: this.placement,
      selfId: host.selfId,
      sessionOf: this.sessionOf,
      refused: host.refused,
      handoffSettled: () => this.handoff.settled(),
    });
  }

  /**
   * A ready session with member `peerId`, for a job of the DHT's. Asking is what keeps a
   * member dialled beyond a full mesh (Membership.want): one not connected is dialled
   * now, so the job finds it on its next try (replicate.ts waits for it until its
   * deadline, hand-off and anti-entropy try again).
   */
  readonly sessionOf = (peerId: string): SyncSession | undefined => {
    const session = this.#host.sessionOf(peerId);
    this.membership.want(peerId, session !== undefined);
    return session;
  };

  /** The sessions with `soul`'s owners other than this server (a read of a soul it does not own, or lacks). */
  ownerSessions(soul: string): SyncSession[] {
    const sessions: SyncSession[] = [];
    for (const owner of this.placement.ownersOf([soul])[0]!) {
      if (owner === this.#host.selfId) continue;
      const session = this.sessionOf(owner);
      if (session !== undefined && !session.closed) sessions.push(session);
    }
    return sessions;
  }

  /**
   * Resolves once some other owner of `soul` has a session, or at `deadline` (ms epoch),
   * whichever comes first; the owners without one are being dialled (beyond a full mesh
   * this server may have no connection to any of them). Waiting for only one leaves a
   * read its time to ask it: owners that died without a goodbye keep no session, and a
   * read that waited for them too would have none left.
   */
  async reachOwners(soul: string, deadline: number): Promise<void> {
    while (this.ownerSessions(soul).length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /**
   * The refusal for a client's write naming `souls` while this server holds as many
   * hints as it may (DhtOptions.maxHints) and some of the souls are not its own; else
   * undefined. Cheap while under the bound: `souls` is only called past it.
   */
  hintRefusal(souls: () => readonly string[]): { readonly code: string; readonly message: string } | undefined {
    if (this.handoff.pendingSouls < this.#maxHints) return undefined;
    if (souls().every((soul) => this.placement.owns(soul))) return undefined;
    return {
      code: 'quota/hints',
      message: `this server holds ${this.handoff.pendingSouls} souls its owners have not taken yet (at most ${this.#maxHints}); try again once they are reachable.`,
    };
  }

  start(): void {
    this.membership.start();
    this.handoff.start();
    this.antiEntropy.start();
    // What this server stores and does not own (a client's write it coordinated) goes to the owners.
    this.#stopApplied = this.#host.replica.onApplied((batch) => {
      const souls = new Set<string>();
      for (const change of batch.changes) souls.add(change[0]);
      this.handoff.noteChanged([...souls]);
    });
  }

  stop(): Promise<void> {
    this.#stopApplied?.();
    this.handoff.stop();
    this.antiEntropy.stop();
    this.ownerSubscriptions.stop();
    return this.membership.stop();
  }

  /**
   * What a follower is fed of a change-log entry: with R or fewer members, everything
   * (every member owns every soul, and a follower not yet known as a member gets what a
   * configured server always got); otherwise only the updates of souls it owns — for a
   * follower not known here as a member yet, those it owns once it is one (PlacementView
   * `partFor`).
   */
  readonly route = (frame: Uint8Array, follower: string, backlog = false): Uint8Array | undefined => {
    if (this.placement.full) return frame;
    return this.placement.partFor(frame, follower, backlog);
  };

  /**
   * Of `souls`, those member `peerId` stores exactly as this server does (compared by
   * digest: AntiEntropy.heldBy); empty when not connected or it cannot tell.
   */
  async heldBy(peerId: string, souls: readonly string[]): Promise<Set<string>> {
    const session = this.sessionOf(peerId);
    return session === undefined ? new Set() : this.antiEntropy.heldBy(session, souls);
  }

  /** A PUT_AT durable here: to the other owners, and how many confirmed (replicate.ts). */
  replicate(frame: Uint8Array, level: ReplicationLevel): Promise<Replicated> {
    return replicate({ placement: this.placement, selfId: this.#host.selfId, sessionOf: this.sessionOf }, frame, level);
  }

  /** A PUT_AT's outcomes when it is passed on to its owners without being stored here; undefined when it is taken here (forward.ts). */
  checkForForwarding(frame: Uint8Array): ReceivedBatch | undefined {
    return checkForForwarding(this.#forwarding, frame);
  }

  /** Passes a checked PUT_AT on to its owners, keeping it as a hint if one did not confirm (forward.ts). */
  forward(frame: Uint8Array, level: ReplicationLevel): Promise<{ readonly reached: number; readonly owners: number }> {
    return forward(this.#forwarding, frame, level);
  }

  /** What forward.ts needs of this server (set in the constructor). */
  readonly #forwarding: ForwardHost;

  status(): DhtStatus {
    return { members: this.placement.members.length, replicas: this.placement.replicas, share: this.placement.share(), version: this.placement.version };
  }

  /** The souls stored here by role (owned, cached, hinted), recounted at a bounded cost (census.ts); for /metrics. */
  census(): Promise<SoulCensus | undefined> {
    this.#census ??= new Census({ replica: this.#host.replica, placement: this.placement, selfId: this.#host.selfId, watched: this.#host.watched });
    return this.#census.read();
  }

  #census: Census | undefined;

  /**
   * A read of `soul` here, timed for /metrics: runs `read(needed)` (asking the owners
   * other than this server, resolving once `needed` answered) when the read must ask
   * them, and tells the onOwnerRead listeners how long it took; undefined, without
   * running it, when the soul is answered from here.
   *
   * Without a consistency level: a server that does not own the soul asks every other
   * owner, unless a subscriber here keeps it live; an owner answers from what it holds,
   * unless it holds nothing of it (it may have just become an owner: a server died, the
   * hand-off has not arrived), then it asks the other owners rather than answer "not
   * found" for data that exists. With a level: that many of the owners (one, a
   * majority, all), this server counting for itself when it owns the soul.
   */
  readFromOwners(soul: string, level: ReplicationLevel | undefined, read: (needed: number) => Promise<void>): Promise<void> | undefined {
    if (this.placement.members.length === 0) return undefined;
    // One placement call per read.
    const owners = this.placement.ownersOf([soul])[0]!;
    const own = owners.includes(this.#host.selfId);
    const others = owners.length - (own ? 1 : 0);
    if (level !== undefined) {
      const needed = Math.min(others, Math.max(0, requiredOwners(level, owners.length) - (own ? 1 : 0)));
      return needed === 0 ? undefined : this.#timed(() => read(needed));
    }
    if (!own) return this.placement.full || this.#host.watched(soul) ? undefined : this.#timed(() => read(others));
    if (others === 0) return undefined;
    return this.#host.replica.holds(soul).then((held) => (held ? undefined : this.#timed(() => read(others))));
  }

  #timed(read: () => Promise<void>): Promise<void> {
    const started = performance.now();
    return read().finally(() => {
      const seconds = (performance.now() - started) / 1000;
      for (const listener of this.#ownerReadListeners) listener(seconds);
    });
  }

  /** Calls `listener` with the seconds each read of a soul from its owners took. Returns the function that unsubscribes. */
  onOwnerRead(listener: (seconds: number) => void): () => void {
    this.#ownerReadListeners.add(listener);
    return () => this.#ownerReadListeners.delete(listener);
  }

  readonly #ownerReadListeners = new Set<(seconds: number) => void>();
}
