/** The `./engine` subpath (benchmarks, interop) exposes the same engine on every platform. */
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine/load-node.js';

describe('engine module', () => {
  it('exports the documented names', () => {
    expect(Object.keys(engine).sort()).toEqual(['Engine', 'Signer', 'contentKey', 'encodeUpdates', 'joinFrames', 'frameUpdateCount', 'memoryBytes', 'jsonText', 'Placement', 'soulPosition', 'peerPosition', 'signMemberRecord', 'openMemberRecord', 'soulDigests', 'membersDigest', 'encodeSymbols', 'Reconciliation'].sort());
  });

  it('ships no benchmark-only export (hamDecide, verifySignature(s): bench build only) and no raw signing', () => {
    const signer = engine.Signer.fromSeed(new Uint8Array(32).fill(1));
    expect(signer.publicKey()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect('sign' in signer).toBe(false);
    signer.free();
  });
});
