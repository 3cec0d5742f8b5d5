/**
 * The public API shared by every platform. Import the package itself (`rustdht`):
 * its Node and browser entries re-export all of this with the engine bound.
 */
export { RustDHT, type Limits, type OpenOptions, type CloseOptions, type CloseReport, type NetworkedOpenOptions, type NetworkedRustDHT } from './api/db.js';
export type { DatabaseStorage, StorageUsage } from './api/database-storage.js';
export type { Linkable } from './api/flatten.js';
export type { ChildListener } from './replica/map-watcher.js';
export type { RustDHTNode } from './network/libp2p/shared.js';
export { Ref, MapRef, type ChildOf, type PutAck, type ReadOptions, type StreamOptions, type ChangeEvent, type ChildChangeEvent } from './api/ref.js';
export { Identity, type ExportedIdentity } from './api/identity.js';
export type { IdentityKeeper } from './replica/identity-keeper.js';
export type { Outbox, OutboxEntry, OutboxEvent, OutboxListener, OutboxIterationOptions } from './replica/outbox.js';
export type { PutValue, PutObject } from './api/flatten.js';
export type { ReceiveResult, UpdateOutcome, ChangesListener } from './replica/replica.js';
export type { Durability, PutOptions, ReplicationResult } from './api/durability.js';
export type { OutcomeCounts, OutcomeKind } from './replica/batch-report.js';
export type { Link, Value, NodeData, ReadValue, PropertyMeta, NodeMeta, PropertyChange } from './api/values.js';
export {
  RustDHTError,
  InvalidValueError,
  LimitError,
  PermissionError,
  SignatureError,
  DecodeError,
  ClosedError,
  AbortError,
  StorageQuotaError,
  UndeliveredWritesError,
  DurabilityError,
} from './api/errors.js';
export { EngineTrappedError, onEngineTrap } from './engine/trap-guard.js';
export type { StorageAdapter, StorageEntry, StorageOperation, RangeOptions } from './storage/adapter.js';
export { MemoryStore } from './storage/memory.js';
export type { Network } from './network/peer-network.js';
export type { DialFailure, DialFailureCode } from './network/dial-failure.js';
export type {
  NetworkOptions,
  NetworkStatus,
  NetworkCounters,
  NetworkEvent,
  PeerStatus,
  PeerRole,
  Transport,
  WireLimits,
  WriteQuota,
  WriteGate,
  WriteRequest,
  DhtOptions,
  DhtStatus,
} from './network/types.js';
