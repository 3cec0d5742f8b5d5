/**
 * Moving a whole soul between two servers, for the DHT's repair (handoff.ts: a soul to
 * its owners; anti-entropy.ts: what one owner holds and another lacks):
 *
 * - **push**: PUT of the node in parts (the engine cuts them within the receiver's
 *   message limit, `nodeFramePart`), each part sent once the caller's pacing allows;
 * - **pull**: GET_PART from "" then from each `next`, each part merged here through the
 *   engine as it comes.
 *
 * Either resolves once every part was taken, with what it cost on the wire (the frames,
 * and the messages around them) and how many updates changed the receiving graph.
 */
import { isFinalRefusal } from '../duties/write-refusals.js';
import { codeOf, messageOf } from '../refusal.js';
import type { NodePartLimits, ReceivedBatch, ReplicaForNetwork } from '../replica-port.js';
import { partLimits } from '../serving/node-parts.js';
import type { SyncSession } from '../sync-session.js';
import { encodeMessage, type WireMessage } from '../wire/messages.js';
import type { TokenBucket } from '../wire/rate-limiter.js';
import { varintLength } from '../wire/varint.js';

/** What moving a soul cost and did. */
export interface Transferred {
  /** Bytes of node frames carried (the updates themselves). */
  frameBytes: number;
  /** Bytes of the messages sent for it (PUTs, GET_PARTs) and received (ACKs, NODE_PARTs), frames and length prefixes included. */
  sentBytes: number;
  receivedBytes: number;
  /** Updates that changed the receiving graph (the ACKs' `applied`, or this engine's). */
  applied: number;
}

export interface PushHost {
  readonly replica: Pick<ReplicaForNetwork, 'nodeFramePart' | 'limits' | 'engineModule'>;
  /** Waits until `bytes` more may be sent (the caller's byte budget). */
  readonly take: (bytes: number) => Promise<void>;
  /** A part that was sent and taken (its frame's bytes). */
  readonly sent?: (bytes: number) => void;
  readonly refused: (peerId: string, code: string, message: string) => void;
}

/**
 * Sends the whole of `soul` to the peer of `session` (PUT per part); resolves once every
 * part was taken. A refusal "for now" (a full disk, a quota, a deferral) rejects: not
 * held yet, try later. A final refusal (a bad signature) will never change, so it counts
 * as taken: the receiver has what it takes.
 */
export async function pushSoul(host: PushHost, session: SyncSession, soul: string, timeoutMs: number): Promise<Transferred> {
  const limits: NodePartLimits = partLimits(session.remoteMaxMessageBytes, host.replica.limits?.maxKeyBytes);
  const done: Transferred = { frameBytes: 0, sentBytes: 0, receivedBytes: 0, applied: 0 };
  let after: string | undefined;
  do {
    const part = await host.replica.nodeFramePart(soul, after, limits);
    after = part.next;
    if (part.frame.length === 0) continue;
    await host.take(part.frame.length);
    try {
      const reply = await session.request({ type: 'put', frame: part.frame }, { timeoutMs });
      if (reply.type === 'ack') {
        if (reply.outcomes.some((outcome) => outcome.outcome === 'rejected' && !isFinalRefusal(outcome.code))) {
          throw new Error(`${session.peerId} did not take ${soul} yet`);
        }
        done.applied += reply.outcomes.filter((outcome) => outcome.outcome === 'applied').length;
      }
      done.sentBytes += wireBytes({ type: 'put', id: reply.id, frame: part.frame });
      done.receivedBytes += wireBytes(reply);
    } catch (error) {
      if (!session.closed) host.refused(session.peerId, codeOf(error), `sending ${soul} failed: ${messageOf(error)}`);
      throw error;
    }
    done.frameBytes += part.frame.length;
    host.sent?.(part.frame.length);
  } while (after !== undefined);
  return done;
}

