/**
 * What encodeMessage and decodeMessage (network/wire/messages.ts) say when they refuse
 * something: the code and the text a peer's ERROR carries and an operator reads in a log,
 * naming the part of the message that is wrong. wire.test.ts checks the codes over every
 * message type; this checks the words, and where the decoder stops, part by part.
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_FRAME_MESSAGE_OVERHEAD,
  MESSAGE_TYPE_CODES,
  SYNC_PROTOCOL,
  SYNC_PROTOCOLS,
  SYNC_PROTOCOL_1_0,
  SYNC_PROTOCOL_1_1,
  decodeMessage,
  encodeMessage,
  type WireMessage,
  type WireMessageType,
} from '../../src/network/wire/messages.js';
import { encodeVarint } from '../../src/network/wire/varint.js';
import { refusal } from '../unit/refusal.js';


const decoding = (...parts: (number[] | Uint8Array)[]): string =>
  refusal(() => decodeMessage(Uint8Array.from(parts.flatMap((part) => Array.from(part)))));
const encoding = (message: unknown): string => refusal(() => encodeMessage(message as WireMessage));

/**
 * For each cut of the encoded message short of its end (or of its frame), what the decoder
 * says it was in the middle of ("the message ends in the middle of its …").
 */
function cutsOf(message: WireMessage, bytes = encodeMessage(message)): string[] {
  const frameLength = 'frame' in message ? message.frame.length : 0;
  const cuts: string[] = [];
  for (let cut = 0; cut < bytes.length - frameLength; cut++) {
    const text = refusal(() => decodeMessage(bytes.subarray(0, cut)));
    const what = /^wire\/malformed: the message ends in the middle of its (.+)\.$/.exec(text);
    cuts.push(what === null ? text : what[1]!);
  }
  return cuts;
}

const VIEW = new Uint8Array(8).fill(0xaa);
const SALT = new Uint8Array(8).fill(0x55);

