/**
 * Which souls an operation needs in memory, and loading them before it runs.
 *
 * With a store, the engine holds only the nodes used so far (persistence/resident-souls):
 * each operation first names the souls it touches by running its `plan` against the
 * graph; the souls that are not in memory yet are loaded and the plan runs again, and
 * only a plan that found everything in memory is applied. Plans have no effects, so
 * running one twice is harmless. Operations run in call order (OperationQueue); those
 * waiting in line start loading early (prefetch). Without a store everything is in
 * memory and a plan is applied at once.
 */
import { closedError } from '../api/errors.js';
import type { ResidentSouls } from '../persistence/resident-souls.js';
import { OperationQueue } from './operation-queue.js';

export class Residency {
  /** Absent for a memory-only database. */
  readonly #souls: ResidentSouls | undefined;
  /** The backing's "recently used" mark; true when the soul is in memory. */
  readonly #resident: (soul: string) => boolean;
  /** False once the engine is freed: a load that ends then must not apply anything. */
  readonly #usable: () => boolean;
  readonly #queue = new OperationQueue();
  /** While a plan runs with a store: the souls it needed that are not in memory yet. */
  #missing: Set<string> | undefined;

  constructor(souls: ResidentSouls | undefined, resident: (soul: string) => boolean, usable: () => boolean) {
    this.#souls = souls;
    this.#resident = resident;
    this.#usable = usable;
  }

  /**
   * Whether a plan may read `soul` now. Every read and write plans through here: that is
   * the cache's "last used". A soul not in memory is noted for loading; reading one
   * outside a plan is a bug of the shell.
   */
  has(soul: string): boolean {
    if (this.#souls === undefined) return true;
    if (this.#resident(soul)) return true;
    if (this.#missing === undefined) {
      throw new Error(`internal: soul ${JSON.stringify(soul)} was read outside a plan before it was loaded`);
    }
    this.#missing.add(soul);
    return false;
  }

  /**
   * Runs `plan` and hands its result to `apply` as soon as every soul the plan read is
   * in memory: at once when they all are (the result is returned as is), else after
   * loading the missing ones and planning again.
   */
  whenResident<P, R>(plan: () => P, apply: (planned: P) => R): R | Promise<R> {
    const souls = this.#souls;
    if (souls === undefined) return apply(plan());
    const missing = new Set<string>();
    this.#missing = missing;
    let planned: P;
    try {
      planned = plan();
    } finally {
      this.#missing = undefined;
    }
    if (missing.size === 0) return apply(planned);
    return souls.load(missing).then(() => {
      if (!this.#usable()) throw closedError('the database closed while loading the data this operation needs.');
      return this.whenResident(plan, apply);
    });
  }

  /** Runs a plan/apply pair after every operation queued before it (see OperationQueue). */
  queued<P, R>(plan: () => P, apply: (planned: P) => R): R | Promise<R> {
    if (this.#souls !== undefined && this.#queue.busy) this.#prefetch(plan);
    return this.#queue.run(() => this.whenResident(plan, apply));
  }

  /** Resolves once every operation queued so far has run. */
  drained(): Promise<void> {
    return this.#queue.drained();
  }

  /**
   * Starts loading what a queued operation will need, so that operations waiting in
   * line load their nodes concurrently instead of one after the other. The plan runs
   * against the graph as it is now; when its turn comes it runs again and loads
   * whatever this early look could not foresee. Loading early is always safe.
   */
  #prefetch(plan: () => unknown): void {
    const missing = new Set<string>();
    this.#missing = missing;
    try {
      plan();
    } catch {
      // The operation itself will report it when it runs.
    } finally {
      this.#missing = undefined;
    }
    // A failed load is retried, and reported, when the operation runs.
    if (missing.size !== 0) this.#souls!.load(missing).catch(() => {});
  }
}
