// Row 12: the DHT (issue 12, item 7). Three probes:
//
// dhtCluster — `servers` (20) `rustdht serve` processes on loopback (LevelDB each, --replicas
//   R, --exempt-loopback, each bootstrapped from the first only), spawned by this process,
//   which needs their pids to pause (copies of their stores), kill -9 and restart them.
//   Client databases live in other processes (net/dht-client.mjs: a prober with one client
//   per server, a writer with one per server, a reader, a signer, two store scanners), so
//   no timed client shares an event loop with bulk work. The rows run in this order on
//   one cluster:
//     1. placement agreement: each server's member list (a client of that server alone asks
//        it: `network.members()`, the signed records it keeps) and the owners the engine's
//        placement computes from it for `placementSouls` random souls, against owners
//        computed here with node:crypto (SHA-256 of the soul and of each peer id's
//        multihash, XOR, closest first). Then those souls are written (soul i through
//        server i % N) and, once settled, each must be held by exactly its R true owners
//        (paused copies of every store, below); `rustdht where SOUL --json` for a few of
//        them, each asking a random server, as a third view.
//     2. remote reads: a client of server S reads (`once()`, one at a time) souls written
//        beforehand whose owners do not include S, each soul once (nothing cached).
//     3. signed writes through one server C with durability 'quorum' (`window` in flight,
//        `identities` users round robin, `db.user(id).get('w<i>').put({ v, t })`): puts
//        resolved per second; then the same puts one at a time with durability 'all'
//        (resolves once every owner confirmed the write durable): p50, p99.
//     4. stored bytes: random souls are written (soul i through server i % N) until the
//        victim V (below) owns `ownedByVictim` (10,000) of them; once every one is on
//        exactly its owners, the property records of those souls summed over every store
//        ÷ (R × one copy: each soul's records at its closest owner); also every record of
//        every store (change logs included) and the LevelDB directories' growth, against
//        the same R × one copy.
//     6. (in sync) anti-entropy's own rounds over a quiet `aeWindowMs` after that, from
//        every server's /metrics: bytes per pair per round (rustdht_dht_anti_entropy_*).
//     7. catch-up: V stops (SIGTERM); `updates` (10,000) updates of souls V owns (a new
//        property each) are written through the others with durability 'all' (so its live
//        owners hold them); V restarts on its data; from its 'ready' line, a copy of its
//        store every `copyEveryMs`: the time of the first copy holding all of them
//        (firstCopyHolding: copies on a fixed cadence, checked newest first, then searched).
//     5. repair: kill -9 of V (holding ≥ 10,000 souls: a paused copy right before says
//        which); each soul it owned has a new owner among the survivors, computed here.
//        Once every survivor counts N - 1 members (/health), a paused copy of each new
//        owner every `restoreCopyEveryMs`: for each, the first copy holding every soul it
//        gained (firstCopyHolding); the latest of those, from the kill. Then every
//        survivor's store: R copies of each soul on its live owners.
//
//   What a server holds is never asked over the network: a server asked for a soul it
//   does not own fetches it from the owners, and an owner that holds nothing of a soul
//   asks the other owners, so asking would change the answer (and do the repair being
//   timed). It is read from a copy of the server's LevelDB directory taken while the
//   process is stopped (SIGSTOP, cp, SIGCONT: what a kill -9 at that moment would leave),
//   opened with LevelStore by net/dht-client.mjs. Each pause is counted in the result.
//
// dhtInProcess — row 1 at `servers` (100) in-process servers (net/dht-in-process.mjs: real
//   databases and networks on libp2p's memory transport, MemoryStores), each bootstrapped
//   from the first, started `batch` at a time: once every server counts every member (or
//   the deadline passed), each server's `network.dht.placement.ownersOf(souls)` against
//   node:crypto.
//
// antiEntropy — row 6 between two in-process owners (see the function).

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { peerIdFromString } from '@libp2p/peer-id';
import { cpuMs, serverProfileArgs, startChild, stopChildren } from '../lib/children.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..', '..');
const NET = join(HERE, '..', 'net');
const CLI = join(ROOT, 'sdk-ts', 'dist', 'cli', 'main.js');
const CLIENT = join(NET, 'dht-client.mjs');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const T0 = performance.now();
const log = [];
/** Phases with times, in the result; on stderr too with BENCH_NET_DEBUG=1. */
function note(what) {
  const line = `${((performance.now() - T0) / 1000).toFixed(1)} s ${what}`;
  log.push(line);
  if (process.env.BENCH_NET_DEBUG) process.stderr.write(`[dht ${line}]\n`);
}
const round = (x, digits = 1) => (x === undefined || x === null || Number.isNaN(x) ? x : Math.round(x * 10 ** digits) / 10 ** digits);
function percentile(values, p) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}
function shuffle(array) {
  for (let i = array.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [array[i], array[j]] = [array[j], array[i]];
  }
  return array;
}

// ---- owners, computed here (independently of the code under test) --------------------------

const sha256 = (bytes) => createHash('sha256').update(bytes).digest();
const positions = new Map();
function positionOf(peerId) {
  let position = positions.get(peerId);
  if (position === undefined) {
    position = sha256(peerIdFromString(peerId).toMultihash().bytes);
    positions.set(peerId, position);
  }
  return position;
}
/** The `r` members closest to `soul` by XOR of SHA-256 positions, closest first. */
export function ownersOf(soul, members, r) {
  const soulPosition = sha256(Buffer.from(soul, 'utf8'));
  const distance = Buffer.alloc(32);
  return members
    .map((peerId) => {
      const server = positionOf(peerId);
      for (let i = 0; i < 32; i++) distance[i] = soulPosition[i] ^ server[i];
      return { peerId, distance: Buffer.from(distance) };
    })
    .sort((a, b) => Buffer.compare(a.distance, b.distance))
    .slice(0, r)
    .map((entry) => entry.peerId);
}

// ---- load average ------------------------------------------------------------------------------

function loadSampler() {
  const samples = [loadavg()[0]];
  const timer = setInterval(() => samples.push(loadavg()[0]), 5_000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      samples.push(loadavg()[0]);
      return { min: round(Math.min(...samples), 2), max: round(Math.max(...samples), 2), mean: round(samples.reduce((a, b) => a + b, 0) / samples.length, 2), samples: samples.length };
    },
  };
}

// ---- rustdht serve processes ---------------------------------------------------------------------

/** Every server process this probe started and has not seen exit: killed whenever the probe ends. */
const live = new Set();
let hooked = false;
function killServers() {
  for (const server of live) {
    try {
      server.proc.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
/** Temporary directories deleted when the probe exits, however it exits (after its servers are gone). */
const temporary = new Set();
function cleanupAtExit() {
  const pids = [...live].map((server) => server.proc.pid);
  killServers();
  // Gone: no such process, or a zombie (dead; nobody reaps it while this handler runs).
  const alive = (pid) => {
    const state = processState(pid);
    return state !== undefined && state !== 'Z';
  };
  // A process dying in a write could still add a file: the directories only once they are gone.
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let wait = 0; wait < 100 && pids.some(alive); wait++) Atomics.wait(sleeper, 0, 0, 20);
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
function hookCleanup() {
  if (hooked) return;
  hooked = true;
  process.on('exit', cleanupAtExit);
  // run.mjs gone (killed alone: this probe was reparented): stop, taking the servers along.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid === parent) return;
    process.exit(1);
  }, 1_000).unref();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1)));
  }
}

