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

export type ReplicaForFeedServer = Pick<ReplicaForNetwork, 'changeLog' | 'onApplied' | 'flush'>;

type Feed = Extract<IncomingRequest, { type: 'feed' }>;

export class FeedServer {
  readonly #replica: ReplicaForFeedServer;
  readonly #counters: CounterSet;
  readonly #role: PeerRole;
  readonly #durability: DurabilityBarrier;
  /** Per session: the live listeners of its feeds. */
  readonly #listeners = new Map<SyncSession, Array<() => void>>();

  readonly #limits: ResolvedWireLimits;

  constructor(replica: ReplicaForFeedServer, counters: CounterSet, role: PeerRole, durability: DurabilityBarrier, limits: ResolvedWireLimits) {
    this.#limits = limits;
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
  }

  /** Answers a FEED: OK, then the entries (in the background, until the session ends). */
  async open(session: SyncSession, message: Feed): Promise<undefined> {
    if (this.#role !== 'server' || this.#replica.changeLog === undefined) {
      throw new RustDHTError('feed/unavailable', 'this peer keeps no change log (only servers with a store do).');
    }
    await session.notify({ type: 'ok', id: message.id });
    void this.#serve(session, message.id, message.since);
    return undefined;
  }

  /** The change log after `since`, then live entries, until the session ends. */
  async #serve(session: SyncSession, id: number, since: number): Promise<void> {
    const changeLog = this.#replica.changeLog!;
    let lastSent = since;
    let live = false;
    const waiting: AppliedBatch[] = [];
    const send = (seq: number, frame: Uint8Array): Promise<void> => {
      lastSent = seq;
      if (!session.fits(frame.length)) {
        // Cannot travel in one message; the peer gets it through reads and subscriptions.
        this.#counters.reject('feed/entry-too-large');
        return Promise.resolve();
      }
      return session.notify({ type: 'feed-entry', id, seq, frame }).catch(() => this.#counters.reject('feed/entry-too-large'));
    };
    let listening = true;
    const stopApplied = this.#replica.onApplied((batch) => {
      if (batch.seq === undefined) return;
      this.#durability.after((error) => {
        // Not durable (the commit failed): not logged either, so not fed.
        if (error !== undefined || !listening) return;
        if (!live) waiting.push(batch);
        else if (batch.seq! > lastSent) void send(batch.seq!, batch.frame);
      });
    });
    const stopListening = (): void => {
      listening = false;
      stopApplied();
    };
    const stops = this.#listeners.get(session) ?? [];
    stops.push(stopListening);
    this.#listeners.set(session, stops);
    try {
      // Batches applied before the listener existed must be in the store before it is read.
      await this.#replica.flush();
      const pace = backlogPacer(this.#limits);
      for await (const entry of changeLog.after(since)) {
        if (session.closed) return;
        if (entry.seq <= lastSent) continue;
        await pace(entry.frame.length);
        if (session.closed) return;
        await send(entry.seq, entry.frame);
      }
      for (const batch of waiting) if (batch.seq! > lastSent && !session.closed) await send(batch.seq!, batch.frame);
      waiting.length = 0;
      live = true;
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
