/**
 * The peers that subscribed here, and the live updates this peer pushes them:
 *
 *   SUBSCRIBE souls   → OK, then EVENTs with each soul's current state (a large node in
 *                       parts, each within the peer's message limit and any batch
 *                       limit: node-parts.ts), then an EVENT whenever a batch changes
 *                       one of them (only those souls)
 *   UNSUBSCRIBE souls → OK
 *
 * Each subscriber gets the changes of the souls *it* watches and nothing else: a batch
 * that also touches other souls is cut down with `residentNodeFrame(soul, keys)`. A
 * subscriber that reads slower than its updates arrive is disconnected rather than
 * buffered without bound (it redials, subscribes again and gets each soul's current
 * state in one message).
 *
 * Nothing is pushed before it is durable here (durability.ts): the frames are cut when
 * the batch applies, and sent once the commit that holds it has completed.
 *
 * The other side, this peer as a subscriber, is duties/subscriber.ts.
 */
import { LimitError } from '../../api/errors.js';
import type { CounterSet } from '../counters.js';
import { MAX_QUEUED_BYTES_PER_PEER } from '../peers/send-queue.js';
import type { AppliedBatch, ReplicaForNetwork } from '../replica-port.js';
import type { IncomingRequest, SyncSession } from '../sync-session.js';
import type { WireMessage } from '../wire/messages.js';
import type { DurabilityBarrier } from './durability.js';
import { partLimits } from './node-parts.js';

export type ReplicaForPublisher = Pick<ReplicaForNetwork, 'onApplied' | 'nodeFramePart' | 'residentNodeFrame' | 'limits'>;

type Subscribe = Extract<IncomingRequest, { type: 'subscribe' }>;

/** A soul got its first subscriber here (`watched`), or lost its last. */
export type InterestListener = (soul: string, watched: boolean) => void;
type Unsubscribe = Extract<IncomingRequest, { type: 'unsubscribe' }>;

/** The current state after a SUBSCRIBE is sent in chunks of about this many bytes. */
const INITIAL_STATE_CHUNK_BYTES = 1024 * 1024;
/** Souls one peer may subscribe to here at once. */
export const MAX_SUBSCRIPTIONS_PER_PEER = 10_000;

export class Publisher {
  readonly #replica: ReplicaForPublisher;
  readonly #counters: CounterSet;
  readonly #durability: DurabilityBarrier;
  /** Per subscribed session: the souls it subscribed to here. */
  readonly #subscribers = new Map<SyncSession, Set<string>>();
  /** How many sessions watch each soul here. */
  readonly #watchers = new Map<string, number>();
  readonly #interest: InterestListener | undefined;
  readonly #stopPush: () => void;

  /** `interest`: told when a soul gets its first subscriber here and when its last one leaves (a DHT server then subscribes at the soul's owners). */
  constructor(replica: ReplicaForPublisher, counters: CounterSet, durability: DurabilityBarrier, interest?: InterestListener) {
    this.#replica = replica;
    this.#counters = counters;
    this.#durability = durability;
    this.#interest = interest;
    this.#stopPush = replica.onApplied((batch) => this.#push(batch));
  }

  stop(): void {
    this.#stopPush();
    this.#subscribers.clear();
    this.#watchers.clear();
  }

  /** Whether some peer subscribed to `soul` here. */
  isWatched(soul: string): boolean {
    return this.#watchers.has(soul);
  }

  /** The souls some peer subscribed to here. */
  watchedSouls(): IterableIterator<string> {
    return this.#watchers.keys();
  }

  /** A session ended: forget its subscriptions. */
  forget(session: SyncSession): void {
    const souls = this.#subscribers.get(session);
    this.#subscribers.delete(session);
    for (const soul of souls ?? []) this.#unwatch(soul);
  }

