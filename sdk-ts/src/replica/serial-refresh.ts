/**
 * Runs a watcher's refreshes one at a time. A refresh may have to wait for nodes to
 * load (LocalReplica.whenResident returns a promise then); changes that arrive
 * meanwhile must not start a second, overlapping refresh that could deliver out of
 * order, so they only ask for one more run once the current one has landed.
 */
export class SerialRefresh {
  readonly #rerun: () => void;
  readonly #fail: (error: unknown) => void;
  #loading = false;
  #again = false;

  constructor(rerun: () => void, fail: (error: unknown) => void) {
    this.#rerun = rerun;
    this.#fail = fail;
  }

  /** True while a refresh waits for loads; the request is remembered and rerun after it. */
  busy(): boolean {
    if (this.#loading) this.#again = true;
    return this.#loading;
  }

  /** Follows a refresh that had to wait (a promise); a synchronous one needs nothing. */
  track(refreshed: unknown): void {
    if (!(refreshed instanceof Promise)) return;
    this.#loading = true;
    refreshed.then(
      () => {
        this.#loading = false;
        if (this.#again) {
          this.#again = false;
          this.#rerun();
        }
      },
      this.#fail,
    );
  }
}