describe('decoding names the part a message ends in', () => {
  /** A list count is checked against the bytes left before any item is read. */
  const countProblem = (what: string, count: number, left: number): string => `wire/malformed: the ${what} count ${count} exceeds what the ${left} remaining bytes can hold.`;

  it('the header, a GET and a levelled GET', () => {
    expect(cutsOf({ type: 'get', id: 1, soul: 'ab', keys: ['c', 'd'] })).toEqual([
      'version', 'message type', 'id', 'soul length', 'soul', 'soul', 'key count', countProblem('key', 2, 0), countProblem('key', 2, 1), 'key length', 'key',
    ]);
    expect(cutsOf({ type: 'get', id: 1, soul: '', keys: [], level: 'one' })).toEqual(['version', 'message type', 'id', 'level', 'soul length', 'key count']);
    expect(cutsOf({ type: 'get-part', id: 1, soul: 'a', after: 'b', level: 'all' })).toEqual([
      'version', 'message type', 'id', 'level', 'soul length', 'soul', 'key length', 'key',
    ]);
    expect(cutsOf({ type: 'hello', id: 0, role: 'client', maxMessageBytes: 300 })).toEqual(['version', 'message type', 'id', 'role', 'maxMessageBytes', 'maxMessageBytes']);
  });

  it('replies and requests with counts and numbers', () => {
    expect(cutsOf({ type: 'ack', id: 1, outcomes: [{ outcome: 'rejected', code: 'x' }, { outcome: 'applied' }] })).toEqual([
      'version', 'message type', 'id', 'outcome count', countProblem('outcome', 2, 0), countProblem('outcome', 2, 1), 'rejection code', 'outcome',
    ]);
    expect(cutsOf({ type: 'ack', id: 1, outcomes: [{ outcome: 'applied' }, { outcome: 'rejected', code: 'x' }] }).slice(6)).toEqual(['rejection code length', 'rejection code']);
    expect(cutsOf({ type: 'ack-at', id: 1, reached: 1, owners: 2, outcomes: [] })).toEqual(['version', 'message type', 'id', 'reached', 'owners', 'outcome count']);
    expect(cutsOf({ type: 'subscribe', id: 1, souls: ['a', 'b'] })).toEqual([
      'version', 'message type', 'id', 'soul count', countProblem('soul', 2, 0), countProblem('soul', 2, 1), 'soul length', 'soul',
    ]);
    expect(cutsOf({ type: 'error', id: 1, code: 'c', message: 'm' })).toEqual(['version', 'message type', 'id', 'error code length', 'error code', 'error message length', 'error message']);
    expect(cutsOf({ type: 'feed', id: 1, since: 128 })).toEqual(['version', 'message type', 'id', 'since', 'since']);
    expect(cutsOf({ type: 'feed-entry', id: 1, seq: 1, frame: new Uint8Array([1]) })).toEqual(['version', 'message type', 'id', 'seq']);
    expect(cutsOf({ type: 'put-at', id: 1, level: 'one', frame: new Uint8Array([1]) })).toEqual(['version', 'message type', 'id', 'level']);
    expect(cutsOf({ type: 'node-part', id: 1, next: 'n', skipped: ['s', 't'], frame: new Uint8Array([1]) })).toEqual([
      'version', 'message type', 'id', 'key length', 'key', 'key count', countProblem('key', 2, 0), countProblem('key', 2, 1), 'key length', 'key',
    ]);
    expect(cutsOf({ type: 'feed-ack', id: 0, feed: 1, seq: 2 })).toEqual(['version', 'message type', 'id', 'feed id', 'seq']);
  });

  it('membership: MEMBERS_SYNC (two bytes at least per member) and MEMBERS', () => {
    expect(cutsOf({ type: 'members-sync', id: 1, known: [{ peerId: 'pq', issuedAt: 1 }] })).toEqual([
      'version', 'message type', 'id', 'member count', countProblem('member', 1, 0), countProblem('member', 1, 1), 'peer id', 'issuedAt',
    ]);
    expect(cutsOf({ type: 'members', id: 1, records: [new Uint8Array([7, 7]), new Uint8Array([8])] })).toEqual([
      'version', 'message type', 'id', 'member record count', countProblem('member record', 2, 0), countProblem('member record', 2, 1),
      'member record', 'member record length', 'member record',
    ]);
  });

  it('anti-entropy: DIGEST and DIGEST_REPLY', () => {
    const symbols = cutsOf({ type: 'digest', id: 1, view: VIEW, ask: { kind: 'symbols', bits: 1, prefix: 1, salt: SALT, start: 2, count: 3 } });
    expect(symbols).toEqual([
      'version', 'message type', 'id', 'digest kind', ...Array(8).fill('members digest'), 'range bits', 'prefix', ...Array(8).fill('salt'), 'start', 'count',
    ]);
    // Twelve bytes at least per soul digest.
    const souls = cutsOf({ type: 'digest', id: 1, view: VIEW, ask: { kind: 'souls', digests: new Uint8Array(12) } });
    expect(souls.slice(12)).toEqual(['soul digest count', ...Array.from({ length: 12 }, (_, left) => countProblem('soul digest', 1, left))]);
    const held = cutsOf({ type: 'digest', id: 1, view: VIEW, ask: { kind: 'held', souls: ['s', 't'], digests: new Uint8Array(24) } });
    expect(held.slice(12)).toEqual(['soul count', countProblem('soul', 2, 0), countProblem('soul', 2, 1), 'soul length', 'soul', ...Array(24).fill('soul digests')]);
    expect(cutsOf({ type: 'digest-reply', id: 1, answer: { kind: 'symbols', symbols: new Uint8Array([9]) } })).toEqual([
      'version', 'message type', 'id', 'digest reply kind', 'symbols length', 'symbols',
    ]);
    expect(cutsOf({ type: 'digest-reply', id: 1, answer: { kind: 'souls', souls: ['s', 't'] } }).slice(4)).toEqual([
      'soul count', countProblem('soul', 2, 0), countProblem('soul', 2, 1), 'soul length', 'soul',
    ]);
    expect(cutsOf({ type: 'digest-reply', id: 1, answer: { kind: 'not-now', reason: 'busy' } }).slice(4)).toEqual(['digest refusal']);
  });
});

