/**
 * Anti-entropy between the owners of souls (DESIGN.md §5, "Churn"; docs/ARCHITECTURE.md,
 * "Anti-entropy"): every AE_INTERVAL_MS (jittered), and once membership has settled
 * after a change, this server reconciles with each member it shares souls with. Feeds,
 * hand-off and read repair deliver almost everything; this finds what they missed (an
 * owner that lost records, a feed entry cut for a member not known yet, a push that
 * failed) for a cost in proportion to what differs:
 *
 * 1. Both sides take the souls they store and both own (placement-view.ts) and the
 *    engine's 12-byte digest of each (core-rs/src/digest.rs: 4 bytes of the soul's
 *    position, 8 of the sum of its stored records' hashes), kept here in a cache the
 *    store's changes invalidate (`replica.onApplied`, `replica.onReleased`), so a round
 *    reads nothing but what changed since the last one.
 * 2. The asker sends DIGEST for coded symbols of the other side's set (16 first, then
 *    half as many more each time) and its engine subtracts its own and peels the
 *    difference (rateless set reconciliation). Owners in sync settle on the first
 *    reply, about 300 bytes both ways. Sets larger than RANGE_SOULS are reconciled in
 *    slices of positions, so no reconciliation outgrows the engine's bounds.
 * 3. Souls only the asker holds as it holds them are pushed (PUT, soul-transfer.ts);
 *    those only the other holds are named by it (DIGEST of their digests) and read
 *    (GET_PART). A soul the two hold differently is both: each side ends with the merge.
 *
 * Before comparing souls the two compare views (a digest of their member lists): while
 * membership is changing they would disagree on who owns what, and the round waits.
 * Repair is paced by a byte budget (AE_BYTES_PER_SECOND) and answering by a work budget
 * (SERVE_DIGESTS_PER_SECOND of soul digests encoded, one DIGEST at a time per peer), so
 * neither can starve foreground traffic. Hashing and comparing are the engine's; nothing
 * here decides that two states are equal.
 *
 * Over ~400 lines on purpose: both sides of the DIGEST conversation (asking, answering,
 * the held asks of the hand-off) are here, so what an ask means and how it is answered
 * are read together; the digests it keeps (digest-cache.ts), the slices it cuts
 * (digest-slices.ts) and moving souls (soul-transfer.ts) are files of their own.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import { engineCall, RustDHTError } from '../../api/errors.js';
import type { Reconciliation } from '../../engine/core-types.js';
import { codeOf, messageOf } from '../refusal.js';
import type { ReplicaForNetwork } from '../replica-port.js';
import type { SyncSession } from '../sync-session.js';
import {
  DIGEST_ITEM_BYTES,
  DIGEST_SALT_BYTES,
  MAX_DIGEST_SOULS,
  MAX_DIGEST_SYMBOL_INDEX,
  type DigestAnswer,
  type DigestAsk,
  type WireMessage,
} from '../wire/messages.js';
import { TaskLimit } from '../../util/concurrency.js';
import { TokenBucket } from '../wire/rate-limiter.js';
import { DigestCache, type DigestEngine } from './digest-cache.js';
import { bytesOfLatin1, equalBytes, latin1, rangeBits, sliceOf, soulsNamed, type Slice } from './digest-slices.js';
import { SETTLE_MS } from './handoff.js';
import type { MemberTable } from './member-table.js';
import type { PlacementView } from './placement-view.js';
import { paced, pullSoul, pushSouls, wireBytes, type Transferred } from './soul-transfer.js';

/** How often a server reconciles with the members it shares souls with (±20 %). */
export const AE_INTERVAL_MS = 10_000;
/** Bytes per second anti-entropy may move as the asker (digests and repairs, both ways). */
export const AE_BYTES_PER_SECOND = 4 * 1024 * 1024;
/**
 * Soul digests per second this server looks at answering DIGESTs (all askers together;
 * a symbols answer costs about a microsecond per soul digest): at most about a fifth of
 * a core, however many peers ask.
 */
