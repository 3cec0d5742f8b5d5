/**
 * The replica's nodes as the network serves and moves them: whole nodes and parts of
 * nodes as frames (replies, subscriptions, pushes), which souls the store holds, their
 * records (anti-entropy digests), letting go of souls a server does not own, and the
 * network's own records (feed cursors) in the replica's commits.
 *
 * Reads go through the replica's operation queue (after every write made before them)
 * and load a soul from the store first; nothing here changes the graph.
 */
import type { Engine } from '../engine/core-types.js';
import type { ReplicaBacking } from '../persistence/replica-backing.js';
import { notifyAll } from '../util/listeners.js';

export interface StoredNodesHost {
  readonly engine: Engine;
  readonly backing: ReplicaBacking | undefined;
  /** Whether the engine was freed (nothing may call it then). */
  readonly freed: () => boolean;
  readonly assertOpen: () => void;
  /** Whether `soul` is in memory, marking it as read by the plan being run (residency.ts). */
  readonly resident: (soul: string) => boolean;
  /** A read: the plan's result, once everything it reads is in memory, after the operations queued before it. */
  readonly read: <T>(plan: () => T) => T | Promise<T>;
  /** Resolves once the operations queued so far ran. */
  readonly drained: () => Promise<void>;
  /** Resolves once every operation made so far is applied and durable. */
  readonly flush: () => Promise<void>;
  /** Whether something here watches `soul` (it is kept). */
  readonly watched: (soul: string) => boolean;
}

/** Engine.residentDigests: a flag byte, then a 12-byte digest, per soul. */
const RESIDENT_DIGEST_BYTES = 13;

/** The limits of one part of a node (Engine.nodeFramePart). */
export interface PartLimits {
  readonly partBytes: number;
  readonly maxBytes: number;
  readonly maxUpdates: number;
}

export class StoredNodes {
  readonly #host: StoredNodesHost;
  /** The length of a frame of no updates: a node frame this long means "nothing known". */
  readonly #emptyFrameLength: number;
  readonly #releasedListeners = new Set<(souls: readonly string[]) => void>();

  constructor(host: StoredNodesHost, emptyFrameLength: number) {
    this.#host = host;
    this.#emptyFrameLength = emptyFrameLength;
  }

  /** What this replica holds of `soul` (all properties, or `keys`) as a frame; loads it from the store first. */
  nodeFrame(soul: string, keys?: readonly string[]): Promise<Uint8Array> {
    const host = this.#host;
    try {
      host.assertOpen();
      return Promise.resolve(host.read(() => (!host.resident(soul) ? undefined : host.engine.nodeFrame(soul, keys === undefined ? null : [...keys])))).then(
        (frame) => (frame === undefined || frame.length <= this.#emptyFrameLength ? new Uint8Array(0) : frame),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * One part of `soul` for a reply that must fit a peer's limits (Engine.nodeFramePart):
   * the properties after key `after` (undefined: from the first); loads the soul first.
   * `frame` is empty when the part holds nothing, `next` undefined after the last part.
   */
  nodeFramePart(soul: string, after: string | undefined, limits: PartLimits): Promise<{ frame: Uint8Array; next: string | undefined; skipped: string[] }> {
    const host = this.#host;
    try {
      host.assertOpen();
      const { partBytes, maxBytes, maxUpdates } = limits;
      return Promise.resolve(host.read(() => (!host.resident(soul) ? undefined : host.engine.nodeFramePart(soul, after, partBytes, maxBytes, maxUpdates)))).then(
        (part) => {
          if (part === undefined) return { frame: new Uint8Array(0), next: undefined, skipped: [] };
          const [frame, next, skipped] = part;
          return { frame: frame.length <= this.#emptyFrameLength ? new Uint8Array(0) : frame, next, skipped };
        },
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Like nodeFrame for a soul known to be in memory (one an applied batch just changed):
   * no queueing, so a listener of that batch can answer at once.
   */
  residentNodeFrame(soul: string, keys: readonly string[] | undefined): Uint8Array | undefined {
    const host = this.#host;
    if (host.freed()) return undefined;
    if (host.backing !== undefined && !host.backing.souls.has(soul)) return undefined;
    return host.engine.nodeFrame(soul, keys === undefined ? null : [...keys]);
  }

  /** Whether anything of `soul` is here: in the engine, or in the store (one seek). */
  async holds(soul: string): Promise<boolean> {
    this.#host.assertOpen();
    if (this.#host.engine.read(soul, []) !== 'null') return true;
    return (await this.#host.backing?.holds(soul)) ?? false;
  }

  /** The souls the store holds records of (servers: what the DHT checks its owners hold); nothing without a store. */
  async *storedSouls(after?: string): AsyncIterableIterator<string> {
    if (this.#host.backing === undefined) return;
    yield* this.#host.backing.storedSouls(after);
  }

  /**
   * Lets go of `souls`: their records leave the store and their nodes the engine (a
   * server dropping data it does not own once its owners hold it). Souls watched here,
   * protected (outbox, identities) or kept by `keep` stay. Resolves to the souls
   * released, once that is durable; nothing without a store.
   */
  async release(souls: readonly string[], keep: (soul: string) => boolean = () => false): Promise<string[]> {
    const host = this.#host;
    host.assertOpen();
    if (host.backing === undefined) return [];
    await host.drained();
    const released = await host.backing.release(souls, (soul) => host.watched(soul) || keep(soul));
    if (released.length !== 0) notifyAll(this.#releasedListeners, released);
    return released;
  }

  /** Calls `listener` with the souls each `release` let go of, once durable. */
  onReleased(listener: (souls: readonly string[]) => void): () => void {
    this.#releasedListeners.add(listener);
    return () => void this.#releasedListeners.delete(listener);
  }

  /**
   * The stored property records of each of `souls` (anti-entropy digests them), read
   * once everything applied so far is durable, so they are what the engine holds; none
   * without a store.
   */
  async soulRecords(souls: readonly string[]): Promise<Uint8Array[][]> {
    const { backing } = this.#host;
    if (backing === undefined) return souls.map(() => []);
    await this.#host.flush();
    return backing.soulRecords(souls);
  }

  /**
   * Anti-entropy digests (12 bytes) of those of `souls` held whole in memory, computed
   * by the engine from their nodes (no store read: a server answering which souls it
   * holds, or refreshing its digests after a catch-up, read each soul back from the store
   * otherwise); undefined for the others, whose records are read instead (`soulRecords`).
   * Resolves once what they were computed from is durable.
   */
  async residentDigests(souls: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    const { backing, engine } = this.#host;
    this.#host.assertOpen();
    if (backing === undefined) return souls.map(() => undefined);
    const resident = souls.filter((soul) => backing.souls.has(soul));
    const digests = new Map<string, Uint8Array>();
    if (resident.length !== 0) {
      const flat = engine.residentDigests([...resident]);
      resident.forEach((soul, i) => {
        const at = i * RESIDENT_DIGEST_BYTES;
        if (flat[at] === 1) digests.set(soul, flat.slice(at + 1, at + RESIDENT_DIGEST_BYTES));
      });
    }
    await this.#host.flush();
    return souls.map((soul) => digests.get(soul));
  }

  /** Stages a record of the networking layer's own in the next commit (no-op without a store). */
  stageRecord(key: Uint8Array, value: Uint8Array): void {
    this.#host.backing?.commit.put(key, value);
  }

  /** Reads a record of the networking layer's own (undefined without a store). */
  readRecord(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.#host.backing?.store.get(key) ?? Promise.resolve(undefined);
  }
}
