// Row 12 (DHT): client databases and store scans for tasks/dht.mjs, in their own process.
//
//   node scripts/bench/net/dht-client.mjs <name>      (forked by tasks/dht.mjs, IPC channel)
//
// Every database here is a client of the built SDK (`import('rustdht')`, sdk-ts/dist),
// memory only, dialling exactly the one server it is opened with (`peers: [address]`), so
// what it reads or writes goes through that server alone. One process can hold many
// (e.g. one per server of the cluster); tasks/dht.mjs starts a few such processes so the
// timed work (reads, the quorum writer) does not share an event loop with bulk work.
//
// Commands (over IPC, lib/children.mjs), `name` naming a database opened here:
//   open { name, peers }             → connects; { peerId, connectMs }
//   close { name }
//   members { name }                 → the member list as that client's server knows it
//                                      (`network.members()`: its signed records), and the
//                                      owners of `souls` the engine's placement computes
//                                      from that list (the code every server runs:
//                                      placement-view.ts `ownersUnder`)
//   write { items, window, durability, timeoutMs }
//                                    → puts items [{ name, soul, value }] (unsigned), at
//                                      most `window` unresolved; then waits until every
//                                      database used has its outbox acknowledged
//                                      (`whenSynced`). With `durability`, each put waits for
//                                      that level (DurabilityError counted by code).
//   readLatency { name, souls }      → `once()` of each soul in turn, timed (performance.now)
//   signedRate { name, identities, window, level, warmupMs, measureMs }
//                                    → signed puts (`db.user(id).get('w<i>').put({ v, t })`,
//                                      `identities` identities round robin) with `durability:
//                                      level`, `window` unresolved, for warmupMs + measureMs;
//                                      the rate of puts that resolved (level reached) in the
//                                      measured part
//   signedLatency { name, count, level }
//                                    → the same puts one at a time, each timed from the call
//                                      to its resolution (level reached)
//   scan { dir, souls, key, remove } → reads a copy of a server's LevelDB store (LevelStore):
//                                      bytes by record type, the souls with property records,
//                                      for `souls` their property bytes, with `key` the souls
//                                      holding that property; deletes the copy with `remove`
//   check { dir, souls, key, remove } → which of `souls` a copy of a store holds property
//                                      records of (one prefix seek each, no full scan); with
//                                      `key`, which hold that property (one get each)

import { rm } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { serveParent } from '../lib/children.mjs';

// A store scanner is the bench's instrument, not the system measured: it opens copies of
// stores (replaying their write-ahead logs) while the servers repair, so it runs at a
// lower priority (nice 10: a tenth of a server's share of a busy CPU) to disturb them
// less. Set before the SDK loads, so the thread pool LevelDB works in inherits it.
if (process.argv[2]?.startsWith('scanner')) setPriority(10);

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dist = (path) => import(pathToFileURL(join(ROOT, 'sdk-ts', 'dist', path)).href);
const sdk = await import('rustdht');
const { RustDHT, Identity, LevelStore } = sdk;

const dbs = new Map();
const dbOf = (name) => {
  const db = dbs.get(name);
  if (db === undefined) throw new Error(`no database ${name} here`);
  return db;
};
const encoder = new TextEncoder();
/** "P" soulLength:u32be soul: the prefix of a soul's property records (persistence/layout.ts), built here by hand. */
function soulPrefix(soul) {
  const bytes = encoder.encode(soul);
  const prefix = new Uint8Array(5 + bytes.length);
  prefix[0] = 0x50;
  new DataView(prefix.buffer).setUint32(1, bytes.length);
  prefix.set(bytes, 5);
  return prefix;
}
const codeOf = (error) => String(error?.code ?? error?.name ?? 'error');

