/**
 * A peer that speaks the sync protocol by hand over any Channel: it sends messages or raw
 * bytes and records every message it receives, so a test can assert exactly what a peer
 * under test answers (and what it does not).
 */
import type { Channel } from '../../../src/network/transport/channel.js';
import { MessageReader, lengthPrefixed } from '../../../src/network/wire/framing.js';
import { decodeMessage, encodeMessage, type WireMessage } from '../../../src/network/wire/messages.js';
import { waitFor } from './server-process.js';

export type ErrorMessage = Extract<WireMessage, { type: 'error' }>;
export type AckMessage = Extract<WireMessage, { type: 'ack' }>;
export type NodeMessage = Extract<WireMessage, { type: 'node' }>;
export type NodePartMessage = Extract<WireMessage, { type: 'node-part' }>;
export type EventMessage = Extract<WireMessage, { type: 'event' }>;
export type FeedEntryMessage = Extract<WireMessage, { type: 'feed-entry' }>;
export type HelloMessage = Extract<WireMessage, { type: 'hello' }>;

const REPLIES = new Set<WireMessage['type']>(['error', 'ack', 'node', 'node-part', 'ok']);

export class RawPeer {
  readonly messages: WireMessage[] = [];
  /** Bodies that did not decode (a conforming peer never sends those). */
  readonly undecodable: Uint8Array[] = [];
  readonly #channel: Channel;
  readonly #reader = new MessageReader(64 * 1024 * 1024);
  #closed = false;
  #nextId = 1;

  constructor(channel: Channel) {
    this.#channel = channel;
    channel.onBytes((chunk) => {
      for (const body of this.#reader.push(chunk)) {
        try {
          this.messages.push(decodeMessage(body));
        } catch {
          this.undecodable.push(body);
        }
      }
    });
    channel.onClose(() => (this.#closed = true));
  }

  /** Sends our hello and waits for the other side's. */
  async hello(options: { role?: 'client' | 'server'; maxMessageBytes?: number } = {}): Promise<HelloMessage> {
    await this.send({ type: 'hello', id: 0, role: options.role ?? 'client', maxMessageBytes: options.maxMessageBytes ?? 4 * 1024 * 1024 });
    return this.next((m): m is HelloMessage => m.type === 'hello', "the peer's hello");
  }

  get closed(): boolean {
    return this.#closed || this.#channel.closed;
  }

  /** A fresh request id. */
  id(): number {
    return this.#nextId++;
  }

  send(message: WireMessage): Promise<void> {
    return this.#channel.send(lengthPrefixed(encodeMessage(message)));
  }

  /** Raw bytes; a channel the peer already closed swallows them. */
  sendBytes(bytes: Uint8Array): Promise<void> {
    return this.#channel.send(bytes).catch(() => {});
  }

  /** Sends a request (a fresh id) and waits for its first reply. */
  async request(message: DistributiveOmit<WireMessage, 'id'>, timeoutMs?: number): Promise<WireMessage> {
    const id = this.id();
    await this.send({ ...message, id } as WireMessage);
    return this.reply(id, timeoutMs);
  }

  next<T extends WireMessage>(match: (m: WireMessage) => m is T, what: string, timeoutMs?: number): Promise<T>;
  next(match: (m: WireMessage) => boolean, what: string, timeoutMs?: number): Promise<WireMessage>;
  next(match: (m: WireMessage) => boolean, what: string, timeoutMs = 10_000): Promise<WireMessage> {
    return waitFor(what, () => this.messages.find(match), { timeoutMs, intervalMs: 5 });
  }

  /** The (first) reply to our request `id`: ERROR, ACK, NODE, NODE_PART or OK (not the peer's own requests, whose ids it picks). */
  reply(id: number, timeoutMs?: number): Promise<WireMessage> {
    return this.next((m) => m.id === id && REPLIES.has(m.type), `the reply to request ${id}`, timeoutMs);
  }

  /** The messages received so far that match. */
  all<T extends WireMessage>(match: (m: WireMessage) => m is T): T[] {
    return this.messages.filter(match);
  }

  /** Waits until the other side closed the channel; returns its connection-level ERROR, if it sent one. */
  async ended(timeoutMs = 10_000): Promise<ErrorMessage | undefined> {
    // The channel's end as reported by onClose, which comes after what arrived before it
    // was read (channel.closed turns true at the remote's abort, before its farewell is read).
    await waitFor('the peer to close the channel', () => this.#closed, { timeoutMs, intervalMs: 5 });
    return this.messages.find((m): m is ErrorMessage => m.type === 'error' && m.id === 0);
  }

  stop(): void {
    if (!this.#channel.closed) this.#channel.abort(new Error('test done'));
  }
}

export function isEvent(m: WireMessage): m is EventMessage {
  return m.type === 'event';
}

/** Omit over each member of a union (Omit on a union would collapse it). */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