describe('decoding says what is wrong', () => {
  it('with the header', () => {
    expect(decoding([2, 0x0a, 1])).toBe('wire/version: unsupported sync protocol version 2 (this peer speaks 1).');
    expect(decoding([1, 0x00, 1])).toBe('wire/unknown-type: unknown message type 0x00.');
    expect(decoding([1, 0x1f, 1])).toBe('wire/unknown-type: unknown message type 0x1f.');
    expect(decoding([1, 0x01, 1, 0, 1])).toBe('wire/malformed: a hello must have id 0, got 1.');
    expect(decoding([1, 0x02, 0, 0, 0])).toBe('wire/malformed: a get must have a nonzero id.');
    expect(decoding([1, 0x16, 1, 0, 0, 0])).toBe('wire/malformed: unknown consistency level 0 in a get.');
    expect(decoding([1, 0x17, 1, 4, 0, 0])).toBe('wire/malformed: unknown consistency level 4 in a get-part.');
    expect(decoding([1, 0x0a, 1, 0])).toBe('wire/malformed: 1 unexpected bytes after a ok.');
    expect(decoding([1, 0x02, 1, 0, 0, 7, 7])).toBe('wire/malformed: 2 unexpected bytes after a get.');
  });

  it('with a field', () => {
    expect(decoding([1, 0x01, 0, 2, 1])).toBe('wire/malformed: a hello with an unknown role.');
    expect(decoding([1, 0x14, 1, 0, 9])).toBe('wire/malformed: unknown durability level 0 in a put-at.');
    expect(decoding([1, 0x14, 1, 4])).toBe('wire/malformed: unknown durability level 4 in a put-at.');
    expect(decoding([1, 0x05, 1, 1, 5])).toBe('wire/malformed: unknown update outcome 5 in an ack.');
    expect(decoding([1, 0x06, 1, 1, 2, 0xc0, 0xaf])).toBe('wire/malformed: soul is not valid UTF-8.');
    expect(decoding([1, 0x09, 1, 1, 0x61, 1, 0x80])).toBe('wire/malformed: error message is not valid UTF-8.');
    // The decoder's own complaint travels as the cause.
    const invalid = ((): Error | undefined => {
      try {
        decodeMessage(Uint8Array.of(1, 0x06, 1, 1, 1, 0xff));
      } catch (error) {
        return error as Error;
      }
      return undefined;
    })();
    expect(invalid?.cause).toBeInstanceOf(TypeError);
    expect(decoding([1, 0x06, 1], encodeVarint(2 ** 32), [1, 0x61, 0])).toBe('wire/malformed: the soul count 4294967296 exceeds what the 3 remaining bytes can hold.');
    expect(refusal(() => decodeMessage(new Uint8Array([1, 0x06, 1, 3, 0, 0, 0]), { maxSouls: 2 }))).toBe('wire/too-large: 3 souls in one message; the limit is 2.');
    expect(refusal(() => decodeMessage(new Uint8Array([1, 0x02, 1, 0, 3, 0, 0, 0]), { maxSouls: 2 }))).toBe('wire/too-large: 3 keys in one message; the limit is 2.');
    // A varint past its limits, named by its field.
    expect(decoding([1, 0x0b, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0])).toBe('wire/malformed: since is longer than 8 bytes.');
    expect(decoding([1, 0x0b, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])).toBe('wire/malformed: since is larger than 9007199254740991.');
  });

  it('with membership records', () => {
    // Each MEMBERS_SYNC entry takes at least two bytes: two entries do not fit in three.
    expect(decoding([1, 0x0f, 1, 2, 0, 0, 0])).toBe('wire/malformed: the member count 2 exceeds what the 3 remaining bytes can hold.');
    expect(decodeMessage(new Uint8Array([1, 0x0f, 1, 2, 0, 0, 0, 0]))).toMatchObject({ known: [{ peerId: '', issuedAt: 0 }, { peerId: '', issuedAt: 0 }] });
    const many = 1025;
    expect(decoding([1, 0x0f, 1], encodeVarint(many), new Uint8Array(2 * many))).toBe('wire/too-large: 1025 members in one message; the limit is 1024.');
    expect(decoding([1, 0x10, 1], encodeVarint(many), new Uint8Array(many))).toBe('wire/too-large: 1025 member records in one message; the limit is 1024.');
    expect(decodeMessage(Uint8Array.from([1, 0x10, 1, ...encodeVarint(1024), ...new Uint8Array(1024)]))).toMatchObject({ type: 'members' });
    expect(decoding([1, 0x10, 1, 1], encodeVarint(8193), new Uint8Array(8193))).toBe('wire/too-large: a member record of 8193 bytes; the limit is 8192.');
    expect(decodeMessage(Uint8Array.from([1, 0x10, 1, 1, ...encodeVarint(8192), ...new Uint8Array(8192)]))).toMatchObject({ type: 'members' });
    // A record announcing more bytes than are left is cut short, whatever its size.
    expect(decoding([1, 0x10, 1, 1], encodeVarint(9000), [0])).toBe('wire/malformed: the message ends in the middle of its member record.');
  });

  it('with anti-entropy asks and replies', () => {
    const symbolsAsk = (bits: number, prefix: number, start: number, count: number): string =>
      decoding([1, 0x12, 1, 0], VIEW, [bits], encodeVarint(prefix), SALT, encodeVarint(start), encodeVarint(count));
    expect(symbolsAsk(0, 0, 0, 8193)).toBe('wire/too-large: 8193 symbols in one digest; at most 8192.');
    expect(symbolsAsk(0, 0, 262_140, 5)).toBe('wire/too-large: symbols up to 262145 in a digest; none past 262144.');
    expect(symbolsAsk(25, 0, 0, 1)).toBe('wire/malformed: a digest range of 25 bits; at most 24.');
    expect(symbolsAsk(3, 8, 0, 1)).toBe('wire/malformed: a digest prefix 8 that does not fit in 3 bits.');
    expect(decoding([1, 0x12, 1, 3], VIEW)).toBe('wire/malformed: a digest of unknown kind 3.');
    expect(decoding([1, 0x12, 1, 1], VIEW, encodeVarint(4097), new Uint8Array(4097 * 12))).toBe('wire/too-large: 4097 soul digests in one message; the limit is 4096.');
    expect(decoding([1, 0x13, 1, 3])).toBe('wire/malformed: a digest reply of an unknown kind.');
    expect(decoding([1, 0x13, 1, 2, 0])).toBe('wire/malformed: a digest refusal of an unknown reason.');
    expect(decoding([1, 0x13, 1, 2, 4])).toBe('wire/malformed: a digest refusal of an unknown reason.');
    expect(decoding([1, 0x13, 1, 0], encodeVarint(8192 * 24 + 1), new Uint8Array(8192 * 24 + 1))).toBe('wire/too-large: a symbols of 196609 bytes; the limit is 196608.');
    const souls = Array.from({ length: 4097 }, () => 's');
    expect(refusal(() => decodeMessage(encodeMessage({ type: 'digest-reply', id: 1, answer: { kind: 'souls', souls } })))).toBe(
      'wire/too-large: 4097 souls in one message; the limit is 4096.',
    );
    expect(refusal(() => decodeMessage(encodeMessage({ type: 'digest', id: 1, view: VIEW, ask: { kind: 'held', souls, digests: new Uint8Array(4097 * 12) } })))).toBe(
      'wire/too-large: 4097 souls in one message; the limit is 4096.',
    );
  });
});

