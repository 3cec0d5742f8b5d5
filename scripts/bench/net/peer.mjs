// Row 10: one application peer (A, the writer, or B, the reader), in its own process.
//
//   node scripts/bench/net/peer.mjs rust|gun      (started by tasks/network.mjs)
//
// RustDHT: `RustDHT.open({ network: { role: 'client', peers: [server] } })`, memory only
// (Node's default: no store), signed writes through `db.user(Identity.generate())`.
// GunDB: `Gun({ peers: [relay], … })`, memory only (no RAD, no localStorage), not a
// super peer (an app peer), signed writes by a logged-in SEA user (puts to `~pub` souls).
//
// Commands (over IPC, lib/children.mjs):
//   init { peers | url, identity }  → connects; with `identity`, returns the public key
//   watchValue { soul }             → subscribes with `on`; emits `seen { i, t }` each time
//                                     the node's `count` reaches a new value (t: shared clock)
//   put { i }                       → one write of the node `~pub/lat` (5 properties);
//                                     returns the shared-clock time just before the put call
//   watchMap { souls }              → subscribes to those nodes' properties (`map().on`
//                                     on each), counting distinct `k<i>` properties received
//   count                           → { received, t }
//   startWriting { window, nodes, prefix }
//                                   → writes `{ k<i>: i }` (1 property) on node `s<i % nodes>`
//                                     as fast as it can, with at most `window` writes not
//                                     yet acknowledged by the server (relay). RustDHT:
//                                     `db.user(id).get('s<j>').put(...)`, the node `~pub/s<j>`;
//                                     GunDB: `gun.get('<prefix>/s<j>').put(...)` (prefix
//                                     `~pub`: signed by SEA; another: unsigned)
//   progress                        → { issued, acked, errors, t }
//   stopWriting, counters

import { cpuMs, serveParent, sharedClockMs } from '../lib/children.mjs';
import { loadGun } from '../lib/gun.mjs';
import { nodeProps } from '../lib/shapes.mjs';

const kind = process.argv[2];
if (kind !== 'rust' && kind !== 'gun') throw new Error(`peer.mjs rust|gun, not ${kind}`);
// Loaded before saying ready, so the peer starts while the server does.
const sdk = kind === 'rust' ? await import('rustdht') : undefined;

const rejects = {};
/** Connections lost and regained (RustDHT), with the shared-clock time: a lost subscriber explains missing updates. */
const events = [];
let received = 0;
let seenBits = new Uint8Array(1 << 16);
let writer;

/** Counts property `k<i>` once, however often it is reported. */
function mark(key) {
  if (typeof key !== 'string' || key.charCodeAt(0) !== 107 /* k */) return;
  const i = Number(key.slice(1));
  if (!Number.isInteger(i) || i < 0) return;
  if (i >= seenBits.length * 8) {
    const bigger = new Uint8Array(Math.max(seenBits.length * 2, (i >> 3) + 1));
    bigger.set(seenBits);
    seenBits = bigger;
  }
  const bit = 1 << (i & 7);
  if ((seenBits[i >> 3] & bit) === 0) {
    seenBits[i >> 3] |= bit;
    received++;
  }
}

const withTimeout = (promise, ms, what) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms).unref())]);

// ---- RustDHT ------------------------------------------------------------------------------

