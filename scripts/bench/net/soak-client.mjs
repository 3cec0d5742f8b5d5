// Row 11 (soak): one load generator against a `rustdht serve`, in its own process.
//
//   node scripts/bench/net/soak-client.mjs <role>      (started by tasks/soak.mjs)
//
// Every role uses the built SDK through the package entry (`import('rustdht')`), clients
// memory only (`store: 'memory'`), dialling the server's TCP address; each database is
// its own libp2p node with a fresh peer id. Except `raw-flood`, which speaks the sync
// protocol by hand over a libp2p stream (the SDK's dist modules), as a hostile peer would.
//
// Roles (`start { server, index, runId, t0, ... }` starts the load, `stop` ends it and
// returns what the role measured or counted):
//   honest        a writer and a reader. The writer puts one node at a steady rate
//                 (`writeHz`), alternately signed (`db.user(id).get('n<i>').put(...)`, soul
//                 `~pub/n<i>`) and unsigned (`db.get('soak/<run>/h<index>/n<i>').put(...)`),
//                 one at a time. Put-ack latency: from just before the put call to the
//                 removal of its outbox entry (the server acknowledged it: the SDK removes
//                 an entry on the server's ACK, or on a final refusal, which is counted
//                 apart from the acks as a `reject` event). Every acknowledged write is
//                 recorded (soul, v) for the final check. The reader (another database, so
//                 nothing is cached from the writes, replaced every `readerMs`) reads one
//                 acknowledged node at a time (`readHz`) with `once()`, timed, and checks
//                 its value.
//   unknown-reads `once()` of random souls nobody wrote, `concurrency` at a time, 1 in 10
//                 with a 1,000-character soul.
//   churn         keeps ~`subscriptions` `on()` subscriptions on random souls of a small
//                 set, replacing `churnPerTick` of them every 10 ms, and writes one of the
//                 souls every 100 ms (so subscribers get events).
//   flood         unsigned puts as fast as the server takes them: `window` not yet
//                 acknowledged, 512-byte values over 2,000 souls × 10 keys.
//   raw-flood     one peer id over the raw wire: hello, then PUTs of junk frames, ERRORs
//                 with codes of its own (a new code each time) and GETs of unknown souls,
//                 as fast as the stream takes them; dials again when the server closes it.
//   deferred      a client whose clock runs `aheadMs` (60 s) fast, writing 100 KB values
//                 (`writeHz`): the server parks them until their time.
//   sybil         `peers` (20) databases, each its own peer id, each doing a bit of
//                 everything: a signed and an unsigned put of 1–4 KB every ~second, a read
//                 of an unknown soul, a subscription churned.
//   verify        `verify { server, records }`: a fresh client reads each (soul, v) back
//                 (`concurrency` at a time, misses retried by another fresh client).

import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { cpuMs, serveParent, sharedClockMs } from '../lib/children.mjs';

const role = process.argv[2];
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DIST = join(ROOT, 'sdk-ts', 'dist');
const sdk = await import('rustdht');
const { RustDHT, Identity } = sdk;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const rand = (n) => Math.floor(Math.random() * n);
const withTimeout = (promise, ms, what) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms).unref())]);

let running = false;
const counts = {};
const count = (what, n = 1) => (counts[what] = (counts[what] ?? 0) + n);
const rejects = {};
const errors = [];
const noteError = (where, error) => {
  count(`errors.${where}`);
  if (errors.length < 20) errors.push(`${where}: ${String(error?.message ?? error).slice(0, 300)}`);
};
const dbs = [];

async function open(server, options = {}) {
  const db = await RustDHT.open({ store: 'memory', ...options, network: { role: 'client', peers: [server], ...(options.network ?? {}) } });
  dbs.push(db);
  db.network.on((event) => {
    if (event.type === 'reject') rejects[event.code] = (rejects[event.code] ?? 0) + 1;
    else if (event.type === 'peer:disconnect') count('disconnects');
  });
  try {
    await withTimeout(db.network.whenConnected({ count: 1 }), 30_000, 'connecting to the server');
  } catch (error) {
    await close(db);
    throw error;
  }
  return db;
}

