/**
 * The public shape of a database's network: what `RustDHT.open({ network })` takes and
 * what `db.network` reports. Types only; peer-network.ts implements them.
 */
import type { DialFailureCode } from './dial-failure.js';

/** How this peer takes part. */
export type PeerRole =
  /** A backbone server (`rustdht serve`): listens, stores every soul it is responsible for, relays, answers feeds. */
  | 'server'
  /** A browser or app peer: dials servers (and other peers), caches what it reads, sends its outbox. */
  | 'client';

/** `RustDHT.open({ network })`: how this database joins the network. */
export interface NetworkOptions {
  /** Default 'client'. */
  readonly role?: PeerRole;
  /** Multiaddrs to dial and keep dialling with backoff (servers to join). */
  readonly peers?: readonly string[];
  /** Multiaddrs to listen on. Servers default to TCP 7401, WebSockets 7402 and WebRTC-Direct 7403 on every interface; clients listen nowhere by default. */
  readonly listen?: readonly string[];
  /** Where a server keeps its peer key and WebRTC certificate (stable id and certhash across restarts). */
  readonly dataDir?: string;
  /** Hard limits of the sync protocol, per peer. */
  readonly limits?: WireLimits;
  /** How long a read waits for peers before answering from what it has (default 2000 ms). */
  readonly readTimeoutMs?: number;
  /**
   * Exempt connections from loopback (127.0.0.0/8, ::1) from libp2p's connection limits
   * (5 new connections per second per host, 10 pending, 300 in all). Default false:
   * behind a reverse proxy on the same host every client arrives from loopback, and this
   * would lift the limits for all of them. For tests and local tools (Node only).
   */
  readonly exemptLoopback?: boolean;
  /**
   * Servers: what peers may make this server store (network/serving/write-admission.ts):
   * bytes per second per peer (default 4 MiB/s) and for all peers together (default
   * 32 MiB/s), each with bursts of 10 s of it. A write over them is refused with
   * `quota/peer` or `quota/rate`; the writer keeps it and sends it again later.
   */
  readonly quota?: WriteQuota;
  /**
   * Servers: a check run before each peer's PUT is applied; return `{ code, message }`
   * to refuse it (the writer keeps it and retries), undefined to admit it. `rustdht serve`
   * refuses with `storage/full` while the disk is nearly full.
   */
  readonly writeGate?: WriteGate;
  /** Servers: the DHT (network/dht/): how many servers own each soul, and who may be a member. */
  readonly dht?: DhtOptions;
}

/** `network.dht` (servers). */
export interface DhtOptions {
  /**
   * R: how many servers own (store) each soul, the R closest to its hash (default 3).
   * Every server of one network must use the same R. With R or fewer servers, each
   * holds everything.
   */
  readonly replicas?: number;
  /**
   * When given, only these peer ids (and this server) may be members: their records are
   * taken, they own data, they are dialled and followed. Default: any server that
   * announces itself with a valid signed record (open membership).
   */
  readonly trustedMembers?: readonly string[];
  /** Bytes this server offers to store, announced to the others (default 0: unspecified). */
  readonly capacity?: number;
  /** Addresses to announce instead of the ones it listens on (behind NAT or a proxy). */
  readonly announce?: readonly string[];
  /**
   * Hinted hand-off's bound: how many souls this server may hold for owners that have
   * not confirmed them yet (default 100,000). Past it, a client's write naming a soul
   * this server does not own is refused with `quota/hints` (a refusal for now: the
   * writer keeps it and sends it again) until owners take some — a server whose owners
   * stay unreachable does not grow without bound.
   */
  readonly maxHints?: number;
  /**
   * Up to this many other servers, each server keeps a connection to every one (a full
   * mesh: failures are seen by everyone within seconds). Beyond it, a server keeps
   * connections to its routing-table neighbours (a few per Kademlia bucket around it:
   * its nearest co-owners and links into every part of the key space, over which
   * membership gossip spreads) and dials any other member when a job needs it
   * (coordinating a write, reading from owners, repair), for as long as it keeps
   * needing it. Default 24.
   */
  readonly fullMeshMax?: number;
}

/** What `network.status().dht` reports on a server. */
export interface DhtStatus {
  /** Live members (servers) this one counts, itself included. */
  readonly members: number;
  /** R as configured. */
  readonly replicas: number;
  /** About how much of the ring this server owns (0..1). */
  readonly share: number;
  /** Changes whenever the member set does. */
  readonly version: number;
}

