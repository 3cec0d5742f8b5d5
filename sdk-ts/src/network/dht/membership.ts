/**
 * How servers learn who the servers are (DESIGN.md §5: a full, signed membership list
 * spread by gossip, so every server computes owners locally in zero hops):
 *
 * - a server signs a record of itself at start, pushes it (MEMBERS, id 0) to every server
 *   it has a session with, and renews it every RENEW_MS;
 * - every GOSSIP_MS it asks up to GOSSIP_FANOUT random servers what they know that it
 *   does not (MEMBERS_SYNC with its digest: peer id and issue time of each record kept;
 *   the answer is MEMBERS with the records the other has newer), so a record reaches
 *   every server in O(log N) rounds and renewals need no push;
 * - it keeps live members dialled (the dialler's backoff and redials), which makes each
 *   one a server *it chose* (peers/server-choice.ts): the outbox, feeds and reads work
 *   between members exactly as between configured servers. Up to FULL_MESH_MAX others,
 *   every one (a full mesh); beyond, its routing-table neighbours (PlacementView
 *   `neighbours`: its nearest co-owners and links into every part of the key space, so
 *   gossip still reaches everyone) and, on demand, any member a job asks a session of
 *   (`want`: a coordinated write, a read from owners, repair), until no job has asked for
 *   WANTED_MS. A full mesh of hundreds of servers costs each of them hundreds of
 *   connections, pings and feeds; most of which carry nothing;
 * - a member whose sessions all ended and did not come back within DOWN_GRACE_MS is
 *   marked down here (member-table.ts) and leaves placement until it signs a newer record;
 * - at a graceful stop it pushes a `leaving` record, so the others drop it at once.
 *
 * Records are signed and checked by the engine; any peer may carry them. Sessions with
 * peers that do not speak 1.2 or do not say they are servers take no part.
 */
import { codeOf, messageOf } from '../refusal.js';
import type { SyncSession } from '../sync-session.js';
import type { MemberDigestEntry, WireMessage } from '../wire/messages.js';
import { MAX_MEMBER_RECORDS } from '../wire/messages.js';
import { type Member, type MemberTable, RENEW_MS } from './member-table.js';

/** How often a server asks others what members they know. */
export const GOSSIP_MS = 1_000;
/** How many servers it asks each round. */
export const GOSSIP_FANOUT = 2;
/** How long a member may be without a session before this server counts it as down. */
export const DOWN_GRACE_MS = 1_500;
/** Up to this many other live members, every one is kept dialled (DhtOptions.fullMeshMax). */
export const FULL_MESH_MAX = 24;
/** Beyond a full mesh: members kept dialled per Kademlia bucket around this server. */
export const NEIGHBOURS_PER_BUCKET = 3;
/** Beyond a full mesh: how long a member dialled on demand stays dialled after a job last asked for it. */
export const WANTED_MS = 60_000;
/**
 * A member a job has wanted this long with no session, its dial having failed, is
 * counted down here, as one whose sessions ended would be: beyond a full mesh a server
 * that is not among its neighbours has no session to lose, and would otherwise keep a
 * crashed member in placement until its record expires.
 */
export const UNREACHABLE_MS = 3_000;

export interface MembershipOptions {
  readonly table: MemberTable;
  readonly selfId: string;
  /** The 32-byte Ed25519 seed of this server's peer key (it signs the records). */
  readonly seed: Uint8Array;
  /** The addresses to announce (what others dial). */
  readonly addresses: () => readonly string[];
  /** Bytes this server offers to store (announced; 0 = unspecified). */
  readonly capacity: number;
  /** Sessions with peers that say they are servers and speak 1.2, one per peer. */
  readonly sessions: () => readonly SyncSession[];
  /** Whether some session with `peerId` is open. */
  readonly connected: (peerId: string) => boolean;
  /** Keep `address` dialled / stop dialling it (peers/dialler.ts). */
  readonly keep: (address: string) => void;
  /** Whether some address of `peerId` is kept dialled already (configured peers). */
  readonly kept: (peerId: string) => boolean;
  readonly drop: (address: string) => void;
  /** Whether the last dial of `address` failed (peers/dialler.ts failures). */
  readonly dialFailed: (address: string) => boolean;
  /** The members to keep dialled beyond a full mesh (PlacementView.neighbours). */
  readonly neighbours: (perBucket: number) => readonly string[];
  /** Members a standing job needs sessions with (owners subscribed at for this server's subscribers): kept dialled beyond a full mesh. */
  readonly needed?: () => Iterable<string>;
  /** Other live members up to which every one is kept dialled (default FULL_MESH_MAX). */
  readonly fullMeshMax?: number;
  /** A record or exchange was refused: counted and reported. */
  readonly refused: (peerId: string, code: string, message: string) => void;
  readonly now?: () => number;
}

