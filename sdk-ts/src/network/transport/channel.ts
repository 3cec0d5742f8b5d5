/**
 * The transport seam: what the sync protocol needs from a transport, and all it needs.
 * A channel is a bidirectional pipe of raw bytes between two peers, with backpressure on
 * send and one close signal. Framing, limits and the meaning of the bytes live above it
 * (session/sync-session.ts), so any transport that can carry bytes in order can carry
 * the protocol:
 *
 * - libp2p streams (libp2p/stream-channel.ts): what `Network` dials and accepts;
 * - an in-process pair (transport/memory-channel.ts): tests, and N peers in one process.
 *
 * The contract both keep (test/network/channel.test.ts checks it on both):
 *
 * - bytes arrive in order and whole; chunk boundaries mean nothing;
 * - bytes that arrive before `onBytes()` is first called are kept for it, not dropped;
 * - `send()` resolves once the transport took the bytes, or, when its buffer is full,
 *   once it drained: a sender that awaits each call never buffers more than one window;
 *   it rejects with ClosedError once nothing more can be sent;
 * - `close()` is graceful (what was sent is delivered first) and not half-open: when one
 *   end closes, the other closes too, and both report `onClose(undefined)`;
 * - `abort(error)` ends this end at once, discarding what it has not read; what it
 *   already sent still reaches the remote end, which then reports an error of its own
 *   (a reset); the local end reports `error`;
 * - `onClose` listeners are called once; one added after the end is called at once
 *   (next microtask);
 * - `pause()` stops delivering bytes until `resume()`: what arrives meanwhile is kept (a
 *   transport window's worth at most: the remote's `send()` then waits), nothing is lost
 *   or reordered. It is how a reader slows a peer down instead of buffering or refusing
 *   what it sends (flow control); both calls are no-ops on an ended channel.
 */

export type BytesListener = (chunk: Uint8Array) => void;

/** `error` is undefined when both ends closed gracefully. */
export type CloseListener = (error?: Error) => void;

export interface Channel {
  /** True once nothing more can be sent: closing, closed or aborted, at either end. */
  readonly closed: boolean;
  /** The protocol negotiated for it (libp2p streams); absent: the newest this peer speaks. */
  readonly protocol?: string;
  /** Sends `bytes` (do not modify them until the promise settles); see the contract above. */
  send(bytes: Uint8Array): Promise<void>;
  /** Calls `listener` with every chunk received, in order. A listener that throws aborts the channel. */
  onBytes(listener: BytesListener): void;
  /** Calls `listener` once when the channel has ended, gracefully (no error) or not. */
  onClose(listener: CloseListener): void;
  /** Closes gracefully; never rejects (a failed flush aborts, and onClose hears why). */
  close(): Promise<void>;
  /** Closes at once, discarding anything unsent or unread. */
  abort(error: Error): void;
  /** Stops delivering received bytes (they wait, and the sender is held back) until resume(). */
  pause(): void;
  /** Delivers what waited, and what comes next, again. */
  resume(): void;
}
