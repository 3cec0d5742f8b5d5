// Row 11: a soak test. One `rustdht serve` under `seconds` (10 minutes in `npm run bench`)
// of mixed honest and hostile load, every load generator in its own process
// (net/soak-client.mjs, lib/children.mjs), while honest clients measure their put-ack
// and read latency throughout.
//
// - The server: `node sdk-ts/dist/cli/main.js serve --data <temp dir> --listen
//   /ip4/127.0.0.1/tcp/0 --http 0 --memory-budget <budget> --exempt-loopback
//   --log-format json`, spawned by this process (which needs its pid for /proc, and to
//   SIGTERM and restart it). `--exempt-loopback`: every load generator dials from
//   127.0.0.1, and libp2p's per-host inbound limits (5 new connections/s, 10 pending)
//   would otherwise throttle the 30-odd databases of this test as if they were one host;
//   the sync protocol's own per-peer limits (rate, size, sessions, buffered bytes,
//   write quotas) apply regardless.
// - Honest clients (`honest`, 3 processes): a writer putting a 3-property node at
//   `writeHz`, alternately signed and unsigned, one at a time, timing put → outbox
//   entry acknowledged; a reader timing `once()` of acknowledged nodes; every
//   acknowledged (soul, v) recorded.
// - Hostile: reads of unknown souls (`unknown-reads`), subscribe/unsubscribe churn
//   (`churn`), an SDK put flood (`flood`), a raw-wire PUT/ERROR/GET flood (`raw-flood`),
//   deferred parking (`deferred`: clock 60 s fast, 100 KB values), a sybil swarm of 20
//   peer ids (`sybil`). See net/soak-client.mjs. The hostile processes run at nice
//   `hostileNice` (10; 0 turns it off): on a 2-core machine they would otherwise take
//   the server's CPU as no attacker on another machine can, and the honest latency
//   would measure the harness. The server and the honest clients run at normal priority.
// - Every second: the server's /health (`memory`, `store.bytes`, `status`) and its
//   /proc/PID/status (VmRSS, VmHWM), and the load average. At the end: /metrics
//   (`rustdht_rejects_total` by reason).
// - Then: the load stops; every acknowledged honest write is read back from the running
//   server by a fresh client; SIGTERM → the exit code (must be 0); the server restarts on
//   the same data directory and every write is read back again (lost = not read back
//   with its value, twice, by two fresh clients).

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, setPriority, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMs, serverProfileArgs, startChild, stopChildren } from '../lib/children.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..', '..');
const CLIENT = join(HERE, '..', 'net', 'soak-client.mjs');
const CLI = join(ROOT, 'sdk-ts', 'dist', 'cli', 'main.js');
const MiB = 1024 * 1024;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const T0 = performance.now();
const debug = (what) => process.env.BENCH_NET_DEBUG && process.stderr.write(`[soak ${((performance.now() - T0) / 1000).toFixed(1)} s] ${what}\n`);

/** The hostile load: role → options (each one process). */
const HOSTILE = [
  ['unknown-reads', { concurrency: 64 }],
  ['churn', { subscriptions: 300, churnPerTick: 5 }],
  ['flood', { window: 2_000 }],
  ['raw-flood', {}],
  ['deferred', { aheadMs: 60_000, writeHz: 2, valueBytes: 100_000 }],
  ['sybil', { peers: 20 }],
];

