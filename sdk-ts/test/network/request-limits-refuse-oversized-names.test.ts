/**
 * requestLimitProblem (network/wire/request-limits.ts) on its own: which GET, GET_PART,
 * SUBSCRIBE and UNSUBSCRIBE a session refuses before anything reads them, with which code,
 * at exactly which size (UTF-8 bytes, not UTF-16 units), and the limits a database's engine
 * settings give. hostile-peers.test.ts checks the same refusals end to end, far from the limits.
 */
import { describe, expect, it } from 'vitest';
import { LimitError } from '../../src/api/errors.js';
import type { WireMessage } from '../../src/network/wire/messages.js';
import {
  DEFAULT_REQUEST_LIMITS,
  ENGINE_MAX_KEY_BYTES,
  ENGINE_MAX_SOUL_BYTES,
  MAX_KEYS_PER_GET,
  MAX_SOULS_PER_SUBSCRIBE,
  requestLimitProblem,
  requestLimits,
  type RequestLimits,
} from '../../src/network/wire/request-limits.js';

/** The code of the refusal (undefined: let through), checking it is a LimitError. */
function refusal(message: WireMessage, limits: RequestLimits = DEFAULT_REQUEST_LIMITS): string | undefined {
  const problem = requestLimitProblem(message, limits);
  if (problem === undefined) return undefined;
  expect(problem).toBeInstanceOf(LimitError);
  return problem.code;
}

function messageOf(message: WireMessage, limits: RequestLimits = DEFAULT_REQUEST_LIMITS): string {
  return requestLimitProblem(message, limits)?.message ?? '';
}

const get = (soul: string, keys: string[] = []): WireMessage => ({ type: 'get', id: 1, soul, keys });
const getPart = (soul: string, after = ''): WireMessage => ({ type: 'get-part', id: 1, soul, after });
const subscribe = (souls: string[]): WireMessage => ({ type: 'subscribe', id: 1, souls });
const unsubscribe = (souls: string[]): WireMessage => ({ type: 'unsubscribe', id: 1, souls });

