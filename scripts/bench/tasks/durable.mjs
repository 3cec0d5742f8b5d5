// Rows 7 and 8: what persistence costs, in Node. RustDHT on LevelDB (LevelStore,
// classic-level, synced writes) against GunDB on its file store (RAD: radisk + rfs).
//
// Row 7, durable writes: one put per node of PROPS_PER_NODE properties, `window` puts
// in flight, each counted when the database reports it durable (lib/in-flight.mjs):
//   RustDHT  `put()` resolves once the group-commit batch holding the put is written
//            with `sync: true` (in LevelDB's log, fsync'd: survives kill -9 and power loss
//            as far as the disk honours fsync).
//   GunDB    the put's ack callback. RAD adds each property to an in-memory radix of its
//            file and writes the whole file (a JSON chunk of up to 1 MB) 250 ms after the
//            first pending change (`opt.until`), as `writeFile(tmp)` + `rename`: no fsync
//            (survives kill -9, as the page cache holds it; not a power loss). Gun acks a
//            put once every property's file write called back.
//
// Row 8, reopening a store of 100,000 nodes: a build step writes the store once (kept in
// a temporary directory for the row's probes, deleted by run.mjs at the end), then each
// probe, in a fresh process, times opening the store to the first read of one node.
// The graph is the same on both sides: `bench` → 100 shelves → 1,000 nodes each, every
// node of the shared 5-property shape, souls `bench/shelf<s>/n<i>`.

import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inFlight } from '../lib/in-flight.mjs';
import { GUN_RAD_FILE, loadGun, radGun } from '../lib/gun.mjs';
import { PROPS_PER_NODE, nodeProps } from '../lib/shapes.mjs';

export const tempDir = (tag) => mkdtempSync(join(tmpdir(), `rustdht-bench-${tag}-`));

/** Bytes under `dir` (the store's size on disk). */
export function diskBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? diskBytes(path) : statSync(path).size;
  }
  return total;
}

/** A node's properties, trimmed to the first `props` of the shared shape. */
function shape(props) {
  if (props === undefined || props >= PROPS_PER_NODE) return nodeProps;
  return (i) => Object.fromEntries(Object.entries(nodeProps(i)).slice(0, props));
}

// ---- row 7: durable writes ---------------------------------------------------------------

/**
 * RustDHT into a LevelStore in a fresh directory. Signed: `db.user(identity).get(key)
 * .put(props)` (the node `~pub/key` plus the signed link to it on `~pub`); unsigned:
 * `db.get(soul).put(props)`.
 */
