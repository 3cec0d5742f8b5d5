/**
 * The serving side of the sync protocol: what this peer does with a peer's requests
 * and events, and the live updates it pushes back. Every frame a peer sends goes
 * through the engine in one call (`replica.receive`): decode, verify, validate, merge.
 * Only what the engine applied is stored, logged, pushed to subscribers or fed to
 * other servers, so nothing invalid is ever forwarded.
 *
 *   GET soul [keys]      → NODE frame (what this peer holds; empty when nothing)
 *   PUT frame            → ACK, one outcome per update (applied/ignored/historical/deferred/rejected+code)
 *   SUBSCRIBE souls      → OK, then one EVENT with each soul's current state, then an
 *                          EVENT whenever a batch changes one of them (only those souls)
 *   UNSUBSCRIBE souls    → OK
 *   FEED since           → OK, then FEED_ENTRY for each change-log entry after `since`,
 *                          then live entries (servers only)
 *   EVENT frame          → applied if every soul in it is one this peer watches; else refused
 */
import { LimitError, RustDHTError } from '../errors.js';
import type { AppliedBatch, LocalReplica } from '../replica.js';
import type { CounterSet } from './counters.js';
import type { IncomingEvent, IncomingRequest, SyncSession } from './sync-session.js';
import type { PeerRole } from './types.js';
import type { WireMessage } from './wire/messages.js';

/** Live-update bytes a subscriber may leave unread before it is disconnected. */
const MAX_QUEUED_BYTES = 32 * 1024 * 1024;
/** Souls one peer may subscribe to here at once. */
const MAX_SUBSCRIPTIONS_PER_PEER = 10_000;

export class Responder {
  readonly #replica: LocalReplica;
  readonly #counters: CounterSet;
  readonly #role: PeerRole;
  readonly #subscribers = new Set<SyncSession>();
  /** Per session: what to undo when it ends (live feed listeners). */
  readonly #cleanups = new Map<SyncSession, Array<() => void>>();
  readonly #stopPush: () => void;
  /** True for a soul this peer is unsubscribing from: its UNSUBSCRIBE is not answered yet. */
  readonly #unsubscribing: (soul: string) => boolean;

  constructor(replica: LocalReplica, counters: CounterSet, role: PeerRole, unsubscribing: (soul: string) => boolean = () => false) {
    this.#replica = replica;
    this.#counters = counters;
    this.#role = role;
    this.#unsubscribing = unsubscribing;
    this.#stopPush = replica.onApplied((batch) => this.#push(batch));
  }