/** What pushing several souls did: the souls the peer took, and per soul what it cost. */
export interface PushedSouls {
  /** Souls every part of which the peer took (in the order given). */
  readonly taken: string[];
  /** Per soul taken: its frame bytes, and the updates that changed the receiver. */
  readonly moved: Map<string, Transferred>;
}

/**
 * Sends the whole of each of `souls` to the peer of `session`. A soul that fits one part
 * travels with others in one PUT (the engine joins their frames, within the part limits),
 * so moving ten thousand small souls is a few dozen messages and merges on the receiver,
 * not ten thousand; a larger soul goes part by part (pushSoul). A batch the peer refuses
 * "for now", or that fails, leaves its souls out of `taken` (the caller tries them
 * again); the first failure is reported through `refused`; a closed session ends the push.
 */
export async function pushSouls(host: PushHost, session: SyncSession, souls: readonly string[], timeoutMs: number): Promise<PushedSouls> {
  const limits: NodePartLimits = partLimits(session.remoteMaxMessageBytes, host.replica.limits?.maxKeyBytes);
  const { joinFrames, frameUpdateCount } = host.replica.engineModule;
  const result: PushedSouls = { taken: [], moved: new Map() };
  let reported = false;
  const fail = (what: string, error: unknown): void => {
    if (!reported && !session.closed) host.refused(session.peerId, codeOf(error), `sending ${what} failed: ${messageOf(error)}`);
    reported = true;
  };
  let batch: Array<{ soul: string; frame: Uint8Array }> = [];
  let batchBytes = 0;
  const send = async (): Promise<void> => {
    const parts = batch;
    batch = [];
    batchBytes = 0;
    for (let start = 0; start < parts.length && !session.closed; ) {
      const [frame, joined] = joinFrames(
        parts.slice(start).map((part) => part.frame),
        limits.maxUpdates,
      ) as [Uint8Array, number];
      const group = parts.slice(start, start + joined);
      start += joined;
      await host.take(frame.length);
      let reply: WireMessage;
      try {
        reply = await session.request({ type: 'put', frame }, { timeoutMs });
      } catch (error) {
        fail(`${group.length} souls`, error);
        continue;
      }
      // One outcome per update, in frame order: each soul's run of them.
      const outcomes = reply.type === 'ack' ? reply.outcomes : [];
      const sentBytes = wireBytes({ type: 'put', id: reply.id, frame });
      const receivedBytes = wireBytes(reply);
      let at = 0;
      group.forEach(({ soul, frame: part }, i) => {
        const count = frameUpdateCount(part);
        const own = outcomes.slice(at, at + count);
        at += count;
        if (own.some((outcome) => outcome.outcome === 'rejected' && !isFinalRefusal(outcome.code))) {
          fail(soul, new Error(`${session.peerId} did not take ${soul} yet`));
          return;
        }
        result.taken.push(soul);
        result.moved.set(soul, {
          frameBytes: part.length,
          // The message's own bytes are the first soul's to carry.
          sentBytes: i === 0 ? sentBytes - frame.length + part.length : part.length,
          receivedBytes: i === 0 ? receivedBytes : 0,
          applied: own.filter((outcome) => outcome.outcome === 'applied').length,
        });
        host.sent?.(part.length);
      });
    }
  };
  // Souls are read READ_AHEAD at a time (each a store read on a busy server: one after
  // the other, a repair pusher moved ~1,100 souls a second), and a PUT is in flight while
  // the next is filled.
  const reads: Array<Promise<PartRead>> = [];
  let nextRead = 0;
  const readAhead = (): void => {
    while (reads.length < READ_AHEAD && nextRead < souls.length) {
      const soul = souls[nextRead++]!;
      reads.push(
        host.replica.nodeFramePart(soul, undefined, limits).then(
          (part) => ({ soul, part }),
          (error: unknown) => ({ soul, error }),
        ),
      );
    }
  };
  let sending: Promise<void> = Promise.resolve();
  const sendSoon = async (): Promise<void> => {
    await sending;
    sending = send();
  };
  readAhead();
  while (reads.length !== 0) {
    const read = await reads.shift()!;
    readAhead();
    if (session.closed) break;
    const { soul } = read;
    if (read.part === undefined) throw read.error;
    const part = read.part;
    if (part.next !== undefined) {
      // Larger than a part: on its own, part by part.
      try {
        result.moved.set(soul, await pushSoul(host, session, soul, timeoutMs));
        result.taken.push(soul);
      } catch {
        reported = true; // pushSoul reported it; the soul stays out of `taken`
      }
      continue;
    }
    if (part.frame.length === 0) {
      // Nothing here to send (released meanwhile): nothing the peer lacks from here.
      result.taken.push(soul);
      result.moved.set(soul, { frameBytes: 0, sentBytes: 0, receivedBytes: 0, applied: 0 });
      continue;
    }
    if (batchBytes + part.frame.length > limits.partBytes && batch.length !== 0) await sendSoon();
    batch.push({ soul, frame: part.frame });
    batchBytes += part.frame.length;
  }
  // (Reads still under way when the session closed settle unobserved: they never reject.)
  await sending;
  if (batch.length !== 0 && !session.closed) await send();
  return result;
}

