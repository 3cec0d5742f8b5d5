/**
 * Reads through the network (`network.fetch`, which `once()`/`meta()` call before
 * answering): GET the soul from the connected servers (or, with none, from every
 * connected peer), and merge each answer through the engine (read repair), within a
 * time limit. Right after open, a read waits (within that limit) for the first
 * connection; offline, it returns at once and the read answers locally.
 *
 * A read of some keys (a property read) asks for those keys only (GET soul keys), so a
 * node's other properties, however many or large, never travel for it. A read of the
 * whole node asks a 1.1 peer for it part by part (GET_PART from "", then from each
 * `next`), each part within this peer's message limit and batch limit and merged as it
 * comes; a 1.0 peer gets one GET. A property the peer could not send (larger than one
 * message) is reported as a `reject` event (`wire/too-large`), the rest still arrives.
 */
import { RustDHTError, abortErrorFrom } from '../../api/errors.js';
import type { CounterSet } from '../counters.js';
import { Backoff } from '../peers/backoff.js';
import { codeOf, messageOf } from '../refusal.js';
import type { ReplicaForNetwork } from '../replica-port.js';
import type { SyncSession } from '../sync-session.js';
import type { NetworkEvent } from '../types.js';
import type { ReplicationLevel } from '../wire/messages.js';

export type ReplicaForFetcher = Pick<ReplicaForNetwork, 'receive'>;

export interface FetcherOptions {
  readonly replica: ReplicaForFetcher;
  readonly counters: CounterSet;
  readonly emit: (event: NetworkEvent) => void;
  /** Who to ask about `soul`: the servers' duty sessions, else every peer's (a DHT server: the soul's owners). */
  readonly readSessions: (soul: string) => SyncSession[];
  /** True while the first connection is being made: a read waits for it. */
  readonly firstConnectionPending: () => boolean;
  readonly whenConnected: (signal: AbortSignal) => Promise<void>;
  /** A fetch started or ended: the network's state may have changed. */
  readonly changed: () => void;
}

export interface FetchOptions {
  readonly keys?: readonly string[];
  readonly signal?: AbortSignal;
  readonly timeoutMs: number;
  /** The read consistency asked of the servers (GET_AT / GET_PART_AT; 1.2 peers only). */
  readonly level?: ReplicationLevel;
  /** Resolve once this many peers answered (default: all of them); the others' answers are still merged as they come. */
  readonly needed?: number;
}

export class Fetcher {
  readonly #options: FetcherOptions;
  #inFlight = 0;

  constructor(options: FetcherOptions) {
    this.#options = options;
  }

  /** Fetches in progress (the network is `syncing` while there are). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Resolves when every peer asked answered (or failed) or after `timeoutMs`; rejects only when `signal` aborts. */
  async fetch(soul: string, options: FetchOptions): Promise<void> {
    const { replica, counters, emit, readSessions, firstConnectionPending, whenConnected, changed } = this.#options;
    let sessions = readSessions(soul);
    if (sessions.length === 0 && !firstConnectionPending()) return;
    const { timeoutMs } = options;
    // A plain timer, held until the fetch ends: Node 20 may collect an
    // AbortSignal.timeout() combined through AbortSignal.any() before it fires.
    const expired = new AbortController();
    const timer = setTimeout(() => expired.abort(new RustDHTError('network/timeout', `no answer for ${soul} within ${timeoutMs} ms.`)), timeoutMs);
    const signal = options.signal === undefined ? expired.signal : AbortSignal.any([expired.signal, options.signal]);
    this.#inFlight++;
    changed();
    try {
      if (sessions.length === 0) {
        // Just opened and still dialling: a read made now is meant for the network.
        await whenConnected(signal).catch(() => {});
        sessions = readSessions(soul);
      }
      const answers = sessions.map(async (session) => {
        const level = options.level !== undefined && session.speaksDht ? { level: options.level } : {};
        const backoff = new Backoff({ initialMs: 50, maxMs: 1000, jitter: 0.25 });
        for (;;) {
          try {
            const keys = options.keys ?? [];
            if (keys.length === 0 && session.partialReads) {
              await this.#fetchParts(session, soul, signal, timeoutMs, level);
              return true;
            }
            const reply = await session.request({ type: 'get', soul, keys: [...keys], ...level }, { signal, timeoutMs });
            if (reply.type === 'node' && reply.frame.length !== 0) counters.peerBatch(await replica.receive(reply.frame));
            return true;
          } catch (error) {
            const code = codeOf(error);
            // A server that is busy or rate-limits this peer has not said the soul is
            // missing: ask again (backing off) while the read has time, so a burst of
            // reads never answers "not found" for data that exists.
            if (ASK_AGAIN.has(code) && !signal.aborted && !session.closed) {
              await backoff.wait(signal);
              if (!signal.aborted && !session.closed) continue;
            }
            if (!signal.aborted) emit({ type: 'reject', peerId: session.peerId, code, message: messageOf(error) });
            return false;
          }
        }
      });
      await enough(answers, options.needed ?? answers.length);
    } finally {
      clearTimeout(timer);
      this.#inFlight--;
      changed();
    }
    if (options.signal?.aborted) throw abortErrorFrom(options.signal);
  }

  /** The whole node from one peer, part by part, each merged before the next is asked for; ends with the last part or the signal. */
  async #fetchParts(session: SyncSession, soul: string, signal: AbortSignal, timeoutMs: number, level: { level?: ReplicationLevel }): Promise<void> {
    const { replica, counters, emit } = this.#options;
    let after = '';
    do {
      // The level rides on the first part: that is when the server asks the owners.
      const reply = await session.request({ type: 'get-part', soul, after, ...(after === '' ? level : {}) }, { signal, timeoutMs });
      if (reply.type !== 'node-part') return;
      for (const key of reply.skipped) {
        emit({
          type: 'reject',
          peerId: session.peerId,
          code: 'wire/too-large',
          message: `${session.peerId} holds property ${JSON.stringify(key)} of ${JSON.stringify(soul)} but it is larger than one message; the rest of the node was read.`,
        });
      }
      if (reply.frame.length !== 0) counters.peerBatch(await replica.receive(reply.frame));
      after = reply.next;
    } while (after !== '' && !signal.aborted);
  }
}

/** Refusals that say "not now" about a read: it is asked again, backing off (50 ms doubling to 1 s, ±25 %). */
const ASK_AGAIN: ReadonlySet<string> = new Set(['wire/rate-limited', 'wire/busy']);

/** Resolves once `needed` of `answers` resolved true, or all of them settled. */
function enough(answers: readonly Promise<boolean>[], needed: number): Promise<void> {
  if (needed <= 0 || answers.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    let ok = 0;
    let settled = 0;
    for (const answer of answers) {
      void answer.then((good) => {
        settled++;
        if (good) ok++;
        if (ok >= needed || settled === answers.length) resolve();
      });
    }
  });
}