async function close(db) {
  const k = dbs.indexOf(db);
  if (k >= 0) dbs.splice(k, 1);
  await db.close({ timeoutMs: 0 }).catch(() => {});
}

/** Runs `body` every `periodMs` on a fixed schedule (late ticks run at once, not skipped). */
async function steady(periodMs, body) {
  const start = performance.now();
  for (let k = 1; running; k++) {
    try {
      await body(k);
    } catch (error) {
      noteError('tick', error);
    }
    const wait = start + k * periodMs - performance.now();
    if (wait > 0) await sleep(wait);
  }
}

// ---- honest --------------------------------------------------------------------------------

function honest() {
  const acked = [];
  const ackSamples = []; // [t since run start (ms), put→ack ms, signed 1/0]
  const readSamples = []; // [t since run start, ms]
  const readProblems = [];
  const readerConnectMs = [];
  let issued = 0;
  const pendingById = new Map();
  let current;
  let db;
  let loops = [];
  return {
    async start({ server, index, runId, t0, writeHz = 10, readHz = 4, readerMs = 60_000 }) {
      db = await open(server);
      const id = Identity.generate();
      const user = db.user(id);
      db.outbox.onChange((event) => {
        if (event.type === 'added') {
          if (current) {
            current.ids.add(event.id);
            pendingById.set(event.id, current);
          }
        } else {
          const write = pendingById.get(event.id);
          if (!write) return;
          pendingById.delete(event.id);
          write.ids.delete(event.id);
          if (write.ids.size === 0) {
            ackSamples.push([Math.round(write.t - t0), Math.round((sharedClockMs() - write.t) * 100) / 100, write.signed ? 1 : 0]);
            acked.push(write.rec);
          }
        }
      });
      running = true;
      const pad = 'p'.repeat(200);
      const writer = steady(1000 / writeHz, async () => {
        const i = issued++;
        const signed = i % 2 === 0;
        const v = `${runId}:${index}:${i}`;
        const soul = signed ? `~${id.publicKey}/n${i}` : `soak/${runId}/h${index}/n${i}`;
        const ref = signed ? user.get(`n${i}`) : db.get(soul);
        const t = sharedClockMs();
        current = { t, ids: new Set(), signed, rec: { soul, v } };
        try {
          await ref.put({ v, i, pad });
        } catch (error) {
          noteError('put', error);
        }
        current = undefined;
      });
      const reader = (async () => {
        let r = await open(server);
        let openedAt = performance.now();
        await steady(1000 / readHz, async () => {
          if (performance.now() - openedAt > readerMs) {
            openedAt = performance.now();
            const t = performance.now();
            try {
              const fresh = await open(server);
              readerConnectMs.push(Math.round(performance.now() - t));
              void close(r);
              r = fresh;
            } catch (error) {
              // Keep reading through the old reader; try again after another readerMs.
              noteError('readerOpen', error);
            }
          }
          if (acked.length === 0) return;
          const rec = acked[rand(acked.length)];
          const t = sharedClockMs();
          const node = await r.get(rec.soul).once();
          readSamples.push([Math.round(t - t0), Math.round((sharedClockMs() - t) * 100) / 100]);
          if (node?.v !== rec.v) {
            count('readMismatch');
            if (readProblems.length < 20) readProblems.push({ soul: rec.soul, want: rec.v, got: node?.v ?? null });
          }
        });
      })();
      loops = [writer, reader];
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      // What the server has not acknowledged yet: give it a while, then count it as unacknowledged (not lost).
      const syncStart = performance.now();
      await withTimeout(db.network.whenSynced(), 30_000, 'whenSynced').catch((error) => noteError('whenSynced', error));
      return {
        issued,
        acked: acked.length,
        unackedAtEnd: pendingById.size,
        syncWaitMs: Math.round(performance.now() - syncStart),
        records: acked,
        ackSamples,
        readSamples,
        readProblems,
        readerConnectMs,
      };
    },
  };
}

// ---- hostile -------------------------------------------------------------------------------

