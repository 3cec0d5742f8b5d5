/**
 * The messages of RustDHT's sync protocol, `/rustdht/sync/1.2.0` (and the 1.1.0 and
 * 1.0.0 it extends): types, encoder and decoder. Pure (no I/O); framing.ts splits a stream into message bodies, sync-session.ts
 * runs a conversation. (One file of more than 400 lines on purpose: the format's
 * specification below, its encoder and its decoder are read and changed together.)
 *
 * ## Stream
 *
 * A stream carries messages, each preceded by its byte length as an unsigned LEB128
 * varint of at most 5 bytes. A length of 0 is invalid (`wire/malformed`); a length above
 * the receiver's maxMessageBytes (default 4 MiB) is refused as soon as the prefix has
 * been read, before any of the body is buffered (`wire/too-large`).
 *
 * ## Message
 *
 *     message = version u8 (= 1) | type u8 | id varint | body
 *
 * - **varint**: unsigned LEB128, at most 8 bytes, value at most 2^53 − 1 (a JavaScript
 *   safe integer). Non-minimal encodings are accepted; longer or larger ones are
 *   `wire/malformed`.
 * - **id**: a request carries a fresh nonzero id chosen by its sender, and its reply
 *   (or replies, for FEED) carries the same id. id 0 marks a message that is not part of
 *   an exchange: HELLO, EVENT and connection-level ERROR. The decoder enforces this: a
 *   request or a non-ERROR reply with id 0, or a HELLO/EVENT with a nonzero id, is
 *   `wire/malformed`.
 * - **string**: varint byte length, then that many bytes of UTF-8. Invalid UTF-8
 *   (overlongs, surrogates, truncated sequences) is `wire/malformed`; a leading U+FEFF is
 *   kept as part of the string.
 * - **frame** ("rest"): every remaining byte of the message: an engine frame, opaque to
 *   this layer, possibly empty. Frames in decoded messages are subarrays of the decoded
 *   bytes (zero-copy): they alias them and keep them alive.
 * - **list**: varint count, then that many items. A count is checked against the bytes
 *   left before anything is read or allocated (each item takes at least one byte), and
 *   soul/key lists against maxSouls (default 10,000; over it is `wire/too-large`).
 *
 * Every message except those ending in a frame must end exactly where its structure
 * does: trailing bytes are `wire/malformed`, as is a message cut short anywhere.
 *
 * ## Types
 *
 * | byte | type        | id       | body                                                                  | answer                       |
 * |------|-------------|----------|-----------------------------------------------------------------------|------------------------------|
 * | 0x01 | HELLO       | 0        | role u8 (0 client, 1 server), maxMessageBytes varint                  | each side sends it first     |
 * | 0x02 | GET         | request  | soul string, count varint, keys string × count (0 keys = whole node) | NODE or ERROR                |
 * | 0x03 | NODE        | reply    | frame (empty: the peer knows nothing of that node)                   |                              |
 * | 0x04 | PUT         | request  | frame                                                                 | ACK or ERROR                 |
 * | 0x05 | ACK         | reply    | count varint, then per update: outcome u8, and for rejected (4) only: code string | |
 * | 0x06 | SUBSCRIBE   | request  | count varint, souls string × count                                   | OK or ERROR                  |
 * | 0x07 | UNSUBSCRIBE | request  | count varint, souls string × count                                   | OK                           |
 * | 0x08 | EVENT       | 0        | frame: live updates pushed to a subscriber                            |                              |
 * | 0x09 | ERROR       | reply/0  | code string, message string                                           |                              |
 * | 0x0A | OK          | reply    | (nothing)                                                             |                              |
 * | 0x0B | FEED        | request  | since varint                                                          | OK, then FEED_ENTRY… or ERROR |
 * | 0x0C | FEED_ENTRY  | reply    | seq varint, frame (1.2: empty = a mark, nothing up to seq is for you) |                              |
 * | 0x0D | GET_PART    | request  | soul string, after string ("" = from the first key)                   | NODE_PART or ERROR           |
 * | 0x0E | NODE_PART   | reply    | next string ("" = last part), skipped keys string × count, frame      |                              |
 * | 0x0F | MEMBERS_SYNC| request  | count varint, (peerId string, issuedAt varint) × count                | MEMBERS or ERROR             |
 * | 0x10 | MEMBERS     | reply/0  | count varint, record bytes × count (each varint length + bytes)       |                              |
 * | 0x11 | FEED_ACK    | 0        | feed id varint, seq varint                                            |                              |
 * | 0x12 | DIGEST      | request  | kind u8, view 8 bytes; symbols (0): bits u8, prefix varint, salt 8 bytes, start varint, count varint; souls (1): count varint, soul digests 12 bytes × count | DIGEST_REPLY or ERROR |
 * | 0x13 | DIGEST_REPLY| reply    | kind u8; symbols (0): length varint, the engine's coded symbols; souls (1): count varint, souls string × count; not now (2): reason u8 | |
 * | 0x14 | PUT_AT      | request  | level u8 (1 one, 2 quorum, 3 all), frame                              | ACK_AT or ERROR              |
 * | 0x15 | ACK_AT      | reply    | reached varint, owners varint, then as ACK                            |                              |
 * | 0x16 | GET_AT      | request  | level u8, then as GET                                                 | NODE or ERROR                |
 * | 0x17 | GET_PART_AT | request  | level u8, then as GET_PART                                            | NODE_PART or ERROR           |
 *
 * GET_PART and NODE_PART are 1.1 (a peer on a 1.0 stream never sends them): a whole
 * node in parts, each within the reader's message limit and batch limit, so no node is
 * too large to read. The reader asks from "" and again from each `next` until it is "";
 * the holder keeps nothing between requests (keys are never empty, so "" is free).
 * `skipped` names properties too large for one message on their own (passed over, not
 * blocking the rest). Parts are cut by the engine (`Engine.nodeFramePart`).
 *
 * MEMBERS_SYNC, MEMBERS and FEED_ACK are 1.2 (the DHT, network/dht/): a server's view of
 * the membership (who it knows, and each one's newest record's issue time) and the
 * signed member records the other has newer (core-rs/src/membership.rs owns their
 * format; this layer carries them as opaque bytes, at most MAX_MEMBER_RECORDS of at most
 * MAX_MEMBER_RECORD_BYTES each). MEMBERS with id 0 is a push (a server's own record when
 * it starts or leaves). On a 1.2 stream a FEED_ENTRY with an empty frame is a mark: no
 * entry up to its seq is for the follower (another server's souls, or a PUT_AT its
 * coordinator sent the follower itself), so its cursor moves there once what came before
 * is stored. A backlog FEED_ENTRY may carry several log entries' parts joined into one
 * frame, at the seq of the last entry it covers. FEED_ACK tells a feed's server how far the follower has stored
 * it (the seq of the last entry durable there), which is how a coordinator learns that
 * an owner holds a write (durability levels, and when a copy it does not own may go).
 *
 * PUT_AT (1.2) is a PUT whose writer waits for a durability level: the server answers
 * once that many of each soul's owners hold the updates durably (itself included when
 * it is one), or after its coordination timeout with what it reached: ACK_AT's
 * `reached` (the fewest owners confirmed for any soul of the frame) and `owners` (how
 * many own each soul: R, or fewer servers).
 *
 * DIGEST and DIGEST_REPLY (1.2) are anti-entropy between two owners (dht/anti-entropy.ts,
 * core-rs/src/digest.rs). `view` is the asker's members digest: a replier whose member
 * list differs answers "not now" (reason 1) rather than compare souls the two do not
 * agree who owns; reason 2 is busy, 3 the asker is not a member here. A symbols ask
 * wants coded symbols `start .. start + count` of the souls both own whose position's
 * first `bits` bits are `prefix`, under the asker's `salt`; the reply is the engine's
 * bytes (`encodeSymbols`), checked by the asker's engine. At most MAX_DIGEST_SYMBOLS per
 * ask, none past MAX_DIGEST_SYMBOL_INDEX, at most MAX_DIGEST_RANGE_BITS bits. A souls ask
 * names soul digests (DIGEST_ITEM_BYTES each, at most MAX_DIGEST_SOULS) the asker found
 * only the replier holds; the reply names the souls among them it holds. A held ask (kind
2) names souls with the asker's digest of each (at most MAX_DIGEST_SOULS): the reply
names those the replier stores with exactly that digest, whoever owns them (a server
about to push whole souls skips what the receiver holds already); the view is not
compared for it.
 *
 * GET_AT and GET_PART_AT (1.2) are a GET and a GET_PART whose reader asked for a read
 * consistency (`once({ consistency })`): the server answers once that many of the
 * soul's owners answered it (itself included when it is one). Decoded, they are a
 * `get` / `get-part` with `level` set.
 *
 * ACK outcomes: 0 applied, 1 ignored, 2 historical, 3 deferred, 4 rejected (the engine's
 * OutcomeKind). An ERROR with id 0 is a connection-level error: its sender closes the
 * stream after it. FEED is answered with OK (or ERROR), then the backlog of change-log
 * entries after `since`, then live entries, all as FEED_ENTRY with the request's id.
 *
 * ## Errors
 *
 * An unknown version byte is `wire/version`, an unknown type byte `wire/unknown-type`;
 * decodeMessage throws nothing but WireError whatever the input.
 */
