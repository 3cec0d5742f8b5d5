/**
 * Keeps each soul this server stores on its R owners, and lets go of the ones it does
 * not own once they are there (DESIGN.md §5, "Churn"):
 *
 * - **Handoff.** A soul this server holds but does not own (it coordinated a client's
 *   write, or ownership moved away from it) is pushed to its owners (PUT of the whole
 *   node, in parts; which owners: see Rebalance); once they acknowledged it, the local
 *   copy is released (records deleted, node dropped), unless a subscriber here watches
 *   it or the database protects it (its own outbox). An owner that cannot be reached keeps the
 *   copy here until it can: that copy is the hint, persisted in the store as any node,
 *   delivered when the owner returns or when membership names another owner. Never
 *   fewer than R copies during a move: nothing is deleted before the new owners confirm.
 * - **Rebalance.** When the member set changes (a join, a leave, a failure), each soul
 *   whose owners gained a member is pushed to the new owner by one server: the former
 *   owner it displaced when that one is still a member (its hand-off, above), else the
 *   closest of its previous owners still owning it (one pusher per soul, not R). Souls
 *   that moved away from this server are handed off as above, but only to the owners
 *   that were not its co-owners here: those were sent the same writes by their
 *   coordinators (with hints for any that missed one) and reconcile with the new owner
 *   by anti-entropy, so asking them too only cost a digest check per soul on both sides
 *   (20,000 of them when one server of 20 came back).
 * - A push whose target no longer owns the soul by the time it leaves (membership changed
 *   again meanwhile: checked when its turn comes and again once the target said what it
 *   holds) is not sent: the next pass finds the soul's new owners.
 * - After start, once membership has settled (no change for SETTLE_MS), one pass hands
 *   off whatever this server holds and does not own (membership may have changed while
 *   it was down); what changed on souls it does own while it was down arrives through
 *   the change-log feeds from where it left off (duties/feed-follower.ts).
 *
 * Before pushing, a server asks each target which of the souls it already stores exactly
 * as here (a held DIGEST of their digests, anti-entropy.ts `heldBy`): those count as
 * confirmed and are not sent — after a coordinated write the owners usually hold it
 * already (hand-off starts HANDOFF_DELAY_MS after the write), and a member that comes
 * back holds most of what it owned. Souls go several to a PUT (soul-transfer.ts pushSouls: one message and one merge on
 * the receiver for hundreds of small souls, not one each). Pushes are paced
 * (REPAIR_BYTES_PER_SECOND, REPAIR_CONCURRENCY chunks in flight) so repair cannot starve
 * foreground traffic.
 */
import { codeOf, messageOf } from '../refusal.js';
import type { ReplicaForNetwork } from '../replica-port.js';
import type { SyncSession } from '../sync-session.js';
import type { MemberTable } from './member-table.js';
import type { PlacementEngine, PlacementView } from './placement-view.js';
import { ownersUnder } from './placement-view.js';
import { pushesGains } from './rebalance.js';
import { RepairPacer } from './repair-pacer.js';
import { pushSouls } from './soul-transfer.js';

/** Membership must be still this long before a pass runs (joins come in bursts). */
export const SETTLE_MS = 1_500;
/** How long after a write to a soul this server does not own its hand-off starts. */
export const HANDOFF_DELAY_MS = 500;
/** How often souls waiting for an owner that could not be reached are tried again. */
export const RETRY_MS = 5_000;
/** Bytes per second repair may send, all targets together. */
export const REPAIR_BYTES_PER_SECOND = 16 * 1024 * 1024;
/** Pushes in flight at once. */
export const REPAIR_CONCURRENCY = 16;
/** Souls one pass looks at per placement call. */
const SCAN_CHUNK = 1024;
/** How long one push waits for its acknowledgement. */
const PUSH_TIMEOUT_MS = 15_000;

export type ReplicaForHandoff = Pick<ReplicaForNetwork, 'storedSouls' | 'release' | 'nodeFramePart' | 'closed' | 'limits' | 'engineModule'>;

