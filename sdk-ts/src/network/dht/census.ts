/**
 * How many souls this server stores, by why it holds them (for /metrics):
 *
 * - **owned**: it is among the soul's R owners (placement-view.ts);
 * - **cached**: it is not, and a subscriber here watches the soul, so the copy stays
 *   (hand-off never releases a watched soul: handoff.ts);
 * - **hinted**: it is not, and nobody here watches it: the copy waits for its owners to
 *   confirm theirs, then is released (a coordinated write, or a soul whose ownership
 *   moved away). Normally near 0; a lasting count means owners that cannot be reached.
 *
 * A count reads every stored soul's key and asks placement once per chunk, which on a
 * large store is seconds of work and disk reads. So its cost is bounded by its own
 * measure: after a count that took D ms, the next waits at least COST_FACTOR × D ms
 * (and MIN_INTERVAL_MS), i.e. counting takes at most 1 % of the time; one runs at a
 * time; and a reader waits at most WAIT_MS for a fresh one, else gets the last.
 * On a small store the count is nearly live; on a large one it is minutes old.
 */
import type { ReplicaForNetwork } from '../replica-port.js';
import type { PlacementView } from './placement-view.js';

/** Never recount sooner than this after the last count finished. */
export const MIN_INTERVAL_MS = 2_000;
/** ...nor sooner than this many times the last count's duration. */
export const COST_FACTOR = 100;
/** How long `read()` waits for a count under way before answering with the previous one. */
export const WAIT_MS = 1_000;
/** Souls per placement call (one engine call per chunk, not per soul). */
const CHUNK = 1024;

export interface SoulCensus {
  readonly owned: number;
  readonly cached: number;
  readonly hinted: number;
  /** When the count finished (ms since the epoch). */
  readonly takenAt: number;
  /** How long it took, in ms. */
  readonly durationMs: number;
}

export interface CensusHost {
  readonly replica: Pick<ReplicaForNetwork, 'storedSouls' | 'closed'>;
  readonly placement: Pick<PlacementView, 'ownersOf'>;
  readonly selfId: string;
  /** Whether a peer subscribed to `soul` here. */
  readonly watched: (soul: string) => boolean;
  readonly now?: () => number;
}

export class Census {
  readonly #host: CensusHost;
  readonly #now: () => number;
  #last: SoulCensus | undefined;
  #running: Promise<void> | undefined;

  constructor(host: CensusHost) {
    this.#host = host;
    this.#now = host.now ?? Date.now;
  }

  /** The latest count, recounting first when the last one is old enough (see above); undefined before the first. */
  async read(): Promise<SoulCensus | undefined> {
    if (this.#running === undefined && this.#due()) {
      this.#running = this.#count().finally(() => (this.#running = undefined));
    }
    const running = this.#running;
    if (running !== undefined) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([running.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, WAIT_MS)))]);
      clearTimeout(timer);
    }
    return this.#last;
  }

  #due(): boolean {
    const last = this.#last;
    if (last === undefined) return true;
    return this.#now() - last.takenAt >= Math.max(MIN_INTERVAL_MS, COST_FACTOR * last.durationMs);
  }

  async #count(): Promise<void> {
    const { replica, placement, selfId, watched } = this.#host;
    const started = this.#now();
    let owned = 0;
    let cached = 0;
    let hinted = 0;
    let chunk: string[] = [];
    const tally = (): void => {
      const owners = placement.ownersOf(chunk);
      chunk.forEach((soul, i) => {
        if (owners[i]!.includes(selfId)) owned++;
        else if (watched(soul)) cached++;
        else hinted++;
      });
      chunk = [];
    };
    for await (const soul of replica.storedSouls()) {
      // A store closing under the count: keep the last complete one rather than a partial.
      if (replica.closed) return;
      chunk.push(soul);
      if (chunk.length === CHUNK) tally();
    }
    if (chunk.length !== 0) tally();
    const takenAt = this.#now();
    this.#last = { owned, cached, hinted, takenAt, durationMs: takenAt - started };
  }
}