export async function rustSoak(opts) {
  const {
    seconds = 600,
    budgetMiB = 128,
    overheadMiB = 640,
    honest = 3,
    writeHz = 10,
    readHz = 4,
    bucketSeconds = 60,
    targetAckP99Ms = 100,
    // Diagnostics: which hostile roles run (default all of HOSTILE).
    hostile = HOSTILE.map(([role]) => role),
    hostileNice = 10,
    // Diagnostics: CPU lists (taskset) for the server and for every load process, e.g.
    // '1' and '0': the server gets a core of its own, as it would against clients on
    // other machines. Default: unpinned, everything shares every core.
    serverCpus,
    loadCpus,
  } = opts;
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing (cd sdk-ts && npm run build)`);
  const dir = mkdtempSync(join(tmpdir(), 'rustdht-bench-soak-'));
  const dataDir = join(dir, 'data');
  let server;
  const killServer = () => {
    try {
      server?.proc.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  };
  process.on('exit', killServer);
  try {
    server = await startServer(dataDir, budgetMiB);
    pin(server.pid, serverCpus);
    const tcp = server.addresses.find((a) => a.includes('/tcp/') && !a.includes('/ws') && a.includes('/p2p/'));
    if (!tcp) throw new Error(`the server has no TCP address with /p2p/: ${JSON.stringify(server.addresses)}`);
    debug(`server ${server.pid} at ${tcp}, http ${server.http}`);

    // The load generators start together (loading the SDK and libp2p takes a while).
    const specs = [...Array.from({ length: honest }, (_, k) => ['honest', { index: k, writeHz, readHz }]), ...HOSTILE.filter(([role]) => hostile.includes(role))];
    const children = await Promise.all(specs.map(([role], k) => startChild(CLIENT, { name: `soak ${role} ${k}`, args: [role], readyTimeoutMs: 60_000 })));
    debug('load generators loaded');
    children.forEach((child) => pin(child.process.pid, loadCpus));
    if (hostileNice !== 0) children.forEach((child, k) => specs[k][0] !== 'honest' && setPriority(child.process.pid, hostileNice));

    const runId = `r${Date.now().toString(36)}`;
    const sampler = startSampler(server);
    const t0 = sharedClockMs();
    // Honest clients first (connected and writing), then the hostile load.
    const begin = (child, k) => child.call('start', { server: tcp, runId, t0, ...specs[k][1] }, 90_000);
    await Promise.all(children.map((child, k) => specs[k][0] === 'honest' && begin(child, k)));
    // A hostile client that cannot even connect is a finding, not a reason to stop.
    const startErrors = {};
    await Promise.all(children.map((child, k) => specs[k][0] !== 'honest' && begin(child, k).catch((error) => (startErrors[specs[k][0]] = String(error.message ?? error).slice(0, 300)))));
    const startedAt = sharedClockMs();
    debug(`load running (start took ${Math.round(startedAt - t0)} ms)`);
    while (sharedClockMs() - startedAt < seconds * 1000) {
      await sleep(Math.min(10_000, seconds * 1000 - (sharedClockMs() - startedAt)));
      const last = sampler.samples.at(-1);
      if (last) debug(`t=${Math.round((sharedClockMs() - startedAt) / 1000)} s server cpu ${sampler.cpuPct(10)}% rss ${mib(last.rss)} MiB hwm ${mib(last.hwm)} resident ${mib(last.residentBytes)} store ${mib(last.storeBytes)} status ${last.status} load ${last.load}`);
      if (server.exit) throw new Error(`the server exited during the load (${server.exit.signal ?? server.exit.code}): ${server.tail()}`);
    }
    const loadMs = sharedClockMs() - startedAt;
    debug('stopping the load');
    const reports = await Promise.all(children.map((child) => child.call('stop', {}, 120_000).catch((error) => ({ role: child.name, error: String(error.message ?? error) }))));
    const metrics = await httpGet(server.http, '/metrics', 10_000).catch((error) => `error: ${error.message}`);
    const finalHealth = await httpGet(server.http, '/health', 10_000).then(JSON.parse).catch((error) => ({ error: error.message }));
    await sleep(2_000);
    sampler.stop();
    const idleSample = await sampler.sampleOnce();

    const honestReports = reports.filter((r) => r.role === 'honest');
    const records = honestReports.flatMap((r) => r.records ?? []);
    const verifier = await startChild(CLIENT, { name: 'soak verify', args: ['verify'], readyTimeoutMs: 60_000 });
    debug(`reading back ${records.length} acknowledged writes`);
    const beforeRestart = await verifier.call('verify', { server: tcp, records }, 600_000);
    debug(`read back: ${JSON.stringify({ ...beforeRestart, lostSamples: undefined })}; SIGTERM`);

    const stop1 = await stopServer(server);
    debug(`exit on SIGTERM: ${JSON.stringify(stop1)}; restarting on the same data`);
    server = await startServer(dataDir, budgetMiB);
    const tcp2 = server.addresses.find((a) => a.includes('/tcp/') && !a.includes('/ws') && a.includes('/p2p/'));
    const afterRestart = await verifier.call('verify', { server: tcp2, records }, 600_000);
    debug(`after restart: ${JSON.stringify({ ...afterRestart, lostSamples: undefined })}`);
    const stop2 = await stopServer(server);
    server = undefined;

    return summarize({
      seconds, loadMs, budgetMiB, overheadMiB, bucketSeconds, targetAckP99Ms, hostileNice, honestReports, reports, metrics, finalHealth,
      samples: sampler.samples, idleSample, startErrors, beforeRestart, afterRestart, stop1, stop2, serverArgs: serverArgs('<dir>', budgetMiB), serverCpus, loadCpus,
    });
  } finally {
    killServer();
    await stopChildren();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the server -----------------------------------------------------------------------------

/** Moves every thread of `pid` onto `cpus` (a taskset CPU list), when given. */
function pin(pid, cpus) {
  if (cpus === undefined) return;
  execFileSync('taskset', ['-a', '-p', '-c', String(cpus), String(pid)], { stdio: 'ignore' });
}

function serverArgs(dataDir, budgetMiB) {
  return [CLI, 'serve', '--data', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--http', '0', '--memory-budget', `${budgetMiB}MiB`, '--exempt-loopback', '--log-format', 'json'];
}

function startServer(dataDir, budgetMiB) {
  return new Promise((resolve, reject) => {
    // Diagnostics: BENCH_SERVER_PROFILE (lib/children.mjs); servers are stopped with SIGTERM, so profiles get written.
    const profile = serverProfileArgs();
    const proc = spawn(process.execPath, [...profile, ...serverArgs(dataDir, budgetMiB)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const logs = {};
    const server = { proc, pid: proc.pid, logs, exit: undefined, tail: () => tail.slice(-1500), startMs: undefined };
    const t0 = performance.now();
    const timer = setTimeout(() => reject(new Error(`rustdht serve printed no ready line within 60 s: ${tail.slice(-1500)}`)), 60_000);
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
          tail = (tail + line + '\n').slice(-4000);
          continue;
        }
        const key = `${record.level}:${record.msg}${record.code ? ` ${record.code}` : ''}`;
        logs[key] = (logs[key] ?? 0) + 1;
        if (record.level !== 'info') tail = (tail + line.slice(0, 500) + '\n').slice(-4000);
        if (record.msg === 'ready') {
          clearTimeout(timer);
          server.startMs = Math.round(performance.now() - t0);
          resolve(Object.assign(server, { addresses: record.addresses, http: record.http }));
        }
      }
    });
    proc.stderr.on('data', (d) => (tail = (tail + d).slice(-4000)));
    server.exited = new Promise((done) =>
      proc.on('exit', (code, signal) => {
        clearTimeout(timer);
        server.exit = { code, signal };
        reject(new Error(`rustdht serve exited with ${signal ?? code} before it was ready: ${tail.slice(-1500)}`));
        done(server.exit);
      }),
    );
  });
}

/** SIGTERM, then the exit code and how long the clean stop took (SIGKILL after 60 s). */
async function stopServer(server) {
  const t0 = performance.now();
  server.proc.kill('SIGTERM');
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), 60_000);
  const exit = await server.exited;
  clearTimeout(timer);
  return { code: exit.code, signal: exit.signal, stopMs: Math.round(performance.now() - t0), startMs: server.startMs, logs: server.logs, tail: exit.code === 0 ? undefined : server.tail() };
}

async function httpGet(base, path, timeoutMs = 5_000) {
  const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  return response.text();
}

/** Every second: /health's memory, store and status; /proc VmRSS and VmHWM; the load average. */
function startSampler(server) {
  const samples = [];
  const t0 = sharedClockMs();
  const sampleOnce = async () => {
    const t = sharedClockMs();
    const sample = { t: Math.round(t - t0), load: loadavg()[0], cpuMs: cpuMs(server.pid) };
    try {
      const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
      const kib = (field) => Number(/(\d+) kB/.exec(status.split('\n').find((line) => line.startsWith(field)) ?? '')?.[1] ?? NaN) * 1024;
      sample.rss = kib('VmRSS:');
      sample.hwm = kib('VmHWM:');
    } catch {
      sample.procGone = true;
    }
    try {
      const t1 = performance.now();
      const response = await fetch(`${server.http}/health`, { signal: AbortSignal.timeout(5_000) });
      const body = await response.json();
      sample.healthMs = Math.round(performance.now() - t1);
      sample.status = body.status;
      if (body.reasons?.length) sample.reasons = body.reasons.map((r) => r.code);
      Object.assign(sample, {
        healthRss: body.memory?.rssBytes,
        residentBytes: body.memory?.residentBytes,
        residentNodes: body.memory?.residentNodes,
        budgetBytes: body.memory?.budgetBytes,
        heapUsed: body.memory?.heapUsedBytes,
        external: body.memory?.externalBytes,
        engine: body.memory?.engineMemoryBytes,
        storeBytes: body.store?.bytes,
        peers: body.peers?.count,
      });
    } catch (error) {
      sample.healthError = String(error.message ?? error).slice(0, 200);
    }
    return sample;
  };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const next = sharedClockMs() + 1_000;
      samples.push(await sampleOnce());
      const wait = next - sharedClockMs();
      if (wait > 0) await sleep(wait);
    }
  })();
  return {
    samples,
    sampleOnce,
    /** The server's CPU over the last `n` samples, % of one core. */
    cpuPct(n) {
      const list = samples.slice(-n).filter((x) => x.cpuMs !== undefined);
      return list.length > 1 ? Math.round(((list.at(-1).cpuMs - list[0].cpuMs) / (list.at(-1).t - list[0].t)) * 100) : '?';
    },
    stop() {
      stopped = true;
      return loop;
    },
  };
}

// ---- the figures ----------------------------------------------------------------------------

function summarize(s) {
  const { honestReports, samples, bucketSeconds } = s;
  const acks = honestReports.flatMap((r) => r.ackSamples ?? []);
  const reads = honestReports.flatMap((r) => r.readSamples ?? []);
  const whole = (list) => stats(list.map((x) => x[1]));
  const perBucket = (list) => {
    const buckets = [];
    for (const [t, ms] of list) (buckets[Math.floor(t / (bucketSeconds * 1000))] ??= []).push(ms);
    return [...buckets].map((b, k) => ({ from: k * bucketSeconds, ...(b ? stats(b) : { n: 0 }) }));
  };
  const ackBuckets = perBucket(acks);
  const readBuckets = perBucket(reads);
  const counted = samples.filter((x) => x.rss !== undefined);
  const peakRss = Math.max(0, ...counted.map((x) => x.rss), ...counted.map((x) => x.hwm));
  const budget = s.budgetMiB * MiB;
  const limit = budget + s.overheadMiB * MiB;
  const refusals = {};
  for (const match of String(s.metrics).matchAll(/^rustdht_rejects_total\{reason="([^"]*)"\} (\d+(?:\.\d+)?(?:e\+\d+)?)/gm)) {
    if (Number(match[2]) > 0) refusals[match[1]] = Number(match[2]);
  }
  const updates = {};
  for (const match of String(s.metrics).matchAll(/^rustdht_updates_total\{outcome="([^"]*)"\} (\S+)/gm)) updates[match[1]] = Number(match[2]);
  const degraded = {};
  for (const x of samples) for (const code of x.reasons ?? []) degraded[code] = (degraded[code] ?? 0) + 1;
  const loads = samples.map((x) => x.load);
  const honestRejects = {};
  for (const r of honestReports) for (const [code, n] of Object.entries(r.rejects ?? {})) honestRejects[code] = (honestRejects[code] ?? 0) + n;
  const worstAckP99 = Math.max(...ackBuckets.filter((b) => b.n > 0).map((b) => b.p99));
  const lost = Math.max(s.beforeRestart.lost, s.afterRestart.lost);
  return {
    // The row's figures.
    ackP99Worst: worstAckP99,
    p50: whole(acks).p50,
    p99: whole(acks).p99,
    readP50: whole(reads).p50,
    readP99: whole(reads).p99,
    peakRss,
    lost,
    exitCode: s.stop1.code ?? 128,
    storeBytes: s.idleSample.storeBytes ?? samples.findLast((x) => x.storeBytes !== undefined)?.storeBytes,
    refusalsTotal: Object.values(refusals).reduce((a, b) => a + b, 0),
    // Details.
    durationSeconds: Math.round(s.loadMs / 100) / 10,
    hostileNice: s.hostileNice,
    ...(s.serverCpus === undefined ? {} : { serverCpus: s.serverCpus, loadCpus: s.loadCpus }),
    putAck: { ...whole(acks), perBucket: ackBuckets, signed: stats(acks.filter((x) => x[2] === 1).map((x) => x[1])), unsigned: stats(acks.filter((x) => x[2] === 0).map((x) => x[1])) },
    read: { ...whole(reads), perBucket: readBuckets },
    bucketSeconds,
    target: { ackP99Ms: s.targetAckP99Ms, rssLimitBytes: limit, budgetBytes: budget, overheadBytes: s.overheadMiB * MiB },
    memory: {
      peakRss,
      peakRssAt: counted.find((x) => x.rss === Math.max(...counted.map((y) => y.rss)))?.t,
      rssAfterLoad: s.idleSample.rss,
      peakResidentBytes: Math.max(0, ...samples.map((x) => x.residentBytes ?? 0)),
      peakExternal: Math.max(0, ...samples.map((x) => x.external ?? 0)),
      peakEngineMemory: Math.max(0, ...samples.map((x) => x.engine ?? 0)),
      peakHeapUsed: Math.max(0, ...samples.map((x) => x.heapUsed ?? 0)),
      overLimitSamples: counted.filter((x) => x.rss > limit).length,
      perBucket: bucketsOf(samples, bucketSeconds, (list) => ({
        rssMax: Math.max(...list.map((x) => x.rss ?? 0)),
        residentMax: Math.max(...list.map((x) => x.residentBytes ?? 0)),
        externalMax: Math.max(...list.map((x) => x.external ?? 0)),
        engineMax: Math.max(...list.map((x) => x.engine ?? 0)),
        storeBytes: list.findLast((x) => x.storeBytes !== undefined)?.storeBytes,
        healthMsMax: Math.max(...list.map((x) => x.healthMs ?? 0)),
        // The server process's CPU over the bucket, in % of one core (a Node server's event loop is one core).
        serverCpuPct: list.length > 1 && list.at(-1).cpuMs !== undefined ? Math.round(((list.at(-1).cpuMs - list[0].cpuMs) / (list.at(-1).t - list[0].t)) * 100) : undefined,
      })),
    },
    refusals,
    updates,
    honest: {
      clients: honestReports.length,
      issued: sum(honestReports, 'issued'),
      acked: sum(honestReports, 'acked'),
      unackedAtEnd: sum(honestReports, 'unackedAtEnd'),
      readMismatches: honestReports.reduce((a, r) => a + (r.counts?.readMismatch ?? 0), 0),
      // A fresh reader (every readerMs) connecting to the loaded server: how long that took.
      readerConnect: stats(honestReports.flatMap((r) => r.readerConnectMs ?? [])),
      readerConnectFailures: honestReports.reduce((a, r) => a + (r.counts?.['errors.readerOpen'] ?? 0), 0),
      readProblems: honestReports.flatMap((r) => r.readProblems ?? []).slice(0, 10),
      rejects: honestRejects,
      errors: honestReports.flatMap((r) => r.errors ?? []).slice(0, 10),
    },
    hostileStartErrors: s.startErrors,
    hostile: s.reports.filter((r) => r.role !== 'honest').map(({ role, counts, rejects, errors, error, cpuMs }) => ({ role, counts, rejects, errors: errors?.slice(0, 5), error, cpuMs })),
    readBack: { beforeRestart: s.beforeRestart, afterRestart: s.afterRestart },
    shutdown: { sigterm: s.stop1, afterRestart: s.stop2 },
    health: { degradedSamples: degraded, errors: samples.filter((x) => x.healthError).length, final: s.finalHealth.status ?? s.finalHealth.error, maxHealthMs: Math.max(0, ...samples.map((x) => x.healthMs ?? 0)) },
    loadAverage: { min: Math.min(...loads), max: Math.max(...loads), mean: round(loads.reduce((a, b) => a + b, 0) / loads.length, 2) },
    server: s.serverArgs.slice(1).join(' '),
    samples: samples.map(({ t, rss, residentBytes, external, engine, heapUsed, storeBytes, status, load }) => [t, rss, residentBytes, external, engine, heapUsed, storeBytes, status === 'ok' ? 1 : 0, load]),
    samplesColumns: ['t ms', 'VmRSS', 'residentBytes', 'externalBytes', 'engineMemoryBytes', 'heapUsedBytes', 'store.bytes', 'status ok', 'load 1 min'],
  };
}

function bucketsOf(samples, seconds, f) {
  const buckets = [];
  for (const x of samples) (buckets[Math.floor(x.t / (seconds * 1000))] ??= []).push(x);
  return [...buckets].map((b, k) => ({ from: k * seconds, ...(b ? f(b) : {}) }));
}

function stats(values) {
  if (values.length === 0) return { n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const pct = (p) => round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))], 2);
  return { n: sorted.length, p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: round(sorted.at(-1), 2) };
}

const sum = (list, key) => list.reduce((a, r) => a + (r[key] ?? 0), 0);
const mib = (bytes) => (bytes === undefined ? '?' : Math.round(bytes / MiB));
const round = (x, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

function sharedClockMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}