export class Membership {
  readonly #options: MembershipOptions;
  readonly #now: () => number;
  /** The address each member is kept dialled at. */
  readonly #dialled = new Map<string, string>();
  readonly #downTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Beyond a full mesh: members a job asked a session of, and when it last did. */
  readonly #wanted = new Map<string, number>();
  /** Wanted members with no session yet, and since when. */
  readonly #unreached = new Map<string, number>();
  #timers: ReturnType<typeof setInterval>[] = [];
  #stopChange: (() => void) | undefined;
  #stopped = false;

  constructor(options: MembershipOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get table(): MemberTable {
    return this.#options.table;
  }

  start(): void {
    this.#sign('server');
    this.#stopChange = this.#options.table.onChange(() => this.#dialMembers());
    this.#timers.push(
      setInterval(() => this.#sign('server'), RENEW_MS),
      setInterval(() => this.#gossip(), GOSSIP_MS),
    );
    for (const timer of this.#timers) timer.unref?.();
    this.#dialMembers();
  }

  /** Signs a `leaving` record and pushes it to every server (best effort), then stops. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    for (const timer of this.#downTimers.values()) clearTimeout(timer);
    this.#stopChange?.();
    const leaving = this.#sign('leaving');
    await Promise.allSettled(this.#options.sessions().map((session) => session.notify({ type: 'members', id: 0, records: [leaving] })));
  }

  /** A session with a server is ready: tell it who we are, ask it what it knows. */
  sessionReady(session: SyncSession): void {
    if (this.#stopped || !session.speaksDht || session.remoteRole !== 'server') return;
    this.#cancelDown(session.peerId);
    this.#options.table.markUp(session.peerId);
    const own = this.#options.table.get(this.#options.selfId);
    if (own !== undefined) void session.notify({ type: 'members', id: 0, records: [own.bytes] }).catch(() => {});
    void this.#syncWith(session);
  }

  /** Every session with `peerId` ended: down after DOWN_GRACE_MS unless one comes back. */
  peerGone(peerId: string): void {
    if (this.#stopped || this.#downTimers.has(peerId) || !this.#options.table.isLive(peerId)) return;
    const timer = setTimeout(() => {
      this.#downTimers.delete(peerId);
      if (!this.#options.connected(peerId)) this.#options.table.markDown(peerId, this.#now());
    }, DOWN_GRACE_MS);
    timer.unref?.();
    this.#downTimers.set(peerId, timer);
  }

  /** Answers a MEMBERS_SYNC: the records we have that the asker lacks or has older. */
  answer(message: Extract<WireMessage, { type: 'members-sync' }>): WireMessage {
    const theirs = new Map<string, number>();
    for (const entry of message.known) theirs.set(entry.peerId, entry.issuedAt);
    const records: Uint8Array[] = [];
    for (const member of this.#options.table.records()) {
      if (records.length === MAX_MEMBER_RECORDS) break;
      const known = theirs.get(member.peerId);
      if (known === undefined || known < member.issuedAt) records.push(member.bytes);
    }
    return { type: 'members', id: message.id, records };
  }

  /** Records a peer pushed or sent back. */
  take(from: string, records: readonly Uint8Array[]): void {
    const now = this.#now();
    for (const record of records) {
      try {
        this.#options.table.offer(record, now);
      } catch (error) {
        this.#options.refused(from, codeOf(error, 'member/malformed'), `a member record was refused: ${messageOf(error)}`);
      }
    }
  }

  /** What we know, as a MEMBERS_SYNC digest. */
  digest(): MemberDigestEntry[] {
    return this.#options.table.records().map((member) => ({ peerId: member.peerId, issuedAt: member.issuedAt }));
  }

  #sign(role: 'server' | 'leaving'): Uint8Array {
    const addrs = this.#options.addresses().slice(0, 16);
    return this.#options.table.sign(this.#options.seed, { role, capacity: this.#options.capacity, addrs }, this.#now());
  }

  /**
   * A job needs a session with member `peerId` (`connected`: it has one now). Beyond a
   * full mesh, a member not kept dialled is dialled now and stays so while jobs keep
   * asking (WANTED_MS); in a full mesh every member is dialled already.
   */
  want(peerId: string, connected: boolean): void {
    if (this.#stopped || peerId === this.#options.selfId) return;
    if (connected && !this.#wanted.has(peerId)) return;
    const now = this.#now();
    this.#wanted.set(peerId, now);
    if (connected) this.#unreached.delete(peerId);
    else if (!this.#unreached.has(peerId)) this.#unreached.set(peerId, now);
    if (!this.#dialled.has(peerId)) this.#dialMembers();
  }

  #gossip(): void {
    if (this.#stopped) return;
    this.#options.table.expire(this.#now());
    // Members no job asked for in WANTED_MS are no longer kept dialled; those needed are.
    this.#dialMembers();
    this.#markUnreachable();
    const sessions = [...this.#options.sessions()];
    for (let i = 0; i < GOSSIP_FANOUT && sessions.length !== 0; i++) {
      const [session] = sessions.splice(Math.floor(Math.random() * sessions.length), 1);
      void this.#syncWith(session!);
    }
  }

  /** Wanted members still without a session after UNREACHABLE_MS are down here (until a session or a newer record). */
  #markUnreachable(): void {
    const now = this.#now();
    for (const [peerId, since] of this.#unreached) {
      if (this.#options.connected(peerId) || !this.#wanted.has(peerId)) {
        this.#unreached.delete(peerId);
        continue;
      }
      // Still being dialled for the first time (a slow handshake on a busy server) is not unreachable.
      const address = this.#dialled.get(peerId);
      if (now - since < UNREACHABLE_MS || address === undefined || !this.#options.dialFailed(address)) continue;
      this.#unreached.delete(peerId);
      if (this.#options.table.isLive(peerId)) this.#options.table.markDown(peerId, now);
    }
  }

  async #syncWith(session: SyncSession): Promise<void> {
    try {
      const reply = await session.request({ type: 'members-sync', known: this.digest() }, { timeoutMs: 10_000 });
      if (reply.type === 'members') this.take(session.peerId, reply.records);
    } catch (error) {
      if (!session.closed && !this.#stopped) this.#options.refused(session.peerId, codeOf(error), `a membership exchange failed: ${messageOf(error)}`);
    }
  }

  #cancelDown(peerId: string): void {
    const timer = this.#downTimers.get(peerId);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#downTimers.delete(peerId);
  }

  /**
   * Keeps the members it should dialled at one address (all of them in a full mesh;
   * else its neighbours and those wanted), those seen down included (their dial
   * succeeding again is how we hear they are back); stops once its record expires or
   * says it left, or it is no longer chosen. Members the operator configured are dialled
   * already.
   */
  #dialMembers(): void {
    if (this.#stopped) return;
    const live = new Map<string, Member>();
    for (const member of this.#options.table.records()) {
      if (member.peerId !== this.#options.selfId && member.role === 'server') live.set(member.peerId, member);
    }
    const chosen = this.#chosen(live);
    for (const [peerId, address] of this.#dialled) {
      if (chosen.has(peerId)) continue;
      this.#dialled.delete(peerId);
      this.#options.drop(address);
    }
    for (const peerId of chosen) {
      const member = live.get(peerId)!;
      if (this.#dialled.has(peerId) || this.#options.kept(peerId)) continue;
      const address = dialAddress(member);
      if (address === undefined) continue;
      this.#dialled.set(peerId, address);
      this.#options.keep(address);
    }
  }

  /** Of the `live` members, those to keep dialled: all in a full mesh; else the neighbours and the members wanted in the last WANTED_MS. */
  #chosen(live: ReadonlyMap<string, Member>): Set<string> {
    if (live.size <= (this.#options.fullMeshMax ?? FULL_MESH_MAX)) return new Set(live.keys());
    const chosen = new Set(this.#options.neighbours(NEIGHBOURS_PER_BUCKET).filter((peerId) => live.has(peerId)));
    // One dialled before and down here now stays dialled, as in a full mesh: its dial
    // succeeding again is how this server hears it is back (a session dropped by a
    // stalled peer, not a crash), sooner than its next record.
    for (const peerId of this.#dialled.keys()) if (live.has(peerId) && this.#options.table.isDown(peerId)) chosen.add(peerId);
    for (const peerId of this.#options.needed?.() ?? []) if (live.has(peerId)) chosen.add(peerId);
    const now = this.#now();
    for (const [peerId, at] of this.#wanted) {
      if (now - at > WANTED_MS || !live.has(peerId)) this.#wanted.delete(peerId);
      else chosen.add(peerId);
    }
    return chosen;
  }
}

/** The address to keep a member dialled at: in-process first, then TCP, then WebSockets; never a relay. Ends in /p2p/<id>. */
export function dialAddress(member: Pick<Member, 'peerId' | 'addrs'>): string | undefined {
  const rank = (address: string): number => {
    if (address.includes('/p2p-circuit')) return -1;
    if (address.startsWith('/memory/')) return 4;
    if (/\/tcp\/\d+(\/p2p\/[^/]+)?$/.test(address)) return 3;
    if (address.includes('/ws')) return 2;
    return 0;
  };
  const best = [...member.addrs].filter((address) => rank(address) > 0).sort((a, b) => rank(b) - rank(a))[0];
  if (best === undefined) return undefined;
  return best.includes('/p2p/') ? best : `${best}/p2p/${member.peerId}`;
}
