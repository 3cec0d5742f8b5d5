import { describe, expect, it } from 'vitest';
import { InvalidValueError, RustDHTError } from '../../src/api/errors.js';
import { MessageReader, lengthPrefixed } from '../../src/network/wire/framing.js';
import { DEFAULT_MAX_SOULS, MESSAGE_TYPE_CODES, decodeMessage, encodeMessage, type WireMessage } from '../../src/network/wire/messages.js';
import { DEFAULT_WIRE_LIMITS, PeerRateLimiter, TokenBucket, resolveWireLimits } from '../../src/network/wire/rate-limiter.js';
import { encodeVarint, readVarint, varintLength } from '../../src/network/wire/varint.js';
import { WireError } from '../../src/network/wire/wire-error.js';

const MAX_ID = Number.MAX_SAFE_INTEGER;
const WIRE_CODES = ['wire/version', 'wire/unknown-type', 'wire/malformed', 'wire/too-large'];

/** Seeded PRNG (mulberry32) so a failing fuzz case can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bytesOf(length: number, seed = 1): Uint8Array {
  const random = prng(seed);
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Decoded messages hold frames as subarrays; compare frames as hex (fast even for megabytes). */
function plain(message: WireMessage): unknown {
  return 'frame' in message ? { ...message, frame: `hex:${Buffer.from(message.frame).toString('hex')}` } : message;
}

function wireErrorOf(run: () => unknown): WireError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(WireError);
    return error as WireError;
  }
  throw new Error('expected a WireError, nothing was thrown');
}

const LONG = 'x'.repeat(70_000);
const UNICODE = '\uFEFFgraph/ünïcödé/日本語/😀/\u0000/\uFFFF';

/** At least one of every type, with edge values. */
const SAMPLES: readonly WireMessage[] = [
  { type: 'hello', id: 0, role: 'client', maxMessageBytes: 4 * 1024 * 1024 },
  { type: 'hello', id: 0, role: 'server', maxMessageBytes: MAX_ID },
  { type: 'get', id: 1, soul: 'users/alice', keys: [] },
  { type: 'get', id: MAX_ID, soul: '', keys: ['', 'name', UNICODE, LONG] },
  { type: 'get', id: 128, soul: UNICODE, keys: ['a'] },
  { type: 'node', id: 2, frame: new Uint8Array(0) },
  { type: 'node', id: 2 ** 32 + 7, frame: bytesOf(1024 * 1024, 2) },
  { type: 'put', id: 3, frame: bytesOf(300, 3) },
  { type: 'put', id: MAX_ID, frame: new Uint8Array(0) },
  { type: 'ack', id: 4, outcomes: [] },
  {
    type: 'ack',
    id: 4,
    outcomes: [
      { outcome: 'applied' },
      { outcome: 'ignored' },
      { outcome: 'historical' },
      { outcome: 'deferred' },
      { outcome: 'rejected', code: 'signature/invalid' },
      { outcome: 'rejected', code: '' },
      { outcome: 'rejected', code: UNICODE },
    ],
  },
  { type: 'subscribe', id: 5, souls: [] },
  { type: 'subscribe', id: 5, souls: ['a', '', UNICODE, LONG] },
  { type: 'unsubscribe', id: MAX_ID, souls: ['a', 'b'] },
  { type: 'event', id: 0, frame: bytesOf(5000, 4) },
  { type: 'event', id: 0, frame: new Uint8Array(0) },
  { type: 'error', id: 0, code: 'wire/malformed', message: '' },
  { type: 'error', id: 6, code: '', message: UNICODE },
  { type: 'error', id: MAX_ID, code: 'limit/value', message: LONG },
  { type: 'ok', id: 7 },
  { type: 'ok', id: MAX_ID },
  { type: 'feed', id: 8, since: 0 },
  { type: 'feed', id: 8, since: MAX_ID },
  { type: 'feed-entry', id: 9, seq: MAX_ID, frame: bytesOf(10, 5) },
  { type: 'feed-entry', id: 9, seq: 0, frame: new Uint8Array(0) },
  { type: 'get-part', id: 10, soul: 'users/alice', after: '' },
  { type: 'get-part', id: MAX_ID, soul: UNICODE, after: LONG },
  { type: 'node-part', id: 11, next: '', skipped: [], frame: new Uint8Array(0) },
  { type: 'node-part', id: 11, next: UNICODE, skipped: ['big', LONG], frame: bytesOf(2000, 6) },
  { type: 'members-sync', id: 12, known: [] },
  { type: 'members-sync', id: MAX_ID, known: [{ peerId: '12D3KooWDPJFDEAtLBgrABdvV9HCyBjqVzK6ehsSvxTJsN9GADda', issuedAt: 1_765_000_000_000 }, { peerId: UNICODE, issuedAt: 0 }] },
  { type: 'members', id: 0, records: [bytesOf(180, 7)] },
  { type: 'members', id: 13, records: [] },
  { type: 'members', id: MAX_ID, records: [new Uint8Array(0), bytesOf(8192, 8)] },
  { type: 'feed-ack', id: 0, feed: 1, seq: 0 },
  { type: 'feed-ack', id: 0, feed: MAX_ID, seq: MAX_ID },
  { type: 'put-at', id: 14, level: 'one', frame: bytesOf(300, 9) },
  { type: 'put-at', id: MAX_ID, level: 'quorum', frame: new Uint8Array(0) },
  { type: 'put-at', id: 14, level: 'all', frame: bytesOf(20, 10) },
  { type: 'ack-at', id: 15, reached: 2, owners: 3, outcomes: [{ outcome: 'applied' }, { outcome: 'rejected', code: 'limit/deferred' }] },
  { type: 'ack-at', id: MAX_ID, reached: 0, owners: 0, outcomes: [] },
  { type: 'digest', id: 18, view: bytesOf(8, 11), ask: { kind: 'symbols', bits: 0, prefix: 0, salt: bytesOf(8, 12), start: 0, count: 16 } },
  { type: 'digest', id: MAX_ID, view: bytesOf(8, 13), ask: { kind: 'symbols', bits: 24, prefix: 2 ** 24 - 1, salt: bytesOf(8, 14), start: 262_144 - 8192, count: 8192 } },
  { type: 'digest', id: 19, view: bytesOf(8, 15), ask: { kind: 'souls', digests: bytesOf(36, 16) } },
  { type: 'digest', id: 19, view: new Uint8Array(8), ask: { kind: 'souls', digests: new Uint8Array(0) } },
  { type: 'digest', id: 19, view: bytesOf(8, 18), ask: { kind: 'held', souls: ['a', UNICODE, ''], digests: bytesOf(36, 19) } },
  { type: 'digest', id: 19, view: new Uint8Array(8), ask: { kind: 'held', souls: [], digests: new Uint8Array(0) } },
  { type: 'digest-reply', id: 20, answer: { kind: 'symbols', symbols: bytesOf(290, 17) } },
  { type: 'digest-reply', id: 20, answer: { kind: 'symbols', symbols: new Uint8Array(0) } },
  { type: 'digest-reply', id: MAX_ID, answer: { kind: 'souls', souls: ['a', UNICODE, ''] } },
  { type: 'digest-reply', id: 21, answer: { kind: 'not-now', reason: 'views-differ' } },
  { type: 'digest-reply', id: 21, answer: { kind: 'not-now', reason: 'busy' } },
  { type: 'digest-reply', id: 21, answer: { kind: 'not-now', reason: 'not-member' } },
  { type: 'get', id: 16, soul: 'users/alice', keys: ['name'], level: 'one' },
  { type: 'get', id: MAX_ID, soul: UNICODE, keys: [], level: 'all' },
  { type: 'get-part', id: 17, soul: 'users/alice', after: '', level: 'quorum' },
];