describe('request limits', () => {
  it('default to the engine limits: 1,024-byte souls and keys, 1,000 keys per GET, 10,000 souls per SUBSCRIBE', () => {
    expect([ENGINE_MAX_SOUL_BYTES, ENGINE_MAX_KEY_BYTES, MAX_KEYS_PER_GET, MAX_SOULS_PER_SUBSCRIBE]).toEqual([1024, 1024, 1000, 10_000]);
    expect(DEFAULT_REQUEST_LIMITS).toEqual({ maxSoulBytes: 1024, maxKeyBytes: 1024, maxKeysPerGet: 1000, maxSoulsPerSubscribe: 10_000 });
    expect(Object.isFrozen(DEFAULT_REQUEST_LIMITS)).toBe(true);
    expect(requestLimits()).toEqual(DEFAULT_REQUEST_LIMITS);
    expect(requestLimits({})).toEqual(DEFAULT_REQUEST_LIMITS);
  });

  it("take the soul and key sizes of the database's engine, keeping the per-message counts", () => {
    const limits = requestLimits({ maxSoulBytes: 10, maxKeyBytes: 20 });
    expect(limits).toEqual({ maxSoulBytes: 10, maxKeyBytes: 20, maxKeysPerGet: 1000, maxSoulsPerSubscribe: 10_000 });
    expect(Object.isFrozen(limits)).toBe(true);
    expect(requestLimits({ maxSoulBytes: 10 })).toMatchObject({ maxSoulBytes: 10, maxKeyBytes: 1024 });
    expect(requestLimits({ maxKeyBytes: 20 })).toMatchObject({ maxSoulBytes: 1024, maxKeyBytes: 20 });
    expect(refusal(get('s'.repeat(11)), limits)).toBe('limit/soul');
    expect(refusal(get('s'.repeat(10), ['k'.repeat(21)]), limits)).toBe('limit/key');
  });

  it('refuse a soul of one byte more than the limit, counted in UTF-8', () => {
    for (const request of [get, getPart, (soul: string) => subscribe([soul]), (soul: string) => unsubscribe([soul])]) {
      expect(refusal(request('s'.repeat(1024)))).toBeUndefined();
      expect(refusal(request('s'.repeat(1025)))).toBe('limit/soul');
      // Two bytes per character: 512 fit, 513 do not (513 UTF-16 units are under the limit).
      expect(refusal(request('é'.repeat(512)))).toBeUndefined();
      expect(refusal(request('é'.repeat(513)))).toBe('limit/soul');
      // Three bytes per character: 341 is 1,023 bytes, 342 is 1,026.
      expect(refusal(request('日'.repeat(341)))).toBeUndefined();
      expect(refusal(request('日'.repeat(342)))).toBe('limit/soul');
      // As many characters as the limit, each of three bytes.
      expect(refusal(request('日'.repeat(1024)))).toBe('limit/soul');
      // Four bytes per pair of UTF-16 units: 256 emoji are 1,024 bytes in 512 units.
      expect(refusal(request('😀'.repeat(256)))).toBeUndefined();
      expect(refusal(request(`${'😀'.repeat(256)}s`))).toBe('limit/soul');
    }
    expect(messageOf(get('s'.repeat(1025)))).toBe("a soul of more than 1024 bytes of UTF-8 (the engine's limit).");
  });

  it('with a limit that is a multiple of three, a soul of exactly limit / 3 three-byte characters fits', () => {
    const limits = requestLimits({ maxSoulBytes: 30, maxKeyBytes: 30 });
    expect(refusal(get('日'.repeat(10)), limits)).toBeUndefined();
    expect(refusal(get('日'.repeat(10) + 's'), limits)).toBe('limit/soul');
    expect(refusal(get('s', ['日'.repeat(10)]), limits)).toBeUndefined();
    expect(refusal(get('s', ['日'.repeat(10) + 's']), limits)).toBe('limit/key');
  });

  it('refuse a key of one byte more than the limit, in a GET and as the start of a GET_PART', () => {
    expect(refusal(get('doc', ['a', 'k'.repeat(1024)]))).toBeUndefined();
    expect(refusal(get('doc', ['a', 'k'.repeat(1025)]))).toBe('limit/key');
    expect(refusal(get('doc', ['é'.repeat(512), 'b']))).toBeUndefined();
    expect(refusal(get('doc', ['b', 'é'.repeat(513)]))).toBe('limit/key');
    expect(refusal(get('doc', ['日'.repeat(1024)]))).toBe('limit/key');
    expect(refusal(getPart('doc', 'k'.repeat(1024)))).toBeUndefined();
    expect(refusal(getPart('doc', 'k'.repeat(1025)))).toBe('limit/key');
    expect(refusal(getPart('doc', '日'.repeat(342)))).toBe('limit/key');
    expect(messageOf(getPart('doc', 'k'.repeat(1025)))).toBe("a key of more than 1024 bytes of UTF-8 (the engine's limit).");
    // The soul is checked first.
    expect(refusal(get('s'.repeat(1025), ['k'.repeat(1025)]))).toBe('limit/soul');
    expect(refusal(getPart('s'.repeat(1025), 'k'.repeat(1025)))).toBe('limit/soul');
  });

  it('refuse more than 1,000 keys in one GET, whatever their size, before looking at them', () => {
    const keys = (n: number, key = 'k'): string[] => Array.from({ length: n }, () => key);
    expect(refusal(get('doc', keys(1000)))).toBeUndefined();
    expect(refusal(get('doc', keys(1001)))).toBe('limit/keys');
    expect(refusal(get('s'.repeat(2000), keys(1001, 'k'.repeat(2000))))).toBe('limit/keys');
    expect(messageOf(get('doc', keys(1001)))).toBe('a GET of 1001 keys; at most 1000 per GET.');
  });

  it('refuse more than 10,000 souls in one SUBSCRIBE or UNSUBSCRIBE, and any soul over the limit among them', () => {
    const souls = (n: number): string[] => Array.from({ length: n }, (_, i) => `s${i}`);
    expect(refusal(subscribe(souls(10_000)))).toBeUndefined();
    expect(refusal(subscribe(souls(10_001)))).toBe('limit/souls');
    expect(refusal(unsubscribe(souls(10_000)))).toBeUndefined();
    expect(refusal(unsubscribe(souls(10_001)))).toBe('limit/souls');
    expect(messageOf(subscribe(souls(10_001)))).toBe('a SUBSCRIBE of 10001 souls; at most 10000.');
    expect(messageOf(unsubscribe(souls(10_001)))).toBe('a UNSUBSCRIBE of 10001 souls; at most 10000.');
    expect(refusal(subscribe(['a', 'b', 's'.repeat(1025), 'c']))).toBe('limit/soul');
    expect(refusal(unsubscribe(['a', 's'.repeat(1025)]))).toBe('limit/soul');
    expect(refusal(subscribe([]))).toBeUndefined();
  });

  it('let every other message through, whatever it carries', () => {
    const big = 's'.repeat(5000);
    const others: WireMessage[] = [
      { type: 'error', id: 1, code: big, message: big },
      { type: 'node-part', id: 1, next: big, skipped: [big], frame: new Uint8Array(0) },
      { type: 'put', id: 1, frame: new Uint8Array(10) },
      { type: 'ok', id: 1 },
    ];
    for (const message of others) expect(refusal(message, requestLimits({ maxSoulBytes: 1, maxKeyBytes: 1 }))).toBeUndefined();
  });
});
