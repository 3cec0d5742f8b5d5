/**
 * A feed backlog's entries, joined: the parts of several change-log entries a follower is
 * sent go as one FEED_ENTRY (serving/feed-server.ts), one frame joined by the engine, at
 * the seq of the last entry it covers. A restarted owner was sent ~30,000 backlog entries
 * of one update each, and spent more on their messages than on merging them.
 */
import type { ReplicaForNetwork } from '../replica-port.js';

export type FrameJoining = Pick<ReplicaForNetwork['engineModule'], 'joinFrames' | 'frameUpdateCount'>;

/** Backlog parts joined into one FEED_ENTRY: at most this many bytes (one part alone may be larger) … */
export const JOIN_BYTES = 256 * 1024;
/** … this many parts … */
export const JOIN_PARTS = 256;
/**
 * … and this many updates: a batch the follower's engine takes whatever its limits (the
 * engine's maxBatchUpdates is 10,000 by default; a node part, serving/node-parts.ts, has
 * at most 1,000 too). One part alone may have more: it was one batch here.
 */
export const JOIN_UPDATES = 1_000;

export interface JoinLimits {
  readonly parts: number;
  readonly bytes: number;
  readonly updates: number;
}

/** Backlog parts waiting to leave as one frame, and the seq it goes at. */
export class JoinedParts {
  readonly #engine: FrameJoining;
  readonly #limits: JoinLimits;
  #parts: Uint8Array[] = [];
  #bytes = 0;
  #updates = 0;
  #seq = 0;

  constructor(engine: FrameJoining, limits: JoinLimits) {
    this.#engine = engine;
    this.#limits = limits;
  }

  get empty(): boolean {
    return this.#parts.length === 0;
  }

  get full(): boolean {
    return this.#parts.length >= this.#limits.parts || this.#bytes >= this.#limits.bytes || this.#updates >= this.#limits.updates;
  }

  /** Whether `part` may join those waiting. */
  fits(part: Uint8Array): boolean {
    if (this.#parts.length === 0) return true;
    return this.#bytes + part.length <= this.#limits.bytes && this.#updates + this.#countOf(part) <= this.#limits.updates;
  }

  add(seq: number, part: Uint8Array): void {
    this.#parts.push(part);
    this.#bytes += part.length;
    this.#updates += this.#countOf(part);
    this.#seq = seq;
  }

  /** An entry with no part for the follower, after those waiting: the joined frame covers it too. */
  extend(seq: number): void {
    this.#seq = seq;
  }

  /** Updates in `part`; one whose header cannot be read counts as a whole frame's worth, so it goes alone. */
  #countOf(part: Uint8Array): number {
    try {
      return this.#engine.frameUpdateCount(part);
    } catch {
      return this.#limits.updates;
    }
  }

  /** The joined frame and its seq (undefined when nothing waits); empties the list. */
  take(): { readonly frame: Uint8Array; readonly seq: number } | undefined {
    if (this.#parts.length === 0) return undefined;
    const parts = this.#parts;
    const seq = this.#seq;
    const updates = this.#updates;
    this.#parts = [];
    this.#bytes = 0;
    this.#updates = 0;
    if (parts.length === 1) return { frame: parts[0]!, seq };
    // Within the update limit by construction (fits), so every part is taken.
    const [frame, taken] = this.#engine.joinFrames(parts, updates) as [Uint8Array, number];
    if (taken !== parts.length) throw new Error(`internal: ${parts.length} feed parts joined as ${taken}`);
    return { frame, seq };
  }
}

