/**
 * Which refusal codes drop a write from the outbox (write-refusals.ts), code by code:
 * every code the engine uses for an update that is itself malformed is final, families
 * match by prefix only, and a single final code matches only itself — a longer code that
 * merely starts with it is one this version does not know, so it is "not now" and the
 * write is kept (dropping it would lose the user's data).
 */
import { expect, it } from 'vitest';
import { isFinalRefusal } from '../../src/network/duties/write-refusals.js';

it('the engine\'s refusals of a malformed key or soul are final: the update is never taken', () => {
  expect(isFinalRefusal('key/invalid')).toBe(true);
  expect(isFinalRefusal('soul/invalid')).toBe(true);
});

it('every family code and every single final code is final', () => {
  for (const code of [
    'signature/invalid', 'signature/shape', 'namespace/not-owner', 'content/hash-mismatch',
    'decode/truncated', 'decode/utf8', 'value/non-finite', 'value/link',
    'key/invalid', 'soul/invalid', 'limit/soul', 'limit/key', 'limit/value', 'limit/batch', 'wire/too-large',
  ]) {
    expect(isFinalRefusal(code), code).toBe(true);
  }
});

it('a code that only starts with a single final code is unknown, so the write is kept', () => {
  for (const code of ['limit/valuex', 'limit/value-per-peer', 'limit/keys', 'limit/soul-rate', 'limit/batches', 'wire/too-large-for-now', 'key/invalid-later', 'soul/invalidated']) {
    expect(isFinalRefusal(code), code).toBe(false);
  }
});

it('families match at the start of a code only, and the empty code is not final', () => {
  for (const code of ['', 'x-signature/invalid', 'peer/decode/', 'old/namespace/not-owner', 'signature', 'value']) {
    expect(isFinalRefusal(code), JSON.stringify(code)).toBe(false);
  }
});