export interface HandoffHost {
  readonly replica: ReplicaForHandoff;
  readonly engine: PlacementEngine;
  readonly table: MemberTable;
  readonly placement: PlacementView;
  readonly selfId: string;
  /** A ready session with server `peerId`, if connected. */
  readonly sessionOf: (peerId: string) => SyncSession | undefined;
  /** Souls a peer subscribed to here: kept as a cache for it. */
  readonly watched: (soul: string) => boolean;
  readonly refused: (peerId: string, code: string, message: string) => void;
  /**
   * Of `souls`, those the peer of `session` stores exactly as this server does
   * (anti-entropy's digests, AntiEntropy.heldBy): they are not pushed, and count as
   * taken. Absent, or an empty answer: every soul is pushed.
   */
  readonly heldBy?: (session: SyncSession, souls: readonly string[]) => Promise<ReadonlySet<string>>;
}

/** What repair did, for /metrics. */
export interface HandoffCounters {
  /** Souls pushed to an owner (one per soul and owner). */
  pushes: number;
  /** Souls not pushed because the owner already held them as this server does (one per soul and owner). */
  alreadyHeld: number;
  /** Bytes of node frames pushed. */
  bytes: number;
  /** Souls released here after their owners confirmed them. */
  released: number;
  /** Completed passes over the store. */
  passes: number;
}

export class Handoff {
  readonly #host: HandoffHost;
  readonly counters: HandoffCounters = { pushes: 0, alreadyHeld: 0, bytes: 0, released: 0, passes: 0 };
  readonly #pacer = new RepairPacer(REPAIR_BYTES_PER_SECOND, REPAIR_CONCURRENCY);
  /**
   * Souls this server holds and does not own, waiting to be pushed and released, each
   * with the owners it need not push to: its co-owners when ownership moved away from
   * here (undefined: every owner, as for a write this server coordinated or a hint).
   */
  readonly #pending = new Map<string, ReadonlySet<string> | undefined>();
  /** The member list of the last pass (undefined before the first). */
  #lastMembers: readonly string[] | undefined;
  #settleTimer: ReturnType<typeof setTimeout> | undefined;
  #retryTimer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopChange: (() => void) | undefined;
  #stopped = false;

  constructor(host: HandoffHost) {
    this.#host = host;
  }

