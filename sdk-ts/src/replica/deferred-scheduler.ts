/**
 * Wakes the engine when its earliest deferred update (a state from the future) comes
 * due. The engine has no clock: it tells us when, we call back with `now`.
 *
 * The timer is unref'd in Node: a pending future update should not keep a process
 * alive on its own.
 */

/** setTimeout's delay is a signed 32-bit millisecond count. */
const MAX_TIMER_DELAY_MS = 0x7fffffff;

export class DeferredScheduler {
  readonly #now: () => number;
  readonly #onDue: () => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #dueAt = Infinity;

  constructor(now: () => number, onDue: () => void) {
    this.#now = now;
    this.#onDue = onDue;
  }

  /** Arms the timer for `dueAt` (a state), or disarms it when nothing is deferred. */
  schedule(dueAt: number | undefined): void {
    if (dueAt === undefined) return this.cancel();
    if (this.#timer !== undefined && dueAt >= this.#dueAt) return;
    this.cancel();
    this.#dueAt = dueAt;
    // States carry fractions of a millisecond; the update is due once now >= state.
    const delay = Math.min(MAX_TIMER_DELAY_MS, Math.max(0, Math.ceil(dueAt - this.#now())));
    const timer = setTimeout(() => {
      this.#timer = undefined;
      this.#dueAt = Infinity;
      this.#onDue();
    }, delay);
    (timer as { unref?: () => void }).unref?.();
    this.#timer = timer;
  }

  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dueAt = Infinity;
  }
}
