/**
 * Where a running network plugs into the replica, so that the API asks it without
 * knowing it: how a read asks peers first (read-through) and how a write waits for a
 * durability level. Offline (nothing registered), reads answer locally and writes have
 * no level beyond 'local'.
 */
import { resolve, type GraphView, type RefPath } from './resolve.js';
import type { RemoteReads, ReplicationWaits } from './types.js';

export class NetworkHooks {
  readonly #view: GraphView;
  readonly #read: <T>(plan: () => T) => T | Promise<T>;
  /** How a read asks peers first, while a network runs (see useRemoteReads). */
  #remoteReads: RemoteReads | undefined;
  /** How writes wait for a durability level, while a network runs (see useReplication). */
  #replication: ReplicationWaits | undefined;

  /** `read`: runs a plan once everything it reads is in memory, after the operations queued before it. */
  constructor(view: GraphView, read: <T>(plan: () => T) => T | Promise<T>) {
    this.#view = view;
    this.#read = read;
  }

  /** The network registers how writes wait for a durability level; returns the function that unregisters it. */
  useReplication(waits: ReplicationWaits): () => void {
    this.#replication = waits;
    return () => {
      if (this.#replication === waits) this.#replication = undefined;
    };
  }

  /** Starts waiting for outbox entry `outboxId` to reach `level` (undefined without a network). */
  expectReplication(outboxId: number, level: 'one' | 'quorum' | 'all'): ReturnType<ReplicationWaits> | undefined {
    return this.#replication?.(outboxId, level);
  }

  /**
   * The network registers how reads ask its peers first (one network per replica);
   * returns the function that unregisters it.
   */
  useRemoteReads(reads: RemoteReads): () => void {
    this.#remoteReads = reads;
    return () => {
      if (this.#remoteReads === reads) this.#remoteReads = undefined;
    };
  }

  /**
   * Before a read of `path`: asks the network for each soul the path goes through,
   * following links as the answers reveal them (one round per hop); offline, nothing
   * happens. Souls watched live are asked for too: a watch that has just started may
   * not have received the servers' state yet, and a read must not answer from before it.
   * Only what the answer depends on is asked for: the key a step or a property read
   * reads, the whole node only for a node read, so a node's other properties (however
   * many or large) never travel for a property read.
   */
  async readThrough(path: RefPath, signal: AbortSignal | undefined, consistency?: 'one' | 'quorum' | 'all'): Promise<void> {
    const remote = this.#remoteReads;
    if (remote === undefined) return;
    const asked = new Set<string>();
    for (let hop = 0; hop <= path.keys.length; hop++) {
      const resolution = await this.#read(() => resolve(this.#view, path));
      // Per soul: the keys read there, or undefined when the whole node is.
      const needs = new Map<string, Set<string> | undefined>();
      for (const { soul, key } of resolution.watches) {
        const keys = needs.has(soul) ? needs.get(soul) : new Set<string>();
        if (key === undefined || keys === undefined) needs.set(soul, undefined);
        else needs.set(soul, keys.add(key));
      }
      const next: Array<[string, string[] | undefined]> = [];
      for (const [soul, keys] of needs) {
        const list = keys === undefined ? undefined : [...keys].sort();
        const id = JSON.stringify([soul, list ?? null]);
        if (asked.has(id)) continue;
        asked.add(id);
        next.push([soul, list]);
      }
      if (next.length === 0) return;
      await Promise.all(next.map(([soul, keys]) => remote(soul, keys, signal, consistency)));
    }
  }
}
