/**
 * One rate limit per remote peer (network/peers/peer-rate-limits.ts): every session of a
 * peer gets the same limiter, remembered after they end, and at most
 * REMEMBERED_PEER_LIMITS are kept, the least recently used forgotten first. (That a new
 * session of a peer really finds its budget spent: hostile-peers.test.ts.)
 */
import { expect, it } from 'vitest';
import { PeerRateLimits, REMEMBERED_PEER_LIMITS } from '../../src/network/peers/peer-rate-limits.js';
import { resolveWireLimits } from '../../src/network/wire/rate-limiter.js';

it('the same limiter for a peer until it is the least recently used of more than REMEMBERED_PEER_LIMITS', () => {
  const limits = new PeerRateLimits(resolveWireLimits({}));
  const a = limits.of('a');
  const b = limits.of('b');
  expect(limits.of('a')).toBe(a);
  expect(limits.of('b')).not.toBe(a);
  // Fill up to the bound; 'a' was used after 'b', so 'b' goes first, then 'a'.
  limits.of('a');
  for (let i = 0; limits.size < REMEMBERED_PEER_LIMITS; i++) limits.of(`p${i}`);
  expect(limits.size).toBe(REMEMBERED_PEER_LIMITS);
  limits.of('newcomer');
  expect(limits.size).toBe(REMEMBERED_PEER_LIMITS);
  expect(limits.of('a')).toBe(a);
  expect(limits.of('b')).not.toBe(b);
});