  stop(): void {
    this.#stopPush();
    for (const cleanups of this.#cleanups.values()) for (const cleanup of cleanups) cleanup();
    this.#cleanups.clear();
    this.#subscribers.clear();
  }

  /** A session ended: forget its subscriptions and feeds. */
  forget(session: SyncSession): void {
    this.#subscribers.delete(session);
    for (const cleanup of this.#cleanups.get(session) ?? []) cleanup();
    this.#cleanups.delete(session);
  }

  async request(session: SyncSession, message: IncomingRequest): Promise<WireMessage | undefined> {
    switch (message.type) {
      case 'get': {
        const frame = await this.#replica.nodeFrame(message.soul, message.keys.length === 0 ? undefined : message.keys);
        return { type: 'node', id: message.id, frame };
      }
      case 'put': {
        const result = await this.#replica.receive(message.frame);
        this.#counters.peerBatch(result);
        return {
          type: 'ack',
          id: message.id,
          outcomes: result.outcomes.map((o) => (o.outcome === 'rejected' ? { outcome: o.outcome, code: o.code ?? 'rejected' } : { outcome: o.outcome })),
        };
      }
      case 'subscribe': {
        if (session.subscriptions.size + message.souls.length > MAX_SUBSCRIPTIONS_PER_PEER) {
          throw new LimitError('limit/subscriptions', `at most ${MAX_SUBSCRIPTIONS_PER_PEER} subscriptions per peer.`);
        }
        for (const soul of message.souls) session.subscriptions.add(soul);
        this.#subscribers.add(session);
        await session.notify({ type: 'ok', id: message.id });
        // The current state, so the subscriber starts from what this peer holds.
        for (const soul of message.souls) {
          const frame = await this.#replica.nodeFrame(soul);
          if (frame.length === 0 || session.closed) continue;
          // A node too large for one message reaches the peer through its reads of keys instead.
          await session.notify({ type: 'event', id: 0, frame }).catch(() => this.#counters.reject('event/too-large'));
        }
        return undefined;
      }
      case 'unsubscribe': {
        for (const soul of message.souls) session.subscriptions.delete(soul);
        if (session.subscriptions.size === 0) this.#subscribers.delete(session);
        return { type: 'ok', id: message.id };
      }
      case 'feed': {
        const changeLog = this.#replica.changeLog;
        if (this.#role !== 'server' || changeLog === undefined) {
          throw new RustDHTError('feed/unavailable', 'this peer keeps no change log (only servers with a store do).');
        }
        await session.notify({ type: 'ok', id: message.id });
        void this.#serveFeed(session, message.id, message.since);
        return undefined;
      }
    }
  }

  /**
   * A pushed update: taken only for souls this peer asked for, so no peer can fill
   * another's cache. Updates the peer sent before it saw our UNSUBSCRIBE still arrive
   * afterwards: those are expected, not refused.
   */
  async event(message: IncomingEvent): Promise<void> {
    const watched = this.#replica.subscriptions;
    for (const soul of this.#replica.soulsOf(message.frame)) {
      if (!watched.isWatched(soul) && !this.#unsubscribing(soul)) {
        throw new RustDHTError('event/unsolicited', `an update of ${JSON.stringify(soul)}, which this peer did not subscribe to.`);
      }
    }
    const result = await this.#replica.receive(message.frame);
    this.#counters.peerBatch(result);
  }

  /** Sends each subscriber the changes of the souls it watches, and nothing else. */
  #push(batch: AppliedBatch): void {
    if (this.#subscribers.size === 0) return;
    for (const session of this.#subscribers) {
      if (session.closed) continue;
      if (session.queuedBytes > MAX_QUEUED_BYTES) {
        // It cannot keep up: rather than queue without bound, end the session. The peer
        // redials, subscribes again and gets the current state in one message per soul.
        session.end('wire/slow-consumer', `more than ${MAX_QUEUED_BYTES} bytes of live updates waiting for this peer to read them.`);
        continue;
      }
      const watched = session.subscriptions;
      let keysBySoul: Map<string, string[]> | undefined;
      let all = true;
      for (const [soul, key] of batch.changes) {
        if (!watched.has(soul)) {
          all = false;
          continue;
        }
        keysBySoul ??= new Map();
        let keys = keysBySoul.get(soul);
        if (keys === undefined) keysBySoul.set(soul, (keys = []));
        keys.push(key);
      }
      if (keysBySoul === undefined) continue;
      if (all) {
        if (session.fits(batch.frame.length)) {
          session.notify({ type: 'event', id: 0, frame: batch.frame }).catch(() => this.#counters.reject('event/too-large'));
          continue;
        }
      }
      for (const [soul, keys] of keysBySoul) {
        const frame = this.#replica.residentNodeFrame(soul, keys);
        if (frame !== undefined) session.notify({ type: 'event', id: 0, frame }).catch(() => this.#counters.reject('event/too-large'));
      }
    }
  }

  /** The change log after `since`, then live entries, until the session ends. */
  async #serveFeed(session: SyncSession, id: number, since: number): Promise<void> {
    const changeLog = this.#replica.changeLog!;
    let lastSent = since;
    let live = false;
    const waiting: AppliedBatch[] = [];
    const send = (seq: number, frame: Uint8Array): Promise<void> => {
      lastSent = seq;
      if (!session.fits(frame.length)) {
        // Cannot travel in one message; the peer gets it through reads and subscriptions.
        this.#counters.reject('feed/entry-too-large');
        return Promise.resolve();
      }
      return session.notify({ type: 'feed-entry', id, seq, frame }).catch(() => this.#counters.reject('feed/entry-too-large'));
    };
    const stopListening = this.#replica.onApplied((batch) => {
      if (batch.seq === undefined) return;
      if (!live) waiting.push(batch);
      else if (batch.seq > lastSent) void send(batch.seq, batch.frame);
    });
    const cleanups = this.#cleanups.get(session) ?? [];
    cleanups.push(stopListening);
    this.#cleanups.set(session, cleanups);
    try {
      // Batches applied before the listener existed must be in the store before it is read.
      await this.#replica.flush();
      for await (const entry of changeLog.after(since)) {
        if (session.closed) return;
        if (entry.seq > lastSent) await send(entry.seq, entry.frame);
      }
      for (const batch of waiting) if (batch.seq! > lastSent && !session.closed) await send(batch.seq!, batch.frame);
      waiting.length = 0;
      live = true;
    } catch (error) {
      stopListening();
      if (!session.closed) this.#counters.reject(error instanceof RustDHTError ? error.code : 'feed/failed');
    }
  }
}
