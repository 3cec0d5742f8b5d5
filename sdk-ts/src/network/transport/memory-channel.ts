/**
 * Two channels joined in memory: what one end sends, the other receives, in a later
 * macrotask (as a real transport delivers), split into chunks of at most
 * `maxChunkBytes`. It keeps the Channel contract (transport/channel.ts) so the sync
 * protocol runs over it exactly as over a libp2p stream: the sync conformance suite runs
 * over both, and tests can join peers in one process without sockets, keys or
 * handshakes.
 *
 * Backpressure: bytes sent and not yet delivered to the other end's listeners count
 * against `windowBytes`; past it, `send()` resolves only once they are delivered. An end
 * with no `onBytes()` listener yet, or paused, keeps what arrives, so its sender waits.
 *
 * An abort ends this end at once (what it has not read is lost); what it already sent
 * still reaches the other end, which then sees the reset: a multiplexed libp2p stream
 * behaves so (yamux delivers a stream's data frames before its reset frame), and the
 * sync session relies on it to deliver its farewell ERROR before it aborts.
 */
import { ClosedError } from '../../api/errors.js';
import { afterMicrotasks } from '../../util/macrotask.js';
import type { BytesListener, Channel, CloseListener } from './channel.js';

export interface ChannelPairOptions {
  /** Bytes in flight towards one end before `send()` waits for them to be delivered (default 64 KiB). */
  readonly windowBytes?: number;
  /** Larger sends arrive as several chunks (default 64 KiB); 1 exercises framing byte by byte. */
  readonly maxChunkBytes?: number;
}

const DEFAULT_WINDOW_BYTES = 64 * 1024;
const DEFAULT_MAX_CHUNK_BYTES = 64 * 1024;

