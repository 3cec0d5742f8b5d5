// Row 10: two peers over loopback through a server, RustDHT against GunDB.
//
// Every measurement starts three processes of its own (lib/children.mjs), so none
// shares an event loop with another: the server (net/rust-server.mjs: `rustdht serve`,
// or the same RustDHT.open({ network: { role: 'server' } }) when the CLI is not built,
// with a LevelStore in a temporary directory; GunDB: net/gun-relay.mjs, a relay with
// `Gun({ web })` and its default RAD store in a temporary directory), and two
// application peers A and B (net/peer.mjs, memory only) connected to it: RustDHT over
// TCP, GunDB over its websocket wire. The probe process only coordinates over IPC; all
// of them are killed when it exits.
//
// Row 10a, latency put → on: B subscribes to the node `~pubA/lat` (`on`); A writes it,
// signed (RustDHT `db.user(id).get('lat').put(props)`; GunDB: a logged-in SEA user's
// `gun.get('~pub/lat').put(props)`), one put at a time with a new `count` each time
// (the shared 5-property shape), and waits until B has seen that value before the next.
// The latency is the time from just before A's put call to B's callback, both read
// on the machine's monotonic clock (`process.hrtime`, CLOCK_MONOTONIC: one clock for
// every process on the machine, so the one-way time is measured directly, not
// estimated as half a round trip). The first `warmups` puts are not counted.
//
// Row 10b, replicated signed writes/s: A writes one signed property per put
// (`db.user(id).put({ k<i>: i })`: the property `k<i>` of A's `~pub` node; GunDB the
// same put on `~pub`, signed by SEA) as fast as it can with `window` writes not yet
// acknowledged by the server (RustDHT: the outbox entry is removed when the server
// acked it; GunDB: the put's ack callback, sent by the relay once RAD stored it). B
// subscribes to that node's properties (`map().on`) and counts the distinct properties
// it received. The rate is B's count per second over `samples` slices of `sampleMs`
// after a warm-up (B's own clock: B reports its count with a timestamp); the rate of
// A's acknowledgements over the same slices is reported beside it.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { startChild, stopChildren } from '../lib/children.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const NET = join(HERE, '..', 'net');
const PEER = join(NET, 'peer.mjs');
const CLI = join(HERE, '..', '..', '..', 'sdk-ts', 'dist', 'cli', 'main.js');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const T0 = performance.now();
/** BENCH_NET_DEBUG=1: the phases on stderr (and the children's output, see lib/children.mjs). */
const debug = (what) => process.env.BENCH_NET_DEBUG && process.stderr.write(`[network ${((performance.now() - T0) / 1000).toFixed(2)} s] ${what}\n`);

// ---- the three processes ------------------------------------------------------------------

/** `server`: 'cli' (rustdht serve), 'sdk' (RustDHT.open in a script) or undefined (the CLI when built). */
async function rustNetwork(opts) {
  const mode = opts.server ?? (existsSync(CLI) ? 'cli' : 'sdk');
  // All three start at once (loading the SDK and libp2p takes a while).
  const [server, a, b] = await Promise.all([
    startChild(join(NET, 'rust-server.mjs'), { name: `RustDHT server (${mode})`, args: [mode], readyTimeoutMs: 60_000 }),
    startChild(PEER, { name: 'RustDHT peer A', args: ['rust'], readyTimeoutMs: 60_000 }),
    startChild(PEER, { name: 'RustDHT peer B', args: ['rust'], readyTimeoutMs: 60_000 }),
  ]);
  debug('server and peers started');
  const tcp = server.info.addresses.filter((a) => a.includes('/tcp/') && !a.includes('/ws') && a.includes('/p2p/'));
  if (tcp.length === 0) throw new Error(`the server has no TCP address with /p2p/: ${JSON.stringify(server.info.addresses)}`);
  const peers = [tcp[0]];
  const [initA, initB] = await Promise.all([a.call('init', { peers, identity: true }), b.call('init', { peers })]);
  debug('peers connected');
  return {
    server,
    a,
    b,
    publicKey: initA.publicKey,
    setup: { server: server.info.how, serverMode: mode, address: tcp[0], transport: 'tcp', connectMs: { a: round(initA.connectMs), b: round(initB.connectMs) } },
  };
}

async function gunNetwork() {
  const [relay, a, b] = await Promise.all([
    startChild(join(NET, 'gun-relay.mjs'), { name: 'GunDB relay' }),
    startChild(PEER, { name: 'GunDB peer A', args: ['gun'] }),
    startChild(PEER, { name: 'GunDB peer B', args: ['gun'] }),
  ]);
  const url = relay.info.url;
  const [initA, initB] = await Promise.all([a.call('init', { url, identity: true }), b.call('init', { url })]);
  return {
    server: relay,
    a,
    b,
    publicKey: initA.publicKey,
    setup: { server: `Gun({ web }) relay, ${relay.info.storage}`, address: url, transport: 'websocket', connectMs: { a: round(initA.connectMs), b: round(initB.connectMs) } },
  };
}