describe('encoding says what it cannot carry', () => {
  it('a wrong type, id, level or role', () => {
    expect(encoding({ type: 'frobnicate', id: 1 })).toBe('wire/malformed: cannot encode a message of unknown type frobnicate.');
    expect(encoding({ type: 'event', id: 3, frame: new Uint8Array(0) })).toBe('wire/malformed: cannot encode: a event must have id 0, got 3.');
    expect(encoding({ type: 'ok', id: 0 })).toBe('wire/malformed: cannot encode: a ok must have a nonzero id.');
    expect(encoding({ type: 'ok', id: -1 })).toBe('wire/malformed: cannot encode id -1: not an unsigned safe integer.');
    expect(encoding({ type: 'get', id: 1, soul: 's', keys: [], level: 'most' })).toBe('wire/malformed: cannot encode a get with level most.');
    expect(encoding({ type: 'get-part', id: 1, soul: 's', after: '', level: 'most' })).toBe('wire/malformed: cannot encode a get-part with level most.');
    expect(encoding({ type: 'put-at', id: 1, level: 'most', frame: new Uint8Array(0) })).toBe('wire/malformed: cannot encode a put-at with level most.');
    expect(encoding({ type: 'hello', id: 0, role: 'peer', maxMessageBytes: 1 })).toBe('wire/malformed: cannot encode a hello with role peer.');
    expect(encoding({ type: 'ack', id: 1, outcomes: [{ outcome: 'lost' }] })).toBe('wire/malformed: cannot encode the outcome lost.');
  });

  it('a number that is not an unsigned safe integer, named by its field', () => {
    const frame = new Uint8Array(0);
    const cases: [unknown, string][] = [
      [{ type: 'hello', id: 0, role: 'client', maxMessageBytes: -1 }, 'maxMessageBytes -1'],
      [{ type: 'ack-at', id: 1, reached: 0.5, owners: 1, outcomes: [] }, 'reached 0.5'],
      [{ type: 'ack-at', id: 1, reached: 1, owners: -2, outcomes: [] }, 'owners -2'],
      [{ type: 'feed', id: 1, since: -1 }, 'since -1'],
      [{ type: 'feed-entry', id: 1, seq: NaN, frame }, 'seq NaN'],
      [{ type: 'members-sync', id: 1, known: [{ peerId: 'p', issuedAt: -5 }] }, 'issuedAt -5'],
      [{ type: 'feed-ack', id: 0, feed: -1, seq: 0 }, 'feed id -1'],
      [{ type: 'feed-ack', id: 0, feed: 1, seq: Infinity }, 'seq Infinity'],
      [{ type: 'digest', id: 1, view: VIEW, ask: { kind: 'symbols', bits: 0, prefix: 0, salt: SALT, start: -1, count: 1 } }, 'start -1'],
      [{ type: 'digest', id: 1, view: VIEW, ask: { kind: 'symbols', bits: 0, prefix: 0, salt: SALT, start: 0, count: -1 } }, 'count -1'],
    ];
    for (const [message, what] of cases) expect(encoding(message)).toBe(`wire/malformed: cannot encode ${what}: not an unsigned safe integer.`);
  });

  it('a soul, key or code that UTF-8 cannot carry, or that is not a string', () => {
    expect(encoding({ type: 'subscribe', id: 1, souls: ['\uD800'] })).toBe('wire/malformed: cannot encode soul "\\ud800": it contains a lone surrogate, which UTF-8 cannot carry.');
    expect(encoding({ type: 'get', id: 1, soul: 's', keys: ['a\uDC00'] })).toBe('wire/malformed: cannot encode key "a\\udc00": it contains a lone surrogate, which UTF-8 cannot carry.');
    expect(encoding({ type: 'error', id: 1, code: '\uD800', message: '' })).toBe('wire/malformed: cannot encode error code "\\ud800": it contains a lone surrogate, which UTF-8 cannot carry.');
    expect(encoding({ type: 'get-part', id: 1, soul: 7, after: '' })).toBe('wire/malformed: cannot encode soul: not a string.');
    expect(encoding({ type: 'ack', id: 1, outcomes: [{ outcome: 'rejected', code: null }] })).toBe('wire/malformed: cannot encode rejection code: not a string.');
    expect(encoding({ type: 'members-sync', id: 1, known: [{ peerId: 1, issuedAt: 0 }] })).toBe('wire/malformed: cannot encode peer id: not a string.');
    expect(encoding({ type: 'error', id: 1, code: 'c', message: 5 })).toBe('wire/malformed: cannot encode error message: not a string.');
    // Each field named as what it is: a soul, a key, wherever it stands.
    const lone = (what: string, text: string): string => `wire/malformed: cannot encode ${what} ${JSON.stringify(text)}: it contains a lone surrogate, which UTF-8 cannot carry.`;
    expect(encoding({ type: 'get', id: 1, soul: 5, keys: [] })).toBe('wire/malformed: cannot encode soul: not a string.');
    expect(encoding({ type: 'get-part', id: 1, soul: 's', after: '\uD800' })).toBe(lone('key', '\uD800'));
    expect(encoding({ type: 'node-part', id: 1, next: 1, skipped: [], frame: new Uint8Array(0) })).toBe('wire/malformed: cannot encode key: not a string.');
    expect(encoding({ type: 'node-part', id: 1, next: '', skipped: ['\uDC00'], frame: new Uint8Array(0) })).toBe(lone('key', '\uDC00'));
    expect(encoding({ type: 'digest', id: 1, view: VIEW, ask: { kind: 'held', souls: ['\uD800'], digests: new Uint8Array(12) } })).toBe(lone('soul', '\uD800'));
    expect(encoding({ type: 'digest-reply', id: 1, answer: { kind: 'souls', souls: [7] } })).toBe('wire/malformed: cannot encode soul: not a string.');
  });

  it('bytes that are not a Uint8Array, or not of their fixed size', () => {
    expect(encoding({ type: 'put', id: 1, frame: [1, 2] })).toBe('wire/malformed: cannot encode a frame that is not a Uint8Array.');
    expect(encoding({ type: 'members', id: 1, records: [[1]] })).toBe('wire/malformed: cannot encode a member record that is not a Uint8Array.');
    expect(encoding({ type: 'digest', id: 1, view: new Uint8Array(7), ask: { kind: 'souls', digests: new Uint8Array(0) } })).toBe(
      'wire/malformed: cannot encode a members digest that is not 8 bytes.',
    );
    expect(encoding({ type: 'digest', id: 1, view: VIEW, ask: { kind: 'symbols', bits: 0, prefix: 0, salt: [0, 0, 0, 0, 0, 0, 0, 0], start: 0, count: 1 } })).toBe(
      'wire/malformed: cannot encode a salt that is not 8 bytes.',
    );
  });

  it('a digest ask or reply the other side could not read', () => {
    const ask = (value: unknown): string => encoding({ type: 'digest', id: 1, view: VIEW, ask: value });
    expect(ask({ kind: 'all' })).toBe('wire/malformed: cannot encode a digest asking for all.');
    expect(ask({ kind: 'symbols', bits: 0, prefix: 0, salt: SALT, start: 0, count: 8193 })).toBe('wire/malformed: cannot encode: 8193 symbols in one digest; at most 8192.');
    expect(ask({ kind: 'symbols', bits: 1.5, prefix: 0, salt: SALT, start: 0, count: 1 })).toBe('wire/malformed: cannot encode: a digest range of 1.5 bits; at most 24.');
    expect(ask({ kind: 'symbols', bits: -1, prefix: 0, salt: SALT, start: 0, count: 1 })).toBe('wire/malformed: cannot encode: a digest range of -1 bits; at most 24.');
    expect(ask({ kind: 'symbols', bits: 4, prefix: 0.5, salt: SALT, start: 0, count: 1 })).toBe('wire/malformed: cannot encode: a digest prefix 0.5 that does not fit in 4 bits.');
    expect(ask({ kind: 'symbols', bits: 4, prefix: -1, salt: SALT, start: 0, count: 1 })).toBe('wire/malformed: cannot encode: a digest prefix -1 that does not fit in 4 bits.');
    expect(ask({ kind: 'symbols', bits: 4, prefix: 16, salt: SALT, start: 0, count: 1 })).toBe('wire/malformed: cannot encode: a digest prefix 16 that does not fit in 4 bits.');
    expect(encodeMessage({ type: 'digest', id: 1, view: VIEW, ask: { kind: 'symbols', bits: 4, prefix: 15, salt: SALT, start: 0, count: 1 } })).toBeInstanceOf(Uint8Array);
    const heldProblem = 'wire/malformed: cannot encode a held ask whose digests are not 12 bytes per soul.';
    expect(ask({ kind: 'held', souls: ['a', 'b'], digests: new Uint8Array(12) })).toBe(heldProblem);
    expect(ask({ kind: 'held', souls: 'ab', digests: new Uint8Array(24) })).toBe(heldProblem);
    expect(ask({ kind: 'held', souls: ['a'], digests: Array(12).fill(0) })).toBe(heldProblem);
    expect(ask({ kind: 'souls', digests: new Uint8Array(13) })).toBe('wire/malformed: cannot encode soul digests that are not 12 bytes each.');
    expect(ask({ kind: 'souls', digests: Array(12).fill(0) })).toBe('wire/malformed: cannot encode soul digests that are not 12 bytes each.');
    const answer = (value: unknown): string => encoding({ type: 'digest-reply', id: 1, answer: value });
    expect(answer({ kind: 'maybe' })).toBe('wire/malformed: cannot encode a digest reply of kind maybe.');
    expect(answer({ kind: 'symbols', symbols: [1] })).toBe('wire/malformed: cannot encode symbols that are not a Uint8Array.');
    expect(answer({ kind: 'not-now', reason: 'tired' })).toBe('wire/malformed: cannot encode the digest refusal tired.');
    expect(answer({ kind: 'not-now', reason: undefined })).toBe('wire/malformed: cannot encode the digest refusal undefined.');
  });
});

