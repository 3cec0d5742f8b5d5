/**
 * What makes a server unhealthy, for /health: a load balancer or supervisor must be able
 * to tell a server that refuses writes, or cannot keep up, from one that serves. Each
 * check is a reason with a stable code; no reason means `ok`.
 *
 * - `storage/*`: the last store commit failed (a full disk, an I/O error): writes are
 *   refused until a commit lands again (`db.storage.failure()`).
 * - `engine/trapped`: the engine trapped; the process exits on it (serve.ts), and says
 *   so here until it has.
 * - `memory/over-budget` (memoryReasons): the loaded nodes stay over the memory budget.
 * - `event-loop/lag`: the event loop was blocked for more than LAG_LIMIT_MS (the p99 of
 *   its delay over the last window), so every peer waits that long for any answer.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

type DelayHistogram = ReturnType<typeof monitorEventLoopDelay>;

/** The event loop's p99 delay over a window above this marks the server degraded. */
export const LAG_LIMIT_MS = 500;
/** How long one window of the event loop's delay histogram lasts. */
const WINDOW_MS = 5_000;

export interface HealthReason {
  readonly code: string;
  readonly message: string;
}

export interface HealthSources {
  /** The store's last commit failure, while it lasts. */
  readonly storageFailure: () => { readonly code: string; readonly message: string; readonly since: number } | undefined;
  /** The engine's trap, once there was one. */
  readonly engineTrap: () => Error | undefined;
  /** Further reasons (the disk guard's: disk nearly full, public space at its cap). */
  readonly more?: () => HealthReason[];
}

export class HealthChecks {
  readonly #sources: HealthSources;
  readonly #histogram: DelayHistogram;
  readonly #timer: ReturnType<typeof setInterval>;
  /** p99 of the last complete window, in ms. */
  #lastLagMs = 0;

  constructor(sources: HealthSources) {
    this.#sources = sources;
    this.#histogram = monitorEventLoopDelay({ resolution: 20 });
    this.#histogram.enable();
    this.#timer = setInterval(() => {
      this.#lastLagMs = this.#histogram.percentile(99) / 1e6;
      this.#histogram.reset();
    }, WINDOW_MS);
    this.#timer.unref();
  }

  /** The event loop's p99 delay: the larger of the last window's and the current one's, in ms. */
  get lagMs(): number {
    const current = this.#histogram.count === 0 ? 0 : this.#histogram.percentile(99) / 1e6;
    return Math.max(this.#lastLagMs, current);
  }

  reasons(): HealthReason[] {
    const reasons: HealthReason[] = [];
    const trap = this.#sources.engineTrap();
    if (trap !== undefined) reasons.push({ code: 'engine/trapped', message: trap.message });
    const failure = this.#sources.storageFailure();
    if (failure !== undefined) {
      reasons.push({ code: failure.code, message: `writes are refused since ${new Date(failure.since).toISOString()}: ${failure.message}` });
    }
    reasons.push(...(this.#sources.more?.() ?? []));
    const lag = this.lagMs;
    if (lag > LAG_LIMIT_MS) reasons.push({ code: 'event-loop/lag', message: `the event loop was blocked up to ${Math.round(lag)} ms (p99; limit ${LAG_LIMIT_MS} ms): answers are that late.` });
    return reasons;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#histogram.disable();
  }
}

/**
 * The loaded nodes weigh over OVER_BUDGET × the memory budget: unload runs cannot get
 * under it (what is left is protected or in use), so memory grows past what the operator
 * set. (Between runs the weight may pass the budget by a batch; that is not a reason.)
 */
export const OVER_BUDGET = 1.25;

export function memoryReasons(memory: { readonly residentBytes: number | undefined; readonly budgetBytes: number | undefined }): HealthReason[] {
  const { residentBytes, budgetBytes } = memory;
  if (residentBytes === undefined || budgetBytes === undefined || residentBytes <= budgetBytes * OVER_BUDGET) return [];
  return [{ code: 'memory/over-budget', message: `the loaded nodes weigh ~${Math.round(residentBytes / 2 ** 20)} MiB, over the ${Math.round(budgetBytes / 2 ** 20)} MiB budget, and cannot be unloaded (protected or in use).` }];
}