export const SERVE_DIGESTS_PER_SECOND = 200_000;
/** How often every cached digest is read again from the store (a store changed under the replica). */
export const SCRUB_MS = 60 * 60_000;
/** Symbols asked for first: enough to settle owners in sync and a handful of differences in one reply. */
const FIRST_SYMBOLS = 16;
/** Each further ask grows the symbols received by half (about 1.2× overshoot on average). */
const GROWTH = 1.5;
/** Symbols per differing soul a decode takes, at least (the count difference is a floor on the differences). */
const SYMBOLS_PER_DIFFERENCE = 1.5;
/** Symbols asked for at once, at most (about 80 KB of reply). */
const SYMBOLS_PER_ASK = 4096;
const REQUEST_TIMEOUT_MS = 15_000;
/** Repair tasks in flight at once (a chunk of pushes, or one pull). */
const REPAIR_CONCURRENCY = 8;
/** Souls one repair task pushes (several to a PUT, soul-transfer.ts pushSouls). */
const PUSH_CHUNK = 256;
/** Estimated bytes of one symbol (12 + 4 + a count), for pacing before the reply is seen. */
const SYMBOL_BYTES = 18;

export type ReplicaForAntiEntropy = Pick<
  ReplicaForNetwork,
  'storedSouls' | 'soulRecords' | 'residentDigests' | 'onApplied' | 'onReleased' | 'receive' | 'nodeFramePart' | 'closed' | 'limits' | 'changeLog' | 'engineModule'
>;

export interface AntiEntropyHost {
  readonly replica: ReplicaForAntiEntropy;
  readonly engine: DigestEngine;
  readonly table: MemberTable;
  readonly placement: PlacementView;
  readonly selfId: string;
  /** A ready session with server `peerId`, if connected. */
  readonly sessionOf: (peerId: string) => SyncSession | undefined;
  readonly refused: (peerId: string, code: string, message: string) => void;
  /**
   * Resolves once the hand-off has settled a membership change (handoff.ts `settled`). A
   * round waits for it: after a change the hand-off moves whole souls to their new
   * owners, and a round reconciling at the same time would find the same souls missing
   * and push them a second time.
   */
  readonly handoffSettled?: () => Promise<void>;
}

/** What anti-entropy did, for /metrics. */
export interface AntiEntropyCounters {
  /** Reconciliations this server asked for that ran to their end (in sync, or repaired). */
  rounds: number;
  /** Those that stopped early: "not now" (views differ, busy), a refusal, a timeout. */
  failedRounds: number;
  /** Bytes of the messages of the reconciliations this server asked for: DIGESTs, PUTs, GET_PARTs it sent… */
  bytesSent: number;
  /** …and the replies it received (DIGEST_REPLY, ACK, NODE_PART). Lengths prefixes included. */
  bytesReceived: number;
  /** Of those, the node frames that carried repairs both ways (the updates themselves). */
  updateBytes: number;
  /** Souls whose repair changed a graph, here or at the other owner. */
  soulsRepaired: number;
  /** Souls pushed to another owner, and read from one. */
  pushed: number;
  pulled: number;
  /** DIGESTs this server answered, and their bytes both ways (the askers count them too). */
  served: number;
  servedBytes: number;
}

/** What one reconciled slice found. */
interface Difference {
  /** Souls this side holds as the other does not. */
  readonly localOnly: readonly string[];
  /** Digests of souls the other side holds as this one does not. */
  readonly remoteOnly: Uint8Array;
  readonly remoteSize: number;
}