/** Small samples, for the exhaustive (quadratic) tests. */
const SMALL = SAMPLES.filter((m) => encodeMessage(m).length < 400);

const FRAME_TYPES = new Set(['node', 'put', 'event', 'feed-entry', 'node-part', 'put-at']);
function frameOf(message: WireMessage): Uint8Array | undefined {
  return 'frame' in message ? message.frame : undefined;
}

describe('varint', () => {
  it('round-trips boundary values with minimal lengths', () => {
    const cases: [number, number][] = [
      [0, 1], [127, 1], [128, 2], [16383, 2], [16384, 3], [2 ** 21 - 1, 3], [2 ** 21, 4],
      [2 ** 32, 5], [2 ** 49 - 1, 7], [2 ** 49, 8], [MAX_ID, 8],
    ];
    for (const [value, length] of cases) {
      const bytes = encodeVarint(value);
      expect(bytes.length, String(value)).toBe(length);
      expect(varintLength(value)).toBe(length);
      expect(readVarint(bytes, 0)).toEqual({ value, next: length });
    }
    expect(Array.from(encodeVarint(300))).toEqual([0xac, 0x02]);
  });

  it('reports truncation, accepts non-minimal forms, refuses > 8 bytes and > 2^53 - 1', () => {
    expect(readVarint(new Uint8Array([0x80, 0x80]), 0)).toBeUndefined();
    expect(readVarint(new Uint8Array([]), 0)).toBeUndefined();
    expect(readVarint(new Uint8Array([0x80, 0x80, 0x00]), 0)).toEqual({ value: 0, next: 3 });
    // 2^53 exactly: seven 0x80 bytes then 0x10.
    const twoTo53 = new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    expect(wireErrorOf(() => readVarint(twoTo53, 0)).code).toBe('wire/malformed');
    const nine = new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
    expect(wireErrorOf(() => readVarint(nine, 0)).code).toBe('wire/malformed');
    for (const bad of [-1, 0.5, MAX_ID + 1, NaN, Infinity]) {
      expect(wireErrorOf(() => encodeVarint(bad)).code).toBe('wire/malformed');
    }
  });
});

