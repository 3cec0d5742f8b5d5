/**
 * This peer as a subscriber: it subscribes every connected peer to the souls something
 * here watches (`on`, `map`, `changes`), and takes the EVENTs those peers push back.
 *
 * - The first watcher of a soul → SUBSCRIBE on every duty session; the last one gone →
 *   UNSUBSCRIBE. A session that becomes a peer's duty session gets every watched soul
 *   (in chunks), so a reconnection re-subscribes.
 * - An EVENT is taken only if every soul in it is one this peer watches, so no peer can
 *   fill another's cache (`event/unsolicited` otherwise). Updates a peer sent before it
 *   saw our UNSUBSCRIBE still arrive afterwards: those are expected, not refused.
 *
 * The other side, the peers that subscribed here, is serving/publisher.ts.
 */
import { RustDHTError } from '../../api/errors.js';
import type { CounterSet } from '../counters.js';
import type { ReplicaForNetwork } from '../replica-port.js';
import type { IncomingEvent, SyncSession } from '../sync-session.js';

export type ReplicaForSubscriber = Pick<ReplicaForNetwork, 'subscriptions' | 'prepare'>;

/** Souls per SUBSCRIBE when a session takes its duties. */
const SUBSCRIBE_CHUNK = 1000;

export interface SubscriberOptions {
  readonly replica: ReplicaForSubscriber;
  readonly counters: CounterSet;
  /** The sessions to subscribe on: one per connected peer. */
  readonly sessions: () => readonly SyncSession[];
  /** A request of ours failed (reported as a `reject` event unless the session ended). */
  readonly requestFailed: (session: SyncSession, error: unknown) => void;
  /** Souls asked for on another's behalf (a DHT server's subscriptions at owners): their EVENTs are taken too. */
  readonly accepts?: (soul: string) => boolean;
}

export class Subscriber {
  readonly #options: SubscriberOptions;
  /** Souls whose UNSUBSCRIBE is on its way, with how many are: EVENTs for them may still arrive. */
  readonly #unsubscribing = new Map<string, number>();
  readonly #stopInterest: () => void;

  constructor(options: SubscriberOptions) {
    this.#options = options;
    this.#stopInterest = options.replica.subscriptions.onInterest((soul, watched) => this.#interest(soul, watched));
  }

  stop(): void {
    this.#stopInterest();
  }

  /** Subscribes a peer's new duty session to every soul watched here. */
  subscribeAll(session: SyncSession): void {
    const souls = [...this.#options.replica.subscriptions.watchedSouls()];
    for (let i = 0; i < souls.length; i += SUBSCRIBE_CHUNK) {
      session.request({ type: 'subscribe', souls: souls.slice(i, i + SUBSCRIBE_CHUNK) }).catch((error: unknown) => this.#options.requestFailed(session, error));
    }
  }

  /** A pushed update: taken only for souls this peer asked for. */
  async event(message: Extract<IncomingEvent, { type: 'event' }>): Promise<void> {
    const { replica, counters } = this.#options;
    const watched = replica.subscriptions;
    // Decoded once: the souls are checked, then the same decoded updates are merged.
    const incoming = replica.prepare(message.frame);
    for (const soul of incoming.souls) {
      if (!watched.isWatched(soul) && !this.#unsubscribing.has(soul) && this.#options.accepts?.(soul) !== true) {
        incoming.discard();
        throw new RustDHTError('event/unsolicited', `an update of ${JSON.stringify(soul)}, which this peer did not subscribe to.`);
      }
    }
    counters.peerBatch(await incoming.receive());
  }

  #interest(soul: string, watched: boolean): void {
    const { sessions, requestFailed } = this.#options;
    for (const session of sessions()) {
      if (watched) {
        session.request({ type: 'subscribe', souls: [soul] }).catch((error: unknown) => requestFailed(session, error));
        continue;
      }
      this.#unsubscribing.set(soul, (this.#unsubscribing.get(soul) ?? 0) + 1);
      session
        .request({ type: 'unsubscribe', souls: [soul] })
        .catch((error: unknown) => requestFailed(session, error))
        .finally(() => {
          const left = (this.#unsubscribing.get(soul) ?? 1) - 1;
          if (left === 0) this.#unsubscribing.delete(soul);
          else this.#unsubscribing.set(soul, left);
        });
    }
  }
}