function rustPeer() {
  let db;
  let user;
  let publicKey;
  return {
    async init({ peers, identity }) {
      const { RustDHT, Identity } = sdk;
      db = await RustDHT.open({ network: { role: 'client', peers } });
      db.network.on((event) => {
        if (event.type === 'reject') {
          rejects[event.code] = (rejects[event.code] ?? 0) + 1;
          if (events.length < 50) events.push({ t: sharedClockMs(), type: event.type, code: event.code, message: event.message.slice(0, 200) });
        } else if (event.type !== 'state' && events.length < 50) events.push({ t: sharedClockMs(), type: event.type });
      });
      const t0 = performance.now();
      await withTimeout(db.network.whenConnected({ count: 1 }), 20_000, 'connecting to the server');
      const connectMs = performance.now() - t0;
      if (identity) {
        const id = Identity.generate();
        user = db.user(id);
        publicKey = id.publicKey;
      }
      return { publicKey, connectMs, peers: db.network.status().peers };
    },
    watchValue({ soul }, emit) {
      let last = -1;
      db.get(soul).on((value) => {
        const t = sharedClockMs();
        const i = value?.count;
        if (typeof i === 'number' && i > last) {
          last = i;
          emit('seen', { i, t });
        }
      });
    },
    async put({ i }) {
      let added;
      const stop = db.outbox.onChange((event) => {
        if (event.type === 'added') added ??= sharedClockMs();
      });
      const t = sharedClockMs();
      try {
        await user.get('lat').put(nodeProps(i));
      } finally {
        stop();
      }
      return { t, applyMs: sharedClockMs() - t, addedMs: added === undefined ? undefined : added - t };
    },
    watchMap({ souls }) {
      for (const soul of souls) db.get(soul).map().on((_value, key) => mark(key));
    },
    startWriting({ window, nodes }) {
      let issued = 0;
      let acked = 0;
      let errors = 0;
      let running = true;
      const topUp = () => {
        while (running && issued - acked < window) {
          const i = issued++;
          user.get(`s${i % nodes}`).put({ [`k${i}`]: i }).catch(() => errors++);
        }
      };
      // An outbox entry is removed once a server acknowledged it (replicated).
      const stop = db.outbox.onChange((event) => {
        if (event.type === 'removed') {
          acked++;
          topUp();
        }
      });
      writer = {
        progress: () => ({ issued, acked, errors, outbox: db.outbox.size, t: sharedClockMs() }),
        stop() {
          running = false;
          stop();
        },
      };
      topUp();
    },
    counters() {
      const status = db.network.status();
      return { counters: db.network.counters(), state: status.state, outboxSize: status.outboxSize, peers: status.peers.map((p) => ({ transport: p.transport, rttMs: p.rttMs, role: p.role })) };
    },
    close: () => db?.close(),
  };
}

// ---- GunDB --------------------------------------------------------------------------------

function gunPeer() {
  let Gun;
  let gun;
  let pub;
  return {
    async init({ url, identity }) {
      Gun = loadGun();
      gun = Gun({ peers: [url], file: false, radisk: false, localStorage: false, axe: false, multicast: false, stats: false, rfs: false, super: false });
      const t0 = performance.now();
      await withTimeout(
        new Promise((resolve) => {
          const poll = setInterval(() => {
            const peer = gun._.opt.peers[url];
            if (peer?.wire?.readyState === 1) {
              clearInterval(poll);
              resolve();
            }
          }, 5);
        }),
        20_000,
        'connecting to the relay',
      );
      const connectMs = performance.now() - t0;
      if (identity) {
        const pair = await Gun.SEA.pair();
        await new Promise((resolve, reject) => gun.user().auth(pair, (ack) => (ack.err ? reject(new Error(ack.err)) : resolve())));
        pub = pair.pub;
      }
      return { publicKey: pub, connectMs };
    },
    watchValue({ soul }, emit) {
      let last = -1;
      gun.get(soul).on((value) => {
        const t = sharedClockMs();
        const i = value?.count;
        if (typeof i === 'number' && i > last) {
          last = i;
          emit('seen', { i, t });
        }
      });
    },
    put({ i }) {
      const t = sharedClockMs();
      gun.get(`~${pub}/lat`).put(nodeProps(i));
      return { t, applyMs: sharedClockMs() - t };
    },
    watchMap({ souls }) {
      for (const soul of souls) gun.get(soul).map().on((_value, key) => mark(key));
    },
    startWriting({ window, nodes, prefix }) {
      let issued = 0;
      let acked = 0;
      let errors = 0;
      let running = true;
      const topUp = () => {
        while (running && issued - acked < window) {
          const i = issued++;
          let done = false;
          // Acked by the relay once RAD stored it (Gun calls back once per acking peer).
          gun.get(`${prefix}/s${i % nodes}`).put({ [`k${i}`]: i }, (ack) => {
            if (done) return;
            done = true;
            if (ack.err) errors++;
            acked++;
            topUp();
          });
        }
      };
      writer = {
        progress: () => ({ issued, acked, errors, t: sharedClockMs() }),
        stop() {
          running = false;
        },
      };
      topUp();
    },
    counters: () => ({}),
    close() {},
  };
}

// ---- wiring -------------------------------------------------------------------------------

const peer = kind === 'rust' ? rustPeer() : gunPeer();
const emit = serveParent({
  init: (args) => peer.init(args),
  watchValue: (args) => peer.watchValue(args, emit),
  put: (args) => peer.put(args),
  watchMap: (args) => peer.watchMap(args),
  count: () => ({ received, t: sharedClockMs(), cpuMs: cpuMs() }),
  startWriting: (args) => peer.startWriting(args),
  progress: () => ({ ...writer.progress(), cpuMs: cpuMs(), rejects }),
  stopWriting: () => writer?.stop(),
  counters: () => ({ ...peer.counters(), rejects, events }),
  close: () => peer.close(),
});
emit('ready', { kind, pid: process.pid });
