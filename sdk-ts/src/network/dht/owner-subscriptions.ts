/**
 * Live updates across the DHT: a client subscribes at its server; when that server does
 * not own the soul, changes written through other servers reach only the soul's owners,
 * so the server subscribes at the owners on its subscribers' behalf (one subscription
 * per soul, however many of its clients watch it) and passes their EVENTs on: they are
 * merged here (the engine, as any EVENT) and the publisher pushes the changes to the
 * clients that watch the soul. The copy kept here is a cache for those clients (the
 * hand-off keeps watched souls: handoff.ts).
 *
 * When membership changes, each soul is subscribed at its new owners and unsubscribed
 * from former ones; when this server becomes an owner, the owners' feeds bring the
 * changes and the subscriptions at the others end. A session with an owner that comes
 * back (a reconnection) is subscribed again. So no subscription is dropped by a change
 * of ownership.
 */
import type { SyncSession } from '../sync-session.js';
import type { MemberTable } from './member-table.js';
import type { PlacementView } from './placement-view.js';

/** Souls per SUBSCRIBE / UNSUBSCRIBE. */
const CHUNK = 1000;

export interface OwnerSubscriptionsHost {
  readonly placement: PlacementView;
  readonly table: MemberTable;
  readonly selfId: string;
  /** A ready session with server `peerId`, if connected. */
  readonly sessionOf: (peerId: string) => SyncSession | undefined;
  /** A request of ours failed (reported unless the session ended). */
  readonly requestFailed: (session: SyncSession, error: unknown) => void;
}

export class OwnerSubscriptions {
  readonly #host: OwnerSubscriptionsHost;
  /** Souls our subscribers watch, and the owners we subscribed at for each. */
  readonly #souls = new Map<string, Set<string>>();
  /** Souls whose UNSUBSCRIBE is on its way: EVENTs for them may still arrive. */
  readonly #leaving = new Map<string, number>();
  readonly #stopChange: () => void;

  constructor(host: OwnerSubscriptionsHost) {
    this.#host = host;
    this.#stopChange = host.table.onChange(() => this.#rebalance());
  }

  stop(): void {
    this.#stopChange();
    this.#souls.clear();
  }

  /** The owners this server is subscribed at for its subscribers: beyond a full mesh they stay dialled while it is (membership.ts `needed`). */
  owners(): Set<string> {
    const owners = new Set<string>();
    for (const at of this.#souls.values()) for (const owner of at) owners.add(owner);
    return owners;
  }

  /** Whether an EVENT about `soul` answers one of our subscriptions at an owner. */
  accepts(soul: string): boolean {
    return this.#souls.has(soul) || this.#leaving.has(soul);
  }

  /** A soul got its first subscriber here, or lost its last (serving/publisher.ts). */
  interest(soul: string, watched: boolean): void {
    if (watched) {
      if (this.#souls.has(soul)) return;
      this.#souls.set(soul, new Set());
      this.#sync([soul]);
      return;
    }
    const at = this.#souls.get(soul);
    if (at === undefined) return;
    this.#souls.delete(soul);
    for (const owner of at) this.#unsubscribe(owner, [soul]);
  }

  /** A session with `session.peerId` is ready: subscribe there again to the souls it owns for us. */
  sessionReady(session: SyncSession): void {
    if (session.remoteRole !== 'server') return;
    const souls: string[] = [];
    for (const [soul, at] of this.#souls) {
      if (!at.has(session.peerId)) continue;
      souls.push(soul);
    }
    for (let i = 0; i < souls.length; i += CHUNK) this.#request(session, 'subscribe', souls.slice(i, i + CHUNK));
  }

  /** Membership changed: every proxied soul to its owners as they are now. */
  #rebalance(): void {
    if (this.#souls.size !== 0) this.#sync([...this.#souls.keys()]);
  }

  /** Subscribes `souls` at their owners (not this server) and unsubscribes from servers that no longer own them. */
  #sync(souls: readonly string[]): void {
    const { placement, selfId } = this.#host;
    const owners = placement.ownersOf(souls);
    const add = new Map<string, string[]>();
    const remove = new Map<string, string[]>();
    souls.forEach((soul, i) => {
      const at = this.#souls.get(soul);
      if (at === undefined) return;
      // An owner itself gets the changes through the feeds: no subscription needed.
      const wanted = new Set(owners[i]!.includes(selfId) ? [] : owners[i]!.filter((owner) => owner !== selfId));
      for (const owner of wanted) {
        if (at.has(owner)) continue;
        at.add(owner);
        push(add, owner, soul);
      }
      for (const owner of at) {
        if (wanted.has(owner)) continue;
        at.delete(owner);
        push(remove, owner, soul);
      }
    });
    for (const [owner, list] of add) {
      const session = this.#host.sessionOf(owner);
      // Not connected now: sessionReady subscribes when it is.
      if (session === undefined) continue;
      for (let i = 0; i < list.length; i += CHUNK) this.#request(session, 'subscribe', list.slice(i, i + CHUNK));
    }
    for (const [owner, list] of remove) this.#unsubscribe(owner, list);
  }

  #unsubscribe(owner: string, souls: readonly string[]): void {
    const session = this.#host.sessionOf(owner);
    if (session === undefined) return;
    for (const soul of souls) this.#leaving.set(soul, (this.#leaving.get(soul) ?? 0) + 1);
    for (let i = 0; i < souls.length; i += CHUNK) {
      const chunk = souls.slice(i, i + CHUNK);
      this.#request(session, 'unsubscribe', chunk).finally(() => {
        for (const soul of chunk) {
          const left = (this.#leaving.get(soul) ?? 1) - 1;
          if (left <= 0) this.#leaving.delete(soul);
          else this.#leaving.set(soul, left);
        }
      });
    }
  }

  #request(session: SyncSession, type: 'subscribe' | 'unsubscribe', souls: string[]): Promise<void> {
    return session.request({ type, souls }).then(
      () => {},
      (error: unknown) => this.#host.requestFailed(session, error),
    );
  }
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
