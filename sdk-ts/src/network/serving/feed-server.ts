/**
 * A server's change log, fed to the servers that follow it:
 *
 *   FEED since → OK, then FEED_ENTRY for each change-log entry after `since` (the
 *                backlog, read from the store), then live entries as batches apply,
 *                until the session ends
 *
 * Every server logs what changed *its* graph, whatever the source, so changes spread
 * from server to server through these feeds; an update a server already has changes
 * nothing, is not logged, and the spreading stops by itself. Live entries leave once
 * the commit that holds them is durable (durability.ts), as the backlog (read from the
 * store) is. The follower side is duties/feed-follower.ts.
 *
 * In a DHT (network/dht/) a follower is sent only the part of each entry it owns
 * (`route`: the engine cuts the entry by placement), and acknowledges how far it has
 * stored the feed (FEED_ACK): `whenAcked` is how a coordinator learns an owner holds a
 * write.
 *
 * The backlog is sent at half the rate a follower with this peer's limits admits
 * (wire/rate-limiter.ts): the follower cannot skip an entry over its limit, so it ends
 * the session and resumes later, and a backlog sent as fast as the stream takes it would
 * do that over and over.
 */
import { RustDHTError } from '../../api/errors.js';
import type { CounterSet } from '../counters.js';
import { codeOf } from '../refusal.js';
import type { AppliedBatch, ReplicaForNetwork } from '../replica-port.js';
import type { IncomingRequest, SyncSession } from '../sync-session.js';
import type { PeerRole } from '../types.js';
import { TokenBucket, type ResolvedWireLimits } from '../wire/rate-limiter.js';
import type { DurabilityBarrier } from './durability.js';
import { FeedMarks } from './feed-marks.js';
import { JOIN_BYTES, JOIN_PARTS, JOIN_UPDATES, JoinedParts, type FrameJoining, type JoinLimits } from './joined-parts.js';

export type ReplicaForFeedServer = Pick<ReplicaForNetwork, 'changeLog' | 'onApplied' | 'flush'> & {
  readonly engineModule: FrameJoining;
};

type Feed = Extract<IncomingRequest, { type: 'feed' }>;

/**
 * The part of an entry's frame that `follower` is sent: the frame, a part of it, or
 * undefined for nothing. `backlog`: the entry is read from the log for a follower catching
 * up, rather than fed as it applies.
 */
export type FeedRoute = (frame: Uint8Array, follower: string, backlog: boolean) => Uint8Array | undefined;

interface AckWaiter {
  readonly seq: number;
  readonly resolve: () => void;
}

export class FeedServer {
  readonly #replica: ReplicaForFeedServer;
  readonly #counters: CounterSet;
  readonly #role: PeerRole;
  readonly #durability: DurabilityBarrier;
  /** Per session: the live listeners of its feeds. */
  readonly #listeners = new Map<SyncSession, Array<() => void>>();

  readonly #limits: ResolvedWireLimits;
  readonly #route: FeedRoute | undefined;
  /** Per session: the id of the feed it follows (what its FEED_ACKs must name). */
  readonly #feedIds = new Map<SyncSession, number>();
  /** Per follower peer: the highest seq it said it stored, and who waits for more. */
  readonly #acked = new Map<string, number>();
  readonly #waiters = new Map<string, AckWaiter[]>();

  readonly #join: JoinLimits;

  /** `join`: how many backlog parts, and bytes, one FEED_ENTRY may carry (default JOIN_PARTS, JOIN_BYTES). */
  constructor(replica: ReplicaForFeedServer, counters: CounterSet, role: PeerRole, durability: DurabilityBarrier, limits: ResolvedWireLimits, route?: FeedRoute, join: JoinLimits = { parts: JOIN_PARTS, bytes: JOIN_BYTES, updates: JOIN_UPDATES }) {
    this.#join = join;
    this.#limits = limits;
    this.#route = route;
    this.#replica = replica;
    this.#counters = counters;
    this.#role = role;
    this.#durability = durability;
  }

  stop(): void {
    for (const stops of this.#listeners.values()) for (const stop of stops) stop();
    this.#listeners.clear();
  }

  /** A session ended: stop feeding it. */
  forget(session: SyncSession): void {
    for (const stop of this.#listeners.get(session) ?? []) stop();
    this.#listeners.delete(session);
    this.#feedIds.delete(session);
  }

  /** A follower's FEED_ACK: it has stored this feed up to `seq`. Acks for a feed it does not follow on the session are refused. */
  acked(session: SyncSession, feed: number, seq: number): void {
    if (this.#feedIds.get(session) !== feed) {
      this.#counters.reject('feed/unknown-ack');
      return;
    }
    const before = this.#acked.get(session.peerId) ?? 0;
    if (seq <= before) return;
    this.#acked.set(session.peerId, seq);
    const waiters = this.#waiters.get(session.peerId);
    if (waiters === undefined) return;
    const still = waiters.filter((waiter) => {
      if (waiter.seq > seq) return true;
      waiter.resolve();
      return false;
    });
    if (still.length === 0) this.#waiters.delete(session.peerId);
    else this.#waiters.set(session.peerId, still);
  }

  /** The highest seq `peerId` acknowledged (0: none). */
  ackedSeq(peerId: string): number {
    return this.#acked.get(peerId) ?? 0;
  }

  /** Resolves once `peerId` acknowledged `seq` (or later); rejects when `signal` fires. */
  whenAcked(peerId: string, seq: number, signal?: AbortSignal): Promise<void> {
    if (this.ackedSeq(peerId) >= seq) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: AckWaiter = {
        seq,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const list = this.#waiters.get(peerId);
        if (list !== undefined) {
          const at = list.indexOf(waiter);
          if (at >= 0) list.splice(at, 1);
          if (list.length === 0) this.#waiters.delete(peerId);
        }
        reject(signal!.reason);
      };
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      const list = this.#waiters.get(peerId) ?? [];
      list.push(waiter);
      this.#waiters.set(peerId, list);
    });
  }

