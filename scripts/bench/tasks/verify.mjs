// Row 3: Ed25519 verifications per second.
//
// One corpus for every contender: `keys` writers each sign `messagesPerKey` messages of
// the size of a real update message (domain tag + soul + key + value + state ≈ 110
// bytes). node:crypto gets KeyObjects built once from the raw 32-byte keys (via JWK),
// so it pays no key parsing per call either. The engine's verify functions exist only
// in the benchmark's build of the engine (lib/bench-engine.mjs).

import { createPrivateKey, createPublicKey, randomBytes, sign, verify } from 'node:crypto';
import { benchEngine } from '../lib/bench-engine.mjs';
import { throughput } from '../lib/measure.mjs';

const MESSAGE_BYTES = 112;

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

function corpus({ keys = 64, messagesPerKey = 64 }) {
  const items = [];
  for (let k = 0; k < keys; k++) {
    const seed = randomBytes(32);
    // Derive the public key the way any Ed25519 implementation does; the private JWK
    // needs `x`, so ask OpenSSL for it from a PKCS#8 built around the seed.
    const priv = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
      format: 'der',
      type: 'pkcs8',
    });
    const x = priv.export({ format: 'jwk' }).x;
    const publicRaw = Buffer.from(x, 'base64url');
    const keyObject = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(publicRaw) }, format: 'jwk' });
    for (let m = 0; m < messagesPerKey; m++) {
      const message = randomBytes(MESSAGE_BYTES);
      items.push({ publicRaw, keyObject, message, signature: sign(null, message, priv) });
    }
  }
  // Interleave writers, as updates from many peers arrive mixed in one batch.
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function packBatches(items, size) {
  const batches = [];
  for (let start = 0; start + size <= items.length; start += size) {
    const slice = items.slice(start, start + size);
    batches.push({
      count: size,
      publicKeys: new Uint8Array(Buffer.concat(slice.map((it) => it.publicRaw))),
      messages: new Uint8Array(Buffer.concat(slice.map((it) => it.message))),
      lengths: Uint32Array.from(slice, (it) => it.message.length),
      signatures: new Uint8Array(Buffer.concat(slice.map((it) => it.signature))),
    });
  }
  return batches;
}

/** Node's verify: one call per signature. */
export async function nodeSingle(opts) {
  const items = corpus(opts);
  const chunk = 256;
  let next = 0;
  if (!items.every((it) => verify(null, it.message, it.keyObject, it.signature))) {
    throw new Error('node:crypto rejected a valid signature');
  }
  return throughput({
    ...opts.timing,
    run: () => {
      for (let i = 0; i < chunk; i++) {
        const it = items[next++ % items.length];
        if (!verify(null, it.message, it.keyObject, it.signature)) throw new Error('verify failed');
      }
      return chunk;
    },
  });
}

/** The engine's `verifySignature` (bench build), one boundary call per signature. */
export async function engineSingle(opts) {
  const { verifySignature } = benchEngine();
  const items = corpus(opts).map((it) => ({
    publicKey: new Uint8Array(it.publicRaw),
    message: new Uint8Array(it.message),
    signature: new Uint8Array(it.signature),
  }));
  const bad = { ...items[0], signature: items[0].signature.slice() };
  bad.signature[5] ^= 1;
  if (verifySignature(bad.publicKey, bad.message, bad.signature)) {
    throw new Error('engine accepted a corrupted signature: refusing to benchmark a no-op');
  }
  const chunk = 256;
  let next = 0;
  return throughput({
    ...opts.timing,
    run: () => {
      for (let i = 0; i < chunk; i++) {
        const it = items[next++ % items.length];
        if (!verifySignature(it.publicKey, it.message, it.signature)) throw new Error('verify failed');
      }
      return chunk;
    },
  });
}

/** The engine's `verifySignatures` (bench build): one boundary call per batch of `opts.batch`. */
export async function engineBatch(opts) {
  const { verifySignatures } = benchEngine();
  const batches = packBatches(corpus(opts), opts.batch);
  const bad = { ...batches[0], signatures: batches[0].signatures.slice() };
  bad.signatures[64 * (opts.batch >> 1) + 3] ^= 1;
  if (verifySignatures(bad.publicKeys, bad.messages, bad.lengths, bad.signatures)) {
    throw new Error('engine batch accepted a corrupted signature: refusing to benchmark a no-op');
  }
  let next = 0;
  return throughput({
    ...opts.timing,
    run: () => {
      const b = batches[next++ % batches.length];
      if (!verifySignatures(b.publicKeys, b.messages, b.lengths, b.signatures)) throw new Error('batch verify failed');
      return b.count;
    },
  });
}
