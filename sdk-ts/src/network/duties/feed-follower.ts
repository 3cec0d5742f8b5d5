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

/** Follows `session`'s peer's change log until the session ends. Only for a peer that is a server to us (peer-network.ts #isServer). */
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
  let chain = Promise.resolve();
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
  await session
    .follow(since, (entry) => {
      if (pendingBytes + entry.frame.length > MAX_PENDING_FEED_BYTES) {
        session.end('feed/overloaded', `more than ${MAX_PENDING_FEED_BYTES} bytes of feed entries waiting to be stored; resuming from seq ${applied} later.`);
        return;
      }
      pendingBytes += entry.frame.length;
      // In order, one engine call per entry; the cursor moves once an entry is stored.
      chain = chain.then(async () => {
        pendingBytes -= entry.frame.length;
        if (replica.closed || entry.seq <= applied) return;
        try {
          // `receive` resolves once the entry is durable here: only then is it acknowledged.
          counters.peerBatch(await replica.receive(entry.frame));
          applied = entry.seq;
          replica.stageRecord(cursorKey, encodeFeedCursor(applied));
          acknowledge();
        } catch (error) {
          if (replica.closed) return;
          refused(session.peerId, codeOf(error), `a feed entry was refused: ${messageOf(error)}`);
        }
      });
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