import type { OutcomeKind } from '../../replica/batch-report.js';
import type { UpdateOutcome } from '../../replica/types.js';
import type { PeerRole } from '../types.js';
import { allocateBody } from './framing.js';
import { MAX_VARINT_BYTES, readVarint, varintLength, writeVarint } from './varint.js';
import { WireError } from './wire-error.js';

/** The protocol this peer prefers: 1.1 plus the DHT's membership and feed acknowledgements. */
export const SYNC_PROTOCOL = '/rustdht/sync/1.2.0';
/** 1.0 plus whole nodes in parts (GET_PART, NODE_PART). */
export const SYNC_PROTOCOL_1_1 = '/rustdht/sync/1.1.0';
/** The first version, still spoken with peers that know nothing newer (negotiated by libp2p). */
export const SYNC_PROTOCOL_1_0 = '/rustdht/sync/1.0.0';
/** What this peer offers and accepts, preferred first. */
export const SYNC_PROTOCOLS: readonly string[] = [SYNC_PROTOCOL, SYNC_PROTOCOL_1_1, SYNC_PROTOCOL_1_0];
/** The most member records one MEMBERS carries, and the most peers one MEMBERS_SYNC names. */
export const MAX_MEMBER_RECORDS = 1024;
/** The largest member record carried (the engine refuses larger ones anyway). */
export const MAX_MEMBER_RECORD_BYTES = 8192;
export const WIRE_VERSION = 1;
/** Default cap on the souls of a SUBSCRIBE/UNSUBSCRIBE and the keys of a GET. */
export const DEFAULT_MAX_SOULS = 10_000;
/**
 * The most bytes a NODE, PUT, EVENT or FEED_ENTRY adds around its frame (version, type,
 * id and seq at their longest): a frame of up to maxMessageBytes minus this always fits.
 */
