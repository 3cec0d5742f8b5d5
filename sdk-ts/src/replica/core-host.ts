/**
 * What the paths into the engine (writes.ts, incoming.ts, deferred-updates.ts) share of
 * the replica: the engine, the clock, and the operation queue that loads the souls a
 * plan used (residency.ts) before its apply runs. Types only.
 */
import type { Engine } from '../engine/core-types.js';

export interface ReplicaCore {
  readonly engine: Engine;
  readonly now: () => number;
  /** With a store, a plan marks the souls it touches (`uses`) so they are loaded before its apply. */
  readonly hasStore: boolean;
  readonly uses: (soul: string) => void;
  readonly assertOpen: () => void;
  /** Runs a plan/apply pair after every operation queued before it. */
  readonly queued: <P, R>(plan: () => P, apply: (planned: P) => R) => R | Promise<R>;
}
