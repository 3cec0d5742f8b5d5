/**
 * One SyncSession (network/sync-session.ts) over an in-memory channel pair, with a RawPeer
 * (helpers/raw-peer.ts) on the other end and a scripted SessionHandler that records what
 * the session hands it: a test sends exactly the bytes it wants and sees what the
 * session answers, refuses and reports, with no database behind it.
 */
import { CounterSet } from '../../../src/network/counters.js';
import { PeerSendQueue } from '../../../src/network/peers/send-queue.js';
import { SyncSession, type IncomingEvent, type IncomingRequest, type SessionHandler, type SessionOptions } from '../../../src/network/sync-session.js';
import { createChannelPair, type ChannelPairOptions } from '../../../src/network/transport/memory-channel.js';
import type { Channel } from '../../../src/network/transport/channel.js';
import type { WireLimits } from '../../../src/network/types.js';
import { resolveWireLimits } from '../../../src/network/wire/rate-limiter.js';
import type { WireMessage } from '../../../src/network/wire/messages.js';
import { RawPeer } from './raw-peer.js';
import { waitFor } from './server-process.js';

export class ScriptedHandler implements SessionHandler {
  readonly requests: IncomingRequest[] = [];
  readonly events: IncomingEvent[] = [];
  readonly refusals: { code: string; message: string }[] = [];
  closedCount = 0;
  /** How a request is answered (default: OK with its id). */
  answer: (message: IncomingRequest) => Promise<WireMessage | undefined> = async (message) => ({ type: 'ok', id: message.id });
  /** How an event is taken (default: it is). */
  takeEvent: (message: IncomingEvent) => Promise<void> = async () => {};

  request(_: SyncSession, message: IncomingRequest): Promise<WireMessage | undefined> {
    this.requests.push(message);
    return this.answer(message);
  }

  event(_: SyncSession, message: IncomingEvent): Promise<void> {
    this.events.push(message);
    return this.takeEvent(message);
  }

  refused(_: SyncSession, code: string, message: string): void {
    this.refusals.push({ code, message });
  }

  closed(): void {
    this.closedCount++;
  }

  codes(): string[] {
    return this.refusals.map((r) => r.code);
  }
}

export interface SessionPairOptions extends Partial<Omit<SessionOptions, 'limits' | 'counters' | 'handler' | 'peerId' | 'localRole'>> {
  readonly limits?: WireLimits;
  readonly localRole?: SessionOptions['localRole'];
  readonly channel?: ChannelPairOptions;
  /** Do not attach a RawPeer to the other end (it reads nothing). */
  readonly silentPeer?: boolean;
}

export interface SessionPair {
  readonly session: SyncSession;
  readonly peer: RawPeer;
  readonly handler: ScriptedHandler;
  readonly counters: CounterSet;
  readonly theirs: Channel;
  readonly sendQueue: PeerSendQueue;
}

export function sessionPair(options: SessionPairOptions = {}): SessionPair {
  const [ours, theirs] = createChannelPair(options.channel);
  const peer = options.silentPeer === true ? (undefined as unknown as RawPeer) : new RawPeer(theirs);
  const handler = new ScriptedHandler();
  const counters = new CounterSet();
  const sendQueue = options.sendQueue ?? new PeerSendQueue();
  const { limits, channel: _, silentPeer: __, ...rest } = options;
  const session = new SyncSession(ours, {
    peerId: 'peer-1',
    localRole: 'server',
    limits: resolveWireLimits(limits ?? {}),
    counters,
    handler,
    ...rest,
    sendQueue,
  });
  return { session, peer, handler, counters, theirs, sendQueue };
}

/** A session whose peer sent its hello (as `role`, taking `maxMessageBytes`), ready for requests. */
export async function readyPair(options: SessionPairOptions & { role?: 'client' | 'server'; maxMessageBytes?: number } = {}): Promise<SessionPair> {
  const { role, maxMessageBytes, ...rest } = options;
  const pair = sessionPair(rest);
  await pair.peer.hello({ ...(role === undefined ? {} : { role }), ...(maxMessageBytes === undefined ? {} : { maxMessageBytes }) });
  await pair.session.whenReady();
  return pair;
}

/** Waits until the handler was told of a refusal with `code`. */
export function refusedWith(handler: ScriptedHandler, code: string): Promise<unknown> {
  return waitFor(`a refusal ${code}`, () => handler.codes().includes(code), { timeoutMs: 5000, intervalMs: 2 });
}

/** A few macrotasks: what is in flight in the channel pair has arrived. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}