/** Runs `work(item)` over `items` with at most `window` in flight. */
async function inFlight(items, window, work) {
  let next = 0;
  const lanes = Array.from({ length: Math.min(window, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  });
  await Promise.all(lanes);
}

const handlers = {
  async open({ name, peers, readTimeoutMs = 3_000, timeoutMs = 60_000 }) {
    const t0 = performance.now();
    const db = await RustDHT.open({ store: 'memory', network: { role: 'client', peers, readTimeoutMs } });
    dbs.set(name, db);
    await db.network.whenConnected({ signal: AbortSignal.timeout(timeoutMs) });
    return { peerId: db.network.peerId, connectMs: performance.now() - t0 };
  },

  async close({ name }) {
    const db = dbs.get(name);
    dbs.delete(name);
    await db?.close({ timeoutMs: 0 }).catch(() => {});
  },

  async members({ name, souls = [], replicas = 3 }) {
    const db = dbOf(name);
    const members = await db.network.members({ timeoutMs: 10_000 });
    const ids = members.map((member) => member.peerId);
    const { ownersUnder } = await dist('network/dht/placement-view.js');
    const { Placement } = await dist('engine/load-node.js');
    const owners = souls.length === 0 ? [] : ownersUnder({ Placement }, ids, replicas, souls);
    return { members: ids, owners };
  },

  async write({ items, window = 1_000, durability, timeoutMs = 120_000 }) {
    const t0 = performance.now();
    const failed = {};
    const used = new Set();
    await inFlight(items, window, async ({ name, soul, value }) => {
      used.add(name);
      try {
        await dbOf(name).get(soul).put(value, durability === undefined ? undefined : { durability, timeoutMs: 30_000 });
      } catch (error) {
        failed[codeOf(error)] = (failed[codeOf(error)] ?? 0) + 1;
      }
    });
    const putMs = performance.now() - t0;
    await Promise.all([...used].map((name) => dbOf(name).network.whenSynced({ signal: AbortSignal.timeout(timeoutMs) })));
    return { items: items.length, putMs, syncedMs: performance.now() - t0, failed };
  },

  async readLatency({ name, souls }) {
    const db = dbOf(name);
    const ms = [];
    let missing = 0;
    for (const soul of souls) {
      const t0 = performance.now();
      const value = await db.get(soul).once();
      ms.push(performance.now() - t0);
      if (value === undefined || value === null) missing++;
    }
    return { ms, missing };
  },

  async signedRate({ name, identities = 256, window = 1_000, level = 'quorum', warmupMs = 2_000, measureMs = 5_000, prefix = 'w' }) {
    const db = dbOf(name);
    const users = Array.from({ length: identities }, () => db.user(Identity.generate()));
    const done = [];
    const latency = [];
    const failed = {};
    const reached = {};
    let issued = 0;
    let stop = false;
    let counters1;
    const t0 = performance.now();
    const lane = async () => {
      while (!stop) {
        const i = issued++;
        try {
          const called = performance.now();
          const ack = await users[i % identities].get(`${prefix}${i}`).put({ v: i, t: Date.now() }, { durability: level, timeoutMs: 30_000 });
          done.push(performance.now());
          if (called >= t0 + warmupMs && called < t0 + warmupMs + measureMs) latency.push(performance.now() - called);
          const r = ack?.replication?.reached;
          reached[r] = (reached[r] ?? 0) + 1;
        } catch (error) {
          failed[codeOf(error)] = (failed[codeOf(error)] ?? 0) + 1;
        }
      }
    };
    const lanes = Array.from({ length: window }, lane);
    await new Promise((resolve) => setTimeout(resolve, warmupMs));
    const countersWarm = db.network.counters();
    await new Promise((resolve) => setTimeout(resolve, measureMs));
    counters1 = db.network.counters();
    stop = true;
    const from = t0 + warmupMs;
    const to = t0 + warmupMs + measureMs;
    const inWindow = done.filter((t) => t >= from && t < to).length;
    const settled = await Promise.race([Promise.all(lanes).then(() => true), new Promise((resolve) => setTimeout(resolve, 40_000, false))]);
    latency.sort((a, b) => a - b);
    const at = (p) => (latency.length === 0 ? null : Math.round(latency[Math.min(latency.length - 1, Math.floor(latency.length * p))] * 10) / 10);
    return {
      perSecond: (inWindow / measureMs) * 1000,
      resolvedInWindow: inWindow,
      issued,
      resolved: done.length,
      failed,
      reached,
      settled,
      identities,
      window,
      warmupMs,
      measureMs,
      // Each put from its call to its resolution, for puts called in the measured part.
      latencyMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99) },
      // Messages the client sent in the measured part (PUT_ATs carry joined puts).
      messagesOut: counters1.messagesOut - countersWarm.messagesOut,
      bytesOut: counters1.bytesOut - countersWarm.bytesOut,
    };
  },

  async signedLatency({ name, count, level = 'all', prefix = 'l' }) {
    const db = dbOf(name);
    const user = db.user(Identity.generate());
    const ms = [];
    const failed = {};
    const reached = {};
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      try {
        const ack = await user.get(`${prefix}${i}`).put({ v: i, t: Date.now() }, { durability: level, timeoutMs: 10_000 });
        ms.push(performance.now() - t0);
        const r = ack?.replication?.reached;
        reached[r] = (reached[r] ?? 0) + 1;
      } catch (error) {
        failed[codeOf(error)] = (failed[codeOf(error)] ?? 0) + 1;
      }
    }
    return { ms, failed, reached };
  },

  async check({ dir, souls, key, remove = true }) {
    const t0 = performance.now();
    const held = [];
    const store = await LevelStore.open(dir);
    const opened = performance.now() - t0;
    try {
      for (const soul of souls) {
        if (key !== undefined) {
          const prefix = soulPrefix(soul);
          const name = encoder.encode(key);
          const record = new Uint8Array(prefix.length + name.length);
          record.set(prefix);
          record.set(name, prefix.length);
          if ((await store.get(record)) !== undefined) held.push(soul);
          continue;
        }
        for await (const _ of store.entries({ prefix: soulPrefix(soul), limit: 1 })) {
          held.push(soul);
          break;
        }
      }
    } finally {
      await store.close();
      if (remove) await rm(dir, { recursive: true, force: true });
    }
    return { held, openMs: opened, checkMs: performance.now() - t0 };
  },

  async scan({ dir, souls, key, remove = true }) {
    const t0 = performance.now();
    const wanted = souls === undefined ? undefined : new Set(souls);
    const byType = {};
    const soulBytes = {};
    const withKey = [];
    const stored = new Set();
    const decoder = new TextDecoder();
    const store = await LevelStore.open(dir);
    try {
      for await (const { key: k, value } of store.entries()) {
        const type = String.fromCharCode(k[0]);
        byType[type] = (byType[type] ?? 0) + k.length + value.length;
        if (type !== 'P') continue;
        // "P" soulLength:u32be soul key (persistence/layout.ts), decoded here by hand.
        const length = ((k[1] << 24) >>> 0) + (k[2] << 16) + (k[3] << 8) + k[4];
        const soul = decoder.decode(k.subarray(5, 5 + length));
        stored.add(soul);
        if (wanted?.has(soul)) soulBytes[soul] = (soulBytes[soul] ?? 0) + k.length + value.length;
        if (key !== undefined && decoder.decode(k.subarray(5 + length)) === key) withKey.push(soul);
      }
    } finally {
      await store.close();
      if (remove) await rm(dir, { recursive: true, force: true });
    }
    return { byType, soulBytes, withKey, stored: wanted === undefined ? [...stored] : [...stored].filter((soul) => wanted.has(soul)), storedSouls: stored.size, scanMs: performance.now() - t0 };
  },
};

const emit = serveParent(handlers);
emit('ready', { pid: process.pid });