/** Two connected channels: `[a, b]`, what `a` sends `b` receives and the other way round. */
export function createChannelPair(options: ChannelPairOptions = {}): [Channel, Channel] {
  const windowBytes = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
  const maxChunkBytes = options.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES;
  for (const [name, value] of [['windowBytes', windowBytes], ['maxChunkBytes', maxChunkBytes]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${String(value)}.`);
  }
  const a = new MemoryChannel('a', windowBytes, maxChunkBytes);
  const b = new MemoryChannel('b', windowBytes, maxChunkBytes);
  a.join(b);
  b.join(a);
  return [a, b];
}

interface DrainWaiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

class MemoryChannel implements Channel {
  readonly #name: string;
  readonly #windowBytes: number;
  readonly #maxChunkBytes: number;
  #remote!: MemoryChannel;
  /** Chunks the remote end sent that our listeners have not received yet. */
  readonly #inbox: Uint8Array[] = [];
  #inboxBytes = 0;
  #deliveryScheduled = false;
  /** pause() was called and resume() not yet: arrivals wait in the inbox. */
  #paused = false;
  readonly #bytesListeners: BytesListener[] = [];
  readonly #closeListeners: CloseListener[] = [];
  /** Our sends waiting for the remote end's inbox to drain below the window. */
  readonly #drainWaiters: DrainWaiter[] = [];
  /** This end closed its writing side (close() was called, or the remote closed first). */
  #writeClosed = false;
  /** The remote end closed its writing side: nothing more will arrive after the inbox. */
  #remoteWriteClosed = false;
  #ended: { readonly error: Error | undefined } | undefined;
  /** The remote end aborted: this end ends with this error once it has read what came before. */
  #reset: Error | undefined;
  #whenEnded: Promise<void> | undefined;
  #resolveEnded: (() => void) | undefined;

  constructor(name: string, windowBytes: number, maxChunkBytes: number) {
    this.#name = name;
    this.#windowBytes = windowBytes;
    this.#maxChunkBytes = maxChunkBytes;
  }

  join(remote: MemoryChannel): void {
    this.#remote = remote;
  }

  get closed(): boolean {
    return this.#ended !== undefined || this.#writeClosed || this.#remoteWriteClosed || this.#reset !== undefined;
  }

  async send(bytes: Uint8Array): Promise<void> {
    if (this.closed) throw new ClosedError('closed', `cannot send on memory channel ${this.#name}: the channel is closed`);
    const remote = this.#remote;
    // Copied: the caller may reuse its buffer once send() resolved, before delivery.
    for (let offset = 0; offset < bytes.length; offset += this.#maxChunkBytes) {
      remote.#receive(bytes.slice(offset, offset + this.#maxChunkBytes));
    }
    if (remote.#inboxBytes > this.#windowBytes) {
      await new Promise<void>((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
    }
  }

  onBytes(listener: BytesListener): void {
    this.#bytesListeners.push(listener);
    if (this.#bytesListeners.length === 1) this.#scheduleDelivery();
  }

  onClose(listener: CloseListener): void {
    const ended = this.#ended;
    if (ended === undefined) this.#closeListeners.push(listener);
    else queueMicrotask(() => listener(ended.error));
  }

  close(): Promise<void> {
    if (this.#ended === undefined && !this.#writeClosed) {
      this.#writeClosed = true;
      this.#remote.#onRemoteWriteClosed();
    }
    return this.#ended !== undefined ? Promise.resolve() : (this.#whenEnded ??= new Promise((resolve) => (this.#resolveEnded = resolve)));
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#scheduleDelivery();
  }

  abort(error: Error): void {
    if (this.#ended !== undefined) return;
    this.#end(error);
    this.#remote.#onReset(new ClosedError('closed', `memory channel ${this.#remote.#name} was reset by the remote end: ${error.message}`, { cause: error }));
  }

  #onReset(error: Error): void {
    if (this.#ended !== undefined) return;
    this.#reset = error;
    // Its sends waiting for room at the aborted end will never get it.
    const closed = new ClosedError('closed', `memory channel ${this.#name} was reset before its data was delivered`, { cause: error });
    for (const waiter of this.#drainWaiters.splice(0)) waiter.reject(closed);
    // A paused end is reset at once, as a paused libp2p stream is: what it did not read is lost.
    if (this.#inbox.length === 0 || this.#bytesListeners.length === 0 || this.#paused) this.#end(error);
    else this.#scheduleDelivery();
  }

  #receive(chunk: Uint8Array): void {
    if (this.#ended !== undefined) return;
    this.#inbox.push(chunk);
    this.#inboxBytes += chunk.length;
    this.#scheduleDelivery();
  }

  #onRemoteWriteClosed(): void {
    this.#remoteWriteClosed = true;
    // Delivered after what the remote sent before closing.
    this.#scheduleDelivery();
  }

  #scheduleDelivery(): void {
    if (this.#deliveryScheduled || this.#ended !== undefined || this.#paused) return;
    if (this.#bytesListeners.length === 0 && !this.#remoteWriteClosed) return;
    this.#deliveryScheduled = true;
    afterMicrotasks(() => this.#deliver());
  }

  #deliver(): void {
    this.#deliveryScheduled = false;
    if (this.#ended !== undefined || this.#paused) return;
    if (this.#bytesListeners.length !== 0) {
      while (this.#inbox.length !== 0 && this.#ended === undefined) {
        // A listener paused us: the rest waits for resume() (and the sender for room).
        if (this.#paused) break;
        const chunk = this.#inbox.shift()!;
        this.#inboxBytes -= chunk.length;
        try {
          for (const listener of this.#bytesListeners) listener(chunk);
        } catch (error) {
          this.abort(error instanceof Error ? error : new Error(String(error)));
          return;
        }
      }
      this.#remote.#drained();
      if (this.#paused) return;
    }
    if (this.#reset !== undefined) {
      this.#end(this.#reset);
      return;
    }
    if (this.#remoteWriteClosed && this.#inbox.length === 0) {
      // Not half-closable (as StreamChannel): the remote closed, so this end closes too.
      if (!this.#writeClosed) void this.close();
      if (this.#remote.#inbox.length === 0 && this.#remote.#remoteWriteClosed) {
        this.#end(undefined);
        this.#remote.#end(undefined);
      }
    }
  }

  /** The remote end took what we sent: senders waiting for room may go on. */
  #drained(): void {
    if (this.#remote.#inboxBytes > this.#windowBytes) return;
    for (const waiter of this.#drainWaiters.splice(0)) waiter.resolve();
  }

  #end(error: Error | undefined): void {
    if (this.#ended !== undefined) return;
    this.#ended = { error };
    this.#inbox.length = 0;
    this.#inboxBytes = 0;
    const closed = new ClosedError('closed', `memory channel ${this.#name} closed before its data was delivered`, { cause: error });
    for (const waiter of this.#drainWaiters.splice(0)) waiter.reject(closed);
    this.#resolveEnded?.();
    for (const listener of this.#closeListeners.splice(0)) listener(error);
  }
}
