// Another peer, as seen by the receiver: an engine that writes batches of the shared
// shapes and hands over its changes as frames (what it would announce on the wire).
//
// The sender runs in its own instance of the engine's WebAssembly module, as a real
// peer would: sharing the receiver's linear memory would let each reuse memory the
// other freed, and distort both speed and memory figures.

import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PROPS_PER_NODE, nodeProps, soulPrefix } from './shapes.mjs';

/**
 * The sender's clock runs this far behind the receiver's. Writes within one millisecond
 * get states a hair above it; a receiver handed them in that same millisecond would
 * rightly defer them, and the benchmark measures applying, not deferring.
 */
const SENDER_LAG_MS = 5;

/**
 * The sender starts over (a new engine in its instance, reusing its memory) after this
 * many updates: a sender whose linear memory kept growing would set off garbage
 * collections in the receiver's process that have nothing to do with the receiver.
 */
const SENDER_RESTART_UPDATES = 50_000;

export function engineSource({ signed }) {
  const engine = separateEngineInstance();
  let source = new engine.Engine(undefined);
  let written = 0;
  const signer = signed ? engine.Signer.fromSeed(new Uint8Array(randomBytes(32))) : undefined;
  const prefix = (signer ? `~${signer.publicKey()}/` : '') + soulPrefix(signed ? 'engine-signed' : 'engine');
  let i = 0;
  return {
    /** Writes `nodes` fresh nodes (or, with `souls`, rewrites those nodes) and returns the frame. */
    frame(nodes, souls) {
      if (written >= SENDER_RESTART_UPDATES) {
        const clock = source.clock();
        source.free();
        source = new engine.Engine(undefined);
        written = 0;
        // A rewrite of an existing soul must still be newer than the restarted sender's last state.
        while (Date.now() - SENDER_LAG_MS <= clock);
      }
      written += nodes * PROPS_PER_NODE;
      const flat = [];
      for (let n = 0; n < nodes; n++, i++) {
        const soul = souls ? souls[i % souls.length] : `${prefix}/n${i}`;
        const props = nodeProps(i);
        for (const key in props) flat.push(soul, key, props[key]);
      }
      const now = Date.now() - SENDER_LAG_MS;
      const text = JSON.stringify(flat);
      if (signer) source.writeListSigned(text, now, signer);
      else source.writeList(text, now);
      // Only when writes outran the lag (thousands per millisecond): wait them out.
      while (source.clock() >= Date.now());
      return source.lastChangesFrame();
    },
    updatesPer: (nodes) => nodes * PROPS_PER_NODE,
    free() {
      source.free();
      signer?.free();
    },
  };
}

/**
 * A fresh instance of the engine's module (its own linear memory), loaded from the
 * wasm-bindgen glue next to the package's Node loader; the package exports only its
 * entries, so the glue is found relative to `rustdht/engine`.
 */
export function separateEngineInstance() {
  const require = createRequire(import.meta.url);
  const gluePath = require.resolve(join(dirname(require.resolve('rustdht/engine')), '..', '..', 'pkg', 'node', 'rustdht_core.js'));
  const cached = require.cache[gluePath];
  delete require.cache[gluePath];
  try {
    return require(gluePath);
  } finally {
    // Leave the package's own instance (if it was loaded) where the package finds it.
    if (cached) require.cache[gluePath] = cached;
    else delete require.cache[gluePath];
  }
}