export class AntiEntropy {
  readonly #host: AntiEntropyHost;
  readonly counters: AntiEntropyCounters = {
    rounds: 0,
    failedRounds: 0,
    bytesSent: 0,
    bytesReceived: 0,
    updateBytes: 0,
    soulsRepaired: 0,
    pushed: 0,
    pulled: 0,
    served: 0,
    servedBytes: 0,
  };
  readonly #cache: DigestCache;
  readonly #bucket = new TokenBucket(AE_BYTES_PER_SECOND, AE_BYTES_PER_SECOND);
  readonly #work = new TokenBucket(SERVE_DIGESTS_PER_SECOND, 2 * SERVE_DIGESTS_PER_SECOND);
  /** Peers a DIGEST of is being answered: one at a time each. */
  readonly #serving = new Set<string>();
  /** Each partner's set size at its last reconciliation (how finely to slice the next). */
  readonly #remoteSizes = new Map<string, number>();
  #owners = new Map<string, readonly string[]>();
  #ownersVersion = -1;
  #view: { version: number; digest: Uint8Array } | undefined;
  #coOwned = new Map<string, { generation: number; version: number; slice: Slice }>();
  #chain: Promise<void> = Promise.resolve();
  #queued: Promise<void> | undefined;
  readonly #stops: Array<() => void> = [];
  #started = false;
  #stopped = false;
  #paused = false;

  constructor(host: AntiEntropyHost) {
    this.#host = host;
    this.#cache = new DigestCache(host.replica, host.engine);
  }

  /** Whether this server takes part: it has a store to compare (a server without one has nothing durable to repair). */
  get enabled(): boolean {
    return this.#host.replica.changeLog !== undefined;
  }