describe('messages', () => {
  it('round-trips every sample, byte for byte', () => {
    const seen = new Set<string>();
    for (const message of SAMPLES) {
      seen.add(message.type);
      const bytes = encodeMessage(message);
      const decoded = decodeMessage(bytes);
      expect(plain(decoded)).toEqual(plain(message));
      expect(Buffer.compare(encodeMessage(decoded), bytes), message.type).toBe(0);
    }
    expect([...seen].sort()).toEqual(Object.keys(MESSAGE_TYPE_CODES).sort());
  });

  it('pins the byte layout', () => {
    const hex = (message: WireMessage): string => Buffer.from(encodeMessage(message)).toString('hex');
    expect(hex({ type: 'hello', id: 0, role: 'server', maxMessageBytes: 300 })).toBe('01010001ac02');
    expect(hex({ type: 'get', id: 300, soul: 'a', keys: ['b', 'é'] })).toBe('0102ac02016102016202c3a9');
    expect(hex({ type: 'node', id: 1, frame: new Uint8Array([9, 8]) })).toBe('0103010908');
    expect(hex({ type: 'put', id: 1, frame: new Uint8Array([7]) })).toBe('01040107');
    expect(hex({ type: 'ack', id: 2, outcomes: [{ outcome: 'applied' }, { outcome: 'deferred' }, { outcome: 'rejected', code: 'x' }] })).toBe(
      '01050203000304' + '0178',
    );
    expect(hex({ type: 'subscribe', id: 3, souls: ['s'] })).toBe('0106030101' + '73');
    expect(hex({ type: 'unsubscribe', id: 3, souls: [] })).toBe('01070300');
    expect(hex({ type: 'event', id: 0, frame: new Uint8Array([1]) })).toBe('01080001');
    expect(hex({ type: 'error', id: 0, code: 'c', message: 'm' })).toBe('010900016301' + '6d');
    expect(hex({ type: 'ok', id: 127 })).toBe('010a7f');
    expect(hex({ type: 'feed', id: 1, since: 128 })).toBe('010b018001');
    expect(hex({ type: 'feed-entry', id: 1, seq: 5, frame: new Uint8Array([0xff]) })).toBe('010c0105ff');
  });

  it('DIGEST / DIGEST_REPLY: byte layout, and every limit refused before any work', () => {
    const hex = (message: WireMessage): string => Buffer.from(encodeMessage(message)).toString('hex');
    const view = new Uint8Array(8).fill(0xaa);
    const salt = new Uint8Array(8).fill(0x55);
    expect(hex({ type: 'digest', id: 1, view, ask: { kind: 'symbols', bits: 2, prefix: 3, salt, start: 16, count: 200 } })).toBe(
      '011201' + '00' + 'aa'.repeat(8) + '02' + '03' + '55'.repeat(8) + '10' + 'c801',
    );
    expect(hex({ type: 'digest', id: 1, view, ask: { kind: 'souls', digests: new Uint8Array(12).fill(7) } })).toBe('011201' + '01' + 'aa'.repeat(8) + '01' + '07'.repeat(12));
    expect(hex({ type: 'digest', id: 1, view, ask: { kind: 'held', souls: ['s'], digests: new Uint8Array(12).fill(7) } })).toBe('011201' + '02' + 'aa'.repeat(8) + '01' + '0173' + '07'.repeat(12));
    expect(hex({ type: 'digest-reply', id: 1, answer: { kind: 'symbols', symbols: new Uint8Array([9]) } })).toBe('0113010001' + '09');
    expect(hex({ type: 'digest-reply', id: 1, answer: { kind: 'souls', souls: ['s'] } })).toBe('011301010101' + '73');
    expect(hex({ type: 'digest-reply', id: 1, answer: { kind: 'not-now', reason: 'busy' } })).toBe('0113010202');

    const symbolsAsk = (bits: number, prefix: number, start: number, count: number): Uint8Array =>
      concat([new Uint8Array([1, 0x12, 1, 0]), view, new Uint8Array([bits]), encodeVarint(prefix), salt, encodeVarint(start), encodeVarint(count)]);
    expect(decodeMessage(symbolsAsk(0, 0, 0, 8192))).toMatchObject({ type: 'digest', ask: { kind: 'symbols', count: 8192 } });
    expect(wireErrorOf(() => decodeMessage(symbolsAsk(0, 0, 0, 8193))).code).toBe('wire/too-large');
    expect(wireErrorOf(() => decodeMessage(symbolsAsk(0, 0, 262_144 - 10, 11))).code).toBe('wire/too-large');
    expect(wireErrorOf(() => decodeMessage(symbolsAsk(0, 0, MAX_ID, 1))).code).toBe('wire/too-large');
    expect(wireErrorOf(() => decodeMessage(symbolsAsk(25, 0, 0, 1))).code).toBe('wire/malformed');
    expect(wireErrorOf(() => decodeMessage(symbolsAsk(3, 8, 0, 1))).code).toBe('wire/malformed');
    expect(wireErrorOf(() => decodeMessage(symbolsAsk(0, 1, 0, 1))).code).toBe('wire/malformed');
    // An unknown kind; a members digest or salt cut short.
    expect(wireErrorOf(() => decodeMessage(concat([new Uint8Array([1, 0x12, 1, 3]), view]))).code).toBe('wire/malformed');
    // Held asks: over the cap; digests cut short or too long for the souls named.
    const heldAsk = (count: number, digestBytes: number): Uint8Array =>
      concat([new Uint8Array([1, 0x12, 1, 2]), view, encodeVarint(count), new Uint8Array(count).fill(0), new Uint8Array(digestBytes)]);
    expect(decodeMessage(heldAsk(4096, 4096 * 12))).toMatchObject({ ask: { kind: 'held' } });
    expect(wireErrorOf(() => decodeMessage(heldAsk(4097, 4097 * 12))).code).toBe('wire/too-large');
    expect(wireErrorOf(() => decodeMessage(heldAsk(2, 23))).code).toBe('wire/malformed');
    expect(wireErrorOf(() => decodeMessage(heldAsk(2, 25))).code).toBe('wire/malformed');
    expect(wireErrorOf(() => decodeMessage(new Uint8Array([1, 0x12, 1, 1, 0, 0, 0]))).code).toBe('wire/malformed');
    // Soul digests: a count the bytes cannot hold (checked before allocating), over the cap, not whole.
    const soulsAsk = (count: number, bytes: number): Uint8Array => concat([new Uint8Array([1, 0x12, 1, 1]), view, encodeVarint(count), new Uint8Array(bytes)]);
    for (const count of [2, 2 ** 32, MAX_ID]) {
      const started = performance.now();
      expect(wireErrorOf(() => decodeMessage(soulsAsk(count, 12))).code).toBe('wire/malformed');
      expect(performance.now() - started).toBeLessThan(50);
    }
    expect(wireErrorOf(() => decodeMessage(soulsAsk(4097, 4097 * 12))).code).toBe('wire/too-large');
    expect(decodeMessage(soulsAsk(4096, 4096 * 12))).toMatchObject({ ask: { kind: 'souls' } });
    expect(wireErrorOf(() => decodeMessage(soulsAsk(1, 13))).code).toBe('wire/malformed');
    // Replies: unknown kind or reason, symbols over their cap, too many souls.
    for (const bytes of [[1, 0x13, 1, 3], [1, 0x13, 1, 2, 0], [1, 0x13, 1, 2, 4], [1, 0x13, 1, 2]]) {
      expect(wireErrorOf(() => decodeMessage(new Uint8Array(bytes))).code, String(bytes)).toBe('wire/malformed');
    }
    expect(wireErrorOf(() => decodeMessage(concat([new Uint8Array([1, 0x13, 1, 0]), encodeVarint(8192 * 24 + 1), new Uint8Array(8192 * 24 + 1)]))).code).toBe('wire/too-large');
    const souls = (n: number): string[] => Array.from({ length: n }, () => 's');
    expect(wireErrorOf(() => decodeMessage(encodeMessage({ type: 'digest-reply', id: 1, answer: { kind: 'souls', souls: souls(4097) } }))).code).toBe('wire/too-large');
    // What the wire could not carry is refused at encoding.
    const bad: unknown[] = [
      { type: 'digest', id: 1, view: new Uint8Array(7), ask: { kind: 'souls', digests: new Uint8Array(0) } },
      { type: 'digest', id: 1, view, ask: { kind: 'symbols', bits: 0, prefix: 0, salt: new Uint8Array(9), start: 0, count: 1 } },
      { type: 'digest', id: 1, view, ask: { kind: 'symbols', bits: 25, prefix: 0, salt, start: 0, count: 1 } },
      { type: 'digest', id: 1, view, ask: { kind: 'symbols', bits: 1, prefix: 2, salt, start: 0, count: 1 } },
      { type: 'digest', id: 1, view, ask: { kind: 'symbols', bits: 0, prefix: 0, salt, start: 0, count: 8193 } },
      { type: 'digest', id: 1, view, ask: { kind: 'symbols', bits: 0, prefix: 0, salt, start: 262_144, count: 1 } },
      { type: 'digest', id: 1, view, ask: { kind: 'souls', digests: new Uint8Array(13) } },
      { type: 'digest', id: 1, view, ask: { kind: 'held', souls: ['a', 'b'], digests: new Uint8Array(12) } },
      { type: 'digest', id: 1, view, ask: { kind: 'all' } },
      { type: 'digest', id: 0, view, ask: { kind: 'souls', digests: new Uint8Array(0) } },
      { type: 'digest-reply', id: 1, answer: { kind: 'maybe' } },
      { type: 'digest-reply', id: 1, answer: { kind: 'not-now', reason: 'tired' } },
      { type: 'digest-reply', id: 1, answer: { kind: 'souls', souls: ['\uD800'] } },
    ];
    for (const message of bad) {
      expect(wireErrorOf(() => encodeMessage(message as WireMessage)).code, String((message as { ask?: unknown }).ask ?? (message as { answer?: unknown }).answer)).toBe('wire/malformed');
    }
  });

  it('decodes frames as zero-copy views of the input', () => {
    const bytes = encodeMessage({ type: 'put', id: 1, frame: new Uint8Array([1, 2, 3]) });
    const decoded = decodeMessage(bytes);
    expect(decoded.type === 'put' && decoded.frame.buffer).toBe(bytes.buffer);
  });

  it('keeps a leading BOM and refuses invalid UTF-8', () => {
    const soul = '\uFEFF\uFEFFx';
    const decoded = decodeMessage(encodeMessage({ type: 'subscribe', id: 1, souls: [soul] }));
    expect(decoded.type === 'subscribe' && decoded.souls[0]).toBe(soul);
    // Overlong '/', lone surrogate, truncated 3-byte sequence, stray continuation byte.
    for (const bad of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe6, 0x97], [0x80]]) {
      const bytes = new Uint8Array([1, 0x06, 1, 1, bad.length, ...bad]);
      expect(wireErrorOf(() => decodeMessage(bytes)).code, String(bad)).toBe('wire/malformed');
    }
  });

  it('refuses to encode what it cannot carry faithfully', () => {
    const bad: unknown[] = [
      { type: 'subscribe', id: 1, souls: ['\uD800'] },
      { type: 'get', id: 1, soul: 'a\uDC00b', keys: [] },
      { type: 'get', id: -1, soul: 'a', keys: [] },
      { type: 'get', id: 0, soul: 'a', keys: [] },
      { type: 'ok', id: 1.5 },
      { type: 'ok', id: MAX_ID + 1 },
      { type: 'event', id: 3, frame: new Uint8Array(0) },
      { type: 'hello', id: 0, role: 'peer', maxMessageBytes: 1 },
      { type: 'feed', id: 1, since: -1 },
      { type: 'ack', id: 1, outcomes: [{ outcome: 'lost' }] },
      { type: 'frobnicate', id: 1 },
    ];
    for (const message of bad) {
      expect(wireErrorOf(() => encodeMessage(message as WireMessage)).code, JSON.stringify(message)).toBe('wire/malformed');
    }
    // Human-readable error text is lenient: a lone surrogate becomes U+FFFD.
    const decoded = decodeMessage(encodeMessage({ type: 'error', id: 1, code: 'c', message: 'a\uD800' }));
    expect(decoded.type === 'error' && decoded.message).toBe('a\uFFFD');
  });

  it('names a wrong version, an unknown type, and id-rule violations', () => {
    expect(wireErrorOf(() => decodeMessage(new Uint8Array([2, 0x0a, 1]))).code).toBe('wire/version');
    expect(wireErrorOf(() => decodeMessage(new Uint8Array([0]))).code).toBe('wire/version');
    for (const type of [0x00, 0x1f, 0x7f, 0xff]) {
      expect(wireErrorOf(() => decodeMessage(new Uint8Array([1, type, 1]))).code).toBe('wire/unknown-type');
    }
    expect(wireErrorOf(() => decodeMessage(new Uint8Array([]))).code).toBe('wire/malformed');
    // A string announcing more bytes than are left is caught at the string, not later.
    expect(wireErrorOf(() => decodeMessage(new Uint8Array([1, 0x06, 1, 1, 5, 0x61]))).message).toMatch(/middle of its soul/);
    // OK with id 0, EVENT with id 1, HELLO with id 1, GET with id 0.
    for (const bytes of [[1, 0x0a, 0], [1, 0x08, 1], [1, 0x01, 1, 0, 1], [1, 0x02, 0, 0, 0]]) {
      expect(wireErrorOf(() => decodeMessage(new Uint8Array(bytes))).code, String(bytes)).toBe('wire/malformed');
    }
    // An unknown role, an unknown outcome.
    expect(wireErrorOf(() => decodeMessage(new Uint8Array([1, 0x01, 0, 2, 1]))).code).toBe('wire/malformed');
    expect(wireErrorOf(() => decodeMessage(new Uint8Array([1, 0x05, 1, 1, 5]))).code).toBe('wire/malformed');
  });

  it('throws WireError for every truncation; frame messages shorten their frame instead', () => {
    let checked = 0;
    for (const message of SMALL) {
      const bytes = encodeMessage(message);
      const frame = frameOf(message);
      const header = bytes.length - (frame?.length ?? 0);
      for (let cut = 0; cut < bytes.length; cut++) {
        const truncated = bytes.slice(0, cut);
        if (frame !== undefined && cut >= header) {
          const decoded = decodeMessage(truncated);
          expect(Array.from(frameOf(decoded)!)).toEqual(Array.from(frame.subarray(0, cut - header)));
        } else {
          expect(wireErrorOf(() => decodeMessage(truncated)).code, `${message.type} cut at ${cut}`).toMatch(/^wire\//);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(300);
  });

  it('refuses trailing bytes wherever a structure must end exactly', () => {
    for (const message of SMALL) {
      if (FRAME_TYPES.has(message.type)) continue;
      const bytes = concat([encodeMessage(message), new Uint8Array([0])]);
      expect(wireErrorOf(() => decodeMessage(bytes)).code, message.type).toBe('wire/malformed');
    }
  });

  it('bounds counts by the bytes left before reading or allocating anything', () => {
    const subscribe = concat([new Uint8Array([1, 0x06, 1]), encodeVarint(2 ** 32), new Uint8Array([1, 0x61, 0])]);
    const error = wireErrorOf(() => decodeMessage(subscribe));
    expect(error.code).toBe('wire/malformed');
    expect(error.message).toMatch(/count 4294967296/);
    for (const count of [2 ** 31, 2 ** 32, MAX_ID]) {
      const started = performance.now();
      for (const type of [0x05, 0x06, 0x07]) {
        expect(wireErrorOf(() => decodeMessage(concat([new Uint8Array([1, type, 1]), encodeVarint(count), new Uint8Array([0, 0, 0])]))).code).toBe('wire/malformed');
      }
      expect(wireErrorOf(() => decodeMessage(concat([new Uint8Array([1, 0x02, 1, 0]), encodeVarint(count), new Uint8Array([0, 0, 0])]))).code).toBe('wire/malformed');
      expect(performance.now() - started).toBeLessThan(100);
    }
    // The bound is exact: three empty souls fit in three bytes, a fourth does not.
    expect(decodeMessage(new Uint8Array([1, 0x06, 1, 3, 0, 0, 0]))).toMatchObject({ souls: ['', '', ''] });
    expect(wireErrorOf(() => decodeMessage(new Uint8Array([1, 0x06, 1, 4, 0, 0, 0]))).code).toBe('wire/malformed');
  });

  it('caps souls and keys at maxSouls', () => {
    const souls = (n: number): string[] => Array.from({ length: n }, () => 's');
    expect(DEFAULT_MAX_SOULS).toBe(10_000);
    expect(decodeMessage(encodeMessage({ type: 'subscribe', id: 1, souls: souls(10_000) }))).toMatchObject({ type: 'subscribe' });
    for (const message of [
      { type: 'subscribe', id: 1, souls: souls(10_001) },
      { type: 'unsubscribe', id: 1, souls: souls(10_001) },
      { type: 'get', id: 1, soul: 'x', keys: souls(10_001) },
    ] as const) {
      expect(wireErrorOf(() => decodeMessage(encodeMessage(message))).code, message.type).toBe('wire/too-large');
    }
    const three = encodeMessage({ type: 'get', id: 1, soul: 'x', keys: souls(3) });
    expect(decodeMessage(three, { maxSouls: 3 })).toMatchObject({ keys: ['s', 's', 's'] });
    expect(wireErrorOf(() => decodeMessage(three, { maxSouls: 2 })).code).toBe('wire/too-large');
  });

  it('fuzz: random bytes and mutated messages decode or throw WireError, nothing else', () => {
    const random = prng(0xdecafbad);
    const int = (n: number): number => Math.floor(random() * n);
    const codes = new Map<string, number>();
    let decodedCount = 0;
    const check = (bytes: Uint8Array): void => {
      let decoded: WireMessage;
      try {
        decoded = decodeMessage(bytes, { maxSouls: 4 });
      } catch (error) {
        if (!(error instanceof WireError) || !WIRE_CODES.includes(error.code)) {
          throw new Error(`input ${Buffer.from(bytes).toString('hex')} threw ${String(error)}`);
        }
        codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
        return;
      }
      decodedCount++;
      // Anything that decodes is a valid message: it re-encodes to an equivalent one.
      expect(plain(decodeMessage(encodeMessage(decoded), { maxSouls: 4 }))).toEqual(plain(decoded));
    };

    for (let i = 0; i < 20_000; i++) {
      const bytes = new Uint8Array(int(40));
      for (let j = 0; j < bytes.length; j++) bytes[j] = int(256);
      // Mostly a plausible header, so the fuzz reaches the bodies.
      if (bytes.length > 0 && random() < 0.9) bytes[0] = 1;
      if (bytes.length > 1 && random() < 0.9) bytes[1] = 1 + int(12);
      if (bytes.length > 2 && random() < 0.5) bytes[2] = int(3);
      check(bytes);
    }

    const valid = SMALL.map((m) => encodeMessage(m));
    for (let i = 0; i < 20_000; i++) {
      const bytes = Array.from(valid[int(valid.length)]!);
      for (let m = 1 + int(4); m > 0; m--) {
        const at = int(bytes.length + 1);
        switch (int(5)) {
          case 0: bytes[at] = int(256); break;
          case 1: bytes.splice(at, 0, int(256)); break;
          case 2: bytes.splice(at, 1); break;
          case 3: bytes.length = at; break;
          default: bytes[at] = [0x00, 0x7f, 0x80, 0xff][int(4)]!;
        }
      }
      check(new Uint8Array(bytes.map((b) => b ?? 0)));
    }
    // The fuzz exercised both outcomes and every error code.
    expect(decodedCount).toBeGreaterThan(1000);
    expect([...codes.keys()].sort()).toEqual([...WIRE_CODES].sort());
  });
});

describe('framing', () => {
  const stream = (messages: readonly WireMessage[]): Uint8Array => concat(messages.map((m) => lengthPrefixed(encodeMessage(m))));
  const decodeAll = (bodies: readonly Uint8Array[]): unknown[] => bodies.map((b) => plain(decodeMessage(b)));

  it('lengthPrefixed writes into the headroom of encoded bodies, and copies anything else', () => {
    const body = encodeMessage({ type: 'put', id: 1, frame: bytesOf(200) });
    const framed = lengthPrefixed(body);
    expect(framed.buffer).toBe(body.buffer);
    expect(Array.from(framed.subarray(0, 2))).toEqual(Array.from(encodeVarint(body.length)));
    expect(framed.subarray(2)).toEqual(body);

    const foreign = new Uint8Array([0xaa, 0xbb, 1, 0x0a, 1]).subarray(2);
    const copied = lengthPrefixed(foreign);
    expect(Array.from(copied)).toEqual([3, 1, 0x0a, 1]);
    expect(Array.from(new Uint8Array(foreign.buffer))).toEqual([0xaa, 0xbb, 1, 0x0a, 1]); // untouched
    expect(wireErrorOf(() => lengthPrefixed(new Uint8Array(0))).code).toBe('wire/malformed');
  });

  it('reassembles a stream fed whole, byte by byte, at every split point and at random splits', () => {
    const bytes = stream(SMALL);
    const expected = SMALL.map(plain);

    expect(decodeAll(new MessageReader(1 << 20).push(bytes))).toEqual(expected);

    const byteReader = new MessageReader(1 << 20);
    const bodies: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i++) bodies.push(...byteReader.push(bytes.subarray(i, i + 1)));
    // Decoded only at the end: bodies returned earlier must not be overwritten by later pushes.
    expect(decodeAll(bodies)).toEqual(expected);
    expect(byteReader.midMessage).toBe(false);

    for (let split = 0; split <= bytes.length; split++) {
      const reader = new MessageReader(1 << 20);
      const got = [...reader.push(bytes.slice(0, split)), ...reader.push(bytes.slice(split))];
      expect(got.length).toBe(SMALL.length);
    }

    const random = prng(7);
    const big = stream(SAMPLES);
    for (let round = 0; round < 20; round++) {
      const reader = new MessageReader(4 << 20);
      const got: Uint8Array[] = [];
      for (let pos = 0; pos < big.length; ) {
        const size = random() < 0.3 ? 1 + Math.floor(random() * 8) : 1 + Math.floor(random() * 100_000);
        got.push(...reader.push(big.slice(pos, pos + size)));
        pos += size;
      }
      expect(decodeAll(got)).toEqual(SAMPLES.map(plain));
    }
  });

  it('refuses an oversized message from its prefix alone, before any body byte', () => {
    const reader = new MessageReader(100);
    expect(reader.push(encodeVarint(100))).toEqual([]); // at the limit: waits for the body
    expect(reader.midMessage).toBe(true);

    expect(wireErrorOf(() => new MessageReader(100).push(encodeVarint(101))).code).toBe('wire/too-large');
    expect(wireErrorOf(() => new MessageReader(4 << 20).push(encodeVarint(2 ** 34))).code).toBe('wire/too-large');

    // A two-byte prefix for 1001: not over after its first byte (0x69 = 105), over after the second.
    const split = new MessageReader(1000);
    const prefix = encodeVarint(1001);
    expect(split.push(prefix.subarray(0, 1))).toEqual([]);
    expect(wireErrorOf(() => split.push(prefix.subarray(1))).code).toBe('wire/too-large');

    // Already over after the first byte of a longer prefix: refused without waiting.
    expect(wireErrorOf(() => new MessageReader(100).push(new Uint8Array([0xff]))).code).toBe('wire/too-large');
  });

  it('refuses a zero length and a prefix longer than 5 bytes', () => {
    expect(wireErrorOf(() => new MessageReader(100).push(new Uint8Array([0]))).code).toBe('wire/malformed');
    expect(wireErrorOf(() => new MessageReader(100).push(new Uint8Array([0x80, 0x00]))).code).toBe('wire/malformed');
    const reader = new MessageReader(0xffff_ffff);
    expect(reader.push(new Uint8Array([0x80, 0x80, 0x80, 0x80]))).toEqual([]);
    expect(wireErrorOf(() => reader.push(new Uint8Array([0x80]))).code).toBe('wire/malformed');
    // Five bytes ending the prefix are fine.
    const five = new MessageReader(0xffff_ffff);
    expect(five.push(new Uint8Array([0x83, 0x80, 0x80, 0x80, 0x00, 1, 0x0a, 1]))).toEqual([new Uint8Array([1, 0x0a, 1])]);
  });

  it('is poisoned after a failure', () => {
    const reader = new MessageReader(100);
    const first = wireErrorOf(() => reader.push(concat([lengthPrefixed(encodeMessage({ type: 'ok', id: 1 })), encodeVarint(500)])));
    expect(first.code).toBe('wire/too-large');
    const valid = lengthPrefixed(encodeMessage({ type: 'ok', id: 2 }));
    expect(wireErrorOf(() => reader.push(valid))).toBe(first);
    expect(wireErrorOf(() => reader.push(new Uint8Array(0)))).toBe(first);
  });

  it('returns a body that fits one chunk as a view of it', () => {
    const chunk = stream([{ type: 'ok', id: 1 }, { type: 'ok', id: 2 }]);
    const bodies = new MessageReader(100).push(chunk);
    expect(bodies.map((b) => b.buffer === chunk.buffer)).toEqual([true, true]);
  });

  it('assembles 4 MiB from 64 KiB chunks, and 16 MiB from 1 KiB chunks in linear time', () => {
    for (const [size, chunkSize] of [[4 << 20, 64 << 10], [16 << 20, 1 << 10]] as const) {
      const frame = bytesOf(size - 16, size);
      const bytes = lengthPrefixed(encodeMessage({ type: 'put', id: 1, frame }));
      const reader = new MessageReader(size);
      const started = performance.now();
      const bodies: Uint8Array[] = [];
      for (let pos = 0; pos < bytes.length; pos += chunkSize) {
        bodies.push(...reader.push(bytes.subarray(pos, pos + chunkSize)));
        // Linear takes well under a second; re-concatenating per chunk would copy ~128 GiB
        // and never finish. Checked inside the loop: a test timeout cannot interrupt it.
        if (performance.now() - started > 3000) throw new Error(`too slow: ${pos} of ${bytes.length} bytes after 3 s`);
      }
      expect(bodies.length).toBe(1);
      const decoded = decodeMessage(bodies[0]!);
      expect(decoded.type === 'put' && Buffer.compare(decoded.frame, frame)).toBe(0);
    }
  }, 20_000);

  it('validates maxMessageBytes', () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity]) expect(() => new MessageReader(bad)).toThrow(InvalidValueError);
  });
});