export function startServer({ name, dataDir, bootstrap, replicas, keeper }) {
  hookCleanup();
  const args = [CLI, 'serve', '--data', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--http', '0', '--log-format', 'json', '--replicas', String(replicas), '--exempt-loopback'];
  if (bootstrap) args.push('--bootstrap', bootstrap);
  const spawnedAt = performance.now();
  // Diagnostics: BENCH_SERVER_PROFILE (lib/children.mjs); servers are stopped with SIGTERM, so profiles get written.
  // BENCH_SERVER_PROFILE_MATCH=a,b profiles only the servers whose name ends with one of them.
  const match = process.env.BENCH_SERVER_PROFILE_MATCH?.split(',');
  const profile = match === undefined || match.some((end) => name.endsWith(end)) ? serverProfileArgs() : [];
  const proc = spawn(process.execPath, [...profile, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const server = { name, dataDir, proc, pid: proc.pid, spawnedAt, exit: undefined, tail: '' };
  live.add(server);
  const tell = (cmd) => keeper?.process.connected && void keeper.call(cmd, { pid: proc.pid }).catch(() => {});
  tell('watch');
  const remember = (text) => (server.tail = (server.tail + text).slice(-3000));
  server.exited = new Promise((resolve) =>
    proc.on('exit', (code, signal) => {
      live.delete(server);
      tell('unwatch');
      server.exit = { code, signal };
      resolve(server.exit);
    }),
  );
  proc.stderr.on('data', (d) => remember(String(d)));
  // Diagnostics: BENCH_SERVER_LOGS=dir keeps each server's log lines there (one file per process).
  if (process.env.BENCH_SERVER_LOGS) {
    const file = join(process.env.BENCH_SERVER_LOGS, `${name.replaceAll(/[^\w.-]+/g, '_')}-${proc.pid}.log`);
    for (const stream of [proc.stdout, proc.stderr]) stream.on('data', (d) => appendFileSync(file, d));
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} printed no ready line within 120 s: ${server.tail}`)), 120_000);
    let buffer = '';
    proc.stdout.on('data', (d) => {
      buffer += d;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        let record;
        try {
          record = JSON.parse(line);
        } catch {
          remember(`${line}\n`);
          continue;
        }
        if (record.level !== 'info' && record.level !== 'debug') remember(`${line.slice(0, 400)}\n`);
        if (record.msg === 'ready') {
          clearTimeout(timer);
          server.readyAt = performance.now();
          server.peerId = record.peerId;
          server.http = record.http;
          server.tcp = record.addresses.find((a) => a.includes('/tcp/') && !a.includes('/ws') && a.includes('/p2p/'));
          if (!server.tcp) return reject(new Error(`${name} has no TCP address with /p2p/: ${JSON.stringify(record.addresses)}`));
          resolve(server);
        }
      }
    });
    server.exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${exit.signal ?? exit.code} before it was ready: ${server.tail}`));
    });
  });
}

async function stopServer(server, signal = 'SIGTERM', graceMs = 30_000) {
  if (server.exit) return server.exit;
  server.proc.kill(signal);
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), graceMs);
  const exit = await server.exited;
  clearTimeout(timer);
  return exit;
}

/** CPU time (ms) the machine spent busy and in all, from /proc/stat (every core). */
function machineCpu() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const idle = fields[3] + fields[4];
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/**
 * From now until stop(): the CPU the server processes used, in cores (CPU time ÷ wall
 * time, from /proc/PID/stat), and how busy the whole machine was (all processes, the
 * other engineers' included).
 */
function cpuWindow(list) {
  const t0 = performance.now();
  const pids = list.map((s) => s.pid);
  const before = pids.map((pid) => cpuMs(pid));
  const machine0 = machineCpu();
  return {
    stop() {
      const wall = performance.now() - t0;
      let used = 0;
      // Each server's own share (by its index in the list): which ones the work fell on.
      const perServer = pids.map((pid, k) => {
        const now = cpuMs(pid);
        if (now === undefined || before[k] === undefined) return null;
        used += now - before[k];
        return round((now - before[k]) / wall, 2);
      });
      const machine1 = machineCpu();
      const busyPct = machine0 && machine1 ? ((machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total)) * 100 : undefined;
      return { wallMs: Math.round(wall), serverCores: round(used / wall, 2), machineBusyPct: round(busyPct, 0), perServerCores: perServer };
    },
  };
}