/** Souls pushSouls reads ahead of the one it adds to a PUT. */
export const READ_AHEAD = 32;

type PartRead = { readonly soul: string; readonly part: Awaited<ReturnType<PushHost['replica']['nodeFramePart']>>; readonly error?: undefined } | { readonly soul: string; readonly part?: undefined; readonly error: unknown };

export interface PullHost {
  readonly replica: Pick<ReplicaForNetwork, 'receive'>;
  /** Waits until `bytes` more may be received (the caller's byte budget). */
  readonly take: (bytes: number) => Promise<void>;
}

/** Reads the whole of `soul` from the peer of `session` (GET_PART per part), merging each part here; resolves after the last. */
export async function pullSoul(host: PullHost, session: SyncSession, soul: string, timeoutMs: number): Promise<Transferred> {
  const done: Transferred = { frameBytes: 0, sentBytes: 0, receivedBytes: 0, applied: 0 };
  let after = '';
  do {
    const reply = await session.request({ type: 'get-part', soul, after }, { timeoutMs });
    if (reply.type !== 'node-part') break;
    done.sentBytes += wireBytes({ type: 'get-part', id: reply.id, soul, after });
    done.receivedBytes += wireBytes(reply);
    if (reply.frame.length !== 0) {
      await host.take(reply.frame.length);
      const received: ReceivedBatch = await host.replica.receive(reply.frame);
      done.applied += received.applied;
      done.frameBytes += reply.frame.length;
    }
    after = reply.next;
  } while (after !== '');
  return done;
}

/** Waits until `bucket` has `bytes` tokens (or is full, for more than its burst), then takes them. */
export async function paced(bucket: TokenBucket, bytes: number): Promise<void> {
  const size = Math.min(bytes, bucket.burst);
  while (!bucket.canTake(size)) {
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, ((size - bucket.tokens) / bucket.ratePerSecond) * 1000)));
  }
  bucket.take(size);
}

const NO_BYTES = new Uint8Array(0);

/** Bytes `message` takes on the wire: its encoding and its length prefix (frames counted, not copied again). */
export function wireBytes(message: WireMessage): number {
  let length: number;
  if ('frame' in message) length = encodeMessage({ ...message, frame: NO_BYTES } as WireMessage).length + message.frame.length;
  else if (message.type === 'digest-reply' && message.answer.kind === 'symbols') {
    const symbols = message.answer.symbols.length;
    length = encodeMessage({ ...message, answer: { kind: 'symbols', symbols: NO_BYTES } }).length - 1 + varintLength(symbols, 'length') + symbols;
  } else length = encodeMessage(message).length;
  return length + varintLength(length, 'length');
}
