/**
 * A feed backlog's entries, joined: the parts of several change-log entries a follower is
 * sent go as one FEED_ENTRY (serving/feed-server.ts), one frame joined by the engine, at
 * the seq of the last entry it covers. A restarted owner was sent ~30,000 backlog entries
 * of one update each, and spent more on their messages than on merging them.
 */
import type { ReplicaForNetwork } from '../replica-port.js';

type JoinFrames = ReplicaForNetwork['engineModule']['joinFrames'];

/** Backlog parts joined into one FEED_ENTRY: at most this many bytes (one part alone may be larger) … */
export const JOIN_BYTES = 256 * 1024;
/** … and this many parts. */
export const JOIN_PARTS = 256;

export interface JoinLimits {
  readonly parts: number;
  readonly bytes: number;
}

/** Backlog parts waiting to leave as one frame, and the seq it goes at. */
export class JoinedParts {
  readonly #join: JoinFrames;
  readonly #limits: JoinLimits;
  #parts: Uint8Array[] = [];
  #bytes = 0;
  #seq = 0;

  constructor(join: JoinFrames, limits: JoinLimits) {
    this.#join = join;
    this.#limits = limits;
  }

  get empty(): boolean {
    return this.#parts.length === 0;
  }

  get full(): boolean {
    return this.#parts.length >= this.#limits.parts || this.#bytes >= this.#limits.bytes;
  }

  /** Whether a part of `bytes` may join those waiting. */
  fits(bytes: number): boolean {
    return this.#parts.length === 0 || this.#bytes + bytes <= this.#limits.bytes;
  }

  add(seq: number, part: Uint8Array): void {
    this.#parts.push(part);
    this.#bytes += part.length;
    this.#seq = seq;
  }

  /** An entry with no part for the follower, after those waiting: the joined frame covers it too. */
  extend(seq: number): void {
    this.#seq = seq;
  }

  /** The joined frame and its seq (undefined when nothing waits); empties the list. */
  take(): { readonly frame: Uint8Array; readonly seq: number } | undefined {
    if (this.#parts.length === 0) return undefined;
    const parts = this.#parts;
    const seq = this.#seq;
    this.#parts = [];
    this.#bytes = 0;
    if (parts.length === 1) return { frame: parts[0]!, seq };
    const [frame] = this.#join(parts, Number.MAX_SAFE_INTEGER) as [Uint8Array, number];
    return { frame, seq };
  }
}