  start(): void {
    if (this.#started || !this.enabled) return;
    this.#started = true;
    const { replica, table } = this.#host;
    this.#stops.push(
      replica.onApplied((batch) => this.#cache.changed(batch.changes.map((change) => change[0]))),
      replica.onReleased((souls) => this.#cache.forget(souls)),
      table.onChange(() => this.#settle()),
    );
    const tick = (): void => {
      this.#timer = setTimeout(() => {
        if (!this.#paused) void this.runRound();
        tick();
      }, AE_INTERVAL_MS * (0.8 + 0.4 * Math.random()));
      this.#timer.unref?.();
    };
    tick();
    this.#stops.push(() => clearTimeout(this.#timer), () => clearTimeout(this.#settleTimer));
    const scrub = setInterval(() => this.#cache.rescan(), SCRUB_MS);
    scrub.unref?.();
    this.#stops.push(() => clearInterval(scrub));
    this.#settle();
  }

  stop(): void {
    this.#stopped = true;
    for (const stop of this.#stops.splice(0)) stop();
  }

  /** Paused, this server starts no round of its own (its timer and membership changes are ignored); it still answers, and `runRound()` still runs one. For tools and tests. */
  get paused(): boolean {
    return this.#paused;
  }

  set paused(paused: boolean) {
    this.#paused = paused;
  }

  /**
   * Reconciles with every member this server shares souls with, now or right after the
   * round under way; resolves when that round is over (tests, tools).
   */
  runRound(): Promise<void> {
    if (this.#queued !== undefined) return this.#queued;
    const queued = this.#chain.then(() => {
      this.#queued = undefined;
      return this.#round();
    });
    this.#queued = queued;
    this.#chain = queued;
    return queued;
  }

  /** Forgets every cached digest: the next round reads them all from the store again (the store changed under the replica). */
  rescan(): void {
    this.#cache.rescan();
  }

  /**
   * Of `souls`, those the peer of `session` stores exactly as this server does (same
   * digest: the same property records), asked with held DIGESTs of up to
   * MAX_DIGEST_SOULS; empty when it cannot tell (not started, a peer before 1.2, "not
   * now", a failure): the caller then sends them all. The hand-off asks this before
   * pushing whole souls (handoff.ts).
   */
  async heldBy(session: SyncSession, souls: readonly string[]): Promise<Set<string>> {
    const held = new Set<string>();
    if (!this.#started || this.#stopped || !session.speaksDht || souls.length === 0) return held;
    const digestsHere = await this.#cache.digestsFor(souls);
    const named: string[] = [];
    const items: string[] = [];
    souls.forEach((soul, i) => {
      const digest = digestsHere[i];
      if (digest === undefined) return;
      named.push(soul);
      items.push(digest);
    });
    for (let start = 0; start < named.length && !session.closed; start += MAX_DIGEST_SOULS) {
      const chunk = named.slice(start, start + MAX_DIGEST_SOULS);
      const digests = new Uint8Array(chunk.length * DIGEST_ITEM_BYTES);
      chunk.forEach((_, i) => digests.set(bytesOfLatin1(items[start + i]!), i * DIGEST_ITEM_BYTES));
      const answer = await this.#ask(session, this.#viewDigest(), { kind: 'held', souls: chunk, digests }, chunk.length * 40);
      if (answer.kind !== 'souls') break;
      // Only souls asked about count: a peer cannot make this server drop anything else.
      const asked = new Set(chunk);
      for (const soul of answer.souls) if (asked.has(soul)) held.add(soul);
    }
    return held;
  }

  /** Answers a DIGEST from `session`'s peer. */
  async answer(session: SyncSession, message: Extract<WireMessage, { type: 'digest' }>): Promise<WireMessage> {
    const peer = session.peerId;
    const reply = (answer: DigestAnswer): WireMessage => {
      const sent: WireMessage = { type: 'digest-reply', id: message.id, answer };
      this.counters.served++;
      this.counters.servedBytes += wireBytes(message) + wireBytes(sent);
      return sent;
    };
    if (!this.#started || this.#stopped || this.#host.replica.closed) return reply({ kind: 'not-now', reason: 'busy' });
    if (!this.#host.placement.isMember(peer)) return reply({ kind: 'not-now', reason: 'not-member' });
    if (message.ask.kind === 'held') {
      // Which of the named souls this server stores exactly as the asker does: needs no
      // agreement on who owns what, so views are not compared.
      const { souls, digests } = message.ask;
      if (!this.#work.take(souls.length)) return reply({ kind: 'not-now', reason: 'busy' });
      const digestsHere = await this.#cache.digestsFor(souls);
      const held = souls.filter((_, i) => digestsHere[i] === latin1(digests.subarray(i * DIGEST_ITEM_BYTES, (i + 1) * DIGEST_ITEM_BYTES)));
      return reply({ kind: 'souls', souls: held });
    }
    if (!equalBytes(message.view, this.#viewDigest())) return reply({ kind: 'not-now', reason: 'views-differ' });
    if (this.#serving.has(peer)) return reply({ kind: 'not-now', reason: 'busy' });
    this.#serving.add(peer);
    try {
      await this.#cache.refresh(() => this.#stopped);
      const ask = message.ask;
      const all = this.#coOwnedWith(peer);
      if (ask.kind === 'symbols') {
        const slice = sliceOf(all, ask.bits, ask.prefix);
        if (!this.#work.take(slice.souls.length + ask.count)) return reply({ kind: 'not-now', reason: 'busy' });
        const symbols = engineCall(() => this.#host.engine.encodeSymbols(slice.items, ask.salt, ask.bits, ask.prefix, ask.start, ask.start + ask.count));
        return reply({ kind: 'symbols', symbols });
      }
      if (!this.#work.take(all.souls.length)) return reply({ kind: 'not-now', reason: 'busy' });
      return reply({ kind: 'souls', souls: soulsNamed(all, ask.digests) });
    } finally {
      this.#serving.delete(peer);
    }
  }

  /** Waits until membership has been still for twice SETTLE_MS (the hand-off's pass starts after SETTLE_MS), then runs a round. */
  #settle(): void {
    if (this.#stopped) return;
    clearTimeout(this.#settleTimer);
    this.#settleTimer = setTimeout(() => {
      if (!this.#paused) void this.runRound();
    }, 2 * SETTLE_MS);
    this.#settleTimer.unref?.();
  }

  #settleTimer: ReturnType<typeof setTimeout> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  async #round(): Promise<void> {
    if (this.#stopped || !this.#started || this.#host.replica.closed) return;
    // Alone, there is nobody to reconcile with: reading every changed soul back from the
    // store for its digest would be work (and memory) for nothing.
    if (!this.#host.placement.members.some((member) => member !== this.#host.selfId)) return;
    await this.#host.handoffSettled?.();
    if (this.#stopped || this.#host.replica.closed) return;
    try {
      await this.#cache.refresh(() => this.#stopped);
    } catch (error) {
      this.#report(this.#host.selfId, error, 'reading the digests of the store');
      return;
    }
    for (const partner of this.#partners()) {
      if (this.#stopped || this.#host.replica.closed) return;
      try {
        if (await this.#reconcile(partner)) this.counters.rounds++;
        else this.counters.failedRounds++;
      } catch (error) {
        this.counters.failedRounds++;
        this.#report(partner, error, `anti-entropy with ${partner}`);
      }
    }
  }

  #report(peerId: string, error: unknown, what: string): void {
    if (this.#stopped || this.#host.replica.closed) return;
    this.#host.refused(peerId, codeOf(error, 'repair/failed'), `${what} failed: ${messageOf(error)}`);
  }

  /** Reconciles every slice of the souls shared with `partner`; false when it stopped early ("not now", no session). */
  async #reconcile(partner: string): Promise<boolean> {
    const session = this.#host.sessionOf(partner);
    if (session === undefined || !session.speaksDht) return false;
    const all = this.#coOwnedWith(partner);
    const view = this.#viewDigest();
    const bits = rangeBits(Math.max(all.souls.length, this.#remoteSizes.get(partner) ?? 0));
    let remoteSize = 0;
    for (let prefix = 0; prefix < 2 ** bits; prefix++) {
      const slice = sliceOf(all, bits, prefix);
      const difference = await this.#difference(session, view, slice, bits, prefix);
      if (difference === undefined) return false;
      remoteSize += difference.remoteSize;
      await this.#repair(session, difference);
    }
    this.#remoteSizes.set(partner, remoteSize);
    return true;
  }

  /** The difference of one slice, from the partner's symbols; undefined when it answered "not now". */
  async #difference(session: SyncSession, view: Uint8Array, slice: Slice, bits: number, prefix: number): Promise<Difference | undefined> {
    const salt = crypto.getRandomValues(new Uint8Array(DIGEST_SALT_BYTES));
    const { engine } = this.#host;
    const reconciliation: Reconciliation = engineCall(() => new engine.Reconciliation(slice.items, salt, bits, prefix));
    try {
      let end = FIRST_SYMBOLS;
      for (;;) {
        const start = reconciliation.received;
        const count = end - start;
        const answer = await this.#ask(session, view, { kind: 'symbols', bits, prefix, salt, start, count }, count * SYMBOL_BYTES);
        if (answer.kind === 'not-now') return undefined;
        if (answer.kind !== 'symbols') throw new RustDHTError('wire/malformed', `${session.peerId} answered symbols with ${answer.kind}.`);
        const decoded = engineCall(() => reconciliation.add(answer.symbols, count));
        if (start === 0) {
          // How large the partner's set is (its first symbol counts it): slices the next round
          // finely enough even when this round fails for being too large.
          const estimate = (reconciliation.remoteSize ?? 0) * 2 ** bits;
          if (estimate > (this.#remoteSizes.get(session.peerId) ?? 0)) this.#remoteSizes.set(session.peerId, estimate);
        }
        if (decoded) break;
        if (end >= MAX_DIGEST_SYMBOL_INDEX) throw new RustDHTError('digest/too-large', `no decode within ${MAX_DIGEST_SYMBOL_INDEX} symbols.`);
        let next = Math.ceil(end * GROWTH);
        // The sets' sizes differ by at most the number of differences: ask for enough at once.
        const sizeGap = Math.abs((reconciliation.remoteSize ?? 0) - slice.souls.length);
        if (start === 0) next = Math.max(next, Math.ceil(sizeGap * SYMBOLS_PER_DIFFERENCE));
        end = Math.min(next, end + SYMBOLS_PER_ASK, MAX_DIGEST_SYMBOL_INDEX);
      }
      const localOnly = Array.from(reconciliation.localOnly(), (index) => slice.souls[index]!);
      return { localOnly, remoteOnly: reconciliation.remoteOnly(), remoteSize: reconciliation.remoteSize ?? 0 };
    } finally {
      reconciliation.free();
    }
  }

  /** One DIGEST, paced and counted. */
  async #ask(session: SyncSession, view: Uint8Array, ask: DigestAsk, expectedReplyBytes: number): Promise<DigestAnswer> {
    await paced(this.#bucket, expectedReplyBytes + 64);
    const reply = await session.request({ type: 'digest', view, ask }, { timeoutMs: REQUEST_TIMEOUT_MS });
    if (reply.type !== 'digest-reply') throw new RustDHTError('wire/malformed', `${session.peerId} answered a digest with ${reply.type}.`);
    this.counters.bytesSent += wireBytes({ type: 'digest', id: reply.id, view, ask });
    this.counters.bytesReceived += wireBytes(reply);
    return reply.answer;
  }

  /** Pushes what only this side holds, reads what only the partner holds (once it named it). */
  async #repair(session: SyncSession, difference: Difference): Promise<void> {
    const partner = session.peerId;
    const named: string[] = [];
    for (let at = 0; at < difference.remoteOnly.length; at += MAX_DIGEST_SOULS * DIGEST_ITEM_BYTES) {
      const digests = difference.remoteOnly.subarray(at, at + MAX_DIGEST_SOULS * DIGEST_ITEM_BYTES);
      const answer = await this.#ask(session, this.#viewDigest(), { kind: 'souls', digests }, digests.length * 4);
      // Not now: what this side holds alone is still pushed; the rest waits for the next round.
      if (answer.kind === 'not-now') break;
      if (answer.kind !== 'souls') throw new RustDHTError('wire/malformed', `${partner} answered soul digests with ${answer.kind}.`);
      // No more than asked for, and only souls both own: a peer cannot make this server read anything else.
      named.push(...answer.souls.slice(0, digests.length / DIGEST_ITEM_BYTES));
    }
    const pulls = this.#sharedWith(partner, [...new Set(named)]);
    const repaired = new Set<string>();
    const tasks: Array<() => Promise<void>> = [];
    const tally = (soul: string, moved: Transferred): void => {
      this.counters.updateBytes += moved.frameBytes;
      if (moved.applied !== 0 && !repaired.has(soul)) {
        repaired.add(soul);
        this.counters.soulsRepaired++;
      }
    };
    const refused = this.#host.refused;
    const take = (bytes: number): Promise<void> => paced(this.#bucket, bytes);
    // What only this side holds goes several souls to a PUT (pushSouls).
    for (let start = 0; start < difference.localOnly.length; start += PUSH_CHUNK) {
      const chunk = difference.localOnly.slice(start, start + PUSH_CHUNK);
      tasks.push(async () => {
        const { taken, moved } = await pushSouls({ replica: this.#host.replica, take, refused }, session, chunk, REQUEST_TIMEOUT_MS);
        this.counters.pushed += taken.length;
        for (const soul of taken) {
          const cost = moved.get(soul)!;
          this.#countRepair(cost);
          tally(soul, cost);
        }
      });
    }
    for (const soul of pulls) {
      tasks.push(async () => {
        const moved = await pullSoul({ replica: this.#host.replica, take }, session, soul, REQUEST_TIMEOUT_MS);
        this.counters.pulled++;
        this.#countRepair(moved);
        tally(soul, moved);
      });
    }
    await runPool(tasks, REPAIR_CONCURRENCY, (error) => this.#report(partner, error, `anti-entropy repair with ${partner}`));
  }

  #countRepair(moved: Transferred): void {
    this.counters.bytesSent += moved.sentBytes;
    this.counters.bytesReceived += moved.receivedBytes;
  }

  /** The members this server shares stored souls with. */
  #partners(): string[] {
    const { selfId } = this.#host;
    const owners = this.#ownerTable();
    const partners = new Set<string>();
    for (const [soul] of this.#cache.entries()) {
      const row = owners.get(soul);
      if (row === undefined || !row.includes(selfId)) continue;
      for (const owner of row) if (owner !== selfId) partners.add(owner);
    }
    return [...partners];
  }

  /** Of `souls`, those both this server and `partner` own. */
  #sharedWith(partner: string, souls: readonly string[]): string[] {
    const { selfId, placement } = this.#host;
    const owners = placement.ownersOf(souls);
    return souls.filter((_, i) => owners[i]!.includes(selfId) && owners[i]!.includes(partner));
  }

  /** The souls stored here that this server and `partner` both own, with their digests (cached until anything changes). */
  #coOwnedWith(partner: string): Slice {
    const { selfId, placement } = this.#host;
    const version = placement.version;
    const cached = this.#coOwned.get(partner);
    if (cached !== undefined && cached.generation === this.#cache.generation && cached.version === version) return cached.slice;
    const owners = this.#ownerTable();
    const souls: string[] = [];
    const digests: string[] = [];
    for (const [soul, digest] of this.#cache.entries()) {
      const row = owners.get(soul);
      if (row === undefined || !row.includes(selfId) || !row.includes(partner)) continue;
      souls.push(soul);
      digests.push(digest);
    }
    const items = new Uint8Array(souls.length * DIGEST_ITEM_BYTES);
    digests.forEach((digest, i) => {
      for (let j = 0; j < DIGEST_ITEM_BYTES; j++) items[i * DIGEST_ITEM_BYTES + j] = digest.charCodeAt(j);
    });
    const slice = { souls, items };
    this.#coOwned.set(partner, { generation: this.#cache.generation, version, slice });
    return slice;
  }

  /** The owners of every cached soul under the current membership (one placement call for those not known yet). */
  #ownerTable(): Map<string, readonly string[]> {
    const { placement } = this.#host;
    if (this.#ownersVersion !== placement.version) {
      this.#owners = new Map();
      this.#ownersVersion = placement.version;
      this.#coOwned.clear();
    }
    const missing: string[] = [];
    for (const [soul] of this.#cache.entries()) if (!this.#owners.has(soul)) missing.push(soul);
    if (missing.length !== 0) {
      const rows = placement.ownersOf(missing);
      missing.forEach((soul, i) => this.#owners.set(soul, rows[i]!));
    }
    return this.#owners;
  }

  /** This server's view: the engine's digest of its member list and replica count. */
  #viewDigest(): Uint8Array {
    const { placement, engine } = this.#host;
    const version = placement.version;
    if (this.#view?.version !== version) {
      const members = placement.members.map((peerId) => peerIdFromString(peerId).toMultihash().bytes);
      this.#view = { version, digest: engineCall(() => engine.membersDigest(members, placement.replicas)) };
    }
    return this.#view.digest;
  }
}

/**
 * Answers a DIGEST on a peer without anti-entropy (a client, a server without a DHT):
 * "not now", as a peer that is not a member of anything here.
 */
export function answerDigest(antiEntropy: AntiEntropy | undefined, session: SyncSession, message: Extract<WireMessage, { type: 'digest' }>): Promise<WireMessage> {
  if (antiEntropy !== undefined) return antiEntropy.answer(session, message);
  return Promise.resolve({ type: 'digest-reply', id: message.id, answer: { kind: 'not-now', reason: 'not-member' } });
}

/** Runs `tasks`, at most `concurrency` at once; a failure is reported and the others go on. */
async function runPool(tasks: ReadonlyArray<() => Promise<void>>, concurrency: number, failed: (error: unknown) => void): Promise<void> {
  const limit = new TaskLimit(concurrency);
  await Promise.all(tasks.map((task) => limit.run(() => task().catch(failed))));
}
