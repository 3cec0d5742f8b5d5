/**
 * Bytes through a Channel (network/transport/channel.ts), for the tests that send a
 * pattern over one and check what arrives: the Channel contract suite, the libp2p node
 * tests and the yamux window-update test.
 */
import type { Channel } from '../../../src/network/transport/channel.js';

/** `length` bytes of a pattern that differs with `seed`. */
export function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

/** Everything `channel` receives, as one array, once `length` bytes arrived. */
export function receive(channel: Channel, length: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const received = new Uint8Array(length);
    let offset = 0;
    channel.onBytes((chunk) => {
      received.set(chunk.subarray(0, length - offset), offset);
      offset += chunk.byteLength;
      if (offset >= length) resolve(received);
    });
    channel.onClose((error) => reject(error ?? new Error(`closed after ${offset} of ${length} bytes`)));
  });
}

export function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
