/** The `./engine` subpath (benchmarks, interop) exposes the same engine on every platform. */
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine/load-node.js';

describe('engine module', () => {
  it('exports the documented names', () => {
    expect(Object.keys(engine).sort()).toEqual(
      ['Engine', 'Signer', 'contentKey', 'encodeUpdates', 'hamDecide', 'joinFrames', 'jsonText', 'verifySignature', 'verifySignatures'].sort(),
    );
  });

  it('signs and verifies with raw Ed25519', () => {
    const signer = engine.Signer.fromSeed(new Uint8Array(32).fill(1));
    const message = new TextEncoder().encode('message');
    const signature = signer.sign(message);
    const publicKey = new Uint8Array(Buffer.from(signer.publicKey(), 'base64url'));
    expect(engine.verifySignature(publicKey, message, signature)).toBe(true);
    signature[0]! ^= 1;
    expect(engine.verifySignature(publicKey, message, signature)).toBe(false);
    signer.free();
  });
});
