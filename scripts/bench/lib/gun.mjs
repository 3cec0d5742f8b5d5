// GunDB as the comparison peer: memory only (or, for the persistence rows, on its RAD
// file store), no network, and quiet.
//
// `require('gun')` in Node loads the server build (SEA, radisk, file store, stats,
// multicast, websocket wire). Options switch every I/O piece off; SEA stays loaded
// because it is what signs and verifies `~pub` data, as in any real Gun server.
// Gun prints a welcome line when it loads and logs through `Gun.log`; both are muted
// so the benchmark's own output stays readable.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

let Gun;

export function loadGun() {
  if (Gun) return Gun;
  const log = console.log;
  console.log = () => {};
  try {
    Gun = require('gun');
  } finally {
    console.log = log;
  }
  Gun.log.off = true;
  return Gun;
}

const GUN_OPTIONS = Object.freeze({
  file: false,
  radisk: false,
  localStorage: false,
  axe: false,
  multicast: false,
  peers: [],
  // Also off: the stats file writer, the fs store (otherwise created even when
  // radisk is off) and the websocket wire.
  stats: false,
  rfs: false,
  ws: false,
});

/**
 * A fresh memory-only Gun instance plus a counter of properties it has applied to
 * its graph. Gun's local puts get no ack without a storage peer, so completion is
 * observed on the root `put` event, which Gun fires once per property after HAM
 * accepted it and `graph[soul]` holds it.
 */
export function memoryGun() {
  const G = loadGun();
  const gun = G({ ...GUN_OPTIONS });
  const root = gun._;
  let applied = 0;
  let waiter = null;
  root.on('put', function onPut(msg) {
    this.to.next(msg);
    applied++;
    if (waiter && applied >= waiter.target) {
      const { resolve } = waiter;
      waiter = null;
      resolve();
    }
  });
  return {
    Gun: G,
    gun,
    root,
    get applied() {
      return applied;
    },
    /** Resolves once `applied` reaches `target`; rejects after `timeoutMs`. */
    until(target, timeoutMs = 120_000) {
      if (applied >= target) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = null;
          reject(new Error(`GunDB applied ${applied} of ${target} properties within ${timeoutMs} ms`));
        }, timeoutMs);
        waiter = {
          target,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });
    },
    /**
     * Gun remembers every message and property id for 9 s to drop duplicates. Forget
     * them now, as Gun would 9 s later, so a measurement sees the steady state. (Gun's
     * own `dup.drop` walks its table in small timed chunks: minutes for a million ids.)
     */
    forgetDuplicates() {
      const table = root.dup.s;
      for (const id in table) delete table[id];
    },
    /** Incoming wire message, as Gun's mesh hands it on: parse, then `root.on('in')`. */
    hear(text) {
      root.on('in', JSON.parse(text));
    },
  };
}

/** A SEA key pair (new, or `pair`) logged in on `peer`, so its puts to `~pub/...` souls are signed. */
export async function signedUser(peer, pair) {
  pair ??= await peer.Gun.SEA.pair();
  await new Promise((resolve, reject) => {
    peer.gun.user().auth(pair, (ack) => (ack.err ? reject(new Error(ack.err)) : resolve()));
  });
  return pair;
}

/** Gun's graph-format message for `nodes` ([soul, props][]), every property at `state`. */
export function graphMessage(nodes, state) {
  const put = {};
  for (const [soul, props] of nodes) {
    const states = {};
    for (const key of Object.keys(props)) states[key] = state;
    put[soul] = { _: { '#': soul, '>': states }, ...props };
  }
  return JSON.stringify({ put });
}

/** RAD's directory inside the directory a disk-backed Gun is given. */
export const GUN_RAD_FILE = 'radata';

/**
 * Gun on its file store in `dir` (rows 7 and 8): RAD (`lib/radisk.js` through
 * `lib/store.js`) over the `rfs` file adapter, as a Gun server stores data. Everything
 * else stays off as in memoryGun. RAD keeps one instance per path for the life of the
 * process, so each directory is opened once per process.
 */
export function radGun(dir) {
  const G = loadGun();
  const gun = G({ ...GUN_OPTIONS, file: `${dir}/${GUN_RAD_FILE}`, radisk: true, rfs: true });
  return { Gun: G, gun, root: gun._ };
}
