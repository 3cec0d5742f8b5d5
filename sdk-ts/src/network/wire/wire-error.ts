/**
 * The error for bytes that break the sync protocol (`/rustdht/sync/1.0.0`, see
 * messages.ts). Everything the wire layer rejects is a `WireError`, so a session can
 * contain a misbehaving peer with one `instanceof` check: whatever a peer sends, decoding
 * either yields a message or throws this, never a RangeError or TypeError.
 */
import { RustDHTError, type RustDHTErrorOptions } from '../../api/errors.js';

export type WireErrorCode =
  /** The message's version byte is not one this peer speaks. */
  | 'wire/version'
  /** The message type byte is not one this version defines. */
  | 'wire/unknown-type'
  /** Truncated, garbage, trailing bytes, a zero length, an out-of-range varint, a broken id rule. */
  | 'wire/malformed'
  /** A message longer than maxMessageBytes, or a list longer than maxSouls. */
  | 'wire/too-large'
  /** Over the peer's messages/s or bytes/s budget (rate-limiter.ts; raised by the session). */
  | 'wire/rate-limited'
  /** Too many requests in flight (raised by the session). */
  | 'wire/busy';

export class WireError extends RustDHTError {
  override readonly name: string = 'WireError';

  constructor(code: WireErrorCode, message: string, options: RustDHTErrorOptions = {}) {
    super(code, message, options);
  }
}