/** The /metrics series the rows read (undefined where this build has none). */
async function serverMetrics(server) {
  const response = await fetch(`${server.http}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  const value = (name) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  return {
    ok: value('rustdht_dht_anti_entropy_rounds_total{result="ok"}'),
    failed: value('rustdht_dht_anti_entropy_rounds_total{result="failed"}'),
    metadata_sent: value('rustdht_dht_anti_entropy_bytes_total{kind="metadata_sent"}'),
    metadata_received: value('rustdht_dht_anti_entropy_bytes_total{kind="metadata_received"}'),
    updates: value('rustdht_dht_anti_entropy_bytes_total{kind="updates"}'),
    repaired: value('rustdht_dht_anti_entropy_souls_repaired_total'),
    pushes: value('rustdht_dht_repair_pushes_total'),
    // Souls a push skipped because the owner held them already (digests compared; 0 before 9d8a7b7).
    held: value('rustdht_dht_repair_already_held_total') ?? 0,
    releases: value('rustdht_dht_repair_releases_total'),
  };
}

/** A server's anti-entropy counters from its /metrics (undefined when this build has none). */
async function antiEntropyMetrics(server) {
  const m = await serverMetrics(server);
  const keys = ['ok', 'failed', 'metadata_sent', 'metadata_received', 'updates', 'repaired'];
  return keys.every((k) => typeof m[k] === 'number' && !Number.isNaN(m[k])) ? m : undefined;
}

/** Σ over servers of after − before for each series both have (a server absent before counts from 0). */
function metricsDelta(before, after) {
  const out = {};
  after.forEach((m, k) => {
    if (m === undefined) return;
    for (const [key, v] of Object.entries(m)) {
      if (typeof v !== 'number' || Number.isNaN(v)) continue;
      out[key] = (out[key] ?? 0) + v - (before[k]?.[key] ?? 0);
    }
  });
  return out;
}

/** Waits until no server's repair-push counter moved for `stillMs` (polled every second); how long it took and the pushes meanwhile. */
async function waitQuiet(list, stillMs, timeoutMs) {
  const t0 = performance.now();
  const total = async () => (await allMetrics(list)).reduce((a, m) => a + (m?.pushes ?? 0), 0);
  const first = await total();
  let last = first;
  let stillSince = performance.now();
  while (performance.now() - stillSince < stillMs && performance.now() - t0 < timeoutMs) {
    await sleep(1_000);
    const now = await total();
    if (now !== last) stillSince = performance.now();
    last = now;
  }
  return { ms: Math.round(performance.now() - t0), pushes: last - first, quiet: performance.now() - stillSince >= stillMs };
}

/** Every server's /metrics, undefined for one that does not answer. */
function allMetrics(list) {
  return Promise.all(list.map((server) => (server.exit ? undefined : serverMetrics(server).catch(() => undefined))));
}

async function health(server, timeoutMs = 5_000) {
  const response = await fetch(`${server.http}/health`, { signal: AbortSignal.timeout(timeoutMs) });
  return response.json();
}

/** Waits until every server in `servers` counts `members` DHT members (/health); resolves with the time it took. */
export async function waitMembers(servers, members, timeoutMs, intervalMs = 500) {
  const t0 = performance.now();
  let last = [];
  for (;;) {
    last = await Promise.all(servers.map((server) => health(server).then((h) => h.dht?.members ?? 0, () => -1)));
    if (last.every((m) => m === members)) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`membership did not settle within ${timeoutMs} ms: members counted ${JSON.stringify(last)}, expected ${members}`);
    await sleep(intervalMs);
  }
}

/** Sum of the sizes of the files under `dir` (the LevelDB directory as the disk holds it). */
function directoryBytes(dir) {
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) bytes += directoryBytes(path);
    else if (entry.isFile()) bytes += statSync(path).size;
  }
  return bytes;
}

function processState(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * A copy of `server`'s LevelDB store taken while the process is stopped (SIGSTOP until it
 * is in state T, cp, SIGCONT): what a kill -9 at that moment would leave on disk.
 */
function pausedCopy(server, to) {
  const t0 = performance.now();
  process.kill(server.pid, 'SIGSTOP');
  try {
    for (let spin = 0; spin < 10_000 && processState(server.pid) !== 'T'; spin++);
    linkedCopy(join(server.dataDir, 'store'), to);
  } finally {
    process.kill(server.pid, 'SIGCONT');
  }
  return { at: t0, pauseMs: performance.now() - t0 };
}

/**
 * A copy of a LevelDB directory whose table files (.ldb, .sst) are hard links: LevelDB
 * never changes a table file once written (it only deletes it), so a link is as good as a
 * copy and costs no bytes; the write-ahead log, MANIFEST and the rest are copied. A table
 * still being written is in no MANIFEST copied here, so opening the copy ignores it.
 */
function linkedCopy(from, to) {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    if (name.endsWith('.ldb') || name.endsWith('.sst')) linkSync(join(from, name), join(to, name));
    else if (name !== 'LOCK') copyFileSync(join(from, name), join(to, name));
  }
}

/**
 * When a server's store first held all of `souls` (with property `key`, when given), as
 * the first of its paused copies that does: a copy every `everyMs` from `startAt`, whatever
 * the checks' pace (a copy pauses the server a few ms; checking one opens it, replaying its
 * write-ahead log, which takes seconds on a saturated machine and set the pace before, so
 * the time found was up to several seconds late). Whenever a checker is free it checks the
 * newest copy for what the last lacking copy lacked; once one holds them all, the copies
 * between are searched, halving: what a store holds durably it keeps, so the first copy
 * holding them all is found in a few checks. Copies that can no longer be the answer are
 * deleted as soon as that is known.
 */
async function firstCopyHolding({ server, souls, key, startAt, everyMs, deadlineMs, check, nextCopyDir }) {
  const copies = [];
  let copying = true;
  const copier = (async () => {
    while (copying && performance.now() - startAt < deadlineMs) {
      const tick = performance.now();
      const dir = nextCopyDir();
      const copy = pausedCopy(server, dir);
      copies.push({ index: copies.length, at: copy.at - startAt, pauseMs: copy.pauseMs, dir });
      await sleep(Math.max(0, everyMs - (performance.now() - tick)));
    }
  })();
  const drop = (copy) => {
    if (copy.dir !== undefined) rmSync(copy.dir, { recursive: true, force: true });
    copy.dir = undefined;
  };
  const timeline = [];
  let checks = 0;
  const checkCopy = async (copy, wanted) => {
    checks++;
    const { held, checkMs } = await check(copy.dir, wanted, key);
    copy.dir = undefined; // the check removed it
    const got = new Set(held);
    const missing = wanted.filter((soul) => !got.has(soul));
    timeline.push({ atMs: Math.round(copy.at), have: souls.length - missing.length, checkMs: Math.round(checkMs) });
    return missing;
  };
  let lacking = { index: -1, missing: souls };
  let full;
  while (full === undefined && performance.now() - startAt < deadlineMs + 10_000) {
    const newest = copies.at(-1);
    if (newest === undefined || newest.index <= lacking.index) {
      if (!copying || performance.now() - startAt >= deadlineMs) break;
      await sleep(10);
      continue;
    }
    const missing = await checkCopy(newest, lacking.missing);
    if (missing.length === 0) full = newest.index;
    else {
      for (const copy of copies.slice(lacking.index + 1, newest.index)) drop(copy);
      lacking = { index: newest.index, missing };
    }
  }
  copying = false;
  await copier;
  for (const copy of copies.slice((full ?? copies.length) + 1)) drop(copy);
  if (full === undefined) {
    for (const copy of copies) drop(copy);
    return { ms: null, lastIncompleteMs: null, missingAtDeadline: lacking.missing.length, copies: copies.length, checks, meanPauseMs: meanPause(copies), timeline };
  }
  // The first holding them all lies in (lacking.index, full].
  let low = lacking.index + 1;
  let high = full;
  let missingBefore = lacking.missing;
  while (low < high) {
    const middle = (low + high) >> 1;
    const missing = await checkCopy(copies[middle], missingBefore);
    if (missing.length === 0) {
      for (const copy of copies.slice(middle + 1, high)) drop(copy);
      high = middle;
    } else {
      for (const copy of copies.slice(low, middle)) drop(copy);
      low = middle + 1;
      missingBefore = missing;
    }
  }
  for (const copy of copies) drop(copy);
  timeline.sort((a, b) => a.atMs - b.atMs);
  return {
    ms: Math.round(copies[high].at),
    lastIncompleteMs: high > 0 ? Math.round(copies[high - 1].at) : null,
    missingAtDeadline: 0,
    copies: copies.length,
    checks,
    meanPauseMs: meanPause(copies),
    timeline,
  };
}

const meanPause = (copies) => round(copies.reduce((sum, copy) => sum + copy.pauseMs, 0) / Math.max(1, copies.length), 1);

// ---- the cluster probe --------------------------------------------------------------------------

export async function dhtCluster(opts) {
  const {
    servers: N = 20,
    replicas: R = 3,
    placementSouls = 1_000,
    whereSamples = 10,
    reads = 500,
    readWarmups = 20,
    quorum = { window: 1_000, identities: 256, warmupMs: 2_000, measureMs: 5_000 },
    allLatency = 200,
    ownedByVictim = 10_000,
    updates = 10_000,
    copyEveryMs = 150,
    restoreCopyEveryMs = 250,
    settleTimeoutMs = 180_000,
    catchUpDeadlineMs = 60_000,
    restoreDeadlineMs = 120_000,
    aeWindowMs = 25_000,
    // Diagnostics: which parts run (default all; 'fill' is needed by 'catchUp' and 'restore').
    phases = ['placement', 'reads', 'writes', 'fill', 'catchUp', 'restore'],
  } = opts;
  const runs = (phase) => phases.includes(phase);
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing (cd sdk-ts && npm run build)`);
  const dir = mkdtempSync(join(tmpdir(), 'rustdht-bench-dht-'));
  hookCleanup();
  temporary.add(dir);
  const load = loadSampler();
  const run = randomBytes(4).toString('hex');
  const result = { servers: N, replicas: R, run, errors: {}, log };
  const servers = [];
  let copies = 0;
  const copyDir = () => join(dir, `copy-${++copies}`);
  try {
    // The leash (SIGKILL of every server if this probe is SIGKILLed) and the client processes,
    // loading while the servers start.
    const childrenStarting = Promise.all([
      startChild(join(NET, 'dht-keeper.mjs'), { name: 'dht keeper' }),
      ...['prober', 'writer', 'reader', 'signer', 'scanner', 'scanner2'].map((name) => startChild(CLIENT, { name: `dht ${name}`, args: [name], readyTimeoutMs: 60_000 })),
    ]);
    const [keeper, prober, writer, reader, signer, scanner, scanner2] = await childrenStarting;
    await keeper.call('removeOnExit', { dir });

    // ---- the cluster: the first server, then the others bootstrapped from it, 4 at a time.
    const t0 = performance.now();
    const first = await startServer({ name: 'server 0', dataDir: join(dir, 's0'), replicas: R, keeper });
    servers.push(first);
    for (let k = 1; k < N; k += 4) {
      const batch = [];
      for (let j = k; j < Math.min(N, k + 4); j++) batch.push(startServer({ name: `server ${j}`, dataDir: join(dir, `s${j}`), bootstrap: first.tcp, replicas: R, keeper }));
      servers.push(...(await Promise.all(batch)));
    }
    const startedMs = performance.now() - t0;
    note(`${N} servers ready in ${Math.round(startedMs)} ms`);
    const membershipMs = await waitMembers(servers, N, settleTimeoutMs);
    result.cluster = { startMs: Math.round(startedMs), membershipSettledMs: Math.round(membershipMs) };
    note(`membership settled ${Math.round(membershipMs)} ms later`);
    const ids = servers.map((s) => s.peerId);
    const indexOf = new Map(ids.map((id, k) => [id, k]));

    // One client per server in the prober (members, GETs at owners) and in the writer.
    await Promise.all(servers.map((s, k) => prober.call('open', { name: `p${k}`, peers: [s.tcp] })));
    await Promise.all(servers.map((s, k) => writer.call('open', { name: `w${k}`, peers: [s.tcp] })));
    note('prober and writer clients connected');

    /** Paused copies of `list`'s stores, scanned in the scanner process: one result per server. */
    const census = async (list, scan = {}) => {
      const scans = [];
      for (const server of list) {
        const to = copyDir();
        pausedCopy(server, to);
        scans.push(scanner.call('scan', { dir: to, ...scan }, 600_000));
      }
      return Promise.all(scans);
    };
    /** Which of `souls` each server holds, until every soul is held by exactly its owners (or the deadline). */
    const settle = async (souls, owners, list = servers, deadlineMs = settleTimeoutMs) => {
      const t1 = performance.now();
      for (let pass = 1; ; pass++) {
        const scans = await census(list, { souls });
        const holders = new Map(souls.map((soul) => [soul, []]));
        scans.forEach((scan, k) => {
          for (const soul of scan.stored) holders.get(soul).push(list[k].peerId);
        });
        const wrong = souls.filter((soul) => holders.get(soul).slice().sort().join() !== owners.get(soul).slice().sort().join());
        if (wrong.length === 0 || performance.now() - t1 > deadlineMs) {
          const copiesHeld = souls.map((soul) => holders.get(soul).length);
          return { ms: performance.now() - t1, passes: pass, wrong, holders, scans, copiesHeld, example: wrong.slice(0, 3).map((soul) => ({ soul, holders: holders.get(soul).map((id) => indexOf.get(id)), owners: owners.get(soul).map((id) => indexOf.get(id)) })) };
        }
        await sleep(2_000);
      }
    };

    // ---- row 1 (processes): placement agreement --------------------------------------------
    const placement = Array.from({ length: placementSouls }, (_, i) => `dht-bench-${run}/p${i}-${randomBytes(3).toString('hex')}`);
    const trueOwners = new Map(placement.map((soul) => [soul, ownersOf(soul, ids, R)]));
    if (runs('placement')) try {
      let agree = 0;
      let memberViewsExact = 0;
      const sortedIds = [...ids].sort().join();
      const views = await Promise.all(servers.map((_, k) => prober.call('members', { name: `p${k}`, souls: placement, replicas: R }, 60_000)));
      for (const view of views) {
        if ([...view.members].sort().join() === sortedIds) memberViewsExact++;
        view.owners.forEach((owners, i) => {
          if (owners.join() === trueOwners.get(placement[i]).join()) agree++;
        });
      }
      result.placement = { souls: placementSouls, pairs: N * placementSouls, agree, agreementPct: (agree / (N * placementSouls)) * 100, memberViewsExact };
      note(`placement: ${agree} of ${N * placementSouls} (server, soul) pairs agree; ${memberViewsExact} of ${N} member lists exact`);

      const written = await writer.call('write', { items: placement.map((soul, i) => ({ name: `w${i % N}`, soul, value: { n: i, text: randomBytes(36).toString('base64') } })), window: 1_000 }, 300_000);
      note(`placement souls written: ${JSON.stringify(written)}`);
      const settled = await settle(placement, trueOwners);
      result.placement.held = {
        exact: placementSouls - settled.wrong.length,
        exactPct: ((placementSouls - settled.wrong.length) / placementSouls) * 100,
        settleMs: Math.round(settled.ms),
        censusPasses: settled.passes,
        copies: histogram(settled.copiesHeld),
        wrongExamples: settled.example,
      };
      note(`placement held: ${JSON.stringify(result.placement.held)}`);

      // rustdht where on a few of them, each asking a random server.
      const whereReports = [];
      for (const soul of shuffle([...placement]).slice(0, whereSamples)) {
        const asked = servers[Math.floor(Math.random() * N)];
        const report = await runWhere(soul, asked.http, R);
        const owners = (report.json?.owners ?? []).map((o) => o.peerId);
        whereReports.push({ soul, exit: report.code, ownersAgree: owners.join() === trueOwners.get(soul).join(), allHeld: (report.json?.owners ?? []).every((o) => o.status === 'held'), totalMs: report.json?.timingsMs?.total, error: report.error });
      }
      result.placement.where = { samples: whereReports.length, ownersAgree: whereReports.filter((w) => w.ownersAgree).length, allHeld: whereReports.filter((w) => w.allHeld).length, reports: whereReports };
      note(`where: ${result.placement.where.ownersAgree}/${whereReports.length} agree, ${result.placement.where.allHeld} all held`);
    } catch (error) {
      result.errors.placement = String(error?.stack ?? error).slice(0, 2000);
      note(`placement failed: ${error.message}`);
    }

    // ---- row 2: remote reads -----------------------------------------------------------------
    const S = 1;
    if (runs('reads')) try {
      await reader.call('open', { name: 'r', peers: [servers[S].tcp] });
      const remote = shuffle(placement.filter((soul) => !trueOwners.get(soul).includes(ids[S])));
      const souls = remote.slice(0, readWarmups + reads);
      const out = await reader.call('readLatency', { name: 'r', souls }, 600_000);
      const ms = out.ms.slice(readWarmups);
      result.remoteRead = { server: S, reads: ms.length, warmups: readWarmups, missing: out.missing, p50: round(percentile(ms, 0.5), 2), p90: round(percentile(ms, 0.9), 2), p99: round(percentile(ms, 0.99), 2), max: round(Math.max(...ms), 2), soulsAvailable: remote.length };
      note(`remote reads: ${JSON.stringify(result.remoteRead)}`);
    } catch (error) {
      result.errors.remoteRead = String(error?.stack ?? error).slice(0, 2000);
      note(`remote reads failed: ${error.message}`);
    }

    // ---- row 3: signed writes with durability ------------------------------------------------
    const C = 2;
    if (runs('writes')) try {
      await signer.call('open', { name: 'c', peers: [servers[C].tcp] });
      const cpu = cpuWindow(servers);
      const rate = await signer.call('signedRate', { name: 'c', level: 'quorum', prefix: `q${run}-`, ...quorum }, 300_000);
      result.quorumWrites = { server: C, ...rate, perSecond: round(rate.perSecond, 0), cpu: cpu.stop() };
      note(`quorum writes: ${JSON.stringify(result.quorumWrites)}`);
      const all = await signer.call('signedLatency', { name: 'c', count: allLatency, level: 'all', prefix: `a${run}-` }, 600_000);
      result.allLatency = { puts: all.ms.length, failed: all.failed, reached: all.reached, p50: round(percentile(all.ms, 0.5), 2), p90: round(percentile(all.ms, 0.9), 2), p99: round(percentile(all.ms, 0.99), 2), max: round(Math.max(...all.ms), 2) };
      note(`'all' latency: ${JSON.stringify(result.allLatency)}`);
    } catch (error) {
      result.errors.writes = String(error?.stack ?? error).slice(0, 2000);
      note(`signed writes failed: ${error.message}`);
    }

    // ---- row 4: the fill, and what it costs in stored bytes ------------------------------------
    // The victim V: not the bootstrap, nor the servers of the reader and the signer; the one
    // owning the largest share of a sample of souls, so the fill it needs is the smallest.
    const sample = Array.from({ length: 5_000 }, (_, i) => `share-sample/${run}/${i}`);
    const share = new Map(ids.map((id) => [id, 0]));
    for (const soul of sample) for (const id of ownersOf(soul, ids, R)) share.set(id, share.get(id) + 1);
    const V = ids.map((_, k) => k).filter((k) => k !== 0 && k !== S && k !== C).sort((a, b) => share.get(ids[b]) - share.get(ids[a]))[0];
    const victim = servers[V];
    const fill = [];
    const fillOwners = new Map();
    let victimOwns = 0;
    while (victimOwns < ownedByVictim) {
      const soul = `dht-bench-${run}/f${fill.length}`;
      const owners = ownersOf(soul, ids, R);
      fill.push(soul);
      fillOwners.set(soul, owners);
      if (owners.includes(victim.peerId)) victimOwns++;
    }
    result.fill = { souls: fill.length, victim: V, victimOwns, victimShareSampled: round(share.get(victim.peerId) / sample.length, 3) };
    note(`fill: ${fill.length} souls, server ${V} owns ${victimOwns}`);
    let filled = false;
    if (runs('fill')) try {
      const before = await census(servers, { souls: [] });
      const dirBefore = servers.map((s) => directoryBytes(join(s.dataDir, 'store')));
      const chunk = 10_000;
      const tFill = performance.now();
      for (let from = 0; from < fill.length; from += chunk) {
        const items = fill.slice(from, from + chunk).map((soul, j) => ({ name: `w${(from + j) % N}`, soul, value: { n: from + j, a: randomBytes(12).toString('hex'), b: randomBytes(12).toString('hex') } }));
        const out = await writer.call('write', { items, window: 5_000, timeoutMs: 600_000 }, 900_000);
        if (Object.keys(out.failed).length > 0) result.fill.failed = out.failed;
      }
      result.fill.writeMs = Math.round(performance.now() - tFill);
      result.fill.acknowledgedPerSecond = round((fill.length / (performance.now() - tFill)) * 1000, 0);
      note(`fill written and acknowledged in ${result.fill.writeMs} ms`);
      const settled = await settle(fill, fillOwners);
      filled = true;
      const dirAfter = servers.map((s) => directoryBytes(join(s.dataDir, 'store')));
      // One copy: each soul's property records as its closest owner stores them.
      let oneCopy = 0;
      let total = 0;
      for (const soul of fill) {
        const closest = indexOf.get(fillOwners.get(soul)[0]);
        oneCopy += settled.scans[closest].soulBytes[soul] ?? 0;
      }
      for (const scan of settled.scans) for (const bytes of Object.values(scan.soulBytes)) total += bytes;
      const sumTypes = (scans) => {
        const out = {};
        for (const scan of scans) for (const [type, bytes] of Object.entries(scan.byType)) out[type] = (out[type] ?? 0) + bytes;
        return out;
      };
      const typesBefore = sumTypes(before);
      const typesAfter = sumTypes(settled.scans);
      const allBefore = Object.values(typesBefore).reduce((a, b) => a + b, 0);
      const allAfter = Object.values(typesAfter).reduce((a, b) => a + b, 0);
      const growth = dirAfter.reduce((a, b) => a + b, 0) - dirBefore.reduce((a, b) => a + b, 0);
      result.storage = {
        souls: fill.length,
        oneCopyBytes: oneCopy,
        propertyBytesAllServers: total,
        copies: round(total / oneCopy, 3),
        recordsGrowthBytes: allAfter - allBefore,
        recordsCopies: round((allAfter - allBefore) / oneCopy, 3),
        recordsGrowthByType: Object.fromEntries(Object.keys(typesAfter).map((t) => [t, typesAfter[t] - (typesBefore[t] ?? 0)])),
        dirGrowthBytes: growth,
        dirCopies: round(growth / oneCopy, 3),
        settleMs: Math.round(settled.ms),
        censusPasses: settled.passes,
        soulsNotExactlyOnOwners: settled.wrong.length,
        copiesHistogram: histogram(settled.copiesHeld),
        wrongExamples: settled.example,
      };
      note(`storage: ${JSON.stringify(result.storage)}`);

      // Row 6, owners in sync: anti-entropy's own rounds (every ~10 s) over a quiet window,
      // from every server's /metrics (rustdht_dht_anti_entropy_*), if this build has them.
      const ae0 = await Promise.all(servers.map((server) => antiEntropyMetrics(server)));
      if (ae0.every((m) => m !== undefined)) {
        const cpu = cpuWindow(servers);
        await sleep(aeWindowMs);
        result.idleCpu = cpu.stop();
        const ae1 = await Promise.all(servers.map((server) => antiEntropyMetrics(server)));
        const sum = (key) => ae1.reduce((a, m, k) => a + (m[key] - ae0[k][key]), 0);
        const rounds = sum('ok');
        result.antiEntropyCluster = {
          windowMs: aeWindowMs,
          rounds,
          failedRounds: sum('failed'),
          metadataBytes: sum('metadata_sent') + sum('metadata_received'),
          updateBytes: sum('updates'),
          soulsRepaired: sum('repaired'),
          bytesPerPairRound: rounds === 0 ? null : round((sum('metadata_sent') + sum('metadata_received')) / rounds, 0),
        };
        note(`anti-entropy in the cluster: ${JSON.stringify(result.antiEntropyCluster)}`);
      }
    } catch (error) {
      result.errors.storage = String(error?.stack ?? error).slice(0, 2000);
      note(`fill/storage failed: ${error.message}`);
    }

    // ---- row 7: a restarted owner catches up ---------------------------------------------------
    const others = servers.map((_, k) => k).filter((k) => k !== V);
    if (filled && runs('catchUp')) {
      try {
        const key = `c${run}`;
        const owned = shuffle(fill.filter((soul) => fillOwners.get(soul).includes(victim.peerId))).slice(0, updates);
        await writer.call('close', { name: `w${V}` });
        const metrics0 = await allMetrics(servers);
        metrics0[V] = undefined;
        const stop = await stopServer(victim, 'SIGTERM');
        note(`server ${V} stopped (${JSON.stringify(stop)})`);
        await waitMembers(others.map((k) => servers[k]), N - 1, 30_000, 200);
        const items = owned.map((soul, j) => ({ name: `w${others[j % others.length]}`, soul, value: { [key]: j } }));
        const tWrite = performance.now();
        const out = await writer.call('write', { items, window: 1_000, durability: 'all', timeoutMs: 300_000 }, 600_000);
        note(`${owned.length} updates written with durability 'all' in ${Math.round(performance.now() - tWrite)} ms: ${JSON.stringify(out.failed)}`);
        const metricsAway = await allMetrics(servers);
        const restarted = await startServer({ name: `server ${V} (restarted)`, dataDir: victim.dataDir, bootstrap: first.tcp, replicas: R, keeper });
        servers[V] = restarted;
        const readyAt = restarted.readyAt;
        const cpu = cpuWindow(servers);
        // What the restarted server says of itself meanwhile (/health): when it counts every
        // member, and when it has a session with every other server.
        const seen = { allMembersMs: null, allServersConnectedMs: null };
        let watching = true;
        const watcher = (async () => {
          while (watching) {
            const h = await health(restarted, 2_000).catch(() => undefined);
            const at = Math.round(performance.now() - readyAt);
            if (h?.dht?.members === N) seen.allMembersMs ??= at;
            if ((h?.peers?.list ?? []).filter((p) => p.role === 'server').length >= N - 1) seen.allServersConnectedMs ??= at;
            await sleep(250);
          }
        })();
        // A copy of its store every copyEveryMs from 'ready'; the first holding every update.
        const scanners = [scanner, scanner2];
        let job = 0;
        const trail = await firstCopyHolding({
          server: restarted,
          souls: owned,
          key,
          startAt: readyAt,
          everyMs: copyEveryMs,
          deadlineMs: catchUpDeadlineMs,
          nextCopyDir: copyDir,
          check: (dir, souls, key) => scanners[job++ % scanners.length].call('check', { dir, souls, key }, 120_000),
        });
        watching = false;
        await watcher;
        // What moved meanwhile, by the servers' own counters (the restarted one's start at 0):
        // hand-off/rebalance pushes, anti-entropy repairs.
        const metricsBack = await allMetrics(servers);
        const moved = metricsDelta(metrics0, metricsBack);
        const away = metricsDelta(metrics0, metricsAway);
        const back = metricsDelta(metricsAway, metricsBack);
        result.catchUp = {
          updates: owned.length,
          writeFailed: out.failed,
          ms: trail.ms,
          lastIncompleteMs: trail.lastIncompleteMs,
          missingAtDeadline: trail.missingAtDeadline,
          spawnToReadyMs: round(restarted.readyAt - restarted.spawnedAt, 0),
          ...seen,
          copies: trail.copies,
          checks: trail.checks,
          meanPauseMs: trail.meanPauseMs,
          pausedPct: round(((trail.meanPauseMs * trail.copies) / Math.max(1, performance.now() - readyAt)) * 100, 1),
          cpu: cpu.stop(),
          counters: {
            repairPushes: moved.pushes,
            repairAlreadyHeld: moved.held,
            repairReleases: moved.releases,
            antiEntropySoulsRepaired: moved.repaired,
            antiEntropyRounds: moved.ok,
            // The same, split: from the stop until the restart, and from the restart on.
            whileAway: { repairPushes: away.pushes, repairAlreadyHeld: away.held, repairReleases: away.releases, antiEntropySoulsRepaired: away.repaired },
            afterRestart: { repairPushes: back.pushes, repairAlreadyHeld: back.held, repairReleases: back.releases, antiEntropySoulsRepaired: back.repaired },
          },
          timeline: trail.timeline.slice(0, 60),
        };
        note(`catch-up: ${JSON.stringify({ ...result.catchUp, timeline: undefined })}`);
      } catch (error) {
        result.errors.catchUp = String(error?.stack ?? error).slice(0, 2000);
        note(`catch-up failed: ${error.message}`);
      }
    }

    // ---- row 5: kill -9 of a server holding ≥ 10,000 souls, until R copies again ----------------
    if (filled && runs('restore') && servers[V].exit === undefined) {
      try {
        const target = servers[V];
        // The restarted victim gets its membership back and the temporary owners let go:
        // wait until the cluster is quiet (no repair push for 3 s running, at most 180 s),
        // so the repair timed below is the kill's alone.
        await waitMembers(servers, N, 60_000);
        const quiet = await waitQuiet(servers, 3_000, 180_000);
        note(`quiet before the kill after ${quiet.ms} ms (${quiet.pushes} pushes meanwhile)`);
        // What it holds right before the kill (a paused copy): every soul it owns among them
        // gains a new owner among the survivors, computed here.
        const [victimScan] = await census([target]);
        const affected = victimScan.stored.filter((soul) => ownersOf(soul, ids, R).includes(target.peerId));
        const survivorIds = ids.filter((id) => id !== target.peerId);
        const owners19 = new Map(affected.map((soul) => [soul, ownersOf(soul, survivorIds, R)]));
        const pending = new Map();
        for (const soul of affected) {
          const gained = owners19.get(soul).find((id) => !ownersOf(soul, ids, R).includes(id));
          if (!pending.has(gained)) pending.set(gained, []);
          pending.get(gained).push(soul);
        }
        const cpu = cpuWindow(servers.filter((s) => s !== target));
        const metrics0 = await allMetrics(servers);
        const tKill = performance.now();
        target.proc.kill('SIGKILL');
        await target.exited;
        note(`server ${V} killed: it held ${victimScan.storedSouls} souls, ${affected.length} of them its own, now on ${pending.size} new owners`);
        const survivors = servers.filter((s) => s !== target);
        await waitMembers(survivors, N - 1, 60_000, 100);
        const detected = performance.now() - tKill;
        note(`every survivor counts ${N - 1} members ${Math.round(detected)} ms after the kill`);
        // Paused copies of each new owner every restoreCopyEveryMs from the kill: for each, the
        // first copy holding all the souls it gained (firstCopyHolding); the last of those is
        // when every soul was back on R owners.
        const scanners = [scanner, scanner2];
        let job = 0;
        const trails = await Promise.all(
          [...pending].map(async ([peerId, list]) => ({
            server: indexOf.get(peerId),
            souls: list.length,
            ...(await firstCopyHolding({
              server: servers[indexOf.get(peerId)],
              souls: list,
              startAt: tKill,
              everyMs: restoreCopyEveryMs,
              deadlineMs: restoreDeadlineMs,
              nextCopyDir: copyDir,
              check: (dir, souls) => scanners[job++ % scanners.length].call('check', { dir, souls }, 120_000),
            })),
          })),
        );
        const missing = trails.reduce((sum, trail) => sum + trail.missingAtDeadline, 0);
        const last = trails.reduce((worst, trail) => (worst === undefined || (trail.ms ?? Infinity) > (worst.ms ?? Infinity) ? trail : worst), undefined);
        const lastSeen = last === undefined || last.ms === null ? undefined : { at: last.ms, before: last.lastIncompleteMs, server: last.server };
        const rounds = trails.reduce((sum, trail) => sum + trail.checks, 0);
        const restoreCpu = cpu.stop();
        const moved = metricsDelta(metrics0, await allMetrics(servers));
        note(`restore: ${missing} missing after ${rounds} checks, last soul seen ${JSON.stringify(lastSeen)}`);
        // Then every survivor's store: R copies of each on its live owners?
        const scans = await census(survivors, { souls: affected });
        const holders = new Map(affected.map((soul) => [soul, []]));
        scans.forEach((scan, j) => {
          for (const soul of scan.stored) holders.get(soul).push(survivors[j].peerId);
        });
        const onOwners = affected.map((soul) => owners19.get(soul).filter((id) => holders.get(soul).includes(id)).length);
        result.restore = {
          victimHeldSouls: victimScan.storedSouls,
          affectedSouls: affected.length,
          newOwners: pending.size,
          seconds: missing === 0 ? round((lastSeen?.at ?? detected) / 1000, 2) : null,
          lastCopyWithoutMs: missing === 0 && lastSeen ? lastSeen.before : null,
          detectedMs: Math.round(detected),
          quietBeforeKill: quiet,
          checks: rounds,
          perNewOwner: trails.map(({ server, souls, ms, lastIncompleteMs, copies, checks, meanPauseMs }) => ({ server, souls, ms, lastIncompleteMs, copies, checks, meanPauseMs })),
          missingAtDeadline: missing,
          cpu: restoreCpu,
          counters: { repairPushes: moved.pushes, repairAlreadyHeld: moved.held, repairReleases: moved.releases, antiEntropySoulsRepaired: moved.repaired, antiEntropyRounds: moved.ok },
          census: { withRCopiesOnLiveOwners: onOwners.filter((n) => n === R).length, copiesOnLiveOwners: histogram(onOwners), copiesAnywhere: histogram(affected.map((soul) => holders.get(soul).length)) },
        };
        note(`restore: ${JSON.stringify(result.restore)}`);
      } catch (error) {
        result.errors.restore = String(error?.stack ?? error).slice(0, 2000);
        note(`restore failed: ${error.message}`);
      }
    }

    result.loadAverage = load.stop();
    // The row metrics (null when that part could not be measured: see `errors`).
    return {
      ...result,
      placementAgreementPct: result.placement?.agreementPct ?? null,
      placementHeldPct: result.placement?.held?.exactPct ?? null,
      remoteReadP50: result.remoteRead?.p50 ?? null,
      remoteReadP99: result.remoteRead?.p99 ?? null,
      quorumPerSecond: result.quorumWrites?.perSecond ?? null,
      allP50: result.allLatency?.p50 ?? null,
      allP99: result.allLatency?.p99 ?? null,
      storedCopies: result.storage?.copies ?? null,
      storedRecordCopies: result.storage?.recordsCopies ?? null,
      storedDirCopies: result.storage?.dirCopies ?? null,
      restoreSeconds: result.restore?.seconds ?? null,
      catchUpMs: result.catchUp?.ms ?? null,
      antiEntropyInSyncBytes: result.antiEntropyCluster?.bytesPerPairRound ?? null,
      loadMean: result.loadAverage.mean,
    };
  } finally {
    if (process.env.BENCH_SERVER_PROFILE) await Promise.all([...live].map((server) => stopServer(server, 'SIGTERM', 20_000).catch(() => {})));
    killServers();
    await stopChildren();
    await Promise.all([...servers].map((server) => server.exited));
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    temporary.delete(dir);
  }
}

