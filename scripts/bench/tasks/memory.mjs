// Row 6: memory per 100,000 properties, 5 properties per node, in two situations:
//   rust / gun                  written locally through the public API
//                               (`db.get(soul).put(props)` / `gun.get(soul).put(props)`)
//   rustReceived / gunReceived  received from a peer (a replica's data)
//
// Each runs in a fresh process with --expose-gc: warm up, full GC, baseline, fill, let
// the database settle, full GC, delta. RustDHT's data lives mostly in WebAssembly
// linear memory, counted as its growth (a high-water mark including allocator slack,
// as the OS sees it), plus whatever the SDK keeps in the JS heap. GunDB's lives in the
// JS heap. Transient sync state is let go before measuring on both sides: RustDHT's
// outbox (reported separately) and GunDB's 9-second dedup table.

import { wasmInstancesSeen, wasmMemoryBytes } from '../lib/wasm-memory.mjs';
import { gcNow } from '../lib/measure.mjs';
import { graphMessage, memoryGun } from '../lib/gun.mjs';
import { engineSource } from '../lib/engine-source.mjs';
import { PROPS_PER_NODE, nodeProps, soulPrefix } from '../lib/shapes.mjs';

const NODES_PER_BATCH = 200;

function snapshot(wasmBytes = wasmMemoryBytes) {
  gcNow();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss, wasm: wasmBytes() };
}

function delta(before, after, properties) {
  const per100k = (bytes) => Math.round((bytes * 100_000) / properties);
  const wasm = after.wasm - before.wasm;
  const jsHeap = after.heapUsed - before.heapUsed;
  // `external` includes WebAssembly memory; count the rest (ArrayBuffers, strings held outside the heap) once.
  const otherExternal = after.external - before.external - wasm;
  return {
    properties,
    bytesPer100k: per100k(wasm + jsHeap + otherExternal),
    wasmPer100k: per100k(wasm),
    jsHeapPer100k: per100k(jsHeap),
    otherExternalPer100k: per100k(otherExternal),
    rssPer100k: per100k(after.rss - before.rss),
  };
}

async function fill(properties, writeNode, settle) {
  const nodes = Math.ceil(properties / PROPS_PER_NODE);
  for (let start = 0; start < nodes; start += NODES_PER_BATCH) {
    const end = Math.min(nodes, start + NODES_PER_BATCH);
    const pending = [];
    for (let i = start; i < end; i++) pending.push(writeNode(i));
    await settle(pending, end * PROPS_PER_NODE);
  }
  return nodes * PROPS_PER_NODE;
}

export async function rust(opts) {
  const { RustDHT } = await import('rustdht');
  if (wasmInstancesSeen() === 0) throw new Error('the engine instance was not seen: cannot measure its linear memory');
  const db = await RustDHT.open();
  const write = (prefix) => (i) => db.get(`${prefix}/n${i}`).put(nodeProps(i));
  const settle = (pending) => Promise.all(pending);
  await fill(2_000, write(soulPrefix('mem-warmup')), settle);
  await acknowledgeOutbox(db);
  const before = snapshot();
  const properties = await fill(opts.properties, write(soulPrefix('mem')), settle);
  const withOutbox = snapshot();
  await acknowledgeOutbox(db);
  const after = snapshot();
  const result = delta(before, after, properties);
  const outbox = delta(after, withOutbox, properties);
  await db.close();
  return { ...result, outboxPer100k: outbox.bytesPer100k };
}

/**
 * Every local write also waits in the outbox until the network acknowledges it; with
 * no network here, acknowledge them all, as peers would, so the figure is the graph's
 * (GunDB's transient sync state, its dedup table, is likewise flushed). What the
 * outbox held is reported separately.
 */
async function acknowledgeOutbox(db) {
  const ids = [];
  for await (const { id } of db.outbox.pending()) ids.push(id);
  for (const id of ids) await db.outbox.acknowledge(id);
}

export async function gun(opts) {
  const peer = memoryGun();
  const write = (prefix) => (i) => peer.gun.get(`${prefix}/n${i}`).put(nodeProps(i));
  let written = 0;
  const settle = (_pending, total) => peer.until(written + total);
  await fill(2_000, write(soulPrefix('mem-warmup')), settle);
  written = peer.applied;
  peer.forgetDuplicates();
  const before = snapshot();
  const properties = await fill(opts.properties, write(soulPrefix('mem')), settle);
  peer.forgetDuplicates();
  const after = snapshot();
  return { ...delta(before, after, properties), graphNodes: Object.keys(peer.root.graph).length };
}

/**
 * The replica case: 100k properties received from a peer (`db.receive` of its frames;
 * for GunDB, its wire messages through `root.on('in')`), so GunDB holds its bare graph
 * without the chain objects its API keeps per `gun.get(soul)`. The sending engine is
 * a separate instance (own linear memory), created after the receiver's and not counted.
 */
export async function rustReceived(opts) {
  const { RustDHT } = await import('rustdht');
  const db = await RustDHT.open();
  if (wasmInstancesSeen() !== 1) throw new Error(`expected the receiver's engine instance only, saw ${wasmInstancesSeen()}`);
  const source = engineSource({ signed: false });
  const framesFor = (properties) => {
    const frames = [];
    for (let sent = 0; sent < properties; sent += source.updatesPer(NODES_PER_BATCH)) frames.push(source.frame(NODES_PER_BATCH));
    return frames;
  };
  const receive = async (frames) => {
    for (const frame of frames) {
      const result = await db.receive(frame);
      if (result.applied !== result.outcomes.length) throw new Error(`db.receive did not apply every update: ${JSON.stringify(result.outcomes[0])}`);
    }
    return frames.length * source.updatesPer(NODES_PER_BATCH);
  };
  await receive(framesFor(2_000));
  const frames = framesFor(opts.properties);
  source.free();
  const receiverBytes = () => wasmMemoryBytes(0);
  const before = snapshot(receiverBytes);
  const properties = await receive(frames);
  // The frames stay alive through the second snapshot: they are the sender's bytes, in both or in neither.
  const after = snapshot(receiverBytes);
  frames.length = 0;
  const result = delta(before, after, properties);
  await db.close();
  return result;
}

export async function gunReceived(opts) {
  const peer = memoryGun();
  const state = Date.now() - 1000;
  const messages = (prefix, properties) => {
    const nodes = Math.ceil(properties / PROPS_PER_NODE);
    const out = [];
    for (let start = 0; start < nodes; start += NODES_PER_BATCH) {
      const batch = [];
      for (let i = start; i < Math.min(nodes, start + NODES_PER_BATCH); i++) batch.push([`${prefix}/n${i}`, nodeProps(i)]);
      out.push(graphMessage(batch, state));
    }
    return { texts: out, properties: nodes * PROPS_PER_NODE };
  };
  const warmup = messages(soulPrefix('mem-in-warmup'), 2_000);
  const main = messages(soulPrefix('mem-in'), opts.properties);
  for (const text of warmup.texts) peer.hear(text);
  await peer.until(warmup.properties);
  peer.forgetDuplicates();
  const before = snapshot();
  for (const text of main.texts) peer.hear(text);
  await peer.until(warmup.properties + main.properties);
  peer.forgetDuplicates();
  // The message texts stay alive through the second snapshot, as the frames do for RustDHT.
  const after = snapshot();
  main.texts.length = 0;
  return { ...delta(before, after, main.properties), graphNodes: Object.keys(peer.root.graph).length };
}
