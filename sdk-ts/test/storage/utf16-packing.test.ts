import { describe, expect, it } from 'vitest';
import { RustDHTError } from '../../src/api/errors.js';
import { packBytes, unpackBytes } from '../../src/storage/utf16-packing.js';
import { sameBytes } from './assertions.js';
import { Random } from './model.js';

describe('15-bit UTF-16 packing (LocalStorageStore keys and values)', () => {
  it('round-trips every length from 0 to 300 and a large value', () => {
    const random = new Random(15);
    const failures: number[] = [];
    for (let length = 0; length <= 300; length++) {
      const bytes = random.bytes(length);
      if (!sameBytes(unpackBytes(packBytes(bytes)), bytes)) failures.push(length);
    }
    expect(failures).toEqual([]);
    const large = random.bytes(1024 * 1024 + 7);
    expect(sameBytes(unpackBytes(packBytes(large)), large)).toBe(true);
  });

  it('round-trips all-zero and all-0xff runs', () => {
    for (const fill of [0x00, 0xff]) {
      for (const length of [1, 2, 15, 16, 17, 1000]) {
        const bytes = new Uint8Array(length).fill(fill);
        expect(unpackBytes(packBytes(bytes))).toEqual(bytes);
      }
    }
  });

  it('uses only U+0020..U+801F (no surrogates, no C0 controls) at 16 data bits per 15-bit unit', () => {
    const random = new Random(16);
    const bytes = random.bytes(15_000);
    const packed = packBytes(bytes);
    expect(packed.length).toBe(1 + 8_000); // header + 15,000 × 8 / 15
    for (let i = 0; i < packed.length; i++) {
      const unit = packed.charCodeAt(i);
      expect(unit >= 0x20 && unit <= 0x801f, `unit ${unit.toString(16)} at ${i}`).toBe(true);
    }
  });

  it('gives every byte string exactly one encoding, and distinct strings distinct encodings', () => {
    // Every string of 0..2 bytes, and every 3-byte string ending in 0x5a.
    const seen = new Map<string, string>();
    const collisions: string[] = [];
    for (let length = 0; length <= 3; length++) {
      for (let n = 0; n < 256 ** Math.min(length, 2); n++) {
        const bytes = new Uint8Array(length).map((_, i) => (i < 2 ? (n >> (8 * i)) & 0xff : 0x5a));
        const packed = packBytes(bytes);
        const id = bytes.join();
        if (seen.has(packed)) collisions.push(`${seen.get(packed)} / ${id}`);
        seen.set(packed, id);
        if (!sameBytes(unpackBytes(packed), bytes)) collisions.push(`${id} does not round-trip`);
      }
    }
    expect(collisions).toEqual([]);
    expect(seen.size).toBe(1 + 256 + 65536 + 65536);
  });

  it('refuses strings it did not produce', () => {
    for (const foreign of ['', '\u0010', '\u002f', ' \u0000', ' \ud800', '! ', '\u0021\u0021', 'hello']) {
      expect(() => unpackBytes(foreign), JSON.stringify(foreign)).toThrow(RustDHTError);
    }
  });
});
