/**
 * What this peer does for each peer once a session with it carries its duties
 * (peers/peer-table.ts picks that session): subscribe to what is watched here
 * (subscriber.ts), tell a DHT member who we are and which souls we want from it, ping
 * it; and towards a server to us (peers/server-choice.ts): send it the outbox
 * (outbox-sender.ts, one per session) and, between servers, follow its change log
 * (feed-follower.ts).
 */
import type { CounterSet } from '../counters.js';
import type { Dht } from '../dht/dht.js';
import type { Pinger } from '../peers/pinger.js';
import type { ServerChoice } from '../peers/server-choice.js';
import type { OutboxEntry, ReplicaForNetwork } from '../replica-port.js';
import type { SyncSession } from '../sync-session.js';
import type { NetworkEvent, PeerRole } from '../types.js';
import { followFeed } from './feed-follower.js';
import { OutboxSender } from './outbox-sender.js';
import type { ReplicationWaitList } from './replication-waits.js';
import type { Subscriber } from './subscriber.js';

export interface DutyRosterOptions {
  readonly replica: ReplicaForNetwork;
  readonly counters: CounterSet;
  readonly role: PeerRole;
  readonly stop: AbortSignal;
  readonly choice: ServerChoice;
  readonly subscriber: Subscriber;
  readonly pinger: Pinger;
  readonly replicationWaits: ReplicationWaitList;
  readonly dht: () => Dht | undefined;
  readonly emit: (event: NetworkEvent) => void;
  readonly changed: () => void;
  readonly refused: (peerId: string, code: string, message: string) => void;
  readonly requestFailed: (session: SyncSession, error: unknown) => void;
}

export class DutyRoster {
  readonly #options: DutyRosterOptions;
  /** Per server duty session: what sends it the outbox. */
  readonly #senders = new Map<SyncSession, OutboxSender>();

  constructor(options: DutyRosterOptions) {
    this.#options = options;
  }

  /** `session` now carries this peer's duties towards its peer. */
  take(session: SyncSession): void {
    const { replica, subscriber, dht, pinger } = this.#options;
    if (replica.closed) return;
    subscriber.subscribeAll(session);
    this.takeServerDuties(session);
    dht()?.membership.sessionReady(session);
    dht()?.ownerSubscriptions.sessionReady(session);
    void pinger.ping(session.peerId);
  }

  /** Towards a server to us: send it the outbox; between servers, follow its change log. Once per session. */
  takeServerDuties(session: SyncSession): void {
    const options = this.#options;
    const { replica, counters, replicationWaits } = options;
    if (replica.closed || session.closed || this.#senders.has(session) || !options.choice.isServer(session)) return;
    const sender = new OutboxSender(session, {
      replica,
      counters,
      stop: options.stop,
      emit: options.emit,
      changed: options.changed,
      levelOf: (ids) => replicationWaits.levelOf(ids),
      replicated: (ids, report) => replicationWaits.report(ids, report),
    });
    this.#senders.set(session, sender);
    void sender.drain();
    if (options.role === 'server') void followFeed(session, { replica, counters, refused: options.refused, requestFailed: options.requestFailed });
  }

  /** A local write joined the outbox: every server's sender takes it. */
  offer(entry: OutboxEntry): void {
    for (const session of this.#options.choice.servers()) this.#senders.get(session)?.offer(entry);
  }

  /** `session` ended: its sender stops. */
  ended(session: SyncSession): void {
    this.#senders.get(session)?.close();
    this.#senders.delete(session);
  }
}
