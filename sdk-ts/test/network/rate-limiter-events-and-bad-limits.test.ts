/**
 * The per-peer rate limits (network/wire/rate-limiter.ts) beyond what wire.test.ts checks:
 *
 * - EVENTs (live updates on our own subscriptions) have a message budget of their own,
 *   ten times the message rate with a burst of twice that, and share the byte budget
 *   with every other message; a refused EVENT is charged to neither bucket, and EVENTs
 *   never spend the budget of requests (nor requests that of EVENTs);
 * - how long a message over the limit waits for room (what a held-back peer waits):
 *   the longer of its message and byte buckets, an oversized message until the bucket
 *   is full;
 * - what is refused as a limit, and how it is said: network.limits that is not an
 *   object, a TokenBucket with a rate or burst that is not a positive finite number, a
 *   maxMessageBytes that is not whole or too large.
 *
 * Why: a subscriber takes a writer's burst of EVENTs through admitEvent, which no test
 * drove; and the messages are what an operator reads when a setting is wrong (mutation
 * testing: scripts/mutation/README.md).
 */
import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/api/errors.js';
import { MAX_MESSAGE_BYTES_LIMIT, PeerRateLimiter, TokenBucket, resolveWireLimits } from '../../src/network/wire/rate-limiter.js';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 5_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('rate limits: EVENTs and bad settings', () => {
  it('EVENTs get ten times the message rate (burst twice that), apart from requests', () => {
    const c = clock();
    const limiter = new PeerRateLimiter({ maxMessageBytes: 1000, messagesPerSecond: 5, bytesPerSecond: 1e9 }, c.now);
    let events = 0;
    while (limiter.admitEvent(10) && events < 1000) events++;
    expect(events).toBe(100);
    // Requests still have their whole burst: EVENTs did not spend it…
    for (let i = 0; i < 10; i++) expect(limiter.admit(10), `request ${i}`).toBe(true);
    expect(limiter.admit(10)).toBe(false);
    // …and requests did not spend the EVENTs' refill: 50 a second.
    c.advance(100);
    for (let i = 0; i < 5; i++) expect(limiter.admitEvent(10), `event ${i}`).toBe(true);
    expect(limiter.admitEvent(10)).toBe(false);
  });

  it('EVENTs share the byte budget with requests, each way', () => {
    const c = clock();
    const limiter = new PeerRateLimiter({ maxMessageBytes: 1000, messagesPerSecond: 1000, bytesPerSecond: 100 }, c.now);
    expect(limiter.admitEvent(150)).toBe(true); // bytes: 50 left of the burst of 200
    expect(limiter.admitEvent(60)).toBe(false);
    expect(limiter.admit(50)).toBe(true); // bytes: none left
    expect(limiter.admit(1)).toBe(false);
    expect(limiter.admitEvent(1)).toBe(false);
    c.advance(1000); // +100 bytes
    expect(limiter.admitEvent(100)).toBe(true);
    expect(limiter.admit(1)).toBe(false); // the bytes went to that EVENT
  });

  it('a refused EVENT is charged to neither bucket', () => {
    const c = clock();
    const limiter = new PeerRateLimiter({ maxMessageBytes: 1000, messagesPerSecond: 0.1, bytesPerSecond: 100 }, c.now);
    expect(limiter.admit(150)).toBe(true); // bytes: 50 left
    expect(limiter.admitEvent(60)).toBe(false); // refused on bytes: no EVENT token spent
    expect(limiter.admitEvent(50)).toBe(true); // bytes: 0 left; EVENTs: 1 of 2 left
    expect(limiter.admitEvent(0)).toBe(true); // EVENTs: none left
    expect(limiter.admitEvent(0)).toBe(false); // refused on EVENTs: no bytes spent
    c.advance(1000); // +100 bytes; +1 EVENT
    expect(limiter.admitEvent(100)).toBe(true);
  });

  it('how long a message over the limit waits: until both its buckets have room, an oversized one until the bytes are full', () => {
    const c = clock();
    const limiter = new PeerRateLimiter({ maxMessageBytes: 1000, messagesPerSecond: 10, bytesPerSecond: 100 }, c.now);
    expect(limiter.msUntilAdmitted(10)).toBe(0);
    for (let i = 0; i < 20; i++) expect(limiter.admit(1)).toBe(true); // messages: none of 20 left; bytes: 180
    expect(limiter.msUntilAdmitted(1)).toBe(100); // one message token at 10 a second
    expect(limiter.msUntilAdmitted(1, true)).toBe(0); // EVENTs have their own
    expect(limiter.msUntilAdmitted(200)).toBe(200); // 20 more bytes at 100 a second
    expect(limiter.msUntilAdmitted(5000)).toBe(200); // over the burst: until the bucket is full
    c.advance(100);
    expect(limiter.msUntilAdmitted(1)).toBe(0);
    expect(limiter.admit(1)).toBe(true);
  });

  it('network.limits must be an object', () => {
    for (const limits of [null, 5, 'fast']) {
      expect(() => resolveWireLimits(limits as never)).toThrow(
        expect.objectContaining({ code: 'config/invalid', message: 'network.limits must be an object. Fix the option passed to RustDHT.open().' }),
      );
    }
  });

  it('a limit that is not a positive finite number is named with what was given', () => {
    const message = (options: object): string => {
      try {
        resolveWireLimits(options as never);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidValueError);
        expect((error as InvalidValueError).code).toBe('config/invalid');
        return (error as Error).message;
      }
      throw new Error('not refused');
    };
    expect(message({ messagesPerSecond: -2 })).toBe('network.limits.messagesPerSecond must be a positive finite number, got -2. Fix the option passed to RustDHT.open().');
    expect(message({ bytesPerSecond: '9' })).toBe('network.limits.bytesPerSecond must be a positive finite number, got string. Fix the option passed to RustDHT.open().');
    expect(message({ maxMessageBytes: 10.5 })).toBe(
      `network.limits.maxMessageBytes must be a whole number of bytes up to ${MAX_MESSAGE_BYTES_LIMIT}, got 10.5. Fix the option passed to RustDHT.open().`,
    );
    // The largest whole number of bytes is taken; one more is not.
    expect(resolveWireLimits({ maxMessageBytes: MAX_MESSAGE_BYTES_LIMIT }).maxMessageBytes).toBe(0xffff_ffff);
    expect(message({ maxMessageBytes: MAX_MESSAGE_BYTES_LIMIT + 1 })).toContain('up to 4294967295, got 4294967296.');
  });

  it('a TokenBucket needs a positive finite rate and burst', () => {
    for (const [rate, burst, name, got] of [
      [0, 1, 'ratePerSecond', '0'],
      [Number.NaN, 1, 'ratePerSecond', 'NaN'],
      [1, -1, 'burst', '-1'],
      [1, Number.POSITIVE_INFINITY, 'burst', 'Infinity'],
      [1, '2', 'burst', '2'],
    ] as const) {
      expect(() => new TokenBucket(rate as number, burst as number)).toThrow(
        expect.objectContaining({ code: 'config/invalid', message: `TokenBucket ${name} must be a positive finite number, got ${got}.` }),
      );
    }
    // The default clock is the process's: a fresh bucket is full.
    expect(new TokenBucket(1, 3).tokens).toBe(3);
  });
});
