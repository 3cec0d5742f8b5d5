/**
 * Sends the outbox to one server, over that server's duty session: one OutboxSender per
 * session, from the moment it is ready until it ends.
 *
 * - Entries queued in the same macrotask leave as one PUT whose frame the engine joins
 *   (`joinFrames`: at most MAX_JOINED_UPDATES updates, and what fits one message), so a
 *   burst of writes costs the server one message, one batch signature check and one
 *   store commit.
 * - At most PUT_WINDOW entries are in flight; the window opens as ACKs come back.
 * - An entry leaves the outbox once the peer took it, or refused it for good
 *   (write-refusals.ts: a bad signature, someone else's space, over a size limit),
 *   reported as a `reject` event. A refusal for now (deferred queue full, clock too far
 *   ahead, quota, full disk, rate limit, timeout) is reported too, but the entry stays
 *   and is sent again after a backoff (1 s doubling to RETRY_MAX_MS): `put()` resolved
 *   long ago, and dropping the entry would lose the write.
 * - A joined PUT refused, or partly refused for now, is sent again entry by entry, so
 *   one entry cannot hold back the others and each entry's fate is its own.
 */
import { afterMicrotasks } from '../../util/macrotask.js';
import type { CounterSet } from '../counters.js';
import { Backoff } from '../peers/backoff.js';
import { codeOf, messageOf } from '../refusal.js';
import type { OutboxEntry, ReplicaForNetwork } from '../replica-port.js';
import { RemoteError, type SyncSession } from '../sync-session.js';
import type { NetworkEvent } from '../types.js';
import type { ReplicationReport } from '../../replica/types.js';
import type { ReplicationLevel } from '../wire/messages.js';
import { isFinalRefusal } from './write-refusals.js';

export type ReplicaForOutbox = Pick<ReplicaForNetwork, 'outbox' | 'engineModule' | 'closed'>;

/** Outbox entries sent to one server and not acknowledged yet, at most. */
const PUT_WINDOW = 2048;
/** Updates per joined PUT: well under the engine's default batch limit (10,000), so any peer takes it. */
const MAX_JOINED_UPDATES = 1000;
/** A write the peer could not take for now is sent again after 1 s, doubling up to this. */
const RETRY_MAX_MS = 30_000;

export interface OutboxSenderOptions {
  readonly replica: ReplicaForOutbox;
  readonly counters: CounterSet;
  /** Aborts when the network stops. */
  readonly stop: AbortSignal;
  readonly emit: (event: NetworkEvent) => void;
  /** Entries went out or came back: the network's state may have changed. */
  readonly changed: () => void;
  /** The highest durability level a write waits for among these entries (PUT_AT), if any. */
  readonly levelOf?: (ids: readonly number[]) => ReplicationLevel | undefined;
  /** What the server reported of these entries' owners (ACK_AT; a PUT's plain ACK counts as the server alone). */
  readonly replicated?: (ids: readonly number[], report: ReplicationReport) => void;
}