  start(): void {
    this.#stopChange = this.#host.table.onChange(() => this.#settle());
    this.#settle();
    this.#retryTimer = setInterval(() => {
      if (this.#pending.size !== 0) this.#schedule();
    }, RETRY_MS);
    this.#retryTimer.unref?.();
  }

  stop(): void {
    this.#stopped = true;
    this.#stopChange?.();
    clearTimeout(this.#settleTimer);
    clearTimeout(this.#soonTimer);
    this.#soonTimer = undefined;
    clearInterval(this.#retryTimer);
  }

  /** Souls waiting for their owners to confirm them before they are released here. */
  get pendingSouls(): number {
    return this.#pending.size;
  }

  /**
   * Resolves once membership is settled as far as the hand-off knows: no pass waits for
   * membership to be still, and no scan over the store (with its pushes to new owners)
   * runs. Anti-entropy waits for this, so it does not push the same souls beside it.
   */
  async settled(): Promise<void> {
    while (!this.#stopped && (this.#settleTimer !== undefined || this.#scanning || this.#scanWanted)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Resolves once no pass runs or waits to (tests, tools). */
  async idle(): Promise<void> {
    while (this.#running !== undefined || this.#soonTimer !== undefined) {
      await (this.#running ?? new Promise((resolve) => setTimeout(resolve, 20)));
    }
  }

  /**
   * Souls an applied batch changed here: those this server does not own are handed off,
   * to every owner (what changed may be a write one of them has not seen).
   */
  noteChanged(souls: readonly string[]): void {
    const { placement, selfId } = this.#host;
    if (this.#stopped || placement.full) return;
    const fresh = souls.filter((soul) => !this.#pending.has(soul) || this.#pending.get(soul) !== undefined);
    if (fresh.length === 0) return;
    const owners = placement.ownersOf(fresh);
    let added = false;
    fresh.forEach((soul, i) => {
      if (owners[i]!.includes(selfId)) return;
      this.#pending.set(soul, undefined);
      added = true;
    });
    if (added) this.#scheduleSoon();
  }

  /**
   * A pass in HANDOFF_DELAY_MS: a coordinator's own PUTs to the owners (replicate.ts)
   * land first, so the pass finds the owners holding the soul and sends nothing; and the
   * souls of many writes go in one pass, several to a PUT.
   */
  #scheduleSoon(): void {
    if (this.#soonTimer !== undefined || this.#stopped) return;
    this.#soonTimer = setTimeout(() => {
      this.#soonTimer = undefined;
      this.#schedule();
    }, HANDOFF_DELAY_MS);
    this.#soonTimer.unref?.();
  }

  #soonTimer: ReturnType<typeof setTimeout> | undefined;

  /** Waits until membership has been still for SETTLE_MS, then runs a pass. */
  #settle(): void {
    if (this.#stopped) return;
    clearTimeout(this.#settleTimer);
    this.#settleTimer = setTimeout(() => {
      this.#settleTimer = undefined;
      this.#schedule(true);
    }, SETTLE_MS);
    this.#settleTimer.unref?.();
  }

  /** Runs a pass now, or after the one under way. `scan`: look at every stored soul. */
  #schedule(scan = false): void {
    if (this.#stopped) return;
    if (scan) this.#scanWanted = true;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.#pass()
      .catch((error: unknown) => {
        if (!this.#stopped && !this.#host.replica.closed) this.#host.refused(this.#host.selfId, codeOf(error, 'repair/failed'), `a repair pass failed: ${messageOf(error)}`);
      })
      .finally(() => {
        this.#running = undefined;
        if (this.#again && !this.#stopped) {
          this.#again = false;
          this.#schedule();
        }
      });
  }

  #scanWanted = false;
  #scanning = false;

  async #pass(): Promise<void> {
    const members = this.#host.placement.members;
    if (members.length === 0) return;
    if (this.#scanWanted) {
      this.#scanWanted = false;
      this.#scanning = true;
      try {
        await this.#scan(this.#lastMembers);
      } finally {
        this.#scanning = false;
      }
      this.#lastMembers = members;
      this.counters.passes++;
    }
    await this.#handOffPending();
  }

  /**
   * One look at every stored soul under the current members (compared with `before`,
   * the last pass's): souls not owned here join the pending hand-offs; souls whose owners
   * gained a member are pushed to it by one of their previous owners.
   */
  async #scan(before: readonly string[] | undefined): Promise<void> {
    const { replica, placement, selfId } = this.#host;
    let chunk: string[] = [];
    const gains = new Map<string, string[]>();
    // One set per distinct owner list (souls share a few hundred of them at most).
    const coOwnerSets = new Map<string, ReadonlySet<string>>();
    const coOwnersOf = (old: readonly string[]): ReadonlySet<string> => {
      const key = old.join(' ');
      let set = coOwnerSets.get(key);
      if (set === undefined) coOwnerSets.set(key, (set = new Set(old.filter((owner) => owner !== selfId))));
      return set;
    };
    const flush = (): void => {
      const souls = chunk;
      chunk = [];
      const owners = placement.ownersOf(souls);
      const previous = before === undefined ? undefined : ownersUnder(this.#host.engine, before, placement.replicas, souls);
      for (let i = 0; i < souls.length; i++) {
        const soul = souls[i]!;
        const old = previous?.[i];
        if (!owners[i]!.includes(selfId)) {
          // Moved away from here: its co-owners here need nothing from this server.
          if (!this.#pending.has(soul)) this.#pending.set(soul, old?.includes(selfId) === true ? coOwnersOf(old) : undefined);
          continue;
        }
        if (old === undefined) continue;
        if (!pushesGains(old, owners[i]!, (peerId) => placement.isMember(peerId), selfId)) continue;
        for (const target of owners[i]!) {
          if (old.includes(target) || target === selfId) continue;
          let list = gains.get(target);
          if (list === undefined) gains.set(target, (list = []));
          list.push(soul);
        }
      }
    };
    for await (const soul of replica.storedSouls()) {
      if (this.#stopped || replica.closed) return;
      chunk.push(soul);
      if (chunk.length === SCAN_CHUNK) flush();
    }
    if (chunk.length !== 0) flush();
    await this.#pushAll(gains);
  }

  /** Pushes every pending soul to its owners; releases those every owner confirmed. */
  async #handOffPending(): Promise<void> {
    const { placement, selfId, replica } = this.#host;
    const souls = [...this.#pending.keys()];
    const targetsOf = new Map<string, readonly string[]>();
    const byTarget = new Map<string, string[]>();
    for (let start = 0; start < souls.length; start += SCAN_CHUNK) {
      const chunk = souls.slice(start, start + SCAN_CHUNK);
      const owners = placement.ownersOf(chunk);
      chunk.forEach((soul, i) => {
        const targets = owners[i]!;
        if (targets.includes(selfId)) {
          // Owned again (membership changed back): nothing to hand off.
          this.#pending.delete(soul);
          return;
        }
        if (targets.length === 0) return;
        const coOwners = this.#pending.get(soul);
        const needed = coOwners === undefined ? targets : targets.filter((target) => !coOwners.has(target));
        targetsOf.set(soul, needed.length === 0 ? targets : needed);
        for (const target of targetsOf.get(soul)!) {
          let list = byTarget.get(target);
          if (list === undefined) byTarget.set(target, (list = []));
          list.push(soul);
        }
      });
    }
    const taken = await this.#pushAll(byTarget);
    if (this.#stopped || replica.closed) return;
    const confirmed = [...targetsOf].filter(([soul, targets]) => targets.every((target) => taken.get(target)?.has(soul) === true)).map(([soul]) => soul);
    if (confirmed.length === 0) return;
    const released = await replica.release(confirmed, (soul) => this.#host.watched(soul));
    this.counters.released += released.length;
    for (const soul of confirmed) this.#pending.delete(soul);
  }

  /**
   * Pushes each target its souls, several to a PUT (soul-transfer.ts pushSouls), in
   * chunks of SCAN_CHUNK souls paced as one push each; resolves to the souls each target
   * took. A target with no session takes nothing now (its souls wait for the next try).
   */
  async #pushAll(byTarget: ReadonlyMap<string, readonly string[]>): Promise<Map<string, Set<string>>> {
    const taken = new Map<string, Set<string>>();
    const work: Array<Promise<void>> = [];
    for (const [target, souls] of byTarget) {
      const got = new Set<string>();
      taken.set(target, got);
      for (let start = 0; start < souls.length; start += SCAN_CHUNK) {
        const chunk = souls.slice(start, start + SCAN_CHUNK);
        work.push(
          this.#pacer.run(async () => {
            if (this.#stopped || this.#host.replica.closed) return;
            for (const soul of await this.#push(chunk, target)) got.add(soul);
          }),
        );
      }
    }
    await Promise.all(work);
    return taken;
  }

  /**
   * Sends `souls` to `target`, but for those it holds as this server does and those it
   * no longer owns (membership moved while the push waited its turn, or while the target
   * was asked what it holds: a busy server answers in seconds); resolves to those it has
   * now (none when it is not connected).
   */
  async #push(souls: readonly string[], target: string): Promise<string[]> {
    const session = this.#host.sessionOf(target);
    if (session === undefined) return [];
    const ownedByTarget = (list: readonly string[]): string[] => {
      const owners = this.#host.placement.ownersOf(list);
      return list.filter((_, i) => owners[i]!.includes(target));
    };
    const wanted = ownedByTarget(souls);
    if (wanted.length === 0) return [];
    let held: ReadonlySet<string> = new Set();
    try {
      held = (await this.#host.heldBy?.(session, wanted)) ?? held;
    } catch {
      // Could not tell: send them all.
    }
    const already = wanted.filter((soul) => held.has(soul));
    this.counters.alreadyHeld += already.length;
    const host = {
      replica: this.#host.replica,
      take: (bytes: number) => this.#pacer.take(bytes),
      sent: (bytes: number) => void (this.counters.bytes += bytes),
      refused: this.#host.refused,
    };
    const { taken } = await pushSouls(host, session, ownedByTarget(wanted.filter((soul) => !held.has(soul))), PUSH_TIMEOUT_MS);
    this.counters.pushes += taken.length;
    return [...already, ...taken];
  }
}
