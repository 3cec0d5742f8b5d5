/**
 * What the network needs from the database it serves, and nothing more: the network
 * depends on these interfaces, not on the replica class, and each part of it declares
 * the slice it uses (`Pick<ReplicaForNetwork, …>`), as js-libp2p services declare their
 * components. The database's replica (replica.ts) satisfies them structurally; db.ts
 * hands it to `Network.start`, where the compiler checks that it still does.
 *
 * Types only.
 */
import type { EngineModule, OutcomeKind } from '../engine/core-types.js';
import type { RemoteReads, ReplicationWaits, UpdateOutcome } from '../replica/types.js';

/** How the engine took a frame from a peer: one outcome per update, in frame order, and the totals. */
export interface ReceivedBatch extends Readonly<Record<OutcomeKind, number>> {
  readonly outcomes: readonly UpdateOutcome[];
}

/** A batch that changed the graph (any source): what subscribers and followers are sent. */
export interface AppliedBatch {
  /** The changes as one frame, signatures included. */
  readonly frame: Uint8Array;
  /** What changed, `[soul, key, …]` per property, in frame order. */
  readonly changes: readonly (readonly [soul: string, key: string, ...rest: unknown[]])[];
  /** Its change-log seq (servers), else undefined. */
  readonly seq: number | undefined;
  /** false: logged, but not sent to live followers (`receive`'s `feedLive`). */
  readonly feedLive?: false;
}

/** An outbox entry: one local write's changes frame. */
export interface OutboxEntry {
  readonly id: number;
  readonly frame: Uint8Array;
}

export type OutboxChange = { readonly type: 'added'; readonly id: number; readonly frame: Uint8Array } | { readonly type: 'removed' } | { readonly type: 'restored' };

/** The outbox: local writes no server acknowledged yet. */
export interface OutboxForNetwork {
  readonly size: number;
  /** Every entry, oldest first, including those added while iterating. */
  pending(options?: { readonly signal?: AbortSignal }): AsyncIterable<OutboxEntry>;
  acknowledge(id: number): Promise<unknown>;
  onChange(listener: (change: OutboxChange) => void): () => void;
}

/** The souls something here watches (`on`, `map`, `changes`): what this peer subscribes to. */
export interface InterestForNetwork {
  /** `watched`: the first watcher of `soul` came (true) or the last one left (false). */
  onInterest(listener: (soul: string, watched: boolean) => void): () => void;
  watchedSouls(): Iterable<string>;
  isWatched(soul: string): boolean;
}

/** A server's change log: every batch that changed its graph, by seq. */
export interface ChangeLogForNetwork {
  after(since: number): AsyncIterable<{ readonly seq: number; readonly frame: Uint8Array }>;
}

export type { RemoteReads } from '../replica/types.js';

/** The limits of one part of a node (Engine.nodeFramePart; serving/node-parts.ts). */
export interface NodePartLimits {
  readonly partBytes: number;
  readonly maxBytes: number;
  readonly maxUpdates: number;
}

/** One part of a node: its frame (empty when it holds nothing), the cursor of the next part (undefined after the last), keys too large to send. */
export interface NodeFramePart {
  readonly frame: Uint8Array;
  readonly next: string | undefined;
  readonly skipped: readonly string[];
}

export interface ReplicaForNetwork {
  readonly closed: boolean;
  /**
   * The engine's soul and key limits (`limits` of `RustDHT.open`), which the wire applies
   * to what peers ask for (wire/request-limits.ts). Absent: the engine's defaults.
   */
  readonly limits?: { readonly maxSoulBytes?: number; readonly maxKeyBytes?: number };
  readonly outbox: OutboxForNetwork;
  readonly subscriptions: InterestForNetwork;
  /** Servers only (with a store). */
  readonly changeLog: ChangeLogForNetwork | undefined;
  readonly engineModule: Pick<
    EngineModule,
    'joinFrames' | 'frameUpdateCount' | 'Placement' | 'signMemberRecord' | 'openMemberRecord' | 'soulDigests' | 'membersDigest' | 'encodeSymbols' | 'Reconciliation'
  >;
  /** Registers how reads ask this network's peers first; returns the unregister function. */
  useRemoteReads(reads: RemoteReads): () => void;
  /** Registers how writes wait for a durability level; returns the unregister function. */
  useReplication(waits: ReplicationWaits): () => void;
  /**
   * A peer's frame through the engine (decode, verify, validate, merge); resolves once
   * durable. `feedLive: false`: what it changes is logged but not sent to live followers
   * (another DHT server's PUT: its sender reaches every owner itself).
   */
  receive(frame: Uint8Array, options?: { readonly feedLive?: boolean; readonly staged?: () => void }): Promise<ReceivedBatch>;
  /** A peer's frame decoded once: its souls now, its merge (`receive()`) or `discard()` later. Throws DecodeError for malformed bytes. */
  prepare(frame: Uint8Array): { readonly souls: readonly string[]; receive(options?: { readonly feedLive?: boolean }): Promise<ReceivedBatch>; check(): ReceivedBatch; discard(): void };
  /** The distinct souls a frame touches; throws DecodeError for malformed bytes. */
  soulsOf(frame: Uint8Array): string[];
  /** The owner (public key) of the `~` space `soul` is in, by the engine's namespace rule; undefined for public souls. */
  spaceOwner(soul: string): string | undefined;
  /** What this replica holds of `soul` (all keys, or `keys`) as a frame; empty when nothing. */
  nodeFrame(soul: string, keys?: readonly string[]): Promise<Uint8Array>;
  /** The part of `soul` after key `after` (undefined: from the first key) within `limits`; loads the soul first. */
  nodeFramePart(soul: string, after: string | undefined, limits: NodePartLimits): Promise<NodeFramePart>;
  /** nodeFrame for a soul an applied batch just changed (in memory), without queueing. */
  residentNodeFrame(soul: string, keys: readonly string[] | undefined): Uint8Array | undefined;
  /** Every batch that changes the graph, called synchronously as it is applied (before it is durable). */
  onApplied(listener: (batch: AppliedBatch) => void): () => void;
  /** Resolves once every operation made so far is applied and durable. */
  flush(): Promise<void>;
  /** Whether this replica holds anything of `soul` (in memory or in its store). */
  holds(soul: string): Promise<boolean>;
  /** The souls the store holds records of, in key order (servers: what the DHT checks its owners hold). */
  storedSouls(after?: string): AsyncIterable<string>;
  /** Drops `souls` from the store and memory unless watched, protected or kept; resolves to those released, once durable. */
  release(souls: readonly string[], keep?: (soul: string) => boolean): Promise<string[]>;
  /** Calls `listener` with the souls each `release` let go of, once that is durable (anti-entropy forgets their digests). */
  onReleased(listener: (souls: readonly string[]) => void): () => void;
  /**
   * The stored property records ("P" values) of each of `souls`, read once every change
   * applied so far is durable (anti-entropy digests them); none for a soul the store
   * does not hold, and none at all without a store.
   */
  soulRecords(souls: readonly string[]): Promise<Uint8Array[][]>;
  /**
   * Anti-entropy digests of those of `souls` held whole in memory, computed from memory
   * (no store read), resolving once what they were computed from is durable; undefined
   * for the others (read their records).
   */
  residentDigests(souls: readonly string[]): Promise<Array<Uint8Array | undefined>>;
  /** The network's own records (feed cursors), committed with the next batch. */
  stageRecord(key: Uint8Array, value: Uint8Array): void;
  readRecord(key: Uint8Array): Promise<Uint8Array | undefined>;
  onClose(listener: () => void): () => void;
}