export class OutboxSender {
  readonly #session: SyncSession;
  readonly #options: OutboxSenderOptions;
  /** Queued or sent, not answered yet. */
  readonly #inFlight = new Set<number>();
  /** Waiting for the end of the macrotask to leave as one PUT. */
  readonly #queue: OutboxEntry[] = [];
  #flushScheduled = false;
  #draining = false;
  #again = false;
  #windowOpen: (() => void) | undefined;
  #closed = false;
  /** Delays between sends of writes refused for now; reset once a PUT is taken whole. */
  readonly #retry = new Backoff({ initialMs: 1_000, maxMs: RETRY_MAX_MS });
  #retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(session: SyncSession, options: OutboxSenderOptions) {
    this.#session = session;
    this.#options = options;
  }

  /** The session ended: nothing more is sent, and a drain waiting for the window gives up. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#openWindow();
  }

  /** Sends every outbox entry not yet in flight, a window at a time. */
  async drain(): Promise<void> {
    if (this.#closed) return;
    if (this.#draining) {
      this.#again = true;
      return;
    }
    const { replica, stop, emit } = this.#options;
    const session = this.#session;
    this.#draining = true;
    try {
      do {
        this.#again = false;
        for await (const entry of replica.outbox.pending({ signal: stop })) {
          if (session.closed || replica.closed) return;
          if (this.#inFlight.has(entry.id)) continue;
          while (this.#inFlight.size >= PUT_WINDOW && !session.closed) {
            await new Promise<void>((resolve) => (this.#windowOpen = resolve));
          }
          this.offer(entry);
        }
      } while (this.#again && !session.closed);
    } catch (error) {
      if (!stop.aborted && !replica.closed) emit({ type: 'reject', peerId: session.peerId, code: codeOf(error), message: `could not read the outbox: ${messageOf(error)}` });
    } finally {
      this.#draining = false;
    }
  }

  /** Queues an entry (a new one, or one the drain reached); it leaves at the end of the macrotask. */
  offer(entry: OutboxEntry): void {
    const session = this.#session;
    if (this.#closed || this.#inFlight.has(entry.id) || session.closed) return;
    if (!session.fits(entry.frame.length)) {
      // No peer will take it in one message: keep it local and say so, rather than
      // retry forever. It still reaches peers through their reads and subscriptions.
      this.#options.emit({ type: 'reject', peerId: session.peerId, code: 'wire/too-large', message: `outbox entry ${entry.id} is larger than a message may be; not sent.` });
      void this.#options.replica.outbox.acknowledge(entry.id);
      return;
    }
    this.#inFlight.add(entry.id);
    this.#queue.push(entry);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      afterMicrotasks(() => this.#flush());
    }
    this.#options.changed();
  }

  #flush(): void {
    this.#flushScheduled = false;
    const queue = this.#queue;
    const session = this.#session;
    const { joinFrames } = this.#options.replica.engineModule;
    while (queue.length !== 0) {
      // As many entries as fit in one message, then as many of those as fit in one
      // engine batch (the engine counts updates: one call per PUT, not per entry).
      let end = 1;
      let bytes = queue[0]!.frame.length;
      while (end < queue.length && session.fits(bytes + queue[end]!.frame.length)) bytes += queue[end++]!.frame.length;
      if (end === 1) {
        this.#put(queue.splice(0, 1), undefined);
        continue;
      }
      const [frame, taken] = joinFrames(queue.slice(0, end).map((entry) => entry.frame), MAX_JOINED_UPDATES) as [Uint8Array, number];
      this.#put(queue.splice(0, taken), frame);
    }
  }

  /** Sends `batch` as one PUT (`frame`: their joined frame; undefined for a single entry). */
  #put(batch: readonly OutboxEntry[], frame: Uint8Array | undefined): void {
    const { replica, counters, emit } = this.#options;
    const session = this.#session;
    const ids = batch.map((entry) => entry.id);
    const what = ids.length === 1 ? `outbox entry ${ids[0]}` : `outbox entries ${ids[0]}–${ids[ids.length - 1]}`;
    const settle = (): void => {
      for (const id of ids) this.#inFlight.delete(id);
      this.#openWindow();
      this.#options.changed();
    };
    const acknowledge = (): Promise<unknown> => (replica.closed ? Promise.resolve() : Promise.all(ids.map((id) => replica.outbox.acknowledge(id))));
    if (session.closed) {
      settle();
      return;
    }
    const single = batch.length === 1;
    const level = this.#options.levelOf?.(ids);
    const body = frame ?? batch[0]!.frame;
    // A write waiting for a durability level asks the server to coordinate it (1.2).
    const message = level !== undefined && session.speaksDht ? ({ type: 'put-at', level, frame: body } as const) : ({ type: 'put', frame: body } as const);
    session.request(message).then(
      (reply) => {
        const outcomes = reply.type === 'ack' || reply.type === 'ack-at' ? reply.outcomes : [];
        const rejected = outcomes.filter((outcome) => outcome.outcome === 'rejected');
        const forNow = rejected.filter((outcome) => !isFinalRefusal(outcome.code));
        if (forNow.length !== 0 && !single) {
          // Which entries hold those updates is for each entry's own PUT to say.
          for (const entry of batch) this.#put([entry], undefined);
          return undefined;
        }
        for (const outcome of rejected) {
          counters.reject(outcome.code);
          const fate = isFinalRefusal(outcome.code) ? 'dropped from the outbox' : 'kept in the outbox and sent again later';
          emit({ type: 'reject', peerId: session.peerId, code: outcome.code, message: `the peer refused an update of ${what} (${fate}).` });
        }
        if (forNow.length !== 0) {
          settle();
          this.#sendAgainLater();
          return undefined;
        }
        this.#retry.reset();
        if (level !== undefined) {
          const refusedForGood = rejected.length !== 0;
          this.#options.replicated?.(
            ids,
            reply.type === 'ack-at' && !refusedForGood ? { reached: reply.reached, owners: reply.owners } : { reached: refusedForGood ? 0 : 1, owners: 1 },
          );
        }
        // Taken, or refused for good (keeping it would only retry forever).
        return acknowledge().finally(settle);
      },
      (error: unknown) => {
        if (error instanceof RemoteError && isFinalRefusal(error.code)) {
          if (!single) {
            // One entry may be what the peer refuses: send them one by one, so the others still go.
            for (const entry of batch) this.#put([entry], undefined);
            return undefined;
          }
          counters.reject(error.code);
          emit({ type: 'reject', peerId: session.peerId, code: error.code, message: `${error.message} (${what} dropped from the outbox)` });
          if (level !== undefined) this.#options.replicated?.(ids, { reached: 0, owners: 1 });
          return acknowledge().finally(settle);
        }
        if (error instanceof RemoteError) {
          counters.reject(error.code);
          emit({ type: 'reject', peerId: session.peerId, code: error.code, message: `${error.message} (${what} kept in the outbox and sent again later)` });
        }
        // Refused for now, timed out, or the session ended: the entries stay.
        settle();
        this.#sendAgainLater();
        return undefined;
      },
    ).catch(() => {});
  }

  /** Drains again after the next backoff delay (one timer, however many PUTs asked). */
  #sendAgainLater(): void {
    const { stop } = this.#options;
    if (this.#closed || this.#session.closed || stop.aborted || this.#retryTimer !== undefined) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.drain();
    }, this.#retry.delay());
    this.#retryTimer.unref?.();
  }

  #openWindow(): void {
    const open = this.#windowOpen;
    this.#windowOpen = undefined;
    open?.();
  }
}
