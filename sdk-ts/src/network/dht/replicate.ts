/**
 * The coordinator's half of a durability level (PUT_AT): after the server that took a
 * client's write has made it durable itself, it sends each soul's updates to that
 * soul's other owners (a PUT of the part the engine routes to each) and counts, per
 * soul, the owners that hold them durably (an owner's ACK is sent once its commit
 * landed). It answers as soon as every soul reached the level, or after
 * COORDINATION_TIMEOUT_MS with what it reached: the writer's put rejects then, while the
 * write itself keeps travelling (the feeds, hand-off and repair deliver it).
 *
 * Levels, for a soul with k owners (k = R, or fewer servers): one = 1, quorum =
 * ⌊k/2⌋ + 1, all = k. This server counts for the souls it owns.
 *
 * Every other owner is sent the write, whatever the level, even one this server met
 * alone: the coordinator does not feed a PUT_AT on to its live followers (the owners
 * would merge it twice, serving.ts `feedsLive`), so this is how they get it at once.
 */
import { requiredOwners } from '../../api/durability.js';
import { isFinalRefusal } from '../duties/write-refusals.js';
import type { SyncSession } from '../sync-session.js';
import type { ReplicationLevel } from '../wire/messages.js';
import type { PlacementView } from './placement-view.js';

/** How long a coordinator waits for owners before answering with what it reached. */
export const COORDINATION_TIMEOUT_MS = 5_000;

export interface Replicated {
  /** The fewest owners that confirmed any soul of the write (this server included when it owns it). */
  readonly reached: number;
  /** How many servers own each soul (R, or fewer when there are fewer servers). */
  readonly owners: number;
  /** Once every owner answered (or the timeout passed): whether every owner of every soul confirmed. */
  readonly allConfirmed: Promise<boolean>;
}


export interface CoordinatorHost {
  readonly placement: PlacementView;
  readonly selfId: string;
  readonly sessionOf: (peerId: string) => SyncSession | undefined;
}

/**
 * Sends `frame` (already durable here) to the owners of its souls and resolves with how
 * many confirmed, once `level` is met for every soul or the timeout passed.
 */
export async function replicate(host: CoordinatorHost, frame: Uint8Array, level: ReplicationLevel, timeoutMs = COORDINATION_TIMEOUT_MS): Promise<Replicated> {
  const { placement, selfId } = host;
  const route = placement.route(frame);
  if (route === undefined || route.souls.length === 0) return { reached: 1, owners: 1, allConfirmed: Promise.resolve(true) };
  const owners = route.owners;
  const k = Math.max(...owners.map((list) => list.length));
  // Confirmations per soul; this server's own durable copy counts where it owns.
  const confirmed = route.souls.map((_, i) => (owners[i]!.includes(selfId) ? 1 : 0));
  const needed = owners.map((list) => requiredOwners(level, list.length));
  const met = (): boolean => confirmed.every((count, i) => count >= needed[i]!);
  let allSettled!: (every: boolean) => void;
  const allConfirmed = new Promise<boolean>((resolve) => (allSettled = resolve));
  const every = (): boolean => confirmed.every((count, i) => count >= owners[i]!.length);
  const reached = (): Replicated => ({ reached: Math.min(...confirmed), owners: k, allConfirmed });
  const targets = [...route.parts].filter(([peerId]) => peerId !== selfId);
  if (targets.length === 0) allSettled(every());
  return new Promise<Replicated>((resolve) => {
    let pending = targets.length;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(reached());
    };
    const timer = setTimeout(finish, timeoutMs);
    // Met here already (this server owns every soul, at level one): answered at once, and
    // the others are sent it all the same below.
    if (pending === 0 || met()) finish();
    const deadline = Date.now() + timeoutMs;
    for (const [peerId, part] of targets) {
      // A member being (re)dialled gets until the deadline to be connected.
      sessionWithin(host, peerId, deadline)
        .then((session) => (session === undefined ? Promise.reject(new Error('not connected')) : session.request({ type: 'put', frame: part }, { timeoutMs: Math.max(1, deadline - Date.now()) })))
        .then((reply) => {
          // Taken (applied, already held, older than what it holds, parked for later): it
          // holds the update or something newer. Refused for now: not held yet.
          const held = reply.type === 'ack' && reply.outcomes.every((outcome) => outcome.outcome !== 'rejected' || isFinalRefusal(outcome.code));
          if (!held) return;
          route.souls.forEach((_, i) => {
            if (owners[i]!.includes(peerId)) confirmed[i]!++;
          });
        })
        .catch(() => {})
        .finally(() => {
          pending--;
          if (pending === 0) allSettled(every());
          if (met() || pending === 0) finish();
        });
    }
  });
}

/** A session with `peerId`, waiting (polling) until `deadline` for one to be ready. */
async function sessionWithin(host: CoordinatorHost, peerId: string, deadline: number): Promise<SyncSession | undefined> {
  for (;;) {
    const session = host.sessionOf(peerId);
    if (session !== undefined || Date.now() >= deadline) return session;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
