/**
 * Marks of a feed (serving/feed-server.ts) for a 1.2 follower: what moves its cursor past
 * the entries it is not sent.
 */
import type { SyncSession } from '../sync-session.js';

/** A mark leaves at most this long after the first entry it passes over. */
export const FEED_MARK_DELAY_MS = 1_000;
/** A mark leaves at once after this many entries passed over (a long backlog of other servers' souls). */
export const FEED_MARK_EVERY_ENTRIES = 1_024;

/**
 * Marks of one feed (1.2 followers only): a FEED_ENTRY with an empty frame at seq S says
 * "nothing up to S is for you", so the follower's cursor moves past entries it was not
 * sent — those of souls it does not own, and the PUT_ATs it got from their coordinator.
 * Without them its cursor stayed at the last entry it *was* sent, and after a restart
 * it was sent its whole backlog again: each server read every entry it had logged since
 * (a store read per entry) to find the few for it.
 *
 * Entries leave in seq order on one stream, so a mark sent after the entries before it
 * never passes one the follower is still to get.
 */
export class FeedMarks {
  readonly #session: SyncSession;
  readonly #id: number;
  /** The newest seq passed over and not marked yet (0: none). */
  #unmarked = 0;
  #count = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(session: SyncSession, id: number) {
    this.#session = session;
    this.#id = id;
  }

  /** An entry was sent: it moves the follower's cursor itself. */
  sent(seq: number): void {
    if (seq >= this.#unmarked) this.#clear();
  }

  /** An entry at `seq` was passed over. */
  skipped(seq: number): Promise<void> {
    if (!this.#session.speaksDht) return Promise.resolve();
    this.#unmarked = seq;
    if (++this.#count >= FEED_MARK_EVERY_ENTRIES) return this.flush();
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => void this.flush(), FEED_MARK_DELAY_MS);
      this.#timer.unref?.();
    }
    return Promise.resolve();
  }

  /** Sends the mark now, if some entry was passed over since the last. */
  flush(): Promise<void> {
    const seq = this.#unmarked;
    this.#clear();
    if (seq === 0 || this.#session.closed) return Promise.resolve();
    return this.#session.notify({ type: 'feed-entry', id: this.#id, seq, frame: EMPTY }).catch(() => {});
  }

  stop(): void {
    this.#clear();
  }

  #clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#unmarked = 0;
    this.#count = 0;
  }
}

const EMPTY = new Uint8Array(0);