function unknownReads() {
  let loops = [];
  return {
    async start({ server, concurrency = 64 }) {
      const db = await open(server, { network: { readTimeoutMs: 1_000 } });
      running = true;
      const long = 'u'.repeat(1_000);
      const worker = async () => {
        while (running) {
          const soul = `soak/unknown/${Math.random() < 0.1 ? long : ''}${randomBytes(12).toString('hex')}`;
          try {
            await db.get(soul).once();
            count('reads');
          } catch (error) {
            noteError('read', error);
            await sleep(50);
          }
        }
      };
      loops = Array.from({ length: concurrency }, worker);
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      return {};
    },
  };
}

function churn() {
  let loops = [];
  return {
    async start({ server, subscriptions = 300, churnPerTick = 5, souls = 2_000 }) {
      const db = await open(server);
      running = true;
      const live = [];
      const subscribe = () => {
        const off = db.get(`soak/churn/s${rand(souls)}`).on(() => count('events'));
        live.push(off);
        count('subscribes');
      };
      for (let k = 0; k < subscriptions; k++) subscribe();
      const churner = steady(10, () => {
        for (let k = 0; k < churnPerTick; k++) {
          live.shift()?.();
          count('unsubscribes');
          subscribe();
        }
      });
      const writer = steady(100, async (k) => {
        await db.get(`soak/churn/s${rand(souls)}`).put({ n: k, t: Date.now() });
        count('puts');
      });
      loops = [churner, writer, { finally: () => live.splice(0).forEach((off) => off()) }];
    },
    async stop() {
      running = false;
      await Promise.all(loops.slice(0, 2));
      loops[2]?.finally();
      return {};
    },
  };
}

function flood() {
  let loop;
  return {
    async start({ server, window = 2_000 }) {
      const db = await open(server);
      running = true;
      let issued = 0;
      let acked = 0;
      db.outbox.onChange((event) => {
        if (event.type === 'removed') acked++;
      });
      const value = 'f'.repeat(512);
      loop = (async () => {
        while (running) {
          while (running && issued - acked < window) {
            const i = issued++;
            db.get(`soak/flood/s${i % 2_000}`).put({ [`k${i % 10}`]: `${i}:${value}` }).catch((error) => noteError('put', error));
            if (i % 200 === 0) await new Promise((resolve) => setImmediate(resolve));
          }
          await sleep(5);
        }
        counts.issued = issued;
        counts.acked = acked;
      })();
    },
    async stop() {
      running = false;
      await loop;
      return {};
    },
  };
}

function rawFlood() {
  let loop;
  return {
    async start({ server }) {
      const [{ createClientNode }, { openChannel }, { encodeMessage, SYNC_PROTOCOL }, { lengthPrefixed }] = await Promise.all(
        ['network/libp2p/client-node.js', 'network/libp2p/stream-channel.js', 'network/wire/messages.js', 'network/wire/framing.js'].map((p) => import(pathToFileURL(join(DIST, p)).href)),
      );
      const node = await createClientNode();
      await node.start?.();
      running = true;
      const frame = (m) => lengthPrefixed(encodeMessage(m));
      loop = (async () => {
        let n = 0;
        while (running) {
          let channel;
          try {
            channel = await openChannel(node, server, SYNC_PROTOCOL);
            count('streams');
            channel.onBytes((chunk) => count('bytesIn', chunk.length));
            await channel.send(frame({ type: 'hello', id: 0, role: 'client', maxMessageBytes: 4 * 1024 * 1024 }));
            while (running && !channel.closed) {
              const id = (n++ % 1_000_000) + 1;
              const kind = id % 3;
              const message =
                kind === 0 ? { type: 'put', id, frame: randomBytes(64 + rand(448)) }
                : kind === 1 ? { type: 'error', id, code: `soak/${n}`, message: 'x'.repeat(rand(200)) }
                : { type: 'get', id, soul: `soak/raw/${n}`, keys: [] };
              await channel.send(frame(message));
              count(`sent.${message.type}`);
            }
            count('closedByServer', running ? 1 : 0);
          } catch (error) {
            noteError('stream', error);
          }
          try {
            channel?.abort(new Error('soak'));
          } catch {
            // Gone already.
          }
          if (running) await sleep(250);
        }
        await node.stop();
      })();
    },
    async stop() {
      running = false;
      await withTimeout(loop, 10_000, 'raw flood stop').catch(() => {});
      return {};
    },
  };
}

