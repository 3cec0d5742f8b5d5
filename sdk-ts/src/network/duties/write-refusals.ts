/**
 * Which refusals of a write are final. The outbox holds writes the network has not taken
 * yet, and `put()` has already resolved for them: dropping one loses the user's data. So
 * an entry leaves the outbox unrefused or refused *for good* only — when the update
 * itself is what no peer will ever take (bad signature, someone else's space, malformed,
 * over a size limit). Everything else — a full deferred queue, a clock the peer finds too
 * far ahead, a quota, a full disk, a rate limit, a timeout, a code this version does not
 * know — says "not now": the entry stays and is sent again later.
 */

/** Codes (or code families, ending in '/') for which the update will never be taken. */
const FINAL: readonly string[] = [
  'signature/',
  'namespace/',
  'content/',
  'decode/',
  'value/',
  'key/invalid',
  'soul/invalid',
  'limit/soul',
  'limit/key',
  'limit/value',
  'limit/batch',
  'wire/too-large',
];

/** True when a write refused with `code` must not be sent again. */
export function isFinalRefusal(code: string): boolean {
  return FINAL.some((final) => (final.endsWith('/') ? code.startsWith(final) : code === final));
}