export async function rustLevel(opts) {
  const { RustDHT, Identity, LevelStore } = await import('rustdht');
  const dir = tempDir('level');
  const props = shape(opts.props);
  try {
    const db = await RustDHT.open({ store: await LevelStore.open(dir) });
    const user = opts.signed ? db.user(Identity.generate()) : undefined;
    const result = await inFlight({
      ...opts.timing,
      window: opts.window,
      start: (i, done) => {
        const ref = user ? user.get(`n${i}`) : db.get(`bench/n${i}`);
        ref.put(props(i)).then(() => done(), done);
      },
    });
    const closeStart = performance.now();
    await db.close(); // waits for the puts still in flight
    result.closeMs = Math.round(performance.now() - closeStart);
    result.storeBytes = diskBytes(dir);
    result.propertiesPerPut = (opts.props ?? PROPS_PER_NODE) + (opts.signed ? 1 : 0);
    result.propertiesPerSecond = Math.round(result.perSecond * result.propertiesPerPut);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * GunDB with RAD in a fresh directory. Signed: puts to souls under the logged-in SEA
 * user's `~pub` (SEA signs them), as row 1 does. A write counts on its ack callback.
 */
export async function gunRad(opts) {
  const dir = tempDir('rad');
  const props = shape(opts.props);
  try {
    const peer = radGun(dir);
    let prefix = 'bench';
    if (opts.signed) {
      const pair = await peer.Gun.SEA.pair();
      await new Promise((resolve, reject) => peer.gun.user().auth(pair, (ack) => (ack.err ? reject(new Error(ack.err)) : resolve())));
      prefix = `~${pair.pub}`;
    }
    const result = await inFlight({
      ...opts.timing,
      window: opts.window,
      start: (i, done) => {
        peer.gun.get(`${prefix}/n${i}`).put(props(i), (ack) => done(ack.err ? new Error(`GunDB put: ${ack.err}`) : undefined));
      },
    });
    // Gun has no close; the probe process exits (the writes still in flight do not count).
    result.storeBytes = diskBytes(dir);
    result.radFiles = readdirSync(join(dir, GUN_RAD_FILE)).length;
    result.propertiesPerPut = opts.props ?? PROPS_PER_NODE;
    result.propertiesPerSecond = Math.round(result.perSecond * result.propertiesPerPut);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- row 8: reopen a store of 100,000 nodes ------------------------------------------------

const soulOf = (shelf, item) => `bench/shelf${shelf}/n${item}`;
const indexOf = (shelf, item, perShelf) => shelf * perShelf + item;

/** The node a probe reads: spread over the store, the same on both sides. */
export function sampleNode(k, { shelves, perShelf }) {
  const shelf = (57 + 37 * k) % shelves;
  const item = (123 + 7919 * k) % perShelf;
  return { shelf, item, soul: soulOf(shelf, item), props: nodeProps(indexOf(shelf, item, perShelf)) };
}

/** Whether `value` holds exactly the node's properties (Gun's metadata aside). */
function complete(value, expected) {
  if (value === null || typeof value !== 'object') return false;
  for (const key in expected) if (value[key] !== expected[key]) return false;
  return true;
}

/**
 * Builds the RustDHT store through the SDK: one put per shelf of `perShelf` nodes
 * (`db.get('bench').get('shelf<s>').put({ n0: {...}, ... })`), a few in flight, then
 * close (everything durable). Kept for the reopen probes; run.mjs deletes it.
 */
export async function rustBuild({ shelves, perShelf }) {
  const { RustDHT, LevelStore } = await import('rustdht');
  const dir = tempDir('level-100k');
  const t0 = performance.now();
  const db = await RustDHT.open({ store: await LevelStore.open(dir) });
  const root = db.get('bench');
  const pending = [];
  for (let s = 0; s < shelves; s++) {
    const items = {};
    for (let i = 0; i < perShelf; i++) items[`n${i}`] = nodeProps(indexOf(s, i, perShelf));
    pending.push(root.get(`shelf${s}`).put(items));
    if (pending.length >= 4) await pending.shift();
  }
  await Promise.all(pending);
  await db.close();
  const buildMs = performance.now() - t0;
  return { dir, cleanup: [dir], buildMs: Math.round(buildMs), seconds: buildMs / 1000, nodes: shelves * perShelf, storeBytes: diskBytes(dir), how: `${shelves} puts of ${perShelf} nodes through the SDK, 4 in flight, then close()` };
}

/**
 * Builds the GunDB RAD directory with the same graph. Not through `put`: Gun's chained
 * put of a 1,000-node object runs at a few hundred nodes/s (minutes for 100,000), so
 * the graph goes in as a server receives it from a peer, one `put` message of `batch`
 * nodes at a time through `root.on('in')`, each acked once RAD wrote it.
 */
export async function gunBuild({ shelves, perShelf, batch = 1000 }) {
  const dir = tempDir('rad-100k');
  const t0 = performance.now();
  const peer = radGun(dir);
  const { Gun, root } = peer;
  const acks = new Map();
  root.on('in', function onIn(msg) {
    this.to.next(msg);
    const ack = msg['@'] && acks.get(msg['@']);
    if (ack) {
      acks.delete(msg['@']);
      ack(msg.err);
    }
  });
  let sequence = 0;
  const send = (graph) =>
    new Promise((resolve, reject) => {
      // Gun ids each property's ack `message id + counter`: an id ending in a digit
      // would collide with a later message's id ('b1' + 0 = 'b10'), and Gun would drop
      // that message as a duplicate.
      const id = `build${sequence++}.`;
      acks.set(id, (err) => (err ? reject(new Error(`GunDB build: ${err}`)) : resolve()));
      const put = {};
      const state = Gun.state();
      for (const [soul, props] of graph) {
        const states = {};
        for (const key in props) states[key] = state;
        put[soul] = { _: { '#': soul, '>': states }, ...props };
      }
      root.on('in', { '#': id, put });
    });
  const pending = [];
  const shelfLinks = {};
  for (let s = 0; s < shelves; s++) shelfLinks[`shelf${s}`] = { '#': `bench/shelf${s}` };
  pending.push(send([['bench', shelfLinks]]));
  let graph = [];
  for (let s = 0; s < shelves; s++) {
    const links = {};
    for (let i = 0; i < perShelf; i++) {
      links[`n${i}`] = { '#': soulOf(s, i) };
      graph.push([soulOf(s, i), nodeProps(indexOf(s, i, perShelf))]);
      if (graph.length >= batch) {
        pending.push(send(graph));
        graph = [];
        if (pending.length >= 10) await pending.shift();
      }
    }
    graph.push([`bench/shelf${s}`, links]);
  }
  if (graph.length) pending.push(send(graph));
  await Promise.all(pending);
  const buildMs = performance.now() - t0;
  return {
    dir,
    cleanup: [dir],
    buildMs: Math.round(buildMs),
    seconds: buildMs / 1000,
    nodes: shelves * perShelf,
    storeBytes: diskBytes(dir),
    radFiles: readdirSync(join(dir, GUN_RAD_FILE)).length,
    how: `put messages of ${batch} nodes into root.on('in'), 10 in flight, each acked by RAD`,
  };
}

/**
 * One reopen, in this (fresh) process: from `RustDHT.open({ store: await LevelStore.open(dir) })`
 * to the resolved `once()` of one node. Loading the module (and compiling the engine)
 * comes before and is reported apart, as `importMs`.
 */
export async function rustReopen({ setup, sample, shelves, perShelf }) {
  const t00 = performance.now();
  const { RustDHT, LevelStore } = await import('rustdht');
  const node = sampleNode(sample, { shelves, perShelf });
  const t0 = performance.now();
  const db = await RustDHT.open({ store: await LevelStore.open(setup.dir) });
  const opened = performance.now();
  const value = await db.get(node.soul).once();
  const t1 = performance.now();
  await db.close();
  if (!complete(value, node.props)) throw new Error(`RustDHT read ${node.soul} after reopen as ${JSON.stringify(value)}`);
  return { ms: t1 - t0, openMs: opened - t0, firstReadMs: t1 - opened, importMs: t0 - t00, soul: node.soul, found: true };
}

/**
 * The same with GunDB: from `Gun({ file: dir, radisk: true, … })` to the first `once`
 * callback for the node. Gun's `once` waits `wait` ms (default 99) after data arrives
 * for more to come before it calls back; `wait` sets it (row 8b: 1 ms).
 */
export async function gunReopen({ setup, sample, shelves, perShelf, wait }) {
  const node = sampleNode(sample, { shelves, perShelf });
  const t00 = performance.now();
  loadGun();
  const t0 = performance.now();
  const peer = radGun(setup.dir);
  const value = await new Promise((resolve) => peer.gun.get(node.soul).once(resolve, wait ? { wait } : undefined));
  const t1 = performance.now();
  return { ms: t1 - t0, importMs: t0 - t00, soul: node.soul, found: value !== undefined, complete: complete(value, node.props) };
}

/**
 * After a reopen, reads `count` nodes spread over the store (all at once) and counts
 * those missing or incomplete: every one of them was acknowledged as written.
 */
export async function rustReadBack({ setup, count, shelves, perShelf }) {
  const { RustDHT, LevelStore } = await import('rustdht');
  const db = await RustDHT.open({ store: await LevelStore.open(setup.dir) });
  const report = await readBack(count, { shelves, perShelf }, (soul) => db.get(soul).once());
  await db.close();
  return report;
}

/**
 * GunDB's reads get `timeoutMs`: a `once` that has not called back by then counts as
 * missing (some never call back; with 500 reads at once the others all did within
 * about 5 s on a 2-core machine, with 300 within 3 s: the ones still unanswered after
 * 6 s were not slow, but lost).
 */
export async function gunReadBack({ setup, count, shelves, perShelf, timeoutMs = 6_000 }) {
  const peer = radGun(setup.dir);
  let unanswered = 0;
  let lastAnswerMs = 0;
  const t0 = performance.now();
  const read = (soul) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        unanswered++;
        resolve(undefined);
      }, timeoutMs);
      peer.gun.get(soul).once((value) => {
        lastAnswerMs = performance.now() - t0;
        clearTimeout(timer);
        resolve(value);
      });
    });
  const report = await readBack(count, { shelves, perShelf }, read);
  return { ...report, unanswered, timeoutMs, lastAnswerMs: Math.round(lastAnswerMs) };
}

async function readBack(count, layout, read) {
  const nodes = Array.from({ length: count }, (_, k) => sampleNode(k, layout));
  const t0 = performance.now();
  const values = await Promise.all(nodes.map((n) => read(n.soul)));
  return { ...readBackReport(nodes, values), ms: Math.round(performance.now() - t0) };
}

function readBackReport(nodes, values) {
  const missing = [];
  const incomplete = [];
  values.forEach((value, k) => {
    if (value === undefined || value === null) missing.push(nodes[k].soul);
    else if (!complete(value, nodes[k].props)) incomplete.push(nodes[k].soul);
  });
  return { checked: nodes.length, lost: missing.length + incomplete.length, missing: missing.length, incomplete: incomplete.length, examples: [...missing, ...incomplete].slice(0, 5) };
}
