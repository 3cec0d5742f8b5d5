// Row 2: incoming updates per second, applied through each database's batch entry.
//
// RustDHT: frames another engine produced (its `lastChangesFrame()` after a write of
// `nodesPerBatch` nodes × 5 properties), fed to `Engine.ingest` (the raw engine) or
// `db.receive` (the SDK, which also persists, indexes and notifies).
// GunDB: the same updates as Gun's wire messages — `{put: graph}` JSON text — going
// through what Gun's mesh does with a message it hears: `JSON.parse`, then
// `root.on('in', msg)`; done when every property's `put` event fired.

import { repeated, throughput } from '../lib/measure.mjs';
import { graphMessage, memoryGun, signedUser } from '../lib/gun.mjs';
import { engineSource } from '../lib/engine-source.mjs';
import { PROPS_PER_NODE, nodeProps, soulPrefix } from '../lib/shapes.mjs';

/** Large batches for filling a replica before measuring (`preloadProperties`). */
const PRELOAD_NODES_PER_BATCH = 2000;

export async function gunUnsigned(opts) {
  const peer = memoryGun();
  const prefix = soulPrefix('gun-in');
  let i = 0;
  if (opts.preloadProperties) {
    const state = Date.now() - 1000;
    for (let loaded = 0; loaded < opts.preloadProperties; loaded += PRELOAD_NODES_PER_BATCH * PROPS_PER_NODE) {
      const nodes = [];
      for (let n = 0; n < PRELOAD_NODES_PER_BATCH; n++, i++) nodes.push([`${prefix}/n${i}`, nodeProps(i)]);
      peer.hear(graphMessage(nodes, state));
      await peer.until(i * PROPS_PER_NODE);
    }
    await peer.forgetDuplicates();
  }
  return throughput({
    ...opts.timing,
    prepare: () => {
      const nodes = [];
      for (let n = 0; n < opts.nodesPerBatch; n++, i++) nodes.push([`${prefix}/n${i}`, nodeProps(i)]);
      return graphMessage(nodes, Date.now() - 1000);
    },
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

async function engineIngest(opts, signed) {
  const { Engine } = await import('rustdht/engine');
  const source = engineSource({ signed });
  const target = new Engine(undefined);
  const updates = source.updatesPer(opts.nodesPerBatch);
  const first = JSON.parse(target.ingest(source.frame(opts.nodesPerBatch), Date.now()));
  const applied = first.outcomes.filter((o) => o.o === 'applied').length;
  if (applied !== updates) throw new Error(`engine applied ${applied} of ${updates} updates: ${JSON.stringify(first.outcomes[0])}`);
  return throughput({
    ...opts.timing,
    prepare: () => source.frame(opts.nodesPerBatch),
    run: (frame) => {
      // The report is part of the boundary's price: the shell parses it to notify.
      JSON.parse(target.ingest(frame, Date.now()));
      return updates;
    },
  });
}

export const engineUnsigned = (opts) => engineIngest(opts, false);
export const engineSigned = (opts) => engineIngest(opts, true);

/**
 * The SDK's entry for peers' bytes: `db.receive(frame)`, resolved once applied (and
 * persisted, with a store). With `preloadProperties`, into a replica that already holds
 * that many properties (a server's steady state rather than an empty database).
 */
async function sdkReceive(opts, signed) {
  const { RustDHT } = await import('rustdht');
  const source = engineSource({ signed });
  const db = await RustDHT.open();
  for (let loaded = 0; loaded < (opts.preloadProperties ?? 0); loaded += source.updatesPer(PRELOAD_NODES_PER_BATCH)) {
    await db.receive(source.frame(PRELOAD_NODES_PER_BATCH));
  }
  const updates = source.updatesPer(opts.nodesPerBatch);
  const first = await db.receive(source.frame(opts.nodesPerBatch));
  if (first.applied !== updates) throw new Error(`db.receive applied ${first.applied} of ${updates} updates: ${JSON.stringify(first.outcomes[0])}`);
  return throughput({
    ...opts.timing,
    prepare: () => source.frame(opts.nodesPerBatch),
    run: async (frame) => {
      await db.receive(frame);
      return updates;
    },
  });
}

export const sdkUnsigned = (opts) => sdkReceive(opts, false);
export const sdkSigned = (opts) => sdkReceive(opts, true);