function histogram(values) {
  const out = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/** `rustdht where SOUL --peer <http> --json --replicas R`: its JSON and exit code. */
function runWhere(soul, peer, replicas) {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, 'where', soul, '--peer', peer, '--json', '--replicas', String(replicas), '--timeout', '20000'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add({ proc });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      for (const entry of live) if (entry.proc === proc) live.delete(entry);
      let json;
      try {
        json = JSON.parse(out.trim().split('\n').at(-1));
      } catch {
        json = undefined;
      }
      resolve({ code, json, error: json === undefined ? (err || out).slice(-500) : undefined });
    });
  });
}

// ---- row 1 in process ---------------------------------------------------------------------------

export async function dhtInProcess(opts) {
  const { servers: N = 100, replicas: R = 3, souls: count = 1_000, batch = 10, batchTimeoutMs = 60_000, settleTimeoutMs = 180_000 } = opts;
  const { startInProcessServers } = await import('../net/dht-in-process.mjs');
  const load = loadSampler();
  const t0 = performance.now();
  const batches = [];
  // Each batch of servers joins once the ones before it count each other (bounded wait).
  const settled = async (list) => {
    const t1 = performance.now();
    while (performance.now() - t1 < batchTimeoutMs) {
      const members = list.map((db) => db.network.status().dht?.members ?? 0);
      if (Math.min(...members) === list.length) break;
      await sleep(200);
    }
    const members = list.map((db) => db.network.status().dht?.members ?? 0);
    batches.push({ servers: list.length, ms: Math.round(performance.now() - t1), minMembers: Math.min(...members) });
  };
  const cluster = await startInProcessServers({ servers: N, dht: { replicas: R }, bootstrap: 'first', batch, settled });
  try {
    const startedMs = performance.now() - t0;
    const t1 = performance.now();
    let members = [];
    let lagMs = 0;
    // The most servers that counted every member at one time, and when.
    let best = { servers: 0, atMs: 0 };
    for (;;) {
      members = cluster.servers.map((db) => db.network.status().dht?.members ?? 0);
      const complete = members.filter((m) => m === N).length;
      if (complete > best.servers) best = { servers: complete, atMs: Math.round(performance.now() - t1) };
      if (Math.min(...members) === N || performance.now() - t1 > settleTimeoutMs) break;
      const before = performance.now();
      await sleep(250);
      lagMs = Math.max(lagMs, performance.now() - before - 250);
    }
    const settledMs = performance.now() - t1;
    const ids = cluster.servers.map((db) => db.network.peerId);
    const souls = Array.from({ length: count }, (_, i) => `dht-bench-in-process/${i}-${randomBytes(4).toString('hex')}`);
    const truth = souls.map((soul) => ownersOf(soul, ids, R).join());
    let agree = 0;
    let exactViews = 0;
    const sortedIds = [...ids].sort().join();
    for (const db of cluster.servers) {
      const placement = db.network.dht.placement;
      if ([...placement.members].join() === sortedIds) exactViews++;
      placement.ownersOf(souls).forEach((owners, i) => {
        if (owners.join() === truth[i]) agree++;
      });
    }
    const rss = process.memoryUsage().rss;
    // Sessions each server has with the others (a full mesh is N - 1; beyond fullMeshMax, neighbours and on-demand dials).
    const connections = cluster.servers.map((db) => db.network.status().peers.length);
    return {
      servers: N,
      replicas: R,
      souls: count,
      agreementPct: (agree / (N * count)) * 100,
      connectionsPerServer: { mean: Math.round(connections.reduce((a, c) => a + c, 0) / N), max: Math.max(...connections), min: Math.min(...connections) },
      agree,
      pairs: N * count,
      settled: Math.min(...members) === N,
      membersMin: Math.min(...members),
      membersMax: Math.max(...members),
      exactMemberViews: exactViews,
      mostCountingAll: best,
      startMs: Math.round(startedMs),
      settleMs: Math.round(settledMs),
      maxTimerLagMs: Math.round(lagMs),
      batches,
      rssMiB: Math.round(rss / 2 ** 20),
      loadAverage: load.stop(),
    };
  } finally {
    await Promise.race([cluster.close(), sleep(15_000)]);
  }
}

