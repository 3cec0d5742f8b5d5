/**
 * Bytes ↔ strings dense enough for localStorage, whose quota counts UTF-16 code units
 * (Chromium: 5 Mi units per origin, keys and values together).
 *
 * Measured in Chromium, data bytes that fit before QuotaExceededError:
 *   base64 (1 byte = 4/3 units)             3.75 MiB
 *   Latin-1, one byte per unit              5.00 MiB
 *   15 bits per unit (this file)            9.37 MiB
 *   16 bits per unit (raw code units)      10.00 MiB
 * Raw 16-bit packing would store lone surrogates, which a DOMString may hold but which
 * other engines are free to mangle when they persist strings as UTF-8; 15 bits per unit
 * keeps every unit a plain BMP character (U+0020..U+801F: below the surrogates and
 * above the C0 controls) for 6% less room.
 *
 * Layout: one header unit, U+0020 + the number of padding bits (0..14) in the last
 * unit, then ceil(8n / 15) units of 15 bits each, most significant bit first, each
 * offset by 0x20.
 */
import { RustDHTError } from '../api/errors.js';

const OFFSET = 0x20;
const BITS = 15;
const MASK = (1 << BITS) - 1;
/** String.fromCharCode takes its units as arguments: stay far below engine argument limits. */
const CHUNK = 8192;

export function packBytes(bytes: Uint8Array): string {
  const units = Math.ceil((bytes.length * 8) / BITS);
  const padding = units * BITS - bytes.length * 8;
  const codes = new Uint16Array(units + 1);
  codes[0] = OFFSET + padding;
  let accumulator = 0;
  let held = 0;
  let next = 1;
  for (let i = 0; i < bytes.length; i++) {
    accumulator = ((accumulator << 8) | bytes[i]!) & 0x7fffff; // never more than 22 bits needed
    held += 8;
    if (held >= BITS) {
      held -= BITS;
      codes[next++] = OFFSET + ((accumulator >>> held) & MASK);
    }
  }
  if (held > 0) codes[next] = OFFSET + ((accumulator << (BITS - held)) & MASK);
  let text = '';
  for (let i = 0; i < codes.length; i += CHUNK) text += String.fromCharCode(...codes.subarray(i, i + CHUNK));
  return text;
}

export function unpackBytes(text: string): Uint8Array {
  const padding = text.charCodeAt(0) - OFFSET;
  const units = text.length - 1;
  const bits = units * BITS - padding;
  if (!(padding >= 0 && padding < BITS) || bits < 0 || bits % 8 !== 0) throw corrupt();
  const bytes = new Uint8Array(bits / 8);
  let accumulator = 0;
  let held = 0;
  let next = 0;
  for (let i = 1; i <= units; i++) {
    const value = text.charCodeAt(i) - OFFSET;
    if (!(value >= 0 && value <= MASK)) throw corrupt();
    accumulator = ((accumulator << BITS) | value) & 0x3fffff; // at most 7 + 15 bits held
    held += BITS;
    while (held >= 8 && next < bytes.length) {
      held -= 8;
      bytes[next++] = (accumulator >>> held) & 0xff;
    }
  }
  // The padding must be zero bits, so every byte string has exactly one encoding.
  if (held !== padding || (accumulator & ((1 << held) - 1)) !== 0) throw corrupt();
  return bytes;
}

function corrupt(): RustDHTError {
  return new RustDHTError('storage/corrupt', 'a localStorage item under a RustDHT namespace is not in RustDHT’s encoding; something else wrote there.');
}