async function counters(net) {
  const get = (child) => child.call('counters', {}, 5_000).catch((error) => ({ error: String(error.message ?? error) }));
  const [server, a, b] = await Promise.all([net.server.info.mode === 'sdk' ? get(net.server) : undefined, get(net.a), get(net.b)]);
  return { server, a, b };
}

// ---- row 10a: latency put → on ------------------------------------------------------------

async function latency(net, { warmups, count, timeoutMs = 5_000, firstTimeoutMs = 20_000, breakdown = false }) {
  const { a, b } = net;
  const soul = `~${net.publicKey}/lat`;
  let waiting;
  b.onEvent((message) => {
    if (message.event === 'seen' && waiting && message.i >= waiting.i) {
      const { resolve } = waiting;
      waiting = undefined;
      resolve(message);
    }
  });
  await b.call('watchValue', { soul });
  // Diagnostics (`breakdown: true`, server 'sdk' only): when the server applied each put.
  const serverSeen = new Map();
  if (breakdown) {
    if (net.server.info.mode !== 'sdk') throw new Error('"breakdown" needs "server": "sdk" (the server process watches the node too)');
    net.server.onEvent((message) => message.event === 'seen' && serverSeen.set(message.i, message.t));
    await net.server.call('watchValue', { soul });
  }
  const parts = [];
  const ms = [];
  const applyMs = [];
  let missed = 0;
  let skipped = 0;
  for (let k = 0; k < warmups + count; k++) {
    const i = k + 1;
    const seen = new Promise((resolve) => (waiting = { i, resolve }));
    const put = await a.call('put', { i });
    // The first put also waits for B's subscription to reach the server.
    const limit = k === 0 ? firstTimeoutMs : timeoutMs;
    let timer;
    const s = await Promise.race([seen, new Promise((resolve) => (timer = setTimeout(resolve, limit, undefined)))]);
    clearTimeout(timer);
    waiting = undefined;
    if (k === 0 && s === undefined) throw new Error(`B never saw A's first put within ${firstTimeoutMs} ms`);
    if (k < warmups) continue;
    if (s === undefined) {
      // Counted at the timeout (a lower bound), so a lost update shows in the tail.
      missed++;
      ms.push(limit);
    }
    else if (s.i !== i) skipped++;
    else {
      ms.push(s.t - put.t);
      applyMs.push(put.applyMs);
      if (breakdown) parts.push({ outbox: put.addedMs, server: serverSeen.get(i) - put.t, b: s.t - put.t });
    }
  }
  if (ms.length === 0) throw new Error(`B saw none of the ${count} measured puts`);
  const sorted = [...ms].sort((x, y) => x - y);
  const pct = (p) => round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))], 3);
  return {
    p50: pct(0.5),
    p90: pct(0.9),
    p99: pct(0.99),
    latency: { min: round(sorted[0], 3), max: round(sorted.at(-1), 3), mean: round(ms.reduce((x, y) => x + y, 0) / ms.length, 3) },
    putCallMs: { p50: round([...applyMs].sort((x, y) => x - y)[applyMs.length >> 1], 3) },
    samples: ms.length,
    ...(breakdown ? { breakdown: breakdownOf(parts) } : {}),
    warmups,
    missed,
    skipped,
    timeoutMs,
    soul: 'A: ~pub/lat (5 properties per put, signed)',
    clock: 'one-way: A reads process.hrtime (CLOCK_MONOTONIC, shared by every process on the machine) just before its put call, B in its callback',
  };
}

export async function rustLatency(opts) {
  try {
    const net = await rustNetwork(opts);
    const result = await latency(net, opts);
    return { ...result, ...net.setup, counters: await counters(net) };
  } finally {
    await stopChildren();
  }
}

export async function gunLatency(opts) {
  try {
    const net = await gunNetwork();
    const result = await latency(net, opts);
    return { ...result, ...net.setup, signed: 'SEA (logged-in user, ~pub soul)' };
  } finally {
    await stopChildren();
  }
}

// ---- row 10b: replicated writes/s ---------------------------------------------------------