// ---- row 6: anti-entropy between two owners, in process ------------------------------------------

const ANTI_ENTROPY = join(ROOT, 'sdk-ts', 'dist', 'network', 'dht', 'anti-entropy.js');

/**
 * Two in-process servers, R = 2 (each owns every soul), `souls` written into A and fed to
 * B, B keeping no soul in memory (memoryBudget 1: its store is what it holds). Their own
 * rounds are paused; each asks for one round (`runRound()`) while in sync: bytes per pair
 * per round from the counters. Then `differing` souls (1 %) are deleted from B's store
 * after its feed passed them (nothing else brings them back), B re-reads its digests
 * (`rescan()`, what the hourly scrub does), and a round is asked for by B (it pulls
 * them) and, after deleting another 1 %, by A (it pushes them): the metadata per
 * differing soul is the round's bytes on the wire minus the node frames that carried the
 * repairs (counters), and B's store must hold every soul again.
 */
export async function antiEntropy(opts) {
  const { souls: count = 10_000, differing = 100 } = opts;
  if (!existsSync(ANTI_ENTROPY)) {
    return { implemented: false, inSyncBytes: null, perDifferingBytes: null, perDifferingPushBytes: null, note: 'sdk-ts/dist/network/dht/anti-entropy.js does not exist: this build has no anti-entropy' };
  }
  const { inProcessKit } = await import('../net/dht-in-process.mjs');
  const { InProcessRustDHT, MemoryStore, addressOf } = await inProcessKit();
  const load = loadSampler();
  const storeA = new MemoryStore();
  const storeB = new MemoryStore();
  const opened = [];
  try {
    const a = await InProcessRustDHT.open({ store: storeA, network: { role: 'server', dht: { replicas: 2 } } });
    opened.push(a);
    const b = await InProcessRustDHT.open({ store: storeB, memoryBudget: 1, network: { role: 'server', peers: [addressOf(a)], dht: { replicas: 2 } } });
    opened.push(b);
    a.network.dial(addressOf(b));
    await until('both servers to count 2 members', () => [a, b].every((db) => db.network.status().dht?.members === 2), 30_000);
    const ae = (db) => db.network.dht.antiEntropy;
    if (ae(a)?.counters === undefined) return { implemented: false, inSyncBytes: null, perDifferingBytes: null, perDifferingPushBytes: null, note: 'network.dht.antiEntropy has no counters in this build' };
    ae(a).paused = true;
    ae(b).paused = true;
    const souls = Array.from({ length: count }, (_, i) => `ae-bench/${i}`);
    const t0 = performance.now();
    for (let i = 0; i < count; i += 1_000) await Promise.all(souls.slice(i, i + 1_000).map((soul, j) => a.get(soul).put({ n: i + j, text: `soul ${i + j}` })));
    await a.network.whenSynced({ signal: AbortSignal.timeout(120_000) });
    await until(`b to store all ${count} souls`, async () => (await storedSouls(storeB)).size === count, 120_000);
    await until('b to hold no soul in memory', async () => (await b.storage.usage()).residentNodes === 0, 30_000);
    const fedMs = performance.now() - t0;
    const snapshot = (db) => ({ ...ae(db).counters });
    const delta = (after, before) => Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));

    // In sync: one round asked for by each.
    const inSync = [];
    for (const asker of [a, b]) {
      const before = snapshot(asker);
      await ae(asker).runRound();
      const did = delta(snapshot(asker), before);
      inSync.push({ asker: asker === a ? 'A' : 'B', rounds: did.rounds, bytes: did.bytesSent + did.bytesReceived, repaired: did.soulsRepaired + did.pushed + did.pulled });
    }
    const inSyncBytes = Math.max(...inSync.map((r) => (r.rounds === 0 ? Infinity : r.bytes / r.rounds)));

    // 1 % differing: B lost them; B pulls, then (another 1 %) A pushes.
    const repairs = [];
    for (const [asker, offset] of [[b, 0], [a, 50]]) {
      const lost = souls.filter((_, i) => i % (count / differing) === offset).slice(0, differing);
      for (const soul of lost) await deleteSoul(storeB, soul);
      ae(b).rescan();
      const before = [snapshot(a), snapshot(b)];
      const t1 = performance.now();
      await ae(asker).runRound();
      const ms = performance.now() - t1;
      const did = delta(snapshot(asker), before[asker === a ? 0 : 1]);
      const held = await storedSouls(storeB);
      const wire = did.bytesSent + did.bytesReceived;
      repairs.push({
        asker: asker === a ? 'A (holds them: pushes)' : 'B (lost them: pulls)',
        differing: lost.length,
        rounds: did.rounds,
        repaired: did.soulsRepaired,
        restored: lost.filter((soul) => held.has(soul)).length,
        wireBytes: wire,
        updateBytes: did.updateBytes,
        metadataPerDiffering: round((wire - did.updateBytes) / lost.length, 1),
        ms: Math.round(ms),
      });
    }
    const complete = repairs.every((r) => r.restored === r.differing);
    return {
      implemented: true,
      souls: count,
      differing,
      fedMs: Math.round(fedMs),
      inSync,
      repairs,
      inSyncBytes: Number.isFinite(inSyncBytes) ? round(inSyncBytes, 0) : null,
      // A repair that left souls missing is no figure to compare.
      perDifferingBytes: complete ? repairs[0].metadataPerDiffering : null,
      perDifferingPushBytes: complete ? repairs[1].metadataPerDiffering : null,
      loadAverage: load.stop(),
    };
  } finally {
    await Promise.race([Promise.allSettled(opened.map((db) => db.close({ timeoutMs: 0 }))), sleep(15_000)]);
  }
}

async function until(what, check, timeoutMs, intervalMs = 100) {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The souls a MemoryStore holds property records of ("P" soulLength:u32be soul key). */
async function storedSouls(store) {
  const souls = new Set();
  const decoder = new TextDecoder();
  for await (const { key } of store.entries({ prefix: Uint8Array.of(0x50) })) {
    const length = new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(1);
    souls.add(decoder.decode(key.subarray(5, 5 + length)));
  }
  return souls;
}

async function deleteSoul(store, soul) {
  const bytes = new TextEncoder().encode(soul);
  const prefix = new Uint8Array(5 + bytes.length);
  prefix[0] = 0x50;
  new DataView(prefix.buffer).setUint32(1, bytes.length);
  prefix.set(bytes, 5);
  const keys = [];
  for await (const { key } of store.entries({ prefix })) keys.push(key);
  await store.batch(keys.map((key) => ({ type: 'del', key })));
}
