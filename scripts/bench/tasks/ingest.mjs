// Row 2: incoming updates per second, applied through each database's batch entry.
//
// RustDHT: frames another engine produced (its changes after a write of
// `nodesPerBatch` nodes × 5 properties), fed to `db.receive` (the SDK, which also
// indexes links and notifies subscribers) or `Engine.ingest` (the raw engine).
// GunDB: the same updates as Gun's wire messages — `{put: graph}` JSON text — going
// through what Gun's mesh does with a message it hears: `JSON.parse`, then
// `root.on('in', msg)`; done when every property's `put` event fired.
//
// Without `preloadProperties` every sample starts on a fresh receiver (a replica of up
// to a few hundred thousand properties); with it, one receiver is first filled with
// that many properties and keeps growing (a server's steady state).

import { repeated, throughput } from '../lib/measure.mjs';
import { graphMessage, memoryGun, signedUser } from '../lib/gun.mjs';
import { engineSource } from '../lib/engine-source.mjs';
import { PROPS_PER_NODE, nodeProps, soulPrefix } from '../lib/shapes.mjs';

/** Large batches for filling a replica before measuring. */
const PRELOAD_NODES_PER_BATCH = 2000;

export async function gunUnsigned(opts) {
  const prefix = soulPrefix('gun-in');
  const state = () => Date.now() - 1000;
  let peer;
  let i = 0;
  const message = (nodes) => {
    const batch = [];
    for (let n = 0; n < nodes; n++, i++) batch.push([`${prefix}/n${i}`, nodeProps(i)]);
    return graphMessage(batch, state());
  };
  if (opts.preloadProperties) {
    peer = memoryGun();
    while (peer.applied < opts.preloadProperties) {
      peer.hear(message(PRELOAD_NODES_PER_BATCH));
      await peer.until(i * PROPS_PER_NODE);
    }
    peer.forgetDuplicates();
  }
  return throughput({
    ...opts.timing,
    newSample: opts.preloadProperties ? undefined : () => (peer = memoryGun()),
    prepare: () => message(opts.nodesPerBatch),
    run: async (text) => {
      const target = peer.applied + opts.nodesPerBatch * PROPS_PER_NODE;
      peer.hear(text);
      await peer.until(target);
      return opts.nodesPerBatch * PROPS_PER_NODE;
    },
  });
}

/**
 * Signed Gun data takes a SEA user ~1.5 ms per property to produce, so a fixed set of
 * `signedNodes` is made once and every sample feeds it to a fresh receiving peer.
 */
export async function gunSigned(opts) {
  const writer = memoryGun();
  const pair = await signedUser(writer);
  const prefix = `~${pair.pub}/${soulPrefix('gun-signed-in')}`;
  const souls = [];
  for (let i = 0; i < opts.signedNodes; i++) {
    souls.push(`${prefix}/n${i}`);
    writer.gun.get(souls[i]).put(nodeProps(i));
  }
  await writer.until(opts.signedNodes * PROPS_PER_NODE);
  const messages = [];
  for (let start = 0; start < souls.length; start += opts.nodesPerBatch) {
    const put = {};
    for (const soul of souls.slice(start, start + opts.nodesPerBatch)) put[soul] = writer.root.graph[soul];
    messages.push(JSON.stringify({ put }));
  }
  const updates = opts.signedNodes * PROPS_PER_NODE;
  return repeated({
    warmups: 1,
    samples: opts.timing.samples,
    once: async () => {
      const receiver = memoryGun();
      const t0 = performance.now();
      for (const text of messages) receiver.hear(text);
      await receiver.until(updates);
      return { items: updates, ms: performance.now() - t0 };
    },
  });
}

/**
 * A receiver (`open`ed per sample, or once and preloaded) fed frames from another
 * engine; `apply(receiver, frame)` is the timed entry point.
 */
async function receiveFrames(opts, signed, { open, close, apply }) {
  const source = engineSource({ signed });
  const updates = source.updatesPer(opts.nodesPerBatch);
  let receiver;
  const start = async () => {
    if (receiver !== undefined) await close(receiver);
    receiver = await open();
    const applied = await apply(receiver, source.frame(opts.nodesPerBatch));
    if (applied !== updates) throw new Error(`the receiver applied ${applied} of ${updates} updates of a fresh frame`);
  };
  if (opts.preloadProperties) {
    await start();
    for (let loaded = 0; loaded < opts.preloadProperties; loaded += source.updatesPer(PRELOAD_NODES_PER_BATCH)) {
      await apply(receiver, source.frame(PRELOAD_NODES_PER_BATCH));
    }
  }
  return throughput({
    ...opts.timing,
    newSample: opts.preloadProperties ? undefined : start,
    prepare: () => source.frame(opts.nodesPerBatch),
    run: async (frame) => {
      await apply(receiver, frame);
      return updates;
    },
  });
}

/** The SDK's entry for peers' bytes: `db.receive(frame)`, resolved once applied (and persisted, with a store). */
async function sdkReceive(opts, signed) {
  const { RustDHT } = await import('rustdht');
  return receiveFrames(opts, signed, {
    open: () => RustDHT.open(),
    close: (db) => db.close(),
    apply: async (db, frame) => (await db.receive(frame)).applied,
  });
}

export const sdkUnsigned = (opts) => sdkReceive(opts, false);
export const sdkSigned = (opts) => sdkReceive(opts, true);

/** The engine alone. The report is part of the boundary's price: the shell parses it to act on the changes. */
async function engineIngest(opts, signed) {
  const { Engine } = await import('rustdht/engine');
  return receiveFrames(opts, signed, {
    open: () => new Engine(undefined),
    close: (engine) => engine.free(),
    apply: (engine, frame) => JSON.parse(engine.ingest(frame, Date.now())).changes.length,
  });
}

export const engineUnsigned = (opts) => engineIngest(opts, false);
export const engineSigned = (opts) => engineIngest(opts, true);
