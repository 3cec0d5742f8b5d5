/**
 * Per-peer rate limits of the sync protocol, and the resolved WireLimits they come from.
 *
 * A token bucket holds up to `burst` tokens and refills continuously at `ratePerSecond`;
 * a message is admitted when the bucket holds enough tokens for it. A peer is limited in
 * messages per second and in bytes per second, each with a burst of twice the rate, so a
 * peer may briefly catch up after a pause but cannot sustain more than the rate.
 */
import { InvalidValueError } from '../../api/errors.js';
import type { WireLimits } from '../types.js';

/** WireLimits with every default filled in. */
export type ResolvedWireLimits = { readonly [K in keyof WireLimits]-?: number };

export const DEFAULT_WIRE_LIMITS: ResolvedWireLimits = Object.freeze({
  maxMessageBytes: 4 * 1024 * 1024,
  messagesPerSecond: 2000,
  bytesPerSecond: 16 * 1024 * 1024,
});

/**
 * The largest maxMessageBytes accepted: 2^32 − 1, about the largest single buffer a JS
 * engine will allocate (the reader allocates a buffer of the announced length).
 */
export const MAX_MESSAGE_BYTES_LIMIT = 0xffff_ffff;

/** Fills in defaults and validates: InvalidValueError('config/invalid') for anything but positive finite numbers. */
export function resolveWireLimits(limits: WireLimits = {}): ResolvedWireLimits {
  if (typeof limits !== 'object' || limits === null) {
    throw new InvalidValueError('config/invalid', 'network.limits must be an object. Fix the option passed to RustDHT.open().');
  }
  const resolved = {
    maxMessageBytes: limits.maxMessageBytes ?? DEFAULT_WIRE_LIMITS.maxMessageBytes,
    messagesPerSecond: limits.messagesPerSecond ?? DEFAULT_WIRE_LIMITS.messagesPerSecond,
    bytesPerSecond: limits.bytesPerSecond ?? DEFAULT_WIRE_LIMITS.bytesPerSecond,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new InvalidValueError(
        'config/invalid',
        `network.limits.${name} must be a positive finite number, got ${typeof value === 'number' ? String(value) : typeof value}. Fix the option passed to RustDHT.open().`,
      );
    }
  }
  // A byte count is whole, and the reader allocates it in one buffer.
  if (!Number.isInteger(resolved.maxMessageBytes) || resolved.maxMessageBytes > MAX_MESSAGE_BYTES_LIMIT) {
    throw new InvalidValueError(
      'config/invalid',
      `network.limits.maxMessageBytes must be a whole number of bytes up to ${MAX_MESSAGE_BYTES_LIMIT}, got ${resolved.maxMessageBytes}. Fix the option passed to RustDHT.open().`,
    );
  }
  return Object.freeze(resolved);
}

export type Clock = () => number;

const defaultClock: Clock = () => performance.now();

export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly #now: Clock;
  #tokens: number;
  #last: number;

  /** Starts full. `now` returns milliseconds (performance.now by default; inject one in tests). */
  constructor(ratePerSecond: number, burst: number, now: Clock = defaultClock) {
    for (const [name, value] of [['ratePerSecond', ratePerSecond], ['burst', burst]] as const) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
        throw new InvalidValueError('config/invalid', `TokenBucket ${name} must be a positive finite number, got ${String(value)}.`);
      }
    }
    this.ratePerSecond = ratePerSecond;
    this.burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#last = now();
  }

  /** Tokens available now (negative while paying off an oversized take). */
  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  /**
   * Whether `amount` tokens may be taken now, without taking them. An amount above the
   * burst could never fit, so it is allowed when the bucket is full and leaves the bucket
   * in debt (negative) until the refill pays it back: large-but-legal messages are slowed,
   * never starved, and the sustained rate still holds.
   */
  canTake(amount: number): boolean {
    this.#refill();
    return this.#tokens >= Math.min(amount, this.burst);
  }

  /** Milliseconds until canTake(amount) holds (0 if it does now). */
  msUntil(amount: number): number {
    this.#refill();
    const missing = Math.min(amount, this.burst) - this.#tokens;
    return missing <= 0 ? 0 : (missing * 1000) / this.ratePerSecond;
  }

  /** Takes `amount` tokens if canTake(amount); a refusal takes nothing. */
  take(amount: number): boolean {
    if (!this.canTake(amount)) return false;
    this.#tokens -= amount;
    return true;
  }

  #refill(): void {
    const now = this.#now();
    // A clock that steps back (an injected one, or a suspended host) grants nothing.
    const elapsed = Math.max(0, now - this.#last);
    this.#last = Math.max(this.#last, now);
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.ratePerSecond) / 1000);
  }
}

const EVENT_RATE_FACTOR = 10;

/** One peer's budget: messages per second and bytes per second, each with a burst of twice its rate. */
export class PeerRateLimiter {
  readonly #messages: TokenBucket;
  readonly #events: TokenBucket;
  readonly #bytes: TokenBucket;

  constructor(limits: ResolvedWireLimits, now: Clock = defaultClock) {
    this.#messages = new TokenBucket(limits.messagesPerSecond, 2 * limits.messagesPerSecond, now);
    // Events answer our own subscriptions: as many as the peer's writers make, so they
    // get ten times the message rate (and the same byte budget as everything else).
    this.#events = new TokenBucket(EVENT_RATE_FACTOR * limits.messagesPerSecond, 2 * EVENT_RATE_FACTOR * limits.messagesPerSecond, now);
    this.#bytes = new TokenBucket(limits.bytesPerSecond, 2 * limits.bytesPerSecond, now);
  }

  /** Like admit, for a live update pushed to us on a subscription of ours. */
  admitEvent(messageBytes: number): boolean {
    if (!this.#events.canTake(1) || !this.#bytes.canTake(messageBytes)) return false;
    this.#events.take(1);
    this.#bytes.take(messageBytes);
    return true;
  }

  /** Milliseconds until admit(messageBytes) (or admitEvent, for `event`) would hold: how long a peer over its budget is held back. */
  msUntilAdmitted(messageBytes: number, event = false): number {
    return Math.max((event ? this.#events : this.#messages).msUntil(1), this.#bytes.msUntil(messageBytes));
  }

  /**
   * Whether a message of `messageBytes` is within budget; if so it is charged to both
   * buckets. A refused message is charged to neither, so refusals do not push a peer
   * further behind (the session disconnects a peer that keeps getting refused).
   */
  admit(messageBytes: number): boolean {
    if (!this.#messages.canTake(1) || !this.#bytes.canTake(messageBytes)) return false;
    this.#messages.take(1);
    this.#bytes.take(messageBytes);
    return true;
  }
}
