/**
 * The engine's 12-byte digest of every soul this server stores (core-rs/src/digest.rs),
 * for anti-entropy (anti-entropy.ts): kept in step with the store by the changes the
 * replica reports, so a round reads back only what changed since the last one.
 */
import { engineCall } from '../../api/errors.js';
import type { EngineModule } from '../../engine/core-types.js';
import type { ReplicaForNetwork } from '../replica-port.js';
import { DIGEST_ITEM_BYTES } from '../wire/messages.js';
import { latin1 } from './digest-slices.js';

export type DigestEngine = Pick<EngineModule, 'soulDigests' | 'membersDigest' | 'encodeSymbols' | 'Reconciliation'>;

export type ReplicaForDigests = Pick<ReplicaForNetwork, 'storedSouls' | 'soulRecords' | 'residentDigests'>;

/** Souls read back from the store per engine call. */
const CHUNK = 512;

/**
 * The engine's digests of the souls this server stores, kept in step with its store.
 * Each digest is kept as a 12-character one-byte string (about 30 bytes, a Uint8Array
 * would take about 100): the cache holds every stored soul.
 */
export class DigestCache {
  readonly #replica: ReplicaForDigests;
  readonly #engine: Pick<DigestEngine, 'soulDigests'>;
  readonly #digests = new Map<string, string>();
  readonly #dirty = new Set<string>();
  #scanned = false;
  #refreshing: Promise<void> | undefined;
  /** Bumped by every change: a set of souls computed under an older one is stale. */
  generation = 0;

  constructor(replica: ReplicaForDigests, engine: Pick<DigestEngine, 'soulDigests'>) {
    this.#replica = replica;
    this.#engine = engine;
  }

  get size(): number {
    return this.#digests.size;
  }

  entries(): IterableIterator<[string, string]> {
    return this.#digests.entries();
  }

  /** `soul`'s digest as of the last refresh (one-byte string), undefined when not stored. */
  digestOf(soul: string): string | undefined {
    return this.#digests.get(soul);
  }

  changed(souls: Iterable<string>): void {
    for (const soul of souls) this.#dirty.add(soul);
    this.generation++;
  }

  forget(souls: readonly string[]): void {
    for (const soul of souls) {
      this.#digests.delete(soul);
      this.#dirty.delete(soul);
    }
    this.generation++;
  }

  /** Everything is read from the store again at the next refresh. */
  rescan(): void {
    this.#scanned = false;
    this.generation++;
  }

  /** Brings every digest up to date with the store (one refresh at a time; callers share it). */
  refresh(stopped: () => boolean): Promise<void> {
    this.#refreshing ??= this.#refresh(stopped).finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  /**
   * The digests of `souls` as stored now (undefined: not stored), reading only those not
   * known yet or changed since: what a held ask (hand-off) needs, at the cost of the souls
   * it names. A server that had just started read its whole store, and every soul it had
   * caught up on since, to answer its first ones (`refresh`, for a round, still does).
   */
  async digestsFor(souls: readonly string[]): Promise<Array<string | undefined>> {
    const stale = [...new Set(souls.filter((soul) => !this.#scanned || this.#dirty.has(soul)))];
    for (let start = 0; start < stale.length; start += CHUNK) await this.#readChanged(stale.slice(start, start + CHUNK));
    return souls.map((soul) => this.#digests.get(soul));
  }

  async #refresh(stopped: () => boolean): Promise<void> {
    if (!this.#scanned) {
      // Souls marked dirty before the scan stay marked and are read again after it, as
      // are those changed while it runs: the scan lists what the store holds *now*, and a
      // change whose commit has not landed yet is not there (cleared here, such a soul was
      // missing from this server's digests until it changed again, and anti-entropy pushed
      // it to this server every round, merged to nothing).
      this.#digests.clear();
      let chunk: string[] = [];
      for await (const soul of this.#replica.storedSouls()) {
        if (stopped()) return;
        chunk.push(soul);
        if (chunk.length === CHUNK) {
          await this.#read(chunk);
          chunk = [];
        }
      }
      if (chunk.length !== 0) await this.#read(chunk);
      this.#scanned = true;
      this.generation++;
    }
    while (this.#dirty.size !== 0 && !stopped()) await this.#readChanged([...this.#dirty].slice(0, CHUNK));
  }

  /** Reads `souls` again (no longer dirty: a change landing meanwhile marks them again). */
  async #readChanged(souls: string[]): Promise<void> {
    for (const soul of souls) this.#dirty.delete(soul);
    await this.#read(souls);
    this.generation++;
  }

  async #read(all: string[]): Promise<void> {
    // Souls held whole in memory are digested there; only the others are read back.
    const fromMemory = await this.#replica.residentDigests(all);
    const souls: string[] = [];
    all.forEach((soul, i) => {
      const digest = fromMemory[i];
      if (digest === undefined) souls.push(soul);
      else this.#digests.set(soul, latin1(digest));
    });
    if (souls.length === 0) return;
    const records = await this.#replica.soulRecords(souls);
    const held: string[] = [];
    const flat: Uint8Array[] = [];
    const counts: number[] = [];
    souls.forEach((soul, i) => {
      const own = records[i]!;
      if (own.length === 0) {
        this.#digests.delete(soul);
        return;
      }
      held.push(soul);
      counts.push(own.length);
      for (const record of own) flat.push(record);
    });
    if (held.length === 0) return;
    const digests = engineCall(() => this.#engine.soulDigests(held, flat, Uint32Array.from(counts)));
    held.forEach((soul, i) => this.#digests.set(soul, latin1(digests.subarray(i * DIGEST_ITEM_BYTES, (i + 1) * DIGEST_ITEM_BYTES))));
  }
}