describe('rate limits', () => {
  function clock(): { now: () => number; advance: (ms: number) => void } {
    let t = 1000;
    return { now: () => t, advance: (ms) => (t += ms) };
  }

  it('TokenBucket starts full, refills at the rate, caps at the burst', () => {
    const c = clock();
    const bucket = new TokenBucket(10, 20, c.now);
    for (let i = 0; i < 20; i++) expect(bucket.take(1), `take ${i}`).toBe(true);
    expect(bucket.take(1)).toBe(false);
    c.advance(99);
    expect(bucket.take(1)).toBe(false); // 0.99 tokens
    c.advance(1);
    expect(bucket.take(1)).toBe(true); // 1 token after 100 ms at 10/s
    expect(bucket.take(1)).toBe(false);
    c.advance(350);
    expect(bucket.take(4)).toBe(false); // 3.5 tokens: a refused take takes nothing…
    expect(bucket.take(3)).toBe(true); // …so 3 are still there
    expect(bucket.tokens).toBeCloseTo(0.5);
    c.advance(60_000);
    expect(bucket.tokens).toBe(20); // capped at the burst
    expect(bucket.take(20)).toBe(true);
    expect(bucket.take(0.001)).toBe(false);
  });

  it('TokenBucket ignores a clock stepping back and lets an oversized take through only when full', () => {
    const c = clock();
    const bucket = new TokenBucket(10, 20, c.now);
    expect(bucket.take(20)).toBe(true);
    c.advance(-5000);
    expect(bucket.tokens).toBe(0);
    c.advance(5000);
    expect(bucket.tokens).toBe(0); // time lost going back is not paid twice… nor granted
    c.advance(1000);
    expect(bucket.tokens).toBe(10);
    expect(bucket.take(50)).toBe(false); // above the burst, and not full
    c.advance(1000);
    expect(bucket.take(50)).toBe(true); // full: admitted, leaves a debt of 30
    expect(bucket.tokens).toBe(-30);
    c.advance(3000);
    expect(bucket.take(1)).toBe(false); // still paying: 0 tokens
    c.advance(100);
    expect(bucket.take(1)).toBe(true);
  });

  it('PeerRateLimiter enforces messages/s and bytes/s with bursts of twice the rate', () => {
    const c = clock();
    const byCount = new PeerRateLimiter({ maxMessageBytes: 1000, messagesPerSecond: 5, bytesPerSecond: 1e9 }, c.now);
    for (let i = 0; i < 10; i++) expect(byCount.admit(10)).toBe(true);
    expect(byCount.admit(10)).toBe(false);
    c.advance(200);
    expect(byCount.admit(10)).toBe(true);
    expect(byCount.admit(10)).toBe(false);

    const byBytes = new PeerRateLimiter({ maxMessageBytes: 1000, messagesPerSecond: 1e6, bytesPerSecond: 100 }, c.now);
    expect(byBytes.admit(150)).toBe(true);
    expect(byBytes.admit(50)).toBe(true); // 200 = burst
    expect(byBytes.admit(1)).toBe(false);
    c.advance(500);
    expect(byBytes.admit(51)).toBe(false);
    expect(byBytes.admit(50)).toBe(true);
  });

  it('PeerRateLimiter charges neither bucket for a refused message', () => {
    const c = clock();
    const limiter = new PeerRateLimiter({ maxMessageBytes: 1000, messagesPerSecond: 1, bytesPerSecond: 100 }, c.now);
    expect(limiter.admit(150)).toBe(true); // bytes: 50 left, messages: 1 left
    expect(limiter.admit(100)).toBe(false); // refused on bytes: must not spend the message token
    expect(limiter.admit(50)).toBe(true); // the message token was still there
    expect(limiter.admit(1)).toBe(false); // refused on messages: must not spend bytes
    c.advance(1000); // +1 message, +100 bytes
    expect(limiter.admit(100)).toBe(true);
  });

  it('resolveWireLimits fills defaults and refuses anything but positive finite numbers', () => {
    expect(resolveWireLimits()).toEqual({ maxMessageBytes: 4 * 1024 * 1024, messagesPerSecond: 2000, bytesPerSecond: 16 * 1024 * 1024 });
    expect(resolveWireLimits({})).toEqual(DEFAULT_WIRE_LIMITS);
    expect(resolveWireLimits({ messagesPerSecond: 0.5 })).toEqual({ ...DEFAULT_WIRE_LIMITS, messagesPerSecond: 0.5 });
    const bad: unknown[] = [0, -1, NaN, Infinity, -Infinity, '5', true];
    for (const key of ['maxMessageBytes', 'messagesPerSecond', 'bytesPerSecond']) {
      for (const value of bad) {
        let thrown: unknown;
        try {
          resolveWireLimits({ [key]: value } as never);
        } catch (error) {
          thrown = error;
        }
        expect(thrown, `${key}: ${String(value)}`).toBeInstanceOf(InvalidValueError);
        expect((thrown as RustDHTError).code).toBe('config/invalid');
        expect((thrown as Error).message).toContain(key);
      }
    }
    expect(() => resolveWireLimits({ maxMessageBytes: 1.5 })).toThrow(InvalidValueError);
    expect(() => resolveWireLimits({ maxMessageBytes: 2 ** 33 })).toThrow(InvalidValueError);
  });
});

describe('WireError', () => {
  it('is a RustDHTError with its own name', () => {
    const error = new WireError('wire/malformed', 'x');
    expect(error).toBeInstanceOf(RustDHTError);
    expect(error.name).toBe('WireError');
    expect(error.code).toBe('wire/malformed');
  });
});