export const MAX_FRAME_MESSAGE_OVERHEAD = 2 + 2 * MAX_VARINT_BYTES;

/** Bytes of a soul digest (core-rs/src/digest.rs ITEM_LEN), of a members digest, and of a round's salt. */
export const DIGEST_ITEM_BYTES = 12;
export const DIGEST_VIEW_BYTES = 8;
export const DIGEST_SALT_BYTES = 8;
/** The most coded symbols one DIGEST asks for (the engine's per-call limit). */
export const MAX_DIGEST_SYMBOLS = 8192;
/** No DIGEST asks for symbols at or past this index (the engine's per-reconciliation limit, 2^18). */
export const MAX_DIGEST_SYMBOL_INDEX = 262_144;
/** The most position bits a DIGEST's range fixes. */
export const MAX_DIGEST_RANGE_BITS = 24;
/** The most soul digests a DIGEST names, and the most souls its reply names. */
export const MAX_DIGEST_SOULS = 4096;
/** The most bytes of symbols a DIGEST_REPLY carries: MAX_DIGEST_SYMBOLS of at most 24 bytes (12 + 4 + an 8-byte count). */
export const MAX_DIGEST_SYMBOL_BYTES = MAX_DIGEST_SYMBOLS * 24;

/** One update's outcome in an ACK: the replica's UpdateOutcome (a rejection's message does not travel). */
export type AckOutcome = UpdateOutcome;

export type WireMessage =
  | { readonly type: 'hello'; readonly id: 0; readonly role: PeerRole; readonly maxMessageBytes: number }
  | { readonly type: 'get'; readonly id: number; readonly soul: string; readonly keys: readonly string[]; readonly level?: ReplicationLevel }
  | { readonly type: 'node'; readonly id: number; readonly frame: Uint8Array }
  | { readonly type: 'put'; readonly id: number; readonly frame: Uint8Array }
  | { readonly type: 'ack'; readonly id: number; readonly outcomes: readonly AckOutcome[] }
  | { readonly type: 'subscribe'; readonly id: number; readonly souls: readonly string[] }
  | { readonly type: 'unsubscribe'; readonly id: number; readonly souls: readonly string[] }
  | { readonly type: 'event'; readonly id: 0; readonly frame: Uint8Array }
  | { readonly type: 'error'; readonly id: number; readonly code: string; readonly message: string }
  | { readonly type: 'ok'; readonly id: number }
  | { readonly type: 'feed'; readonly id: number; readonly since: number }
  | { readonly type: 'feed-entry'; readonly id: number; readonly seq: number; readonly frame: Uint8Array }
  | { readonly type: 'get-part'; readonly id: number; readonly soul: string; readonly after: string; readonly level?: ReplicationLevel }
  | { readonly type: 'node-part'; readonly id: number; readonly next: string; readonly skipped: readonly string[]; readonly frame: Uint8Array }
  | { readonly type: 'members-sync'; readonly id: number; readonly known: readonly MemberDigestEntry[] }
  | { readonly type: 'members'; readonly id: number; readonly records: readonly Uint8Array[] }
  | { readonly type: 'feed-ack'; readonly id: 0; readonly feed: number; readonly seq: number }
  | { readonly type: 'put-at'; readonly id: number; readonly level: ReplicationLevel; readonly frame: Uint8Array }
  | { readonly type: 'ack-at'; readonly id: number; readonly reached: number; readonly owners: number; readonly outcomes: readonly AckOutcome[] }
  | { readonly type: 'digest'; readonly id: number; readonly view: Uint8Array; readonly ask: DigestAsk }
  | { readonly type: 'digest-reply'; readonly id: number; readonly answer: DigestAnswer };

/** What a DIGEST asks for: coded symbols of a range of the souls both own, the souls behind some soul digests, or which of some souls the replier holds as the asker does. */
export type DigestAsk =
  | { readonly kind: 'symbols'; readonly bits: number; readonly prefix: number; readonly salt: Uint8Array; readonly start: number; readonly count: number }
  | { readonly kind: 'souls'; readonly digests: Uint8Array }
  | { readonly kind: 'held'; readonly souls: readonly string[]; readonly digests: Uint8Array };

/** Why a DIGEST was not answered now: member lists differ, the replier is busy, the asker is not a member there. */
export type DigestRefusal = 'views-differ' | 'busy' | 'not-member';