  /** Answers a FEED: OK, then the entries (in the background, until the session ends). */
  async open(session: SyncSession, message: Feed): Promise<undefined> {
    if (this.#role !== 'server' || this.#replica.changeLog === undefined) {
      throw new RustDHTError('feed/unavailable', 'this peer keeps no change log (only servers with a store do).');
    }
    await session.notify({ type: 'ok', id: message.id });
    this.#feedIds.set(session, message.id);
    void this.#serve(session, message.id, message.since);
    return undefined;
  }

  /** The change log after `since`, then live entries, until the session ends. */
  async #serve(session: SyncSession, id: number, since: number): Promise<void> {
    const changeLog = this.#replica.changeLog!;
    let lastSent = since;
    let live = false;
    const waiting: AppliedBatch[] = [];
    const route = this.#route;
    const marks = new FeedMarks(session, id);
    // The follower's own part of an entry (a DHT follower owns only some of its souls).
    const partOf = (whole: Uint8Array, backlog: boolean): Uint8Array | undefined => (route === undefined ? whole : route(whole, session.peerId, backlog));
    // One FEED_ENTRY at `seq` (live, or joined backlog parts).
    const deliver = (seq: number, frame: Uint8Array): Promise<void> => {
      if (!session.fits(frame.length)) {
        // Cannot travel in one message; the peer gets it through reads and subscriptions.
        this.#counters.reject('feed/entry-too-large');
        return marks.skipped(seq);
      }
      marks.sent(seq);
      return session.notify({ type: 'feed-entry', id, seq, frame }).catch(() => this.#counters.reject('feed/entry-too-large'));
    };
    const send = (seq: number, whole: Uint8Array): Promise<void> => {
      lastSent = seq;
      const frame = partOf(whole, false);
      return frame === undefined || frame.length === 0 ? marks.skipped(seq) : deliver(seq, frame);
    };
    const take = (batch: AppliedBatch): void => {
      if (batch.seq! <= lastSent || session.closed) return;
      // Logged but not for live followers (another DHT server's PUT_AT: they got it from
      // the same coordinator): passed over, and a follower that was away reads it in its backlog.
      if (batch.feedLive === false) {
        lastSent = batch.seq!;
        void marks.skipped(batch.seq!);
      } else void send(batch.seq!, batch.frame);
    };
    let listening = true;
    const stopApplied = this.#replica.onApplied((batch) => {
      // Not logged: not fed.
      if (batch.seq === undefined) return;
      this.#durability.after((error) => {
        // Not durable (the commit failed): not logged either, so not fed.
        if (error !== undefined || !listening) return;
        if (!live) waiting.push(batch);
        else take(batch);
      });
    });
    const stopListening = (): void => {
      listening = false;
      marks.stop();
      stopApplied();
    };
    const stops = this.#listeners.get(session) ?? [];
    stops.push(stopListening);
    this.#listeners.set(session, stops);
    try {
      // Batches applied before the listener existed must be in the store before it is read.
      await this.#replica.flush();
      // The backlog, its entries' parts joined several to a FEED_ENTRY (at the seq of the
      // last): a restarted owner was sent ~30,000 entries of one update each, and spent
      // more on their messages than on merging them.
      const pace = backlogPacer(this.#limits);
      const joined = new JoinedParts(this.#replica.engineModule, this.#join);
      const sendJoined = async (): Promise<void> => {
        const out = joined.take();
        if (out === undefined) return;
        await pace(out.frame.length);
        if (!session.closed) await deliver(out.seq, out.frame);
      };
      for await (const entry of changeLog.after(since)) {
        if (session.closed) return;
        if (entry.seq <= lastSent) continue;
        lastSent = entry.seq;
        const part = partOf(entry.frame, true);
        if (part === undefined || part.length === 0) {
          if (joined.empty) await marks.skipped(entry.seq);
          else joined.extend(entry.seq);
          continue;
        }
        if (!joined.fits(part)) await sendJoined();
        joined.add(entry.seq, part);
        if (joined.full) await sendJoined();
      }
      await sendJoined();
      if (session.closed) return;
      for (const batch of waiting) take(batch);
      waiting.length = 0;
      live = true;
      // The backlog may have ended on entries the follower was not sent.
      await marks.flush();
    } catch (error) {
      stopListening();
      if (!session.closed) this.#counters.reject(codeOf(error, 'feed/failed'));
    }
  }
}


/**
 * Waits until an entry of `bytes` may leave: half of what a follower's limits admit of
 * entries (it takes them at its event rate, 10 × messagesPerSecond) and of bytes.
 */
function backlogPacer(limits: ResolvedWireLimits): (bytes: number) => Promise<void> {
  const entriesPerSecond = 5 * limits.messagesPerSecond;
  const bytesPerSecond = limits.bytesPerSecond / 2;
  const entries = new TokenBucket(entriesPerSecond, entriesPerSecond);
  const bytes = new TokenBucket(bytesPerSecond, bytesPerSecond);
  return async (size) => {
    for (;;) {
      if (entries.canTake(1) && bytes.canTake(size)) {
        entries.take(1);
        bytes.take(size);
        return;
      }
      const waitMs = Math.max(((1 - entries.tokens) / entriesPerSecond) * 1000, ((Math.min(size, bytes.burst) - bytes.tokens) / bytesPerSecond) * 1000, 1);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  };
}
