/**
 * The public API shared by every platform. Import the package itself (`rustdht`):
 * its Node and browser entries re-export all of this with the engine bound.
 */
export { RustDHT, type Limits, type OpenOptions, type CloseOptions, type CloseReport, type NetworkedOpenOptions, type NetworkedRustDHT } from './db.js';
export type { DatabaseStorage, StorageUsage } from './database-storage.js';
export type { Linkable } from './flatten.js';
export type { ChildListener } from './map-watcher.js';
export type { RustDHTNode } from './network/libp2p/shared.js';
export { Ref, MapRef, type ChildOf, type PutAck, type ReadOptions, type StreamOptions, type ChangeEvent, type ChildChangeEvent } from './ref.js';
export { Identity, type ExportedIdentity } from './identity.js';
export type { IdentityKeeper } from './identity-keeper.js';
export type { Outbox, OutboxEntry, OutboxEvent, OutboxListener, OutboxIterationOptions } from './outbox.js';
export type { PutValue, PutObject } from './flatten.js';
export type { ReceiveResult, UpdateOutcome, ChangesListener } from './replica.js';
export type { OutcomeCounts, OutcomeKind } from './batch-report.js';
export type { Link, Value, NodeData, ReadValue, PropertyMeta, NodeMeta, PropertyChange } from './values.js';
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
} from './errors.js';
export type { StorageAdapter, StorageEntry, StorageOperation, RangeOptions } from './storage/adapter.js';
export { MemoryStore } from './storage/memory.js';
export type { Network } from './network/peer-network.js';
export type { DialFailure, DialFailureCode } from './network/dial-failure.js';
export type { NetworkOptions, NetworkStatus, NetworkCounters, NetworkEvent, PeerStatus, PeerRole, Transport, WireLimits } from './network/types.js';
