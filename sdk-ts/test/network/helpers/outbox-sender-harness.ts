/**
 * An OutboxSender (network/duties/outbox-sender.ts) on its own, with everything around it
 * scripted: a session whose PUTs wait until the test answers them (and whose message
 * limit and protocol version the test sets), an outbox held in a Map, and the real
 * engine's frames (encodeUpdates, joinFrames, frameUpdateCount), so a test can assert
 * exactly what is sent, when, and what becomes of each entry.
 *
 * Why not a real server: the sender's rules (joining, the window, which refusal keeps
 * an entry, the backoff timer) are only observable one PUT at a time with full control
 * over the replies; the sync conformance suite and write-refusals.test.ts cover the
 * same path end to end.
 */
import { RustDHTError } from '../../../src/api/errors.js';
import * as engine from '../../../src/engine/load-node.js';
import { CounterSet } from '../../../src/network/counters.js';
import { OutboxSender, type OutboxSenderOptions } from '../../../src/network/duties/outbox-sender.js';
import type { OutboxEntry } from '../../../src/network/replica-port.js';
import type { SyncSession } from '../../../src/network/sync-session.js';
import type { NetworkEvent } from '../../../src/network/types.js';
import type { WireMessage } from '../../../src/network/wire/messages.js';
import type { ReplicationReport } from '../../../src/replica/types.js';

export type PutMessage = Extract<WireMessage, { type: 'put' | 'put-at' }>;
export type Reply = Extract<WireMessage, { type: 'ack' | 'ack-at' | 'ok' | 'node' }>;

/** A PUT the sender made, waiting for the test to answer it. */
export interface SentPut {
  readonly message: PutMessage;
  /** The outbox ids whose updates the frame holds, in order (each test update's key is its entry's id). */
  readonly ids: readonly number[];
  resolve(reply: Reply): void;
  reject(error: unknown): void;
}

/** One entry of one update: soul `outbox-test`, key `entry-<id, 6 digits>`, value `value` (default: the id). */
export function entryFrame(id: number, value: unknown = id): Uint8Array {
  return engine.encodeUpdates(['outbox-test', `entry-${String(id).padStart(6, '0')}`, value], Float64Array.of(1_000 + id));
}

/** The ids of the entries whose updates `frame` holds, in frame order (read from their keys). */
function idsOf(frame: Uint8Array): number[] {
  const text = new TextDecoder('latin1').decode(frame);
  return [...text.matchAll(/entry-(\d{6})/g)].map((match) => Number(match[1]));
}

export class ScriptedSession {
  readonly peerId = 'scripted-server';
  closed = false;
  speaksDht = true;
  /** The largest frame a message may carry here; Infinity: anything fits. */
  maxFrameBytes = Number.POSITIVE_INFINITY;
  readonly puts: SentPut[] = [];

  fits(frameBytes: number): boolean {
    return frameBytes <= this.maxFrameBytes;
  }

  request(message: PutMessage): Promise<Reply> {
    // As a real session: a request on an ended one fails at once.
    if (this.closed) return Promise.reject(new RustDHTError('network/closed', `the connection to ${this.peerId} is closed.`));
    return new Promise<Reply>((resolve, reject) => {
      const updates = engine.frameUpdateCount(message.frame);
      const ids = idsOf(message.frame);
      if (ids.length !== updates) throw new Error(`a frame of ${updates} updates, keys found for ${ids.length}`);
      this.puts.push({ message, ids, resolve, reject });
    });
  }
}

/** Outbox entries by id (added in id order); pending() lists them oldest first, including those added while it runs. */
export class ScriptedOutbox {
  readonly entries = new Map<number, Uint8Array>();
  readonly acknowledged: number[] = [];
  /** Entries pending() handed out, over all its runs. */
  listed = 0;
  /** pending() fails with this, once set. */
  failure: unknown;
  /** pending() waits for this before it ends (after the last entry). */
  beforeEnd: Promise<void> | undefined;

  add(...ids: number[]): void {
    for (const id of ids) this.entries.set(id, entryFrame(id));
  }

  async *pending(options: { readonly signal?: AbortSignal } = {}): AsyncIterable<OutboxEntry> {
    if (this.failure !== undefined) throw this.failure;
    // A Map's iteration takes in entries added meanwhile and skips those deleted: as the
    // outbox lists them; like it, the listing ends once `signal` aborts.
    for (const [id, frame] of this.entries) {
      if (options.signal?.aborted) return;
      this.listed++;
      yield { id, frame };
    }
    await this.beforeEnd;
  }

  async acknowledge(id: number): Promise<void> {
    this.acknowledged.push(id);
    this.entries.delete(id);
  }
}

export interface Harness {
  readonly sender: OutboxSender;
  readonly session: ScriptedSession;
  readonly outbox: ScriptedOutbox;
  readonly replica: { outbox: ScriptedOutbox; engineModule: { joinFrames: typeof engine.joinFrames }; closed: boolean };
  /** Calls of the engine's joinFrames. */
  readonly joins: { count: number };
  readonly counters: CounterSet;
  readonly stop: AbortController;
  readonly events: NetworkEvent[];
  readonly reports: { ids: readonly number[]; report: ReplicationReport }[];
  /** How many times the sender said its state may have changed. */
  readonly changes: { count: number };
}

/** `replicated: false`: a sender given levelOf but no `replicated` (both are optional). */
export function harness(options: { levelOf?: OutboxSenderOptions['levelOf']; replicated?: false } = {}): Harness {
  const session = new ScriptedSession();
  const outbox = new ScriptedOutbox();
  const joins = { count: 0 };
  const joinFrames: typeof engine.joinFrames = (frames, maxUpdates) => {
    joins.count++;
    return engine.joinFrames(frames, maxUpdates);
  };
  const replica = { outbox, engineModule: { joinFrames }, closed: false };
  const counters = new CounterSet();
  const stop = new AbortController();
  const events: NetworkEvent[] = [];
  const reports: Harness['reports'] = [];
  const changes = { count: 0 };
  const sender = new OutboxSender(session as unknown as SyncSession, {
    replica: replica as unknown as OutboxSenderOptions['replica'],
    counters,
    stop: stop.signal,
    emit: (event) => events.push(event),
    changed: () => changes.count++,
    ...(options.levelOf === undefined ? {} : { levelOf: options.levelOf }),
    ...(options.replicated === false ? {} : { replicated: (ids: readonly number[], report: ReplicationReport) => void reports.push({ ids: [...ids], report }) }),
  });
  return { sender, session, outbox, replica, joins, counters, stop, events, reports, changes };
}

/** Lets the current macrotask end (the sender's joined PUT leaves then) and every promise settle. */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** An ACK of `count` updates, each applied unless `rejected` names its index's code. */
export function ack(count: number, rejected: Record<number, string> = {}): Extract<Reply, { type: 'ack' }> {
  return {
    type: 'ack',
    id: 1,
    outcomes: Array.from({ length: count }, (_, i) => (rejected[i] === undefined ? { outcome: 'applied' as const } : { outcome: 'rejected' as const, code: rejected[i] })),
  };
}

/** Waits (a macrotask at a time, at most `max`) until `check` holds; fails saying `what` otherwise. */
export async function until(what: string, check: () => boolean, max = 200): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (check()) return;
    await nextMacrotask();
  }
  throw new Error(`${what}: not after ${max} macrotasks`);
}

/** Resolves `promise` or fails within `ms` (a drain that should have ended, rather than the test's own timeout). */
export async function within<T>(what: string, promise: Promise<T>, ms = 2_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
