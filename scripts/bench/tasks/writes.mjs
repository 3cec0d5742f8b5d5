// Row 1: local writes, in properties per second.
//
// Every run writes `nodesPerRun` fresh nodes of PROPS_PER_NODE properties (the same
// shapes on both sides), one put per node as an app writes, and counts them once the
// database has applied them: RustDHT when the put's promise settles, GunDB when its
// root `put` event has fired for every property (memory-only Gun has no storage peer
// to ack a put). Each sample starts on a fresh database, so every sample measures a
// database of up to a few hundred thousand properties (row 2c covers a large one).

import { randomBytes } from 'node:crypto';
import { throughput } from '../lib/measure.mjs';
import { memoryGun, signedUser } from '../lib/gun.mjs';
import { PROPS_PER_NODE, nodeProps, soulPrefix } from '../lib/shapes.mjs';

/**
 * Signed GunDB writes go to souls under the SEA user's `~pub`, which SEA signs
 * because the user is logged in. (Chained puts like `user.get(key).put(...)` never
 * complete in a memory-only Gun: they wait for a peer to answer the parent's read.)
 */
async function gunWrites(opts, signed) {
  let peer;
  let prefix;
  let pair;
  let i = 0;
  return throughput({
    ...opts.timing,
    newSample: async () => {
      peer = memoryGun();
      if (signed) pair = await signedUser(peer, pair);
      prefix = (signed ? `~${pair.pub}/` : '') + soulPrefix(signed ? 'gun-signed' : 'gun');
    },
    run: async () => {
      const target = peer.applied + opts.nodesPerRun * PROPS_PER_NODE;
      for (let n = 0; n < opts.nodesPerRun; n++, i++) peer.gun.get(`${prefix}/n${i}`).put(nodeProps(i));
      await peer.until(target);
      return opts.nodesPerRun * PROPS_PER_NODE;
    },
  });
}

export const gunUnsigned = (opts) => gunWrites(opts, false);
export const gunSigned = (opts) => gunWrites(opts, true);

/**
 * RustDHT through its public API, counting the properties each put's ack reports as
 * applied. Signed writes go to the identity's space: `db.user(id).get(key).put(props)`
 * writes the child node `~pub/key` (5 properties) and the link to it on `~pub` (one
 * more signed property), so a signed put counts 6.
 */
async function rustWrites(opts, signed) {
  const { RustDHT, Identity } = await import('rustdht');
  const identity = signed ? Identity.generate() : undefined;
  const puts = new Array(opts.nodesPerRun);
  let db;
  let user;
  let prefix;
  let i = 0;
  return throughput({
    ...opts.timing,
    newSample: async () => {
      await db?.close();
      db = await RustDHT.open();
      user = signed ? db.user(identity) : undefined;
      prefix = soulPrefix(signed ? 'rust-signed' : 'rust').replaceAll('/', '-');
    },
    run: async () => {
      for (let n = 0; n < opts.nodesPerRun; n++, i++) {
        const ref = signed ? user.get(`${prefix}-n${i}`) : db.get(`${prefix}/n${i}`);
        puts[n] = ref.put(nodeProps(i));
      }
      let applied = 0;
      for (const ack of await Promise.all(puts)) applied += ack.applied;
      return applied;
    },
  });
}

export const rustUnsigned = (opts) => rustWrites(opts, false);
export const rustSigned = (opts) => rustWrites(opts, true);

/**
 * The engine alone (no SDK): one `Engine.write` call per `nodesPerRun` nodes. Not a
 * user-facing number; it shows how much of a put's cost is the shell around the engine.
 */
async function engineWrites(opts, signed) {
  const { Engine, Signer } = await import('rustdht/engine');
  const signer = signed ? Signer.fromSeed(new Uint8Array(randomBytes(32))) : undefined;
  let engine;
  let prefix;
  let i = 0;
  return throughput({
    ...opts.timing,
    newSample: () => {
      engine?.free();
      engine = new Engine(undefined);
      prefix = (signer ? `~${signer.publicKey()}/` : '') + soulPrefix('engine-write');
    },
    run: () => {
      const flat = [];
      for (let n = 0; n < opts.nodesPerRun; n++, i++) {
        const soul = `${prefix}/n${i}`;
        const props = nodeProps(i);
        for (const key in props) flat.push(soul, key, props[key]);
      }
      const text = JSON.stringify(flat);
      if (signer) engine.writeListSigned(text, Date.now(), signer);
      else engine.writeList(text, Date.now());
      return opts.nodesPerRun * PROPS_PER_NODE;
    },
  });
}

export const engineUnsigned = (opts) => engineWrites(opts, false);
export const engineSigned = (opts) => engineWrites(opts, true);