  #watch(soul: string): void {
    const count = this.#watchers.get(soul) ?? 0;
    this.#watchers.set(soul, count + 1);
    if (count === 0) this.#interest?.(soul, true);
  }

  #unwatch(soul: string): void {
    const count = this.#watchers.get(soul);
    if (count === undefined) return;
    if (count > 1) {
      this.#watchers.set(soul, count - 1);
      return;
    }
    this.#watchers.delete(soul);
    this.#interest?.(soul, false);
  }

  /** Answers a SUBSCRIBE: OK, then the current state of each soul. */
  async subscribe(session: SyncSession, message: Subscribe): Promise<undefined> {
    const souls = this.#subscribers.get(session) ?? new Set<string>();
    if (souls.size + message.souls.length > MAX_SUBSCRIPTIONS_PER_PEER) {
      throw new LimitError('limit/subscriptions', `at most ${MAX_SUBSCRIPTIONS_PER_PEER} subscriptions per peer.`);
    }
    for (const soul of message.souls) {
      if (souls.has(soul)) continue;
      souls.add(soul);
      this.#watch(soul);
    }
    this.#subscribers.set(session, souls);
    await session.notify({ type: 'ok', id: message.id });
    // The current state, so the subscriber starts from what this peer holds: read, then
    // sent once durable, a few at a time (one wait for the commit covers them all).
    let frames: Uint8Array[] = [];
    let bytes = 0;
    const sendRead = async (): Promise<void> => {
      const ready = frames;
      frames = [];
      bytes = 0;
      await this.#durability.durable();
      for (const frame of ready) {
        if (session.closed) return;
        await session.notify({ type: 'event', id: 0, frame }).catch(() => this.#counters.reject('event/too-large'));
      }
    };
    const limits = partLimits(session.remoteMaxMessageBytes, this.#replica.limits?.maxKeyBytes);
    for (const soul of message.souls) {
      // A node in parts (one engine call each), so no node is too large to watch.
      let after: string | undefined;
      do {
        if (session.closed) return undefined;
        const part = await this.#replica.nodeFramePart(soul, after, limits);
        // A property too large for one message: refused (counted), the rest still sent.
        for (let i = 0; i < part.skipped.length; i++) this.#counters.reject('wire/too-large');
        after = part.next;
        if (part.frame.length === 0) continue;
        frames.push(part.frame);
        bytes += part.frame.length;
        if (bytes >= INITIAL_STATE_CHUNK_BYTES) await sendRead();
      } while (after !== undefined);
    }
    if (frames.length !== 0) await sendRead();
    return undefined;
  }

  /**
   * Answers an UNSUBSCRIBE: OK once the EVENTs of batches applied before it have left
   * (they wait for their commit), so the OK tells the peer that no EVENT of those souls
   * follows. Until then the peer takes them as expected, not as unsolicited.
   */
  async unsubscribe(session: SyncSession, message: Unsubscribe): Promise<WireMessage> {
    const souls = this.#subscribers.get(session);
    if (souls !== undefined) {
      for (const soul of message.souls) if (souls.delete(soul)) this.#unwatch(soul);
      if (souls.size === 0) this.#subscribers.delete(session);
    }
    await this.#durability.durable().catch(() => {});
    return { type: 'ok', id: message.id };
  }

  /**
   * `soul`'s changed `keys` as EVENT frames within what `session`'s peer takes: one frame
   * when it fits, else the keys halved until each part does. A single property larger
   * than any message it takes cannot travel (counted as wire/too-large, as GET_PART
   * skips it); the rest of the batch still does.
   */
  #cut(session: SyncSession, soul: string, keys: readonly string[], events: Array<readonly [SyncSession, Uint8Array]>): void {
    const frame = this.#replica.residentNodeFrame(soul, keys);
    if (frame === undefined) return;
    if (session.fits(frame.length)) {
      events.push([session, frame]);
      return;
    }
    if (keys.length === 1) {
      this.#counters.reject('wire/too-large');
      return;
    }
    const half = keys.length >> 1;
    this.#cut(session, soul, keys.slice(0, half), events);
    this.#cut(session, soul, keys.slice(half), events);
  }

  /** Sends each subscriber the changes of the souls it watches, and nothing else, once durable. */
  #push(batch: AppliedBatch): void {
    if (this.#subscribers.size === 0) return;
    const events: Array<readonly [SyncSession, Uint8Array]> = [];
    for (const [session, watched] of this.#subscribers) {
      if (session.closed) continue;
      if (session.peerQueuedBytes > MAX_QUEUED_BYTES_PER_PEER) {
        // It cannot keep up (on this session or its others: the bound is per peer, so
        // more sessions buy no more of it): rather than queue without bound, end the
        // session. The peer redials, subscribes again and gets the current state in one
        // message per soul. (The session enforces the same bound on every send.)
        session.end('wire/slow-consumer', `more than ${MAX_QUEUED_BYTES_PER_PEER} bytes of live updates waiting for this peer to read them.`);
        continue;
      }
      let keysBySoul: Map<string, string[]> | undefined;
      let all = true;
      for (const [soul, key] of batch.changes) {
        if (!watched.has(soul)) {
          all = false;
          continue;
        }
        keysBySoul ??= new Map();
        let keys = keysBySoul.get(soul);
        if (keys === undefined) keysBySoul.set(soul, (keys = []));
        keys.push(key);
      }
      if (keysBySoul === undefined) continue;
      if (all && session.fits(batch.frame.length)) {
        events.push([session, batch.frame]);
        continue;
      }
      // Cut now, while the graph is as this batch left it.
      for (const [soul, keys] of keysBySoul) this.#cut(session, soul, keys, events);
    }
    if (events.length === 0) return;
    this.#durability.after((error) => {
      // A failed commit: the batch is not durable here, so it is not passed on (its
      // writer was told: its put or PUT failed).
      if (error !== undefined) return;
      for (const [session, frame] of events) {
        session.notify({ type: 'event', id: 0, frame }).catch(() => this.#counters.reject('event/too-large'));
      }
    });
  }
}