export type DigestAnswer =
  | { readonly kind: 'symbols'; readonly symbols: Uint8Array }
  | { readonly kind: 'souls'; readonly souls: readonly string[] }
  | { readonly kind: 'not-now'; readonly reason: DigestRefusal };

const DIGEST_KINDS = ['symbols', 'souls', 'not-now'] as const;
const DIGEST_ASK_KINDS = ['symbols', 'souls', 'held'] as const;
const DIGEST_REFUSALS: readonly (DigestRefusal | undefined)[] = [undefined, 'views-differ', 'busy', 'not-member'];

/** How many of a soul's owners a PUT_AT waits for. */
export type ReplicationLevel = 'one' | 'quorum' | 'all';
const LEVELS: readonly (ReplicationLevel | undefined)[] = [undefined, 'one', 'quorum', 'all'];

/** One line of a MEMBERS_SYNC: a member the sender knows, and the issue time of its newest record there. */
export interface MemberDigestEntry {
  readonly peerId: string;
  readonly issuedAt: number;
}

export type WireMessageType = WireMessage['type'];

/** The type byte of each message. */
export const MESSAGE_TYPE_CODES: Readonly<Record<WireMessageType, number>> = {
  hello: 0x01,
  get: 0x02,
  node: 0x03,
  put: 0x04,
  ack: 0x05,
  subscribe: 0x06,
  unsubscribe: 0x07,
  event: 0x08,
  error: 0x09,
  ok: 0x0a,
  feed: 0x0b,
  'feed-entry': 0x0c,
  'get-part': 0x0d,
  'node-part': 0x0e,
  'members-sync': 0x0f,
  members: 0x10,
  'feed-ack': 0x11,
  'put-at': 0x14,
  'ack-at': 0x15,
  digest: 0x12,
  'digest-reply': 0x13,
};

/** The type byte of a GET / GET_PART that carries a read consistency level (GET_AT, GET_PART_AT). */
export const LEVELLED_TYPE_CODES = { get: 0x16, 'get-part': 0x17 } as const;

const TYPES_BY_CODE: readonly (WireMessageType | undefined)[] = (() => {
  const table: (WireMessageType | undefined)[] = [];
  for (const [type, code] of Object.entries(MESSAGE_TYPE_CODES)) table[code] = type as WireMessageType;
  for (const [type, code] of Object.entries(LEVELLED_TYPE_CODES)) table[code] = type as WireMessageType;
  return table;
})();

const OUTCOMES: readonly OutcomeKind[] = ['applied', 'ignored', 'historical', 'deferred', 'rejected'];
const REJECTED = 4;
const ROLES: readonly PeerRole[] = ['client', 'server'];

/** Which id a message type must carry: 0, nonzero, or either (ERROR). */
const ID_RULE: Readonly<Record<WireMessageType, 'zero' | 'nonzero' | 'any'>> = {
  hello: 'zero',
  event: 'zero',
  error: 'any',
  get: 'nonzero',
  node: 'nonzero',
  put: 'nonzero',
  ack: 'nonzero',
  subscribe: 'nonzero',
  unsubscribe: 'nonzero',
  ok: 'nonzero',
  feed: 'nonzero',
  'feed-entry': 'nonzero',
  'get-part': 'nonzero',
  'node-part': 'nonzero',
  'members-sync': 'nonzero',
  members: 'any',
  'feed-ack': 'zero',
  'put-at': 'nonzero',
  'ack-at': 'nonzero',
  digest: 'nonzero',
  'digest-reply': 'nonzero',
};

