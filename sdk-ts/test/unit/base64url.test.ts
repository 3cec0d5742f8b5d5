import { describe, expect, it } from 'vitest';
import { decodeBase64url, encodeBase64url } from '../../src/util/base64url.js';

describe('base64url', () => {
  it('matches Node for every length from 0 to 70 bytes', () => {
    for (let length = 0; length <= 70; length++) {
      const bytes = crypto.getRandomValues(new Uint8Array(length));
      const text = encodeBase64url(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64url'));
      expect(decodeBase64url(text)).toEqual(bytes);
    }
  });

  it('refuses non-canonical or foreign text', () => {
    // 'AAA\u00e9' would decode (to 3 bytes) if a character past ASCII were read as a digit.
    for (const bad of ['A', 'AB=', 'AB+/', 'AB CD', 'AB\u00e9', 'AAA\u00e9', 'AAA\u0141', 'AF', 'AAB', '____\n']) {
      expect(decodeBase64url(bad), bad).toBeUndefined();
    }
    expect(decodeBase64url('AA')).toEqual(new Uint8Array([0]));
    expect(decodeBase64url('AAA')).toEqual(new Uint8Array([0, 0]));
  });
});
