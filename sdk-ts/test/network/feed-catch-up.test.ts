/**
 * A server that follows another's change log from far behind (it was down, or is new)
 * stores the backlog many entries to a commit, not one commit per entry: waiting for
 * each entry's own disk flush before merging the next held a catching-up server to one
 * entry per flush (tens of seconds for a few thousand entries on a busy disk).
 *
 * Two real servers in one process over libp2p's in-memory transport; the follower's
 * store takes SLOW_COMMIT_MS per commit (as a loaded disk's fsync does) and counts them.
 * Checked: every entry arrives and is readable at the follower with the leader gone, the
 * feed cursor committed is the leader's last seq, and the commits number far fewer than
 * the entries.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeFeedCursor, feedCursorKey } from '../../src/network/duties/feed-follower.js';
import { MemoryStore } from '../../src/node.js';
import type { StorageAdapter, StorageOperation } from '../../src/storage/adapter.js';
import { DelegatingStore } from '../storage/delegating-store.js';
import { InProcessRustDHT, type Peer } from './helpers/in-process-peers.js';
import { waitFor } from './helpers/server-process.js';

const ENTRIES = 300;
const SLOW_COMMIT_MS = 10;

/** A store whose every commit takes SLOW_COMMIT_MS, counting them. */
class SlowDisk extends DelegatingStore {
  commits = 0;
  override async batch(operations: readonly StorageOperation[]): Promise<void> {
    this.commits++;
    await new Promise((resolve) => setTimeout(resolve, SLOW_COMMIT_MS));
    return super.batch(operations);
  }
}

const open: Peer[] = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((db) => db.close({ timeoutMs: 0 })));
});

async function server(store: StorageAdapter, peers: string[] = []): Promise<Peer> {
  const db = await InProcessRustDHT.open({ store, network: { role: 'server', peers } });
  open.push(db);
  return db;
}

describe('feed catch-up', () => {
  it(`a follower ${ENTRIES} entries behind stores them several to a commit`, async () => {
    const leader = await server(new MemoryStore());
    const souls = Array.from({ length: ENTRIES }, (_, i) => `catch-up/${i}`);
    // One write at a time: one change-log entry each.
    for (const [i, soul] of souls.entries()) await leader.get(soul).put({ i });

    const disk = new SlowDisk();
    const started = performance.now();
    const follower = await server(disk, [leader.network.status().addresses[0]!]);
    const cursorKey = feedCursorKey(leader.network.peerId);
    let cursor = 0;
    await waitFor(
      `the follower's feed cursor at the leader's last entry (${ENTRIES})`,
      async () => {
        const stored = await disk.get(cursorKey);
        cursor = stored === undefined ? 0 : decodeFeedCursor(stored);
        return cursor >= ENTRIES;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    const ms = performance.now() - started;
    console.log(`[feed catch-up] ${ENTRIES} entries in ${Math.round(ms)} ms, ${disk.commits} commits of ${SLOW_COMMIT_MS} ms`);
    // One commit per entry would be ≥ ENTRIES; a few per round of entries in flight is right.
    expect(disk.commits).toBeLessThan(ENTRIES / 4);

    // All of it is the follower's own now: readable with the leader gone.
    await leader.close({ timeoutMs: 0 });
    const values = await Promise.all(souls.map((soul) => follower.get(soul).get('i').once()));
    expect(values).toEqual(souls.map((_, i) => i));
  }, 90_000);
});
