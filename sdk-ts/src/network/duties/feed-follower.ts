/**
 * Server to server: follow a peer server's change log from where we left off, so a
 * server that was down catches up with what it missed, then stays live.
 *
 * Where we left off is the feed cursor, a record of the network's own in the database's
 * store, committed with the batch that applied the entry:
 *
 *   "F" peerId → the last change-log seq applied from that peer's feed (u64 big-endian)
 *
 * ("F" is registered in the store's key space, persistence/layout.ts, beside the
 * replica's own records.) The serving side is serving/feed-server.ts.
 */
import { RustDHTError } from '../../api/errors.js';
import type { CounterSet } from '../counters.js';
import { codeOf, messageOf } from '../refusal.js';
import type { ReplicaForNetwork } from '../replica-port.js';
import type { SyncSession } from '../sync-session.js';

export type ReplicaForFeedFollower = Pick<ReplicaForNetwork, 'receive' | 'readRecord' | 'stageRecord' | 'closed'>;

export interface FeedFollowerOptions {
  readonly replica: ReplicaForFeedFollower;
  readonly counters: CounterSet;
  /** Something the peer sent (or the store held) was refused: counted and reported. */
  readonly refused: (peerId: string, code: string, message: string) => void;
  /** A request of ours failed (reported unless the session ended). */
  readonly requestFailed: (session: SyncSession, error: unknown) => void;
}

/**
 * Entry bytes received and not yet through the engine, past which the session ends
 * (`feed/overloaded`) and the feed resumes from its cursor on the next one: entries
 * cannot be dropped (the cursor would pass them), and must not queue without bound
 * when they arrive faster than this peer stores them. (Their rate is bounded by the
 * session's rate limit: sync-session.ts.)
 */
export const MAX_PENDING_FEED_BYTES = 64 * 1024 * 1024;

/**
 * Feed entries handed to the replica and not yet durable, at most, and their bytes (the
 * engine holds each decoded until it is merged); the rest wait as bytes, above. One
 * entry always goes, whatever its size.
 */
export const MAX_FEED_ENTRIES_IN_FLIGHT = 256;
export const MAX_FEED_BYTES_IN_FLIGHT = 8 * 1024 * 1024;

interface FeedEntry {
  readonly seq: number;
  readonly frame: Uint8Array;
}

/** First in, first out, without Array.shift's copying (a backlog can be many thousand entries). */
class EntryQueue {
  #items: FeedEntry[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(entry: FeedEntry): void {
    this.#items.push(entry);
  }

  peek(): FeedEntry | undefined {
    return this.#head === this.#items.length ? undefined : this.#items[this.#head];
  }

  shift(): FeedEntry | undefined {
    if (this.#head === this.#items.length) return undefined;
    const entry = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined as unknown as FeedEntry;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return entry;
  }
}

