/**
 * Who the servers are, asked from any peer (a client too: `rustdht where`). A server
 * answers MEMBERS_SYNC with the signed member records the asker lacks
 * (membership.ts `answer`); with an empty digest, that is every record it keeps.
 *
 * Nothing in an answer is taken on the server's word: each record is opened by the
 * engine (signature, layout, age) in a MemberTable of this query's own, which also
 * keeps only the newest record per server and drops `leaving` ones, exactly as servers
 * do. Asking several servers gives the union of what they know.
 *
 * What a client cannot know is which members a server saw fail (member-table.ts
 * `markDown`): a server killed without a goodbye stays in this list until its record
 * expires (EXPIRE_MS), where servers drop it within seconds.
 */
import { RustDHTError } from '../../api/errors.js';
import type { SyncSession } from '../sync-session.js';
import { type MemberRecord, type MemberRecordEngine, MemberTable } from './member-table.js';

export interface MemberQueryOptions {
  readonly signal?: AbortSignal;
  /** How long each server has to answer. */
  readonly timeoutMs?: number;
}

/**
 * The live members (servers, not expired, not leaving), sorted by peer id, as the
 * servers behind `sessions` know them. Rejects when none of them could answer: with
 * `dht/unsupported` when none speaks sync 1.2, else with the first failure.
 */
export async function queryMembers(
  sessions: readonly SyncSession[],
  engine: MemberRecordEngine,
  selfId: string,
  options: MemberQueryOptions = {},
): Promise<MemberRecord[]> {
  const asked = sessions.filter((session) => !session.closed && session.speaksDht);
  if (asked.length === 0) {
    throw new RustDHTError(
      'dht/unsupported',
      sessions.length === 0 ? 'no server is connected to ask for its members.' : 'no connected server speaks the DHT protocol (sync 1.2): it predates membership.',
    );
  }
  const table = new MemberTable(engine, selfId);
  const answers = await Promise.allSettled(
    asked.map(async (session) => {
      const reply = await session.request({ type: 'members-sync', known: [] }, { signal: options.signal, timeoutMs: options.timeoutMs });
      if (reply.type !== 'members') throw new RustDHTError('wire/malformed', `${session.peerId} answered MEMBERS_SYNC with ${reply.type}.`);
      const now = Date.now();
      for (const record of reply.records) {
        try {
          table.offer(record, now);
        } catch {
          // A record the engine refuses (stale, forged, malformed) names nobody: skip it.
        }
      }
    }),
  );
  const failed = answers.find((answer): answer is PromiseRejectedResult => answer.status === 'rejected');
  if (failed !== undefined && answers.every((answer) => answer.status === 'rejected')) throw failed.reason;
  return table.live().map(({ peerId, role, issuedAt, capacity, addrs }) => ({ peerId, role, issuedAt, capacity, addrs }));
}
