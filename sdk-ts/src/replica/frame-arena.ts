/**
 * Frames kept in memory by increasing id, packed into one growing byte buffer.
 *
 * The outbox of a database without a store holds every unacknowledged write. Kept as
 * one Uint8Array each, a busy writer's outbox becomes hundreds of thousands of small
 * heap objects that every garbage collection has to visit; packed, it is one buffer and
 * three number arrays whatever its length. Removing a frame only marks it; once removed
 * frames outnumber live ones, a compaction drops them (bytes and index entries), so the
 * cost of compacting is paid for by the removals that made it necessary.
 */

const INITIAL_BYTES = 64 * 1024;
/** Never compact for fewer removed frames than this: small outboxes are not worth it. */
const COMPACT_MIN_REMOVED = 1024;

export class FrameArena {
  #bytes = new Uint8Array(INITIAL_BYTES);
  #end = 0;
  /** Per frame, in id order: its id, its offset in #bytes, its length (-1 once removed). */
  #ids: number[] = [];
  #offsets: number[] = [];
  #lengths: number[] = [];
  #live = 0;

  get size(): number {
    return this.#live;
  }

  /** Appends a frame; `id` must be greater than every id appended before. */
  append(id: number, frame: Uint8Array): void {
    if (this.#end + frame.length > this.#bytes.length) this.#grow(frame.length);
    this.#bytes.set(frame, this.#end);
    this.#ids.push(id);
    this.#offsets.push(this.#end);
    this.#lengths.push(frame.length);
    this.#end += frame.length;
    this.#live++;
  }

  /** Removes a frame; false when it is not here. */
  remove(id: number): boolean {
    const index = this.#indexOf(id);
    if (this.#ids[index] !== id || this.#lengths[index]! < 0) return false;
    this.#lengths[index] = -1;
    this.#live--;
    const removed = this.#ids.length - this.#live;
    if (removed >= COMPACT_MIN_REMOVED && removed > this.#live) this.#compact();
    return true;
  }

  /** The first frame whose id is ≥ `id`, as [id, copy of the frame], or undefined. */
  firstFrom(id: number): [number, Uint8Array] | undefined {
    for (let index = this.#indexOf(id); index < this.#ids.length; index++) {
      const length = this.#lengths[index]!;
      if (length < 0) continue;
      const offset = this.#offsets[index]!;
      return [this.#ids[index]!, this.#bytes.slice(offset, offset + length)];
    }
    return undefined;
  }

  /** Index of the first frame whose id is ≥ `id` (ids are sorted). */
  #indexOf(id: number): number {
    let low = 0;
    let high = this.#ids.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#ids[middle]! < id) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  #grow(needed: number): void {
    const bytes = new Uint8Array(Math.max(this.#bytes.length * 2, this.#end + needed));
    bytes.set(this.#bytes.subarray(0, this.#end));
    this.#bytes = bytes;
  }

  #compact(): void {
    let liveBytes = 0;
    for (const length of this.#lengths) if (length > 0) liveBytes += length;
    const bytes = new Uint8Array(Math.max(INITIAL_BYTES, liveBytes * 2));
    const ids: number[] = [];
    const offsets: number[] = [];
    const lengths: number[] = [];
    let end = 0;
    for (let index = 0; index < this.#ids.length; index++) {
      const length = this.#lengths[index]!;
      if (length < 0) continue;
      const offset = this.#offsets[index]!;
      bytes.set(this.#bytes.subarray(offset, offset + length), end);
      ids.push(this.#ids[index]!);
      offsets.push(end);
      lengths.push(length);
      end += length;
    }
    this.#bytes = bytes;
    this.#end = end;
    this.#ids = ids;
    this.#offsets = offsets;
    this.#lengths = lengths;
  }
}