/** Follows `session`'s peer's change log until the session ends. Only for a peer that is a server to us (peers/server-choice.ts). */
export async function followFeed(session: SyncSession, options: FeedFollowerOptions): Promise<void> {
  const { replica, counters, refused, requestFailed } = options;
  const cursorKey = feedCursorKey(session.peerId);
  let since = 0;
  try {
    const stored = await replica.readRecord(cursorKey);
    if (stored !== undefined) since = decodeFeedCursor(stored);
  } catch (error) {
    refused(session.peerId, codeOf(error), `could not read the feed cursor: ${messageOf(error)}`);
  }
  let applied = since;
  // The newest seq handed to the replica: an entry at or below it is one we have.
  let submitted = since;
  let pendingBytes = 0;
  let feedId = 0;
  // FEED_ACK (1.2): how far the feed is stored here, at most once per macrotask, so the
  // server learns quickly that this peer holds a write (durability levels) without one
  // message per entry.
  let ackScheduled = false;
  let ackedSeq = since;
  const acknowledge = (): void => {
    if (!session.speaksDht || ackScheduled || feedId === 0) return;
    ackScheduled = true;
    setTimeout(() => {
      ackScheduled = false;
      if (session.closed || applied <= ackedSeq) return;
      ackedSeq = applied;
      void session.notify({ type: 'feed-ack', id: 0, feed: feedId, seq: applied }).catch(() => {});
    }, 0);
  };
  // Entries are merged in arrival order (the replica's operation queue keeps call order)
  // up to MAX_FEED_ENTRIES_IN_FLIGHT at a time, so one group commit stores many of them:
  // waiting for each entry's own commit before merging the next held a catching-up
  // server to one entry per disk flush. The cursor moves in seq order, each time an
  // entry is durable here, and is committed after it.
  const waiting = new EntryQueue();
  let inFlight = 0;
  let inFlightBytes = 0;
  let cursorChain = Promise.resolve();
  const pump = (): void => {
    while (waiting.size !== 0 && (inFlight === 0 || (inFlight < MAX_FEED_ENTRIES_IN_FLIGHT && inFlightBytes + waiting.peek()!.frame.length <= MAX_FEED_BYTES_IN_FLIGHT))) {
      const entry = waiting.shift()!;
      // Closed: nothing more is merged (the cursor stays where it is; the feed resumes there).
      if (replica.closed) {
        pendingBytes -= entry.frame.length;
        continue;
      }
      if (entry.frame.length === 0) {
        // A mark (1.2): nothing up to its seq is for us. The cursor moves there once
        // every entry before it is durable here, like after an entry.
        cursorChain = cursorChain.then(() => {
          if (replica.closed || entry.seq <= applied) return;
          applied = entry.seq;
          replica.stageRecord(cursorKey, encodeFeedCursor(applied));
          acknowledge();
        });
        continue;
      }
      inFlight++;
      inFlightBytes += entry.frame.length;
      // Rejects, rather than throws, when the frame is malformed.
      const stored = replica.receive(entry.frame);
      stored.catch(() => {}); // reported below, in order
      cursorChain = cursorChain.then(async () => {
        try {
          counters.peerBatch(await stored);
          applied = entry.seq;
          replica.stageRecord(cursorKey, encodeFeedCursor(applied));
          acknowledge();
        } catch (error) {
          if (!replica.closed) refused(session.peerId, codeOf(error), `a feed entry was refused: ${messageOf(error)}`);
        } finally {
          inFlight--;
          inFlightBytes -= entry.frame.length;
          pendingBytes -= entry.frame.length;
          pump();
        }
      });
    }
  };
  await session
    .follow(since, (entry) => {
      if (entry.seq <= submitted) return;
      if (entry.frame.length === 0 && !session.speaksDht) {
        refused(session.peerId, 'wire/malformed', 'an empty FEED_ENTRY from a peer that does not speak 1.2 (where it is a mark).');
        return;
      }
      if (pendingBytes + entry.frame.length > MAX_PENDING_FEED_BYTES) {
        session.end('feed/overloaded', `more than ${MAX_PENDING_FEED_BYTES} bytes of feed entries waiting to be stored; resuming from seq ${applied} later.`);
        return;
      }
      pendingBytes += entry.frame.length;
      submitted = entry.seq;
      waiting.push(entry);
      pump();
    }, (id) => (feedId = id))
    .catch((error: unknown) => requestFailed(session, error));
}

const FEED_CURSOR = 0x46; // "F"
const encoder = new TextEncoder();

/** "F" peerId: a server's position in another server's change log. */
export function feedCursorKey(peerId: string): Uint8Array {
  const text = encoder.encode(peerId);
  const key = new Uint8Array(1 + text.length);
  key[0] = FEED_CURSOR;
  key.set(text, 1);
  return key;
}

export function encodeFeedCursor(seq: number): Uint8Array {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, Math.floor(seq / 2 ** 32));
  view.setUint32(4, seq >>> 0);
  return bytes;
}

export function decodeFeedCursor(bytes: Uint8Array): number {
  if (bytes.length !== 8) {
    throw new RustDHTError('store/corrupt', 'the store is damaged (a feed cursor record that is not 8 bytes); restore it from a backup or from peers.');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.getUint32(0) * 2 ** 32 + view.getUint32(4);
}
