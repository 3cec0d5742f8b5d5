/**
 * The fixed set of reason codes this peer reports: in `counters().rejects`, in the
 * `reason` label of /metrics, in `reject` events and in the server's log lines.
 *
 * Codes also come from peers (an ERROR's code, an ACK's rejection code), and a peer may
 * send any string there. Reported as they are, a peer could mint a metric label, a
 * counter entry and a log field per message (20,000 labels in 0.4 s; a 1 MiB code made a
 * 43 MB /metrics). So every code reported goes through `knownCode()`: one of the codes
 * below stays itself, anything else is `other`. A code this version does not know is
 * still a refusal and still counted, only not by name.
 *
 * The list is the engine's codes (core-rs/src/error.rs), the wire's, and the codes the
 * SDK's own parts raise. A part that adds a code a peer may be told or a counter may
 * record adds it here (test/network/hostile-peers.test.ts checks that every code of the
 * engine and of the wire is).
 *
 * Peer-provided messages are free text: `boundedText()` cuts them to
 * MAX_REPORTED_TEXT_CHARS before they reach an event or a log line.
 */

/** What an unknown code is reported as. */
export const OTHER_CODE = 'other';

export const KNOWN_CODES: readonly string[] = Object.freeze([
  // The engine: rejections of one update (ACK `rejected`), and errors of a whole frame.
  'signature/invalid',
  'signature/missing',
  'signature/shape',
  'namespace/not-owner',
  'namespace/bad-key',
  'content/hash-mismatch',
  'clock/too-far-ahead',
  'limit/deferred',
  'limit/soul',
  'limit/key',
  'limit/value',
  'limit/batch',
  'decode/truncated',
  'decode/version',
  'decode/tag',
  'decode/utf8',
  'decode/trailing',
  'value/non-finite',
  'value/type',
  'value/ill-formed-string',
  'value/link',
  'key/invalid',
  'soul/invalid',
  'public/soul',
  'config/invalid',
  'engine/unbound',
  'engine/trapped',
  // The wire (wire/wire-error.ts) and the session.
  'wire/version',
  'wire/unknown-type',
  'wire/malformed',
  'wire/too-large',
  'wire/rate-limited',
  'wire/busy',
  'wire/slow-consumer',
  'wire/too-many-sessions',
  // Serving and duties.
  'limit/subscriptions',
  'limit/souls',
  'limit/keys',
  'event/unsolicited',
  'event/too-large',
  'feed/unavailable',
  'feed/failed',
  'feed/entry-too-large',
  'feed/unsolicited',
  'feed/overloaded',
  'feed/unknown-ack',
  // The DHT (network/dht/): member records (the engine's, and the table's), placement, repair.
  'placement/duplicate-member',
  'placement/invalid',
  'member/malformed',
  'member/bad-signature',
  'member/stale',
  'member/future',
  'member/too-large',
  'member/untrusted',
  'member/too-many',
  'repair/failed',
  // Anti-entropy (dht/anti-entropy.ts, the engine's core-rs/src/digest.rs).
  'digest/invalid',
  'digest/malformed',
  'digest/too-large',
  'digest/undecodable',
  'network/closed',
  'network/timeout',
  'network/offline',
  'network/refused',
  'network/wrong-peer',
  'network/unreachable',
  'network/dial-failed',
  'outbox/id',
  'outbox/undelivered',
  // Quotas and storage (a server refusing a write it cannot store).
  'quota/hints',
  'quota/peer',
  'quota/public',
  'quota/rate',
  'storage/full',
  'storage/io',
  'storage/quota',
  'storage/corrupt',
  'storage/unavailable',
  'storage/bytes',
  'storage/foreign',
  'storage/location',
  'storage/locked',
  'storage/operation',
  'storage/range',
  'storage/undo',
  'storage/version',
  'store/corrupt',
  'store/layout',
  'internal',
  'rejected',
]);

const KNOWN = new Set(KNOWN_CODES);

/** `code` if it is one of KNOWN_CODES, else `other`: what a counter, label or log field may carry. */
export function knownCode(code: unknown): string {
  return typeof code === 'string' && KNOWN.has(code) ? code : OTHER_CODE;
}

/** The most characters of peer-provided text (an ERROR's message) an event or a log line carries. */
export const MAX_REPORTED_TEXT_CHARS = 200;

/** `text` cut to MAX_REPORTED_TEXT_CHARS (with an ellipsis and the length it had). */
export function boundedText(text: unknown): string {
  const value = typeof text === 'string' ? text : String(text);
  if (value.length <= MAX_REPORTED_TEXT_CHARS) return value;
  return `${value.slice(0, MAX_REPORTED_TEXT_CHARS)}… (${value.length} characters)`;
}
