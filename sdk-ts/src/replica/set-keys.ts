/**
 * Keys for `set()`: a list that merges without conflicts needs keys that sort in
 * insertion order on one peer and never collide between peers.
 */
export class SetKeyClock {
  readonly #now: () => number;
  #lastTime = -1;
  #sequence = 0;

  constructor(now: () => number) {
    this.#now = now;
  }

  /**
   * A fresh key: time first so keys sort in insertion order, then a per-millisecond
   * sequence (several sets in one ms keep their order), then randomness so keys made
   * concurrently on different peers never collide.
   */
  next(): string {
    const time = Math.max(Math.floor(this.#now()), this.#lastTime);
    this.#sequence = time === this.#lastTime ? this.#sequence + 1 : 0;
    this.#lastTime = time;
    const random = crypto.getRandomValues(new Uint32Array(2));
    return (
      time.toString(36).padStart(9, '0') +
      this.#sequence.toString(36).padStart(4, '0') +
      random[0]!.toString(36).padStart(7, '0') +
      random[1]!.toString(36).padStart(7, '0')
    );
  }
}