function idProblem(type: WireMessageType, id: number): string | undefined {
  const rule = ID_RULE[type];
  if (rule === 'zero' && id !== 0) return `a ${type} must have id 0, got ${id}.`;
  if (rule === 'nonzero' && id === 0) return `a ${type} must have a nonzero id.`;
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Encoding

const utf8Encoder = new TextEncoder();
/** A lone surrogate (a code point in Cs only matches when unpaired, thanks to the u flag). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Encodes a message body (without the length prefix: see framing.ts lengthPrefixed, which
 * adds it without copying the body again). Frames are copied once, into the body.
 *
 * Throws WireError('wire/malformed') for a message the wire cannot carry as given: an id
 * or number that is not an unsigned safe integer, an id breaking the id rule, an unknown
 * type/role/outcome, or a soul, key or code that is not well-formed Unicode (a lone
 * surrogate would silently become U+FFFD and name something else). An ERROR's
 * human-readable message is the exception: lone surrogates there become U+FFFD.
 * List lengths are not checked against maxSouls here: that limit is the receiver's.
 */
export function encodeMessage(message: WireMessage): Uint8Array {
  const type = message.type;
  const levelled = (message.type === 'get' || message.type === 'get-part') && message.level !== undefined;
  const code = levelled ? LEVELLED_TYPE_CODES[type as 'get' | 'get-part'] : MESSAGE_TYPE_CODES[type];
  if (code === undefined) throw new WireError('wire/malformed', `cannot encode a message of unknown type ${String(type)}.`);
  const problem = idProblem(type, message.id);
  if (problem !== undefined) throw new WireError('wire/malformed', `cannot encode: ${problem}`);

  const parts = new Parts();
  if (levelled) {
    const level = LEVELS.indexOf((message as { level?: ReplicationLevel }).level);
    if (level < 1) throw new WireError('wire/malformed', `cannot encode a ${type} with level ${String((message as { level?: unknown }).level)}.`);
    parts.byte(level);
  }
  switch (message.type) {
    case 'hello': {
      const role = ROLES.indexOf(message.role);
      if (role < 0) throw new WireError('wire/malformed', `cannot encode a hello with role ${String(message.role)}.`);
      parts.byte(role);
      parts.varint(message.maxMessageBytes, 'maxMessageBytes');
      break;
    }
    case 'get':
      parts.string(message.soul, 'soul');
      parts.strings(message.keys, 'key');
      break;
    case 'node':
    case 'put':
    case 'event':
      parts.bytes(message.frame);
      break;
    case 'ack':
      encodeOutcomes(parts, message.outcomes);
      break;
    case 'put-at': {
      const level = LEVELS.indexOf(message.level);
      if (level < 1) throw new WireError('wire/malformed', `cannot encode a put-at with level ${String(message.level)}.`);
      parts.byte(level);
      parts.bytes(message.frame);
      break;
    }
    case 'ack-at':
      parts.varint(message.reached, 'reached');
      parts.varint(message.owners, 'owners');
      encodeOutcomes(parts, message.outcomes);
      break;
    case 'subscribe':
    case 'unsubscribe':
      parts.strings(message.souls, 'soul');
      break;
    case 'error':
      parts.string(message.code, 'error code');
      parts.string(message.message, 'error message', true);
      break;
    case 'ok':
      break;
    case 'feed':
      parts.varint(message.since, 'since');
      break;
    case 'feed-entry':
      parts.varint(message.seq, 'seq');
      parts.bytes(message.frame);
      break;
    case 'get-part':
      parts.string(message.soul, 'soul');
      parts.string(message.after, 'key');
      break;
    case 'node-part':
      parts.string(message.next, 'key');
      parts.strings(message.skipped, 'key');
      parts.bytes(message.frame);
      break;
    case 'members-sync':
      parts.varint(message.known.length, 'member count');
      for (const entry of message.known) {
        parts.string(entry.peerId, 'peer id');
        parts.varint(entry.issuedAt, 'issuedAt');
      }
      break;
    case 'members':
      parts.varint(message.records.length, 'record count');
      for (const record of message.records) {
        if (!(record instanceof Uint8Array)) throw new WireError('wire/malformed', 'cannot encode a member record that is not a Uint8Array.');
        parts.varint(record.length, 'record length');
        parts.bytes(record);
      }
      break;
    case 'feed-ack':
      parts.varint(message.feed, 'feed id');
      parts.varint(message.seq, 'seq');
      break;
    case 'digest':
      encodeDigestAsk(parts, message.view, message.ask);
      break;
    case 'digest-reply':
      encodeDigestAnswer(parts, message.answer);
      break;
  }

  const idLength = varintLength(message.id, 'id');
  const body = allocateBody(2 + idLength + parts.length);
  body[0] = WIRE_VERSION;
  body[1] = code;
  writeVarint(body, 2, message.id);
  parts.writeTo(body, 2 + idLength);
  return body;
}

function encodeDigestAsk(parts: Parts, view: Uint8Array, ask: DigestAsk): void {
  const kind = DIGEST_ASK_KINDS.indexOf(ask.kind);
  if (kind < 0) throw new WireError('wire/malformed', `cannot encode a digest asking for ${String(ask.kind)}.`);
  parts.byte(kind);
  parts.fixed(view, DIGEST_VIEW_BYTES, 'members digest');
  if (ask.kind === 'symbols') {
    const problem = digestAskProblem(ask.bits, ask.prefix, ask.start, ask.count);
    if (problem !== undefined) throw new WireError('wire/malformed', `cannot encode: ${problem.message}`);
    parts.byte(ask.bits);
    parts.varint(ask.prefix, 'prefix');
    parts.fixed(ask.salt, DIGEST_SALT_BYTES, 'salt');
    parts.varint(ask.start, 'start');
    parts.varint(ask.count, 'count');
    return;
  }
  if (ask.kind === 'held') {
    if (!Array.isArray(ask.souls) || !(ask.digests instanceof Uint8Array) || ask.digests.length !== ask.souls.length * DIGEST_ITEM_BYTES) {
      throw new WireError('wire/malformed', `cannot encode a held ask whose digests are not ${DIGEST_ITEM_BYTES} bytes per soul.`);
    }
    parts.strings(ask.souls, 'soul');
    parts.bytes(ask.digests);
    return;
  }
  if (!(ask.digests instanceof Uint8Array) || ask.digests.length % DIGEST_ITEM_BYTES !== 0) {
    throw new WireError('wire/malformed', `cannot encode soul digests that are not ${DIGEST_ITEM_BYTES} bytes each.`);
  }
  parts.varint(ask.digests.length / DIGEST_ITEM_BYTES, 'soul digest count');
  parts.bytes(ask.digests);
}

function encodeDigestAnswer(parts: Parts, answer: DigestAnswer): void {
  const kind = DIGEST_KINDS.indexOf(answer.kind);
  if (kind < 0) throw new WireError('wire/malformed', `cannot encode a digest reply of kind ${String(answer.kind)}.`);
  parts.byte(kind);
  if (answer.kind === 'symbols') {
    if (!(answer.symbols instanceof Uint8Array)) throw new WireError('wire/malformed', 'cannot encode symbols that are not a Uint8Array.');
    parts.varint(answer.symbols.length, 'symbols length');
    parts.bytes(answer.symbols);
  }
  else if (answer.kind === 'souls') parts.strings(answer.souls, 'soul');
  else {
    const reason = DIGEST_REFUSALS.indexOf(answer.reason);
    if (reason < 1) throw new WireError('wire/malformed', `cannot encode the digest refusal ${String(answer.reason)}.`);
    parts.byte(reason);
  }
}

/**
 * What is wrong with a symbols ask the engine would refuse, if anything: more than
 * MAX_DIGEST_SYMBOLS or an index past MAX_DIGEST_SYMBOL_INDEX (too large), a range past
 * MAX_DIGEST_RANGE_BITS or a prefix wider than its bits (malformed). Refused at the
 * wire, before any work.
 */
function digestAskProblem(bits: number, prefix: number, start: number, count: number): WireError | undefined {
  if (count > MAX_DIGEST_SYMBOLS) return new WireError('wire/too-large', `${count} symbols in one digest; at most ${MAX_DIGEST_SYMBOLS}.`);
  if (start + count > MAX_DIGEST_SYMBOL_INDEX) return new WireError('wire/too-large', `symbols up to ${start + count} in a digest; none past ${MAX_DIGEST_SYMBOL_INDEX}.`);
  if (!Number.isInteger(bits) || bits < 0 || bits > MAX_DIGEST_RANGE_BITS) return new WireError('wire/malformed', `a digest range of ${bits} bits; at most ${MAX_DIGEST_RANGE_BITS}.`);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix >= 2 ** bits) return new WireError('wire/malformed', `a digest prefix ${prefix} that does not fit in ${bits} bits.`);
  return undefined;
}