describe('decoding a GET or GET_PART', () => {
  it('gives it a level only when it carries one', () => {
    expect(decodeMessage(encodeMessage({ type: 'get', id: 1, soul: 's', keys: ['k'] }))).toStrictEqual({ type: 'get', id: 1, soul: 's', keys: ['k'] });
    expect(decodeMessage(encodeMessage({ type: 'get-part', id: 1, soul: 's', after: '' }))).toStrictEqual({ type: 'get-part', id: 1, soul: 's', after: '' });
    expect(decodeMessage(encodeMessage({ type: 'get', id: 1, soul: 's', keys: [], level: 'all' }))).toStrictEqual({ type: 'get', id: 1, soul: 's', keys: [], level: 'all' });
  });
});

describe('the protocol', () => {
  it('is offered as 1.2.0, then 1.1.0 and 1.0.0', () => {
    expect([SYNC_PROTOCOL, SYNC_PROTOCOL_1_1, SYNC_PROTOCOL_1_0]).toEqual(['/rustdht/sync/1.2.0', '/rustdht/sync/1.1.0', '/rustdht/sync/1.0.0']);
    expect(SYNC_PROTOCOLS).toEqual(['/rustdht/sync/1.2.0', '/rustdht/sync/1.1.0', '/rustdht/sync/1.0.0']);
  });

  it('adds at most MAX_FRAME_MESSAGE_OVERHEAD bytes around a frame', () => {
    expect(MAX_FRAME_MESSAGE_OVERHEAD).toBe(18);
    const frame = new Uint8Array(10);
    const longest = encodeMessage({ type: 'feed-entry', id: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER, frame });
    expect(longest.length - frame.length).toBe(MAX_FRAME_MESSAGE_OVERHEAD);
  });

  it('gives every type its id rule: 0 (HELLO, EVENT, FEED_ACK), either (ERROR, MEMBERS), nonzero (the rest), encoding and decoding', () => {
    const frame = new Uint8Array(1);
    const bodies: Record<WireMessageType, Record<string, unknown>> = {
      hello: { role: 'client', maxMessageBytes: 1 },
      get: { soul: 's', keys: [] },
      node: { frame },
      put: { frame },
      ack: { outcomes: [] },
      subscribe: { souls: [] },
      unsubscribe: { souls: [] },
      event: { frame },
      error: { code: 'c', message: 'm' },
      ok: {},
      feed: { since: 0 },
      'feed-entry': { seq: 1, frame },
      'get-part': { soul: 's', after: '' },
      'node-part': { next: '', skipped: [], frame },
      'members-sync': { known: [] },
      members: { records: [] },
      'feed-ack': { feed: 1, seq: 1 },
      'put-at': { level: 'one', frame },
      'ack-at': { reached: 1, owners: 1, outcomes: [] },
      digest: { view: VIEW, ask: { kind: 'souls', digests: new Uint8Array(0) } },
      'digest-reply': { answer: { kind: 'souls', souls: [] } },
    };
    const zero = ['hello', 'event', 'feed-ack'];
    const either = ['error', 'members'];
    for (const type of Object.keys(MESSAGE_TYPE_CODES) as WireMessageType[]) {
      const withId = (id: number): WireMessage => ({ type, id, ...bodies[type] }) as WireMessage;
      const valid = zero.includes(type) ? withId(0) : withId(5);
      expect(decodeMessage(encodeMessage(valid)), type).toMatchObject({ type, id: valid.id });
      if (either.includes(type)) {
        expect(decodeMessage(encodeMessage(withId(0))), type).toMatchObject({ type, id: 0 });
        continue;
      }
      const wrong = zero.includes(type) ? 5 : 0;
      const problem = zero.includes(type) ? `a ${type} must have id 0, got 5.` : `a ${type} must have a nonzero id.`;
      expect(encoding(withId(wrong)), type).toBe(`wire/malformed: cannot encode: ${problem}`);
      // The same message with its id byte changed.
      const bytes = encodeMessage(valid);
      bytes[2] = wrong;
      expect(refusal(() => decodeMessage(bytes)), type).toBe(`wire/malformed: ${problem}`);
    }
  });
});