export interface WireLimits {
  /** Bytes per protocol message (default 4 MiB). Larger messages close the stream. */
  readonly maxMessageBytes?: number;
  /**
   * Messages per second a peer may send, sustained (default 2000; burst twice that), across
   * all its sessions. A client over it is read more slowly (held back) rather than refused;
   * a server this peer chose is refused with `wire/rate-limited` instead.
   */
  readonly messagesPerSecond?: number;
  /** Bytes per second a peer may send, sustained (default 16 MiB; burst twice that). */
  readonly bytesPerSecond?: number;
}

export type Transport = 'tcp' | 'websockets' | 'webrtc-direct' | 'webrtc' | 'circuit-relay' | 'other';

export interface PeerStatus {
  readonly peerId: string;
  /** What the peer said it is in its hello; undefined until the sync stream is open. */
  readonly role: PeerRole | undefined;
  readonly transport: Transport;
  readonly address: string;
  /** Last ping round trip, ms. */
  readonly rttMs: number | undefined;
  readonly connectedAt: number;
}

export interface NetworkStatus {
  readonly peerId: string;
  readonly role: PeerRole;
  /** Addresses others can dial (servers), with /p2p/<peerId>. */
  readonly addresses: readonly string[];
  readonly peers: readonly PeerStatus[];
  readonly outboxSize: number;
  /** offline: no peer (a server: not listening); syncing: outbox entries or requests in flight; idle: connected (a server: listening) and caught up. */
  readonly state: 'offline' | 'syncing' | 'idle';
  /** Servers: membership and this server's share of the ring. */
  readonly dht?: DhtStatus;
}

/** Running totals since start (what /metrics exports). */
export interface NetworkCounters {
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Times a peer's message waited for room in its rate limit: over the limit, a peer is read more slowly rather than refused (a server to us is refused instead: `rejects['wire/rate-limited']`). */
  readonly heldBack: number;
  /** Updates from peers by engine outcome: applied, ignored, historical, deferred, rejected. */
  readonly updates: Readonly<Record<'applied' | 'ignored' | 'historical' | 'deferred' | 'rejected', number>>;
  /** Rejections by reason code: engine codes (signature/invalid, namespace/not-owner, clock/too-far-ahead…) and wire codes (wire/malformed, wire/too-large, wire/rate-limited…). */
  readonly rejects: Readonly<Record<string, number>>;
}

export type NetworkEvent =
  | { readonly type: 'peer:connect'; readonly peer: PeerStatus }
  | { readonly type: 'peer:disconnect'; readonly peerId: string }
  | { readonly type: 'state'; readonly state: NetworkStatus['state'] }
  /** A peer's message was refused (bad bytes, limits, bad updates). */
  | { readonly type: 'reject'; readonly peerId: string; readonly code: string; readonly message: string }
  /**
   * Dialling `address` failed (it is dialled again with backoff). `code` says why:
   * network/refused, network/wrong-peer, network/unreachable or network/dial-failed.
   */
  | { readonly type: 'dial:failed'; readonly address: string; readonly peerId: string | undefined; readonly code: DialFailureCode; readonly message: string };

/** What peers may make a server store per second (`network.quota`; network/serving/write-admission.ts). */
export interface WriteQuota {
  /** Bytes per second one peer may have this server store, sustained (default 4 MiB/s; bursts of 10 s of it). Each update counts 512 bytes more than its size. */
  readonly peerBytesPerSecond?: number;
  /** Bytes per second all peers together may have it store (default 32 MiB/s; bursts of 10 s of it). */
  readonly totalBytesPerSecond?: number;
}

/** A peer's write about to be admitted: who sends it, how many bytes, and whether it writes only into owners' `~` spaces. */
export interface WriteRequest {
  readonly peerId: string;
  readonly bytes: number;
  /** Updates the PUT carries (0 when its frame is malformed: the engine refuses it next). */
  readonly updates: number;
  readonly ownedOnly: () => boolean;
}

/** A server's own check before a peer's write is applied (`network.writeGate`): a refusal, or undefined to admit. */
export type WriteGate = (write: WriteRequest) => { readonly code: string; readonly message: string } | undefined;
