/**
 * The contract between a database and a network (libp2p gossip and request/response,
 * a WebSocket relay, or a test harness). Types only: the networking layer implements
 * it; nothing here does I/O.
 *
 * Frames are the engine's binary changes frames: self-contained, signed where the
 * data is signed, and safe to apply in any order and any number of times. So an
 * adapter never interprets them; it moves bytes:
 *
 *   local write ──db.onChanges(frame)──▶ adapter.announce(frame) ──▶ peers
 *   peers ──frame──▶ adapter ──host.receive(frame)──▶ engine (decode → verify → merge)
 *
 * Reads that miss locally ask the network with `request(soul)`; the answers arrive
 * as frames through the same `host.receive` path, so a read merges every replica's
 * answer exactly like a live update (read repair comes for free).
 */
import type { Outbox } from '../outbox.js';
import type { ReceiveResult } from '../replica.js';

/** What a database offers its network adapter (a `RustDHT` satisfies it). */
export interface NetworkHost {
  /** Applies a frame from a peer; resolves with per-update outcomes (the acks to send back). */
  receive(frame: Uint8Array): Promise<ReceiveResult>;
  /** Frames of local writes, to announce. Returns the unsubscribe function. */
  onChanges(listener: (frame: Uint8Array) => void): () => void;
  /**
   * Local writes not yet acknowledged by enough replicas, persisted with the database.
   * On (re)connecting, send `pending()` entries; `acknowledge(id)` each once the
   * responsible peers acked it; `onChange` reports entries added while connected.
   */
  readonly outbox: Outbox;
}

export interface NetworkAdapter {
  /** Connects to the network on behalf of `host`; resolves when ready to carry frames. */
  start(host: NetworkHost, options?: { readonly signal?: AbortSignal }): Promise<void>;
  /** Sends a local changes frame to the peers responsible for or subscribed to its souls. */
  announce(frame: Uint8Array): Promise<void>;
  /**
   * Asks the peers responsible for `soul` for what they hold of it. Their answers are
   * passed to `host.receive`; resolves when enough replicas answered (or rejects with
   * AbortError when `signal` fires).
   */
  request(soul: string, options?: { readonly signal?: AbortSignal }): Promise<void>;
  /** Live updates for `soul` from now on, until the returned function is called. */
  subscribe(soul: string): () => void;
  /** Disconnects; later calls reject with ClosedError. */
  stop(): Promise<void>;
}