function encodeOutcomes(parts: Parts, outcomes: readonly AckOutcome[]): void {
  parts.varint(outcomes.length, 'outcome count');
  for (const entry of outcomes) {
    const outcome = OUTCOMES.indexOf(entry.outcome);
    if (outcome < 0) throw new WireError('wire/malformed', `cannot encode the outcome ${String(entry.outcome)}.`);
    parts.byte(outcome);
    if (entry.outcome === 'rejected') parts.string(entry.code, 'rejection code');
  }
}

/** The pieces of a body, sized before anything is copied so the body is allocated once. */
class Parts {
  readonly #parts: (Uint8Array | number)[] = [];
  /** Numbers are varints except those listed here, which are single bytes. */
  readonly #bytes = new Set<number>();
  length = 0;

  byte(value: number): void {
    this.#bytes.add(this.#parts.length);
    this.#parts.push(value);
    this.length += 1;
  }

  varint(value: number, what: string): void {
    this.length += varintLength(value, what);
    this.#parts.push(value);
  }

  bytes(bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw new WireError('wire/malformed', 'cannot encode a frame that is not a Uint8Array.');
    this.#parts.push(bytes);
    this.length += bytes.length;
  }

  /** Exactly `length` bytes (no length prefix). */
  fixed(bytes: Uint8Array, length: number, what: string): void {
    if (!(bytes instanceof Uint8Array) || bytes.length !== length) throw new WireError('wire/malformed', `cannot encode a ${what} that is not ${length} bytes.`);
    this.bytes(bytes);
  }

  string(text: string, what: string, lenient = false): void {
    if (typeof text !== 'string') throw new WireError('wire/malformed', `cannot encode ${what}: not a string.`);
    if (!lenient && LONE_SURROGATE.test(text)) {
      throw new WireError('wire/malformed', `cannot encode ${what} ${JSON.stringify(text)}: it contains a lone surrogate, which UTF-8 cannot carry.`);
    }
    const bytes = utf8Encoder.encode(text);
    this.varint(bytes.length, `${what} length`);
    this.bytes(bytes);
  }

  strings(texts: readonly string[], what: string): void {
    this.varint(texts.length, `${what} count`);
    for (const text of texts) this.string(text, what);
  }

  writeTo(target: Uint8Array, offset: number): void {
    this.#parts.forEach((part, index) => {
      if (typeof part !== 'number') {
        target.set(part, offset);
        offset += part.length;
      } else if (this.#bytes.has(index)) {
        target[offset++] = part;
      } else {
        offset = writeVarint(target, offset, part);
      }
    });
  }
}

// ---------------------------------------------------------------------------------------
// Decoding

export interface DecodeOptions {
  /** Most souls in a SUBSCRIBE/UNSUBSCRIBE, and most keys in a GET (default 10,000). */
  readonly maxSouls?: number;
}

/** fatal: invalid UTF-8 throws instead of becoming U+FFFD; ignoreBOM: a leading U+FEFF is content. */
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes one message body (without its length prefix). Throws WireError, and nothing
 * else, for bytes that are not a well-formed message. Frames in the result are subarrays
 * of `bytes`.
 */
