/**
 * The souls cache eviction must never drop, found at the moment an eviction runs:
 *
 * - souls written by outbox entries: those writes are not acknowledged by the network
 *   yet, so this store may hold their only copy;
 * - souls touched by deferred updates: the engine applies them when due without a load,
 *   so their souls must stay resident (see ResidentSouls' invariant);
 * - the user's own protected space, `~<publicKey>…`, for every identity kept with the
 *   database (`db.identities.keep`) or used through `db.user()` in this session.
 *
 * Computed from the sources of truth on each run rather than tracked write by write:
 * runs are rare (the eviction brings the cache well under its cap), writes are not.
 */
import type { Engine } from '../engine/core-types.js';
import type { IdentityKeeper } from '../replica/identity-keeper.js';
import type { Outbox } from '../replica/outbox.js';

export interface ProtectionSources {
  readonly outbox: Outbox;
  readonly identities: IdentityKeeper;
  /** Public keys used through `db.user()` in this session. */
  readonly ownKeys: ReadonlySet<string>;
  /** The engine, while it may still be called (undefined once the database is closing). */
  engine(): Engine | undefined;
}

export type IsProtected = (soul: string) => boolean;

export async function protectedSouls(sources: ProtectionSources): Promise<IsProtected> {
  const souls = new Set<string>();
  const frames: Uint8Array[] = [];
  for await (const { frame } of sources.outbox.pending()) frames.push(frame);
  const kept = await sources.identities.list();
  const engine = sources.engine();
  if (engine === undefined) return () => true;
  for (const frame of frames) for (const soul of engine.soulsOf(frame)) souls.add(soul);
  if (engine.deferredCount() !== 0) for (const soul of engine.soulsOf(engine.deferredFrame())) souls.add(soul);
  const owners = new Set([...kept, ...sources.ownKeys]);
  // Whose space a soul is in is the engine's namespace rule (namespace.rs), not a prefix match here.
  return (soul) => {
    if (souls.has(soul)) return true;
    if (!soul.startsWith('~')) return false;
    const owner = sources.engine()?.spaceOwner(soul);
    return owner === undefined ? sources.engine() === undefined : owners.has(owner);
  };
}
