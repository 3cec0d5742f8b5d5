/**
 * What a GET, SUBSCRIBE or UNSUBSCRIBE may name, checked as the session takes the
 * message and before any part of this peer sees it: nothing is loaded, read or
 * remembered for a request refused here. Without it, a GET or SUBSCRIBE of a 3 MiB soul
 * (the wire only bounds the whole message) reached the replica, which loaded and kept
 * it, and the publisher kept the soul in the peer's subscriptions.
 *
 * The soul and key limits are the engine's (core-rs/src/config.rs, `limits` of
 * `RustDHT.open`): a soul or key longer than the engine takes can never name anything
 * stored here, so asking for it is refused with the engine's own code.
 */
import { LimitError } from '../../api/errors.js';
import type { WireMessage } from './messages.js';

/** The engine's defaults (core-rs/src/config.rs), used when the database does not say. */
export const ENGINE_MAX_SOUL_BYTES = 1024;
export const ENGINE_MAX_KEY_BYTES = 1024;
/** Keys one GET may ask for (a whole node is 0 keys; a property read asks for a few). */
export const MAX_KEYS_PER_GET = 1000;
/** Souls one SUBSCRIBE or UNSUBSCRIBE may carry: as many as a peer may hold here at all. */
export const MAX_SOULS_PER_SUBSCRIBE = 10_000;

export interface RequestLimits {
  readonly maxSoulBytes: number;
  readonly maxKeyBytes: number;
  readonly maxKeysPerGet: number;
  readonly maxSoulsPerSubscribe: number;
}

export const DEFAULT_REQUEST_LIMITS: RequestLimits = Object.freeze({
  maxSoulBytes: ENGINE_MAX_SOUL_BYTES,
  maxKeyBytes: ENGINE_MAX_KEY_BYTES,
  maxKeysPerGet: MAX_KEYS_PER_GET,
  maxSoulsPerSubscribe: MAX_SOULS_PER_SUBSCRIBE,
});

/** The request limits for a database whose engine takes souls and keys of these sizes (absent: the engine's defaults). */
export function requestLimits(engine: { readonly maxSoulBytes?: number; readonly maxKeyBytes?: number } = {}): RequestLimits {
  return Object.freeze({
    ...DEFAULT_REQUEST_LIMITS,
    maxSoulBytes: engine.maxSoulBytes ?? ENGINE_MAX_SOUL_BYTES,
    maxKeyBytes: engine.maxKeyBytes ?? ENGINE_MAX_KEY_BYTES,
  });
}

/**
 * Why `message` must be refused (a LimitError with code limit/soul, limit/key,
 * limit/keys or limit/souls), or undefined when it is within the limits or not a
 * request that names souls.
 */
export function requestLimitProblem(message: WireMessage, limits: RequestLimits): LimitError | undefined {
  switch (message.type) {
    case 'get':
      if (message.keys.length > limits.maxKeysPerGet) {
        return new LimitError('limit/keys', `a GET of ${message.keys.length} keys; at most ${limits.maxKeysPerGet} per GET.`);
      }
      return soulProblem(message.soul, limits) ?? keysProblem(message.keys, limits);
    case 'get-part':
      return soulProblem(message.soul, limits) ?? keysProblem([message.after], limits);
    case 'subscribe':
    case 'unsubscribe':
      if (message.souls.length > limits.maxSoulsPerSubscribe) {
        return new LimitError('limit/souls', `a ${message.type.toUpperCase()} of ${message.souls.length} souls; at most ${limits.maxSoulsPerSubscribe}.`);
      }
      for (const soul of message.souls) {
        const problem = soulProblem(soul, limits);
        if (problem !== undefined) return problem;
      }
      return undefined;
    default:
      return undefined;
  }
}

const encoder = new TextEncoder();

/** The UTF-8 length, or a bound on the same side of `limit` when that is clear without encoding (a 3 MiB soul is not encoded again). */
function utf8Bytes(text: string, limit: number): number {
  // Each UTF-16 unit is 1 to 3 UTF-8 bytes.
  if (text.length * 3 <= limit) return text.length;
  if (text.length > limit) return text.length;
  return encoder.encode(text).length;
}

function soulProblem(soul: string, limits: RequestLimits): LimitError | undefined {
  const bytes = utf8Bytes(soul, limits.maxSoulBytes);
  if (bytes <= limits.maxSoulBytes) return undefined;
  return new LimitError('limit/soul', `a soul of more than ${limits.maxSoulBytes} bytes of UTF-8 (the engine's limit).`);
}

function keysProblem(keys: readonly string[], limits: RequestLimits): LimitError | undefined {
  for (const key of keys) {
    const bytes = utf8Bytes(key, limits.maxKeyBytes);
    if (bytes > limits.maxKeyBytes) return new LimitError('limit/key', `a key of more than ${limits.maxKeyBytes} bytes of UTF-8 (the engine's limit).`);
  }
  return undefined;
}