export function decodeMessage(bytes: Uint8Array, options: DecodeOptions = {}): WireMessage {
  const maxSouls = options.maxSouls ?? DEFAULT_MAX_SOULS;
  const cursor = new Cursor(bytes);
  const version = cursor.byte('version');
  if (version !== WIRE_VERSION) {
    throw new WireError('wire/version', `unsupported sync protocol version ${version} (this peer speaks ${WIRE_VERSION}).`);
  }
  const typeCode = cursor.byte('message type');
  const type = TYPES_BY_CODE[typeCode];
  if (type === undefined) throw new WireError('wire/unknown-type', `unknown message type 0x${typeCode.toString(16).padStart(2, '0')}.`);
  const id = cursor.varint('id');
  const problem = idProblem(type, id);
  if (problem !== undefined) throw new WireError('wire/malformed', problem);
  let level: ReplicationLevel | undefined;
  if (typeCode === LEVELLED_TYPE_CODES.get || typeCode === LEVELLED_TYPE_CODES['get-part']) {
    const levelCode = cursor.byte('level');
    level = LEVELS[levelCode];
    if (level === undefined) throw new WireError('wire/malformed', `unknown consistency level ${levelCode} in a ${type}.`);
  }

  let message: WireMessage;
  switch (type) {
    case 'hello': {
      const role = ROLES[cursor.byte('role')];
      if (role === undefined) throw new WireError('wire/malformed', 'a hello with an unknown role.');
      message = { type, id: 0, role, maxMessageBytes: cursor.varint('maxMessageBytes') };
      break;
    }
    case 'get': {
      const soul = cursor.string('soul');
      const keys = cursor.strings('key', maxSouls);
      message = level === undefined ? { type, id, soul, keys } : { type, id, soul, keys, level };
      break;
    }
    case 'node':
    case 'put':
      return { type, id, frame: cursor.rest() };
    case 'event':
      return { type, id: 0, frame: cursor.rest() };
    case 'ack':
      message = { type, id, outcomes: decodeOutcomes(cursor) };
      break;
    case 'put-at': {
      const code = cursor.byte('level');
      const level = LEVELS[code];
      if (level === undefined) throw new WireError('wire/malformed', `unknown durability level ${code} in a put-at.`);
      return { type, id, level, frame: cursor.rest() };
    }
    case 'ack-at': {
      const reached = cursor.varint('reached');
      const owners = cursor.varint('owners');
      message = { type, id, reached, owners, outcomes: decodeOutcomes(cursor) };
      break;
    }
    case 'subscribe':
    case 'unsubscribe':
      message = { type, id, souls: cursor.strings('soul', maxSouls) };
      break;
    case 'error': {
      const code = cursor.string('error code');
      message = { type, id, code, message: cursor.string('error message') };
      break;
    }
    case 'ok':
      message = { type, id };
      break;
    case 'feed':
      message = { type, id, since: cursor.varint('since') };
      break;
    case 'feed-entry': {
      const seq = cursor.varint('seq');
      return { type, id, seq, frame: cursor.rest() };
    }
    case 'get-part': {
      const soul = cursor.string('soul');
      const after = cursor.string('key');
      message = level === undefined ? { type, id, soul, after } : { type, id, soul, after, level };
      break;
    }
    case 'node-part': {
      const next = cursor.string('key');
      const skipped = cursor.strings('key', maxSouls);
      return { type, id, next, skipped, frame: cursor.rest() };
    }
    case 'members-sync': {
      // Each entry takes at least two bytes (an empty peer id and a one-byte varint).
      const count = cursor.count('member', 2, MAX_MEMBER_RECORDS);
      const known: MemberDigestEntry[] = [];
      for (let i = 0; i < count; i++) {
        const peerId = cursor.string('peer id');
        known.push({ peerId, issuedAt: cursor.varint('issuedAt') });
      }
      message = { type, id, known };
      break;
    }
    case 'members': {
      const count = cursor.count('member record', 1, MAX_MEMBER_RECORDS);
      const records: Uint8Array[] = [];
      for (let i = 0; i < count; i++) records.push(cursor.sized('member record', MAX_MEMBER_RECORD_BYTES));
      message = { type, id, records };
      break;
    }
    case 'feed-ack': {
      const feed = cursor.varint('feed id');
      message = { type, id: 0, feed, seq: cursor.varint('seq') };
      break;
    }
    case 'digest':
      message = decodeDigest(cursor, id);
      break;
    case 'digest-reply': {
      const kind = DIGEST_KINDS[cursor.byte('digest reply kind')];
      if (kind === undefined) throw new WireError('wire/malformed', 'a digest reply of an unknown kind.');
      if (kind === 'symbols') {
        message = { type, id, answer: { kind, symbols: cursor.sized('symbols', MAX_DIGEST_SYMBOL_BYTES) } };
        break;
      }
      if (kind === 'souls') {
        message = { type, id, answer: { kind, souls: cursor.strings('soul', MAX_DIGEST_SOULS) } };
        break;
      }
      const reason = DIGEST_REFUSALS[cursor.byte('digest refusal')];
      if (reason === undefined) throw new WireError('wire/malformed', 'a digest refusal of an unknown reason.');
      message = { type, id, answer: { kind, reason } };
      break;
    }
  }
  cursor.end(type);
  return message;
}

