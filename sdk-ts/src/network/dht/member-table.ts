/**
 * The servers of the network as this peer knows them: one signed member record per
 * server (core-rs/src/membership.rs signs, opens and checks them; nothing here checks a
 * signature or derives a peer id), the newest of each.
 *
 * A record names its server (the peer id is derived from the key that signed it, so no
 * one can announce another's id), its addresses, its capacity and when it was issued.
 * Servers renew theirs every RENEW_MS; a record older than EXPIRE_MS is dropped by
 * everyone at about the same moment, because age is measured from the record's own
 * issue time, not from when it arrived (so every server agrees on who is a member,
 * which is what lets each compute a soul's owners by itself). Replays are refused: a
 * record not newer than the one kept for its peer changes nothing. A `leaving` record
 * (signed at a graceful stop) removes its server at once and stays as a tombstone until
 * it expires, so an older `server` record replayed after it cannot bring it back.
 *
 * A member this peer saw fail (its connection ended and did not come back: `markDown`)
 * leaves the live set here until a record issued after that moment arrives or a session
 * with it is up again (`markUp`): a server killed without a goodbye is out of placement
 * in about a second instead of EXPIRE_MS, and one that was only cut off is back as soon
 * as it is reachable.
 *
 * The live set (servers, not expired, not down, sorted by peer id) has a `version` that
 * changes exactly when the set does; placement is recomputed from it.
 */
import { engineCall, RustDHTError } from '../../api/errors.js';

/** What a member record says, as the engine opened it (openMemberRecord). */
export interface MemberRecord {
  readonly peerId: string;
  readonly role: 'server' | 'leaving';
  readonly issuedAt: number;
  readonly capacity: number;
  readonly addrs: readonly string[];
}

/** The engine calls this table needs (core-rs/src/wasm.rs). */
export interface MemberRecordEngine {
  signMemberRecord(seed: Uint8Array, record: { role: 'server' | 'leaving'; issuedAt: number; capacity: number; addrs: string[] }): Uint8Array;
  openMemberRecord(bytes: Uint8Array, now: number, maxAgeMs: number, maxSkewMs: number): string;
}

export interface Member extends MemberRecord {
  /** The signed record, as received (what is passed on to others). */
  readonly bytes: Uint8Array;
}

/** How often a server signs a fresh record of itself. */
export const RENEW_MS = 10_000;
/** A record older than this (by its issue time) is dropped everywhere. */
export const EXPIRE_MS = 45_000;
/** A record issued further ahead of our clock than this is refused (`member/future`). */
export const MAX_SKEW_MS = 30_000;
/** Members one table keeps; records of more are refused (`member/too-many`). */
export const MAX_MEMBERS = 4096;

export type OfferResult = 'added' | 'renewed' | 'unchanged';

export class MemberTable {
  readonly #engine: MemberRecordEngine;
  readonly #trusted: ReadonlySet<string> | undefined;
  readonly #members = new Map<string, Member>();
  /** Members seen failing here, and when: out of the live set until a newer record. */
  readonly #down = new Map<string, number>();
  readonly #listeners = new Set<() => void>();
  #live: readonly Member[] = [];
  #version = 0;

  /** `trusted`: when given, only records of these peer ids (and `self`'s) are taken (`member/untrusted` otherwise). */
  constructor(engine: MemberRecordEngine, self: string, trusted?: readonly string[]) {
    this.#engine = engine;
    this.#trusted = trusted === undefined ? undefined : new Set([...trusted, self]);
  }

  /** Changes whenever the live set does. */
  get version(): number {
    return this.#version;
  }

  /** The live members, sorted by peer id. */
  live(): readonly Member[] {
    return this.#live;
  }

  /** Every record kept (live, down or leaving), for peers that ask what we know. */
  records(): readonly Member[] {
    return [...this.#members.values()];
  }

  get(peerId: string): Member | undefined {
    return this.#members.get(peerId);
  }

  isLive(peerId: string): boolean {
    const member = this.#members.get(peerId);
    return member !== undefined && member.role === 'server' && !this.#down.has(peerId);
  }

  /** Calls `listener` after every change of the live set. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Takes a record from anywhere (it proves itself). Throws a RustDHTError with the
   * engine's code (`member/bad-signature`, `member/stale`, `member/future`,
   * `member/malformed`, `member/too-large`) or `member/untrusted`, `member/too-many`.
   */
  offer(bytes: Uint8Array, now: number): OfferResult {
    const record = this.#open(bytes, now);
    if (this.#trusted !== undefined && !this.#trusted.has(record.peerId)) {
      throw new RustDHTError('member/untrusted', `a member record of ${record.peerId}, which is not among the trusted members.`);
    }
    const known = this.#members.get(record.peerId);
    if (known !== undefined && known.issuedAt >= record.issuedAt) return 'unchanged';
    if (known === undefined && this.#members.size >= MAX_MEMBERS) {
      throw new RustDHTError('member/too-many', `more than ${MAX_MEMBERS} members; record of ${record.peerId} not kept.`);
    }
    this.#members.set(record.peerId, { ...record, bytes });
    const downAt = this.#down.get(record.peerId);
    if (downAt !== undefined && record.issuedAt > downAt) this.#down.delete(record.peerId);
    this.#recompute();
    return known === undefined ? 'added' : 'renewed';
  }

  /** Our own fresh record, signed by the engine with our peer key's seed, taken into the table. */
  sign(seed: Uint8Array, fields: { role: 'server' | 'leaving'; capacity: number; addrs: readonly string[] }, now: number): Uint8Array {
    const issuedAt = Math.max(Math.floor(now), (this.#lastOwnIssuedAt ?? 0) + 1);
    this.#lastOwnIssuedAt = issuedAt;
    const bytes = this.#engine.signMemberRecord(seed, { role: fields.role, issuedAt, capacity: fields.capacity, addrs: [...fields.addrs] });
    this.offer(bytes, now);
    return bytes;
  }

  #lastOwnIssuedAt: number | undefined;

  /** This peer saw `peerId` fail at `now`: out of the live set until it signs a newer record. */
  markDown(peerId: string, now: number): void {
    if (this.#down.has(peerId) || !this.#members.has(peerId)) return;
    this.#down.set(peerId, now);
    this.#recompute();
  }

  /** This peer has a session with `peerId` again: it is live here again (its record was never the problem). */
  markUp(peerId: string): void {
    if (!this.#down.delete(peerId)) return;
    this.#recompute();
  }

  /** Whether `peerId` is out of the live set because we saw it fail. */
  isDown(peerId: string): boolean {
    return this.#down.has(peerId);
  }

  /** Drops records older than EXPIRE_MS (by their issue time). */
  expire(now: number): void {
    let changed = false;
    for (const [peerId, member] of this.#members) {
      if (member.issuedAt + EXPIRE_MS >= now) continue;
      this.#members.delete(peerId);
      this.#down.delete(peerId);
      changed = true;
    }
    if (changed) this.#recompute();
  }

  #open(bytes: Uint8Array, now: number): MemberRecord {
    return JSON.parse(engineCall(() => this.#engine.openMemberRecord(bytes, now, EXPIRE_MS, MAX_SKEW_MS))) as MemberRecord;
  }

  #recompute(): void {
    const live = [...this.#members.values()].filter((member) => member.role === 'server' && !this.#down.has(member.peerId));
    live.sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0));
    const same = live.length === this.#live.length && live.every((member, i) => member.peerId === this.#live[i]!.peerId);
    // Renewals replace the member objects (newer addresses), whether or not the set changed.
    this.#live = live;
    if (same) return;
    this.#version++;
    for (const listener of this.#listeners) listener();
  }
}
