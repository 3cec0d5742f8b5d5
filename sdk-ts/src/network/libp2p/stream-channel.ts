/**
 * One libp2p stream as a Channel (transport/channel.ts): a bidirectional pipe of raw
 * bytes, with backpressure on send and one close signal, which is what the sync
 * protocol's framing layer needs and all it needs. Framing, limits and meaning of the
 * bytes live above this.
 *
 * libp2p 3 streams are event targets: 'message' carries received bytes, `send()` returns
 * false when the write buffer is full ('drain' says when to go on), 'close' fires once
 * both ends are done or one end aborted.
 */

import { abortErrorFrom, ClosedError, throwIfAborted } from '../../api/errors.js';
import { parseMultiaddr } from '../multiaddr.js';
import { afterMicrotasks } from '../../util/macrotask.js';
import type { BytesListener, Channel, CloseListener } from '../transport/channel.js';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Connection, Libp2p, PeerId, Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';

interface HeldSends {
  readonly chunks: Uint8Array[];
  bytes: number;
  /** Settles once the joined write was taken (or drained), for every send joined in it. */
  readonly sent: Promise<void>;
  readonly settle: { readonly resolve: () => void; readonly reject: (error: unknown) => void };
}

function joined(chunks: readonly Uint8Array[], bytes: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

export class StreamChannel implements Channel {
  readonly #stream: Stream;
  readonly #bytesListeners: BytesListener[] = [];
  readonly #closeListeners: CloseListener[] = [];
  #bytesIn = 0;
  #bytesOut = 0;
  /** Set once the stream's 'close' event has fired. */
  #ended: { readonly error: Error | undefined } | undefined;
  #closing: Promise<void> | undefined;
  /** Inside the stream's resume(), which delivers held bytes to our listeners (see resume()). */
  #resuming = false;
  /** A listener paused the channel during resume(): pause once it returns. */
  #pauseAfterResume = false;
  /** A send went out this macrotask: later ones are held and joined (see send()). */
  #holdScheduled = false;
  #held: HeldSends | undefined;

  constructor(stream: Stream) {
    this.#stream = stream;
    // No 'message' listener yet, on purpose: until onBytes() adds one, the stream keeps
    // what arrives in its read buffer instead of dropping it.
    stream.addEventListener('close', (event: StreamCloseEvent) => this.#onStreamClose(event.error), { once: true });
    // Not half-closable: a RustDHT channel has no use for a one-way stream, and a stream
    // left half open would linger until its connection dies. So when the remote end
    // closes, this end closes too (after sending what is already queued).
    stream.addEventListener('remoteCloseWrite', () => void this.close(), { once: true });
    if (stream.status !== 'open') this.#ended = { error: undefined };
  }

  /** The protocol negotiated for the stream. */
  get protocol(): string {
    return this.#stream.protocol;
  }

  /** True once nothing more can be sent: closing, closed or aborted, at either end. */
  get closed(): boolean {
    return this.#ended !== undefined || this.#stream.status !== 'open' || this.#stream.writeStatus !== 'writable';
  }

  /** Bytes received so far. */
  get bytesIn(): number {
    return this.#bytesIn;
  }

  /** Bytes the stream took so far (queued in it or sent; not those send() still holds). */
  get bytesOut(): number {
    return this.#bytesOut;
  }

  /**
   * Calls `listener` with every chunk received, in order. Chunk boundaries mean nothing
   * (the transport splits and merges freely). A listener that throws aborts the channel
   * with that error: the bytes can no longer be trusted to be read in full.
   */
  onBytes(listener: BytesListener): void {
    this.#bytesListeners.push(listener);
    if (this.#bytesListeners.length === 1) {
      this.#stream.addEventListener('message', (event: StreamMessageEvent) => this.#onMessage(event));
    }
  }

  /**
   * Calls `listener` once when the channel has closed at both ends (error undefined) or
   * was aborted or reset at either end (the error says why). Called at once (next
   * microtask) if that already happened.
   */
  onClose(listener: CloseListener): void {
    const ended = this.#ended;
    if (ended === undefined) {
      this.#closeListeners.push(listener);
    } else {
      queueMicrotask(() => listener(ended.error));
    }
  }

  /**
   * Sends `bytes`. Resolves as soon as the stream has taken them, or, when its write
   * buffer is full, once it has drained, so a sender that awaits each call never buffers
   * more than one transport window. Rejects with ClosedError if the channel is closed or
   * closes before draining. Do not modify `bytes` until the promise settles.
   *
   * The first send of a macrotask goes to the stream at once; the ones after it in the
   * same macrotask are joined and go as one write when it ends (afterMicrotasks). Each write
   * costs a yamux frame, a Noise encryption and a socket write (a system call): a server
   * answering thousands of small requests a second spent a seventh of its busy time in
   * those writes alone (bench row 11's soak). Order is kept: nothing is written while
   * sends are held, and the held ones go before any later send.
   */
  send(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('closed', `cannot send on ${this.#describe()}: the channel is closed`));
    if (this.#held !== undefined) {
      const held = this.#held;
      held.chunks.push(bytes);
      held.bytes += bytes.byteLength;
      return held.sent;
    }
    if (this.#holdScheduled) {
      let settle!: { resolve: () => void; reject: (error: unknown) => void };
      const sent = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      this.#held = { chunks: [bytes], bytes: bytes.byteLength, sent, settle };
      return sent;
    }
    this.#holdScheduled = true;
    afterMicrotasks(() => this.#sendHeld());
    return this.#write(bytes);
  }

  #sendHeld(): void {
    this.#holdScheduled = false;
    this.#writeHeld();
  }

  #writeHeld(): void {
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    if (this.closed) {
      held.settle.reject(this.#closedBeforeSent(this.#ended?.error));
      return;
    }
    this.#write(joined(held.chunks, held.bytes)).then(held.settle.resolve, held.settle.reject);
  }

  #write(bytes: Uint8Array): Promise<void> {
    let writable: boolean;
    try {
      writable = this.#stream.send(bytes);
    } catch (error) {
      // The stream refused the bytes: its write end closed in a way `closed` could not see.
      return Promise.reject(new ClosedError('closed', `cannot send on ${this.#describe()}: the channel is closed`, { cause: error }));
    }
    this.#bytesOut += bytes.byteLength;
    return writable ? Promise.resolve() : this.#drained();
  }

  /**
   * Closes this end gracefully: what was sent is delivered first. The channel is fully
   * closed (onClose listeners called) when the remote end has closed too, which a remote
   * StreamChannel does on its own. Never rejects: if flushing fails the stream is aborted,
   * and the error reaches onClose listeners.
   */
  close(): Promise<void> {
    // What send() holds goes first (a graceful close delivers everything sent).
    if (this.#closing === undefined) this.#writeHeld();
    this.#closing ??= this.#stream.close().catch((error: unknown) => {
      this.#stream.abort(error instanceof Error ? error : new Error(String(error)));
    });
    return this.#closing;
  }

  /** Closes at once, discarding anything unsent or unread; the remote sees a reset. */
  abort(error: Error): void {
    this.#stream.abort(error);
  }

  /**
   * Stops 'message' events; the stream keeps what arrives and yamux stops granting the
   * remote more window, so the remote's writes wait once what it may still send (at most
   * a stream window, which the node's yamux settings keep within the stream's read
   * buffer) has arrived.
   */
  pause(): void {
    if (this.#resuming) {
      this.#pauseAfterResume = true;
      return;
    }
    if (this.#stream.readStatus === 'readable') this.#stream.pause();
  }

  resume(): void {
    this.#pauseAfterResume = false;
    if (this.#stream.readStatus !== 'paused') return;
    // libp2p's resume() hands over what it held (our listeners run inside it) and only
    // then tells yamux to grant window again. A listener that pauses meanwhile leaves the
    // stream paused with yamux granting window anyway: the remote may then send without
    // bound into the read buffer, until the stream resets itself at its limit. So a
    // pause asked for during resume() is made once it has returned.
    this.#resuming = true;
    try {
      this.#stream.resume();
    } finally {
      this.#resuming = false;
    }
    if (this.#pauseAfterResume) {
      this.#pauseAfterResume = false;
      // (resume() changed the status; the narrowing above no longer holds.)
      if ((this.#stream.readStatus as string) === 'readable') this.#stream.pause();
    }
  }

  #onMessage(event: StreamMessageEvent): void {
    const chunk = event.data instanceof Uint8Array ? event.data : event.data.subarray();
    this.#bytesIn += chunk.byteLength;
    try {
      for (const listener of this.#bytesListeners) listener(chunk);
    } catch (error) {
      this.abort(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #onStreamClose(error: Error | undefined): void {
    if (this.#ended !== undefined) return;
    this.#ended = { error };
    for (const listener of this.#closeListeners.splice(0)) listener(error);
  }

  #drained(): Promise<void> {
    // A stream whose write buffer overflows aborts itself inside send(), before a
    // listener could be added here; and a drain may already have happened.
    if (this.#ended !== undefined) return Promise.reject(this.#closedBeforeSent(this.#ended.error));
    if (!this.#stream.writableNeedsDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        this.#stream.removeEventListener('close', onClose);
        resolve();
      };
      const onClose = (event: StreamCloseEvent): void => {
        this.#stream.removeEventListener('drain', onDrain);
        reject(this.#closedBeforeSent(event.error));
      };
      this.#stream.addEventListener('drain', onDrain, { once: true });
      this.#stream.addEventListener('close', onClose, { once: true });
    });
  }

  #closedBeforeSent(cause: Error | undefined): ClosedError {
    const reason = cause === undefined ? '' : `: ${cause.message}`;
    return new ClosedError('closed', `${this.#describe()} closed before its data was sent${reason}`, { cause });
  }

  #describe(): string {
    return `stream ${this.#stream.id} (${this.#stream.protocol})`;
  }
}

export interface OpenChannelOptions {
  readonly signal?: AbortSignal;
}

/**
 * Opens a channel on `protocol` to a peer: a PeerId, a peer id string, or a multiaddr
 * (object or string starting with '/'). Dials the peer if not connected. Works over
 * relayed (limited) connections too, so a browser reachable only through a relay can be
 * synced with. Rejects with AbortError if `signal` fires; dial and protocol negotiation
 * failures are libp2p's errors, passed through.
 */
export async function openChannel(
  node: Libp2p,
  peer: PeerId | Multiaddr | string,
  protocol: string | readonly string[],
  options: OpenChannelOptions = {},
): Promise<StreamChannel> {
  const { signal } = options;
  throwIfAborted(signal);
  const target = typeof peer !== 'string' ? peer : peer.startsWith('/') ? parseMultiaddr(peer) : peerIdFromString(peer);
  try {
    // Several protocols: the first the peer speaks (StreamChannel.protocol says which).
    const stream = await node.dialProtocol(target, typeof protocol === 'string' ? protocol : [...protocol], { signal, runOnLimitedConnection: true });
    return new StreamChannel(stream);
  } catch (error) {
    if (signal?.aborted === true) throw abortErrorFrom(signal);
    throw error;
  }
}

export interface HandleChannelsOptions {
  /** Concurrent inbound streams on this protocol per connection (libp2p default 32). */
  readonly maxInboundStreams?: number;
  /** Concurrent outbound streams on this protocol per connection (libp2p default 64). */
  readonly maxOutboundStreams?: number;
}

export type ChannelHandler = (channel: StreamChannel, connection: Connection) => void;

/**
 * Accepts channels that peers open on `protocol`, including over relayed (limited)
 * connections. A handler that throws aborts that channel. Resolves to a function that
 * stops accepting (channels already open stay open).
 */
export async function handleChannels(
  node: Libp2p,
  protocol: string | readonly string[],
  handler: ChannelHandler,
  options: HandleChannelsOptions = {},
): Promise<() => Promise<void>> {
  const protocols = typeof protocol === 'string' ? protocol : [...protocol];
  await node.handle(
    protocols,
    (stream, connection) => {
      const channel = new StreamChannel(stream);
      try {
        handler(channel, connection);
      } catch (error) {
        channel.abort(error instanceof Error ? error : new Error(String(error)));
      }
    },
    {
      runOnLimitedConnection: true,
      ...(options.maxInboundStreams === undefined ? {} : { maxInboundStreams: options.maxInboundStreams }),
      ...(options.maxOutboundStreams === undefined ? {} : { maxOutboundStreams: options.maxOutboundStreams }),
    },
  );
  return () => node.unhandle(protocols);
}