function decodeDigest(cursor: Cursor, id: number): WireMessage {
  const kind = cursor.byte('digest kind');
  const view = cursor.fixed('members digest', DIGEST_VIEW_BYTES);
  if (kind === 0) {
    const bits = cursor.byte('range bits');
    const prefix = cursor.varint('prefix');
    const salt = cursor.fixed('salt', DIGEST_SALT_BYTES);
    const start = cursor.varint('start');
    const count = cursor.varint('count');
    const problem = digestAskProblem(bits, prefix, start, count);
    if (problem !== undefined) throw problem;
    return { type: 'digest', id, view, ask: { kind: 'symbols', bits, prefix, salt, start, count } };
  }
  if (kind === 2) {
    const souls = cursor.strings('soul', MAX_DIGEST_SOULS);
    return { type: 'digest', id, view, ask: { kind: 'held', souls, digests: cursor.fixed('soul digests', souls.length * DIGEST_ITEM_BYTES) } };
  }
  if (kind !== 1) throw new WireError('wire/malformed', `a digest of unknown kind ${kind}.`);
  const count = cursor.count('soul digest', DIGEST_ITEM_BYTES, MAX_DIGEST_SOULS);
  return { type: 'digest', id, view, ask: { kind: 'souls', digests: cursor.fixed('soul digests', count * DIGEST_ITEM_BYTES) } };
}

function decodeOutcomes(cursor: Cursor): AckOutcome[] {
  const count = cursor.count('outcome', 1, Number.MAX_SAFE_INTEGER);
  const outcomes: AckOutcome[] = [];
  for (let i = 0; i < count; i++) {
    const code = cursor.byte('outcome');
    const outcome = OUTCOMES[code];
    if (outcome === undefined) throw new WireError('wire/malformed', `unknown update outcome ${code} in an ack.`);
    outcomes.push(code === REJECTED ? { outcome: 'rejected', code: cursor.string('rejection code') } : { outcome: outcome as Exclude<OutcomeKind, 'rejected'> });
  }
  return outcomes;
}

/** Reads a body front to back; every way of running out or going wrong is a WireError. */
class Cursor {
  readonly #bytes: Uint8Array;
  #pos = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get remaining(): number {
    return this.#bytes.length - this.#pos;
  }

  byte(what: string): number {
    const byte = this.#bytes[this.#pos];
    if (byte === undefined) throw truncated(what);
    this.#pos++;
    return byte;
  }

  varint(what: string): number {
    const read = readVarint(this.#bytes, this.#pos, MAX_VARINT_BYTES, what);
    if (read === undefined) throw truncated(what);
    this.#pos = read.next;
    return read.value;
  }

  string(what: string): string {
    const length = this.varint(`${what} length`);
    if (length > this.remaining) throw truncated(what);
    const bytes = this.#bytes.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    try {
      return utf8Decoder.decode(bytes);
    } catch (cause) {
      throw new WireError('wire/malformed', `${what} is not valid UTF-8.`, { cause });
    }
  }

  /**
   * A list count, checked before anything is read or allocated: each item takes at least
   * `minItemBytes`, so a count the remaining bytes cannot hold is malformed whatever it
   * claims, and a count over `max` is too large even if the bytes are there.
   */
  count(what: string, minItemBytes: number, max: number): number {
    const count = this.varint(`${what} count`);
    if (count * minItemBytes > this.remaining) {
      throw new WireError('wire/malformed', `the ${what} count ${count} exceeds what the ${this.remaining} remaining bytes can hold.`);
    }
    if (count > max) throw new WireError('wire/too-large', `${count} ${what}s in one message; the limit is ${max}.`);
    return count;
  }

  strings(what: string, max: number): string[] {
    // Each string takes at least its one-byte length.
    const count = this.count(what, 1, max);
    const strings: string[] = [];
    for (let i = 0; i < count; i++) strings.push(this.string(what));
    return strings;
  }

  /** Varint length then that many bytes (at most `max`), zero-copy. */
  sized(what: string, max: number): Uint8Array {
    const length = this.varint(`${what} length`);
    if (length > this.remaining) throw truncated(what);
    if (length > max) throw new WireError('wire/too-large', `a ${what} of ${length} bytes; the limit is ${max}.`);
    const bytes = this.#bytes.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return bytes;
  }

  /** Exactly `length` bytes, zero-copy. */
  fixed(what: string, length: number): Uint8Array {
    if (length > this.remaining) throw truncated(what);
    const bytes = this.#bytes.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return bytes;
  }

  /** Zero-copy: a view of the rest of the body. */
  rest(): Uint8Array {
    const rest = this.#bytes.subarray(this.#pos);
    this.#pos = this.#bytes.length;
    return rest;
  }

  end(type: WireMessageType): void {
    if (this.remaining !== 0) throw new WireError('wire/malformed', `${this.remaining} unexpected bytes after a ${type}.`);
  }
}

function truncated(what: string): WireError {
  return new WireError('wire/malformed', `the message ends in the middle of its ${what}.`);
}