function deferred() {
  let loop;
  return {
    async start({ server, aheadMs = 60_000, writeHz = 2, valueBytes = 100_000 }) {
      const db = await open(server, { now: () => Date.now() + aheadMs });
      running = true;
      let acked = 0;
      db.outbox.onChange((event) => {
        if (event.type === 'removed') acked++;
      });
      loop = steady(1000 / writeHz, async (k) => {
        await db.get(`soak/deferred/s${k % 500}`).put({ v: `${k}:${randomBytes(valueBytes / 2).toString('hex')}` });
        count('puts');
        counts.acked = acked;
        counts.outbox = db.outbox.size;
      });
    },
    async stop() {
      running = false;
      await loop;
      return {};
    },
  };
}

function sybil() {
  let loops = [];
  return {
    async start({ server, peers = 20 }) {
      running = true;
      // Each member connects on its own (and again after a failed attempt), then loops: a
      // loaded server may take a while to let 20 newcomers in.
      loops = Array.from({ length: peers }, async (_, k) => {
        let db;
        while (running && !db) {
          try {
            db = await open(server);
            count('connected');
          } catch (error) {
            noteError('connect', error);
          }
        }
        if (!db) return;
        const user = db.user(Identity.generate());
        let off;
        await steady(900 + rand(200), async (tick) => {
          const size = 1024 + rand(3 * 1024);
          const what = tick % 4;
          if (what === 0) await user.get(`x${tick % 100}`).put({ v: randomBytes(size / 2).toString('hex') }), count('signedPuts');
          else if (what === 1) await db.get(`soak/sybil/${k}/${tick % 100}`).put({ v: 'y'.repeat(size) }), count('puts');
          else if (what === 2) await db.get(`soak/sybil/unknown/${randomBytes(8).toString('hex')}`).once(), count('unknownReads');
          else {
            off?.();
            off = db.get(`soak/churn/s${rand(2_000)}`).on(() => count('events'));
            count('subscribes');
          }
        });
      });
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      return {};
    },
  };
}

// ---- verify ---------------------------------------------------------------------------------

async function verify({ server, records, concurrency = 100 }) {
  const t0 = performance.now();
  const check = async (list) => {
    const db = await open(server, { network: { readTimeoutMs: 10_000 } });
    const bad = [];
    let next = 0;
    const worker = async () => {
      while (next < list.length) {
        const rec = list[next++];
        let got;
        try {
          got = (await db.get(rec.soul).once())?.v;
        } catch (error) {
          got = `error: ${error.message}`;
        }
        if (got !== rec.v) bad.push({ ...rec, got: got ?? null });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    await close(db);
    return bad;
  };
  const first = await check(records);
  // A miss is read again by a fresh client before it counts as lost (a read that timed out is not a loss).
  const again = first.length > 0 ? await check(first.map(({ soul, v }) => ({ soul, v }))) : [];
  return { checked: records.length, missedFirst: first.length, lost: again.length, lostSamples: again.slice(0, 20), ms: Math.round(performance.now() - t0) };
}

// ---- wiring ---------------------------------------------------------------------------------

const ROLES = { honest, 'unknown-reads': unknownReads, churn, flood, 'raw-flood': rawFlood, deferred, sybil };
if (role !== 'verify' && !ROLES[role]) throw new Error(`soak-client.mjs: unknown role ${role}`);
const load = role === 'verify' ? undefined : ROLES[role]();

const emit = serveParent({
  start: (args) => load.start(args),
  stop: async () => {
    const result = await load.stop();
    await Promise.all([...dbs].map(close));
    return { role, ...result, counts, rejects, errors, cpuMs: cpuMs() };
  },
  progress: () => ({ counts, rejects, t: sharedClockMs() }),
  verify: (args) => verify(args),
});
emit('ready', { role, pid: process.pid });
