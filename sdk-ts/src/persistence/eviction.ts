/**
 * Least-recently-used eviction of a capped cache (browser peers are caches of the
 * network, not replicas). When the records in the store weigh more than the cap, the
 * souls used longest ago lose their "P" and "A" records (one group-commit batch) and
 * their engine node, until the store is back under LOW_WATER of the cap, so a run
 * frees room for many writes instead of running again on the next one. Evicted data
 * comes back from the network when asked for again; locally, reading it finds nothing.
 *
 * A run scans the "A" records (small, one per stored soul), overlays the resident
 * souls' fresher ticks and weights, and recounts the totals on the way. Everything it
 * reads asynchronously is only a proposal: the final step, synchronous so that no
 * operation interleaves, skips every soul used since the run started (its tick is
 * newer) or being loaded, and never touches protected souls (protected-souls.ts).
 */
import type { StorageAdapter } from '../storage/adapter.js';
import type { CacheAccounting } from './cache-accounting.js';
import type { GroupCommit } from './group-commit.js';
import {
  ACCESS_PREFIX,
  accessKey,
  decodeAccess,
  propertyKey,
  soulOfAccessKey,
  soulPrefix,
  type SoulAccess,
} from './layout.js';
import type { IsProtected } from './protected-souls.js';
import type { ResidentSouls } from './resident-souls.js';
import { reportListenerError } from '../util/listeners.js';

/** A run evicts down to this share of the cap. */
export const LOW_WATER = 0.9;
/** When a run cannot get under the cap (all protected or in use), the next waits for this much growth, as a share of the cap. */
const BACKOFF = 0.1;

export interface EvictionHost {
  readonly store: StorageAdapter;
  readonly commit: GroupCommit;
  readonly souls: ResidentSouls;
  readonly accounting: CacheAccounting;
  /** The souls that must stay, as of now. */
  protection(): Promise<IsProtected>;
  /** Drops a resident soul from the engine and from the link index. */
  dropFromMemory(soul: string): void;
  /** False once the database is closing: a run stops at its next step. */
  usable(): boolean;
}

export class Evictor {
  readonly #host: EvictionHost;
  #running: Promise<number> | undefined;
  /** Weight above which a change starts a run (the cap, or more after a run that could not reach it). */
  #threshold: number;

  constructor(host: EvictionHost) {
    this.#host = host;
    this.#threshold = host.accounting.maxBytes;
  }

  /** Starts a run if the cache is over its cap and none is under way; a failed run is reported as uncaught. */
  maybeRun(): void {
    if (this.#running !== undefined || this.#host.accounting.usage.bytes <= this.#threshold) return;
    this.run().catch((error: unknown) => {
      // Closing stops runs with a ClosedError: nothing to report then.
      if (this.#host.usable()) reportListenerError(error);
    });
  }

  /**
   * Something protected stopped being protected (the network acknowledged outbox
   * entries): a run that backed off may now succeed, so the next change may start one.
   */
  relax(): void {
    this.#threshold = this.#host.accounting.maxBytes;
  }

  /** Runs now (or joins the run under way). Resolves to the number of souls evicted, once their deletion is durable. */
  run(): Promise<number> {
    if (this.#running === undefined) {
      const running = this.#run();
      this.#running = running;
      const done = (): void => {
        if (this.#running === running) this.#running = undefined;
      };
      running.then(done, done);
    }
    return this.#running;
  }

  /** Resolves once no run is under way (failed ones included). */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running.catch(() => {});
  }

  async #run(): Promise<number> {
    const { store, commit, souls, accounting } = this.#host;
    const since = accounting.tick;
    const known = new Map<string, SoulAccess>();
    for await (const { key, value } of store.entries({ prefix: ACCESS_PREFIX })) {
      known.set(soulOfAccessKey(key), decodeAccess(value));
    }
    if (!this.#host.usable()) return 0;
    for (const [soul, stamp, bytes] of accounting.resident()) known.set(soul, { stamp, bytes });
    let total = 0;
    let stored = 0;
    for (const { bytes } of known.values()) {
      if (bytes > 0) {
        total += bytes;
        stored++;
      }
    }
    accounting.reconcile({ bytes: total, souls: stored });
    const cap = accounting.maxBytes;
    if (total <= cap) {
      this.#threshold = cap;
      return 0;
    }

    const isProtected = await this.#host.protection();
    if (!this.#host.usable()) return 0;
    const target = cap * LOW_WATER;
    const candidates = [...known]
      .filter(([soul, access]) => access.bytes > 0 && access.stamp <= since && !isProtected(soul))
      .sort((a, b) => a[1].stamp - b[1].stamp);
    const victims: Array<[string, SoulAccess]> = [];
    let remaining = total;
    for (const candidate of candidates) {
      if (remaining <= target) break;
      victims.push(candidate);
      remaining -= candidate[1].bytes;
    }
    // Souls that are not resident have no key list in memory: the store has it.
    const storedKeys = await Promise.all(victims.map(([soul]) => scanKeys(store, soulPrefix(soul))));
    if (!this.#host.usable()) return 0;

    // Final step, synchronous: no operation can use these souls while they go.
    const evicted: string[] = [];
    for (let i = 0; i < victims.length; i++) {
      const [soul, access] = victims[i]!;
      if ((accounting.stampOf(soul) ?? -Infinity) > since || souls.isLoading(soul)) continue;
      for (const key of storedKeys[i]!) commit.del(key);
      if (souls.has(soul)) {
        // Records staged but not yet landed are known only here.
        const prefix = souls.prefix(soul);
        for (const key of accounting.keysOf(soul)) commit.del(propertyKey(prefix, key));
        this.#host.dropFromMemory(soul);
      }
      commit.del(accessKey(soul));
      accounting.evicted(soul, access.bytes);
      evicted.push(soul);
    }
    const deleted = commit.durable();
    for (const soul of evicted) souls.evict(soul, deleted);
    this.#threshold = accounting.usage.bytes > cap ? accounting.usage.bytes + cap * BACKOFF : cap;
    await deleted;
    return evicted.length;
  }
}

/** The keys of every record starting with `prefix` (without their values where the store can list keys alone). */
export async function scanKeys(store: StorageAdapter, prefix: Uint8Array): Promise<Uint8Array[]> {
  const keys: Uint8Array[] = [];
  if (store.keys !== undefined) for await (const key of store.keys({ prefix })) keys.push(key);
  else for await (const { key } of store.entries({ prefix })) keys.push(key);
  return keys;
}
