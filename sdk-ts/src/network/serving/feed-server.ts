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
 */
import { RustDHTError } from '../../api/errors.js';
import type { CounterSet } from '../counters.js';
import { codeOf } from '../refusal.js';
import type { AppliedBatch, ReplicaForNetwork } from '../replica-port.js';
import type { IncomingRequest, SyncSession } from '../sync-session.js';
import type { PeerRole } from '../types.js';
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

  constructor(replica: ReplicaForFeedServer, counters: CounterSet, role: PeerRole, durability: DurabilityBarrier) {
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
      for await (const entry of changeLog.after(since)) {
        if (session.closed) return;
        if (entry.seq > lastSent) await send(entry.seq, entry.frame);
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