async function replication(net, { prefix, nodes, window, timing, stallMs = 30_000 }) {
  const { a, b } = net;
  await b.call('watchMap', { souls: Array.from({ length: nodes }, (_, j) => `${prefix}/s${j}`) });
  await a.call('startWriting', { window, nodes, prefix });
  const t0 = performance.now();
  // Warm-up: at least warmupMs, and until B has received a whole window.
  let lastB = await b.call('count');
  let lastA = await a.call('progress');
  let lastProgressAt = performance.now();
  for (;;) {
    await sleep(Math.min(100, timing.warmupMs));
    const [nb, na] = await Promise.all([b.call('count'), a.call('progress')]);
    if (nb.received !== lastB.received) lastProgressAt = performance.now();
    debug(`warming: B ${nb.received}, A issued ${na.issued} acked ${na.acked}`);
    lastB = nb;
    lastA = na;
    if (performance.now() - t0 >= timing.warmupMs && nb.received >= window) break;
    if (performance.now() - lastProgressAt > stallMs) {
      throw new Error(`B received ${nb.received} writes, then nothing for ${stallMs} ms (A: ${JSON.stringify(na)}; counters ${JSON.stringify(await counters(net))})`);
    }
  }
  const warmupMs = performance.now() - t0;
  const serverCpu0 = await net.server.call('cpu');
  debug(`warm: B ${lastB.received}, A ${JSON.stringify(lastA)}`);
  const slices = [];
  const [firstA, firstB] = [lastA, lastB];
  for (let k = 0; k < timing.samples; k++) {
    await sleep(timing.sampleMs);
    const [nb, na] = await Promise.all([b.call('count'), a.call('progress')]);
    slices.push({
      received: nb.received - lastB.received,
      ms: nb.t - lastB.t,
      acked: na.acked - lastA.acked,
      ackMs: na.t - lastA.t,
      issued: na.issued - lastA.issued,
    });
    lastB = nb;
    lastA = na;
  }
  const serverCpu1 = await net.server.call('cpu');
  await a.call('stopWriting');
  debug('measured');
  const sum = (key) => slices.reduce((s, x) => s + x[key], 0);
  const rates = slices.map((s) => (s.received / s.ms) * 1000).sort((x, y) => x - y);
  return {
    perSecond: (sum('received') / sum('ms')) * 1000,
    min: rates[0],
    max: rates.at(-1),
    rates: slices.map((s) => Math.round((s.received / s.ms) * 1000)),
    ackedPerSecond: (sum('acked') / sum('ackMs')) * 1000,
    issuedPerSecond: (sum('issued') / sum('ackMs')) * 1000,
    items: sum('received'),
    ms: Math.round(sum('ms')),
    samples: slices.length,
    window,
    warmupMs: Math.round(warmupMs),
    // CPU time per write each process spent over the slices (A per write acked, server
    // per write acked, B per write received): where the time goes, whatever else runs.
    cpuPerWriteMs: {
      a: round((lastA.cpuMs - firstA.cpuMs) / (lastA.acked - firstA.acked), 3),
      server: serverCpu0.cpuMs === undefined ? null : round((serverCpu1.cpuMs - serverCpu0.cpuMs) / (lastA.acked - firstA.acked), 3),
      b: round((lastB.cpuMs - firstB.cpuMs) / (lastB.received - firstB.received), 3),
    },
    atEnd: { issued: lastA.issued, acked: lastA.acked, receivedByB: lastB.received, writeErrors: lastA.errors, rejectsAtA: lastA.rejects },
    writes: `one property per put, { k<i>: i } on node ${prefix.startsWith('~') ? '~pub' : prefix}/s<i % ${nodes}>`,
    nodes,
  };
}

export async function rustReplicated(opts) {
  try {
    const net = await rustNetwork(opts);
    const result = await replication(net, { ...opts, prefix: `~${net.publicKey}` });
    return { ...result, ...net.setup, signed: 'Ed25519 (db.user)', counters: await counters(net) };
  } finally {
    await stopChildren();
  }
}

/** `signed`: A is a logged-in SEA user writing `~pub` (SEA signs, relay and B verify); else a plain soul. */
export async function gunRelayed(opts) {
  try {
    const net = await gunNetwork();
    const prefix = opts.signed ? `~${net.publicKey}` : `bench/relayed/${process.pid}`;
    const result = await replication(net, { ...opts, prefix });
    return { ...result, ...net.setup, signed: opts.signed ? 'SEA (logged-in user, ~pub soul)' : 'no (plain soul)' };
  } finally {
    await stopChildren();
  }
}

/** Medians of the times (from A's put call) at which A's outbox had the write, the server applied it, B saw it. */
function breakdownOf(parts) {
  const median = (key) => {
    const v = parts.map((p) => p[key]).filter((x) => typeof x === 'number' && !Number.isNaN(x)).sort((x, y) => x - y);
    return v.length ? { p50: round(v[v.length >> 1], 3), p90: round(v[Math.floor(v.length * 0.9)], 3) } : null;
  };
  return { inAOutbox: median('outbox'), appliedByServer: median('server'), seenByB: median('b') };
}

function round(x, digits = 1) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
