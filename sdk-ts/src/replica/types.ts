/**
 * The shapes the local replica exchanges with the layers around it: its settings, what a
 * received frame did (per update), and the batches it announces to listeners (the
 * network forwards them).
 */
import type { EngineChange, OutcomeCounts, OutcomeKind } from './batch-report.js';
import type { EngineConfig, EngineModule } from '../engine/core-types.js';
import type { StorageAdapter } from '../storage/adapter.js';
import type { IdentityImporter } from './identity-keeper.js';

/**
 * What happened to one update of a received frame: the one outcome type from the
 * engine's report to the wire's ACK (which carries the code of a rejection, not its
 * message). Only a rejection has a code.
 */
export type UpdateOutcome =
  | { readonly outcome: Exclude<OutcomeKind, 'rejected'> }
  | {
      readonly outcome: 'rejected';
      /** Why, as a stable code (e.g. `signature/invalid`). */
      readonly code: string;
      /** The engine's sentence (absent when the outcome came over the wire). */
      readonly message?: string;
    };

/** A peer's frame decoded once (`LocalReplica.prepare`): its souls, then its merge or its discarding. */
export interface ReceiveOptions {
  /**
   * false: what it changes is logged but not sent to live followers (`AppliedBatch.feedLive`):
   * a DHT server's PUT to another, whose sender reaches every owner itself. A follower
   * catching up from its cursor still reads it from the log. Default true.
   */
  readonly feedLive?: boolean;
  /** Called once the frame is merged and its writes staged, before the wait for them to be durable. */
  readonly staged?: () => void;
}

export interface PreparedIncoming {
  /** The distinct souls it touches, in first-seen order. */
  readonly souls: readonly string[];
  /** Merges it (as `receive(frame)` would, without decoding it again). */
  receive(options?: ReceiveOptions): Promise<ReceiveResult>;
  /**
   * What `receive` would answer against nothing held — signatures, namespace and clock
   * checked in the engine — without merging or storing anything; it stays prepared.
   */
  check(): ReceiveResult;
  /** Drops it unmerged (the engine frees the decoded updates). */
  discard(): void;
}

export interface ReceiveResult extends OutcomeCounts {
  /** One entry per update of the frame, in frame order. */
  readonly outcomes: readonly UpdateOutcome[];
}

export type ChangesListener = (frame: Uint8Array) => void;

export interface ReplicaSettings {
  readonly engineModule: EngineModule;
  /** EngineConfig (docs/ARCHITECTURE.md); absent fields take the engine's defaults. */
  readonly engineConfig: EngineConfig;
  readonly now: () => number;
  readonly store: StorageAdapter | undefined;
  readonly signal: AbortSignal | undefined;
  readonly importIdentity: IdentityImporter;
  /**
   * With a store: cap the bytes of node records it keeps, evicting the least recently
   * used souls beyond it (Infinity: keep the accounting, never evict). Undefined: no
   * cap and no accounting.
   */
  readonly cacheMaxBytes?: number | undefined;
  /** Bytes the engine's resident souls are kept under (persistence/memory-budget.ts); undefined: no bound. Needs a store. */
  readonly memoryBudget?: number | undefined;
  /** Keep a change log (servers: other servers replicate from it). Needs a store. */
  readonly changeLog?: boolean;
  /**
   * Keep in memory which souls the store holds (persistence/stored-soul-filter.ts, built by
   * one background scan of the store after open), so a soul it does not hold costs no
   * read: servers, which meet fresh and unknown souls all the time. Needs a store.
   */
  readonly storedSoulFilter?: boolean;
}

/** A batch that changed the graph, as `onApplied` listeners see it. */
export interface AppliedBatch {
  /** The changes as one frame (signatures included): what peers need. */
  readonly frame: Uint8Array;
  readonly changes: readonly EngineChange[];
  /** A write made through this database (else: from a peer, the store or a deferred wake-up). */
  readonly local: boolean;
  /** Its change-log seq, when the replica keeps a change log. */
  readonly seq: number | undefined;
  /** false: live followers are not sent it (ReceiveOptions.feedLive); absent: they are. */
  readonly feedLive?: false;
}

export type AppliedListener = (batch: AppliedBatch) => void;

/** How many of a soul's owners hold a write durably, as its server reported (ACK_AT). */
export interface ReplicationReport {
  readonly reached: number;
  readonly owners: number;
}

/**
 * How a local write waits for a durability level (set while a network runs): called
 * synchronously as the write joins the outbox (entry `outboxId`), so the PUT that
 * carries it asks for `level`; `result` settles with the first server's report.
 */
export type ReplicationWaits = (outboxId: number, level: 'one' | 'quorum' | 'all') => { readonly result: Promise<ReplicationReport>; cancel(): void };

/**
 * How a read asks the network before answering (set while a network runs): `keys` are
 * the properties it needs (a property read), undefined for the whole node; `consistency`
 * how many of the soul's owners the servers must hear (`once({ consistency })`).
 */
export type RemoteReads = (soul: string, keys: readonly string[] | undefined, signal: AbortSignal | undefined, consistency?: 'one' | 'quorum' | 'all') => Promise<void>;
