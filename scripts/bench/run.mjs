#!/usr/bin/env node
// RustDHT benchmark: every row measured in one run, RustDHT against GunDB (or
// node:crypto, or plain JavaScript), same data shapes on both sides.
//
//   node scripts/bench/run.mjs [--quick] [--only 1a,3] [--out file.json] [--strict] [--soak-seconds N]
//
//   --quick   smoke run with small counts and short samples (seconds, for tests);
//             numbers are indicative only and go to bench-results/quick.json
//   --only    run only rows whose id starts with one of the given prefixes
//   --out     write the JSON results here instead of bench-results/latest.json
//   --strict  exit 1 when a target is missed (errors always exit 1)
//   --soak-seconds N  how long row 11 (the soak) loads the server (default 600; --quick 30)
//
// Each measurement runs in its own Node process (probe.mjs, with --expose-gc), so no
// contender inherits another's heap, JIT state or background timers. Prints the table
// to stdout, progress to stderr, and the results as JSON with machine information.
//
// Rows 3 and 4b call exports only the benchmark's build of the engine has (cargo
// feature `bench`, lib/bench-engine.mjs); when one of them is selected, that build is
// made first (`node scripts/build-wasm.mjs --bench`, free when up to date).

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, brotliCompressSync, constants as zlib } from 'node:zlib';
import { machineInfo, ratioText, table, units } from './lib/format.mjs';
import { RESULT_MARK } from './lib/protocol.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const PROBE = join(HERE, 'probe.mjs');
const WASM = join(ROOT, 'sdk-ts', 'pkg', 'node', 'rustdht_core_bg.wasm');
const SIZE_REPORT = join(ROOT, 'sdk-ts', 'pkg', 'size.json');

const args = parseArgs(process.argv.slice(2));

// Five samples of ≥ 0.4 s after 0.5 s of warm-up: on a quiet 2-core machine the
// medians repeat within about 10 % from run to run. Other work on the machine moves
// them more, so the load average goes into the results (and a warning is printed).
const P = args.quick
  ? {
      timing: { warmupMs: 40, sampleMs: 60, samples: 2 },
      nodesPerRun: 50,
      gunSignedNodesPerRun: 5,
      nodesPerBatch: 100,
      gunSignedIngestNodes: 20,
      existingNodes: 200,
      memoryProperties: 10_000,
      preloadProperties: 20_000,
      corpus: { keys: 8, messagesPerKey: 64 },
      durable: { timing: { warmupMs: 100, sampleMs: 150, samples: 2 }, window: 50 },
      reopen: { shelves: 10, perShelf: 100, processes: 2, readBack: 50 },
      network: { latency: { warmups: 3, count: 20 }, replication: { window: 100, nodes: 10, timing: { warmupMs: 300, sampleMs: 300, samples: 2 } } },
      soak: { seconds: args.soakSeconds ?? 30, bucketSeconds: 10, budgetMiB: 128, overheadMiB: 640 },
      // Row 12: 6 servers (still more than R = 3) and small counts: every path, in about a minute.
      dht: {
        cluster: { servers: 6, placementSouls: 200, whereSamples: 2, reads: 40, readWarmups: 5, quorum: { window: 200, identities: 32, warmupMs: 500, measureMs: 1_000 }, allLatency: 20, ownedByVictim: 500, updates: 500, settleTimeoutMs: 60_000, catchUpDeadlineMs: 30_000, restoreDeadlineMs: 60_000, aeWindowMs: 12_000 },
        inProcess: { servers: 20, souls: 200, batch: 10, batchTimeoutMs: 30_000, settleTimeoutMs: 60_000 },
        inProcessSmall: { servers: 10, souls: 200, batch: 10, batchTimeoutMs: 30_000, settleTimeoutMs: 60_000 },
        antiEntropy: { souls: 2_000, differing: 20 },
      },
    }
  : {
      timing: { warmupMs: 500, sampleMs: 400, samples: 5 },
      nodesPerRun: 200,
      gunSignedNodesPerRun: 20,
      nodesPerBatch: 100,
      gunSignedIngestNodes: 300,
      existingNodes: 1000,
      memoryProperties: 100_000,
      preloadProperties: 1_000_000,
      corpus: { keys: 64, messagesPerKey: 64 },
      // Rows 7 and 9: 1,000 puts in flight; warm-up until a whole window completed, then
      // five slices of ≥ 1 s (completions come in bursts: a slice spans several).
      durable: { timing: { warmupMs: 1000, sampleMs: 1000, samples: 5 }, window: 1000 },
      // Row 8: 100 shelves × 1,000 nodes; five reopens, each in a fresh process.
      reopen: { shelves: 100, perShelf: 1000, processes: 5, readBack: 300 },
      // Row 10: 1,000 sequential puts after 100 unmeasured ones (p99 = the 10th slowest);
      // writes with 1,000 unacknowledged, spread over 1,000 nodes, five slices of 1 s.
      network: { latency: { warmups: 100, count: 1000 }, replication: { window: 1000, nodes: 1000, timing: { warmupMs: 2000, sampleMs: 1000, samples: 5 } } },
      // Row 11: 10 minutes of mixed honest and hostile load on one server (128 MiB budget);
      // latency percentiles per minute. Overhead: the RSS a server holds besides its loaded
      // nodes, as sdk-ts/test/network/memory-budget-server.test.ts states and measured it.
      soak: { seconds: args.soakSeconds ?? 600, bucketSeconds: 60, budgetMiB: 128, overheadMiB: 640 },
      // Row 12 (issue 12, item 7): 20 rustdht serve processes, R = 3; 100 in-process servers.
      dht: {
        cluster: { servers: 20, placementSouls: 1_000, whereSamples: 10, reads: 500, readWarmups: 20, quorum: { window: 2_000, identities: 256, warmupMs: 2_000, measureMs: 5_000 }, allLatency: 200, ownedByVictim: 10_000, updates: 10_000, settleTimeoutMs: 180_000, catchUpDeadlineMs: 60_000, restoreDeadlineMs: 120_000, aeWindowMs: 25_000 },
        inProcess: { servers: 100, souls: 1_000, batch: 10, batchTimeoutMs: 60_000, settleTimeoutMs: 180_000 },
        // 12b-50: as many as settle in one process here (100 share one event loop: see the README).
        inProcessSmall: { servers: 50, souls: 1_000, batch: 10, batchTimeoutMs: 60_000, settleTimeoutMs: 180_000 },
        // Row 12g: two owners of 10,000 souls, 1 % of them differing.
        antiEntropy: { souls: 10_000, differing: 100 },
      },
    };

const millions = (n) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);
const props = units.perSecond('props');
const updates = units.perSecond('updates');
const sigs = units.perSecond('sigs');
const decisions = units.perSecond('decisions');
const puts = units.perSecond('puts');
const writes = units.perSecond('writes');

// A target says how close a result comes to it: `attained(result) >= 1` meets it.
const atLeast = (n, unit) => ({ text: `≥ ${unit.text(n)}`, attained: (r) => r.rust / n });
const atLeastRatio = (x, who) => ({ text: `≥ ${x}× ${who}`, attained: (r) => r.ratio / x });
const atMost = (n, unit) => ({ text: `≤ ${unit.text(n)}`, attained: (r) => n / r.rust });

const task = (module, name, options = {}) => ({ module, name, options: { timing: P.timing, ...options } });
/** A task calling the bench build's exports (lib/bench-engine.mjs): built before it runs. */
const benchTask = (module, name, options = {}) => ({ ...task(module, name, options), benchBuild: true });

const GUN_WRITES = task('writes', 'gunUnsigned', { nodesPerRun: P.nodesPerRun });
const GUN_SIGNED_WRITES = task('writes', 'gunSigned', { nodesPerRun: P.gunSignedNodesPerRun });
const GUN_INGEST = task('ingest', 'gunUnsigned', { nodesPerBatch: P.nodesPerBatch });
const GUN_SIGNED_INGEST = task('ingest', 'gunSigned', { nodesPerBatch: P.nodesPerBatch, signedNodes: P.gunSignedIngestNodes });
const NODE_VERIFY = task('verify', 'nodeSingle', P.corpus);
const MERGE = { existingNodes: P.existingNodes, nodesPerBatch: P.nodesPerBatch };
const JS_MERGE = task('merge', 'jsLoop', MERGE);
const MEMORY_PUT = task('memory', 'rust', { properties: P.memoryProperties });

// Rows 7-9. `setup` names a probe run first (once per run) whose result the probe gets
// as `options.setup`; `processes: n` runs the probe in n fresh processes (option
// `sample` = 0…n-1) and reports the median of their `ms`.
const durable = (module, name, options) => task(module, name, { window: P.durable.window, ...options, timing: P.durable.timing });
const REOPEN = { shelves: P.reopen.shelves, perShelf: P.reopen.perShelf };
const RUST_BUILD = task('durable', 'rustBuild', REOPEN);
const GUN_BUILD = task('durable', 'gunBuild', REOPEN);
const reopen = (name, build, options = {}) => ({ ...task('durable', name, { ...REOPEN, ...options }), setup: build, processes: P.reopen.processes });
const readBack = (name, build) => ({ ...task('durable', name, { ...REOPEN, count: P.reopen.readBack }), setup: build });
const PAGES = task('browser', 'buildPages');
const inChromium = (db, signed) => ({ ...durable('browser', 'indexedDB', { db, signed }), setup: PAGES });
const nodesText = (n) => n.toLocaleString('en-US');

// Row 10: a server (or relay) and two peers, each in its own process (tasks/network.mjs).
const NET_LATENCY = task('network', 'rustLatency', P.network.latency);
const GUN_LATENCY = task('network', 'gunLatency', P.network.latency);
const NET_REPLICATED = task('network', 'rustReplicated', P.network.replication);
const GUN_RELAYED_SEA = task('network', 'gunRelayed', { ...P.network.replication, signed: true });
const GUN_RELAYED_PLAIN = task('network', 'gunRelayed', { ...P.network.replication, signed: false });

// Row 11: the soak (tasks/soak.mjs), one probe for every row of the section; the probe's
// own timeout covers the load, reading everything back twice and a restart.
const SOAK = { ...task('soak', 'rustSoak', P.soak), timeoutMs: (P.soak.seconds + 420) * 1000 };
const RSS_LIMIT = (P.soak.budgetMiB + P.soak.overheadMiB) * 1024 * 1024;
const soakWindow = P.soak.bucketSeconds === 60 ? 'minute' : `${P.soak.bucketSeconds} s`;
/** A count that must be exactly `n` (0 writes lost, exit code 0). */
const exactly = (n) => ({ text: `= ${n}`, attained: (r) => (r.rust === n ? 1 : 0) });
const exitCode = { name: 'exit code', text: (v) => `exit ${v}`, higherIsBetter: false };

// Row 12: the DHT (tasks/dht.mjs). One probe runs a cluster of rustdht serve processes and
// measures rows 12a, 12c–12g, 12h on it in turn; 12b is in-process servers, 12g-pair…
// two in-process owners (anti-entropy; "not implemented" on a build without it). A figure
// the probe could not measure is null: shown as such, and its target counts as missed.
const DHT_CLUSTER = { ...task('dht', 'dhtCluster', P.dht.cluster), timeoutMs: (args.quick ? 15 : 45) * 60_000 };
const DHT_IN_PROCESS = { ...task('dht', 'dhtInProcess', P.dht.inProcess), timeoutMs: 15 * 60_000 };
const DHT_IN_PROCESS_SMALL = { ...task('dht', 'dhtInProcess', P.dht.inProcessSmall), timeoutMs: 15 * 60_000 };
const DHT_ANTI_ENTROPY = task('dht', 'antiEntropy', P.dht.antiEntropy);
const dhtServers = P.dht.cluster.servers;
const orMissing = (unit, missing = 'not measured') => ({ ...unit, text: (v) => (v === null || v === undefined ? missing : unit.text(v)) });
const percent = { name: '%', text: (v) => `${v.toFixed(2)} %`, higherIsBetter: true };
const copiesUnit = { name: 'copies', text: (v) => `${v.toFixed(2)} copies`, higherIsBetter: false };
const loadUnit = { name: 'load', text: (v) => v.toFixed(2), higherIsBetter: false };
/** Targets that count a figure the probe could not measure (null) as missed. */
const measuredAtLeast = (n, unit) => ({ text: `≥ ${unit.text(n)}`, attained: (r) => (typeof r.rust === 'number' ? r.rust / n : 0) });
const measuredAtMost = (n, unit) => ({ text: `≤ ${unit.text(n)}`, attained: (r) => (typeof r.rust === 'number' ? (r.rust === 0 ? Infinity : n / r.rust) : 0) });

const SECTIONS = [
  {
    n: 1,
    title: 'Local writes, properties/s (one put per node of 5 properties)',
    rows: [
      { id: '1a', label: 'put, unsigned', unit: props, rust: task('writes', 'rustUnsigned', { nodesPerRun: P.nodesPerRun }), peer: ['GunDB', GUN_WRITES], targets: [atLeast(100_000, props), atLeastRatio(5, 'GunDB')] },
      { id: '1b', label: 'put, signed (db.user: +1 link prop)', unit: props, rust: task('writes', 'rustSigned', { nodesPerRun: P.nodesPerRun }), peer: ['GunDB', GUN_SIGNED_WRITES], targets: [atLeast(20_000, props), atLeastRatio(5, 'GunDB')] },
      { id: '1c', label: '  engine.writeList alone, unsigned', unit: props, rust: task('writes', 'engineUnsigned', { nodesPerRun: P.nodesPerRun }), peer: ['GunDB', GUN_WRITES] },
      { id: '1d', label: '  engine.writeListSigned alone', unit: props, rust: task('writes', 'engineSigned', { nodesPerRun: P.nodesPerRun }), peer: ['GunDB', GUN_SIGNED_WRITES] },
    ],
  },
  {
    n: 2,
    title: `Incoming updates/s (batches of ${P.nodesPerBatch * 5} from another peer)`,
    rows: [
      { id: '2a', label: 'db.receive, unsigned', unit: updates, rust: task('ingest', 'sdkUnsigned', { nodesPerBatch: P.nodesPerBatch }), peer: ['GunDB', GUN_INGEST] },
      { id: '2b', label: 'db.receive, signed', unit: updates, rust: task('ingest', 'sdkSigned', { nodesPerBatch: P.nodesPerBatch }), peer: ['GunDB', GUN_SIGNED_INGEST] },
      { id: '2c', label: `db.receive into a replica of ${millions(P.preloadProperties)} props`, unit: updates, rust: task('ingest', 'sdkUnsigned', { nodesPerBatch: P.nodesPerBatch, preloadProperties: P.preloadProperties }), peer: ['GunDB', task('ingest', 'gunUnsigned', { nodesPerBatch: P.nodesPerBatch, preloadProperties: P.preloadProperties })] },
      { id: '2d', label: '  Engine.ingest alone, unsigned', unit: updates, rust: task('ingest', 'engineUnsigned', { nodesPerBatch: P.nodesPerBatch }), peer: ['GunDB', GUN_INGEST] },
      { id: '2e', label: '  Engine.ingest alone, signed', unit: updates, rust: task('ingest', 'engineSigned', { nodesPerBatch: P.nodesPerBatch }), peer: ['GunDB', GUN_SIGNED_INGEST] },
    ],
  },
  {
    n: 3,
    title: 'Ed25519 verifications/s (~110-byte messages, 64 signers)',
    rows: [
      { id: '3a', label: 'verifySignature, one call each', unit: sigs, rust: benchTask('verify', 'engineSingle', P.corpus), peer: ['node:crypto', NODE_VERIFY], targets: [atLeastRatio(0.5, 'node:crypto')] },
      { id: '3b', label: 'verifySignatures, batch of 64', unit: sigs, rust: benchTask('verify', 'engineBatch', { ...P.corpus, batch: 64 }), peer: ['node:crypto', NODE_VERIFY], targets: [atLeastRatio(1, 'node:crypto')] },
      { id: '3c', label: 'verifySignatures, batch of 256', unit: sigs, rust: benchTask('verify', 'engineBatch', { ...P.corpus, batch: 256 }), peer: ['node:crypto', NODE_VERIFY], targets: [atLeastRatio(1, 'node:crypto')] },
    ],
  },
  {
    n: 4,
    title: 'Merge decisions/s on existing properties (what the boundary costs)',
    rows: [
      { id: '4a', label: 'Engine.ingest, one call per batch', unit: decisions, rust: task('merge', 'engineBatched', MERGE), peer: ['plain JS', JS_MERGE] },
      { id: '4b', label: 'hamDecide, one call per decision', unit: decisions, rust: benchTask('merge', 'engineSingle', MERGE), peer: ['plain JS', JS_MERGE] },
    ],
  },
  {
    n: 5,
    title: 'WebAssembly size',
    rows: [
      { id: '5a', label: 'gzip -9', unit: units.bytes, size: 'gzip', targets: [atMost(250 * 1024, units.bytes)] },
      { id: '5b', label: '  raw', unit: units.bytes, size: 'raw' },
      { id: '5c', label: '  brotli -11', unit: units.bytes, size: 'brotli' },
    ],
  },
  {
    n: 6,
    title: `Memory per 100,000 properties (lower is better; measured over ${P.memoryProperties.toLocaleString('en-US')})`,
    rows: [
      { id: '6a', label: 'written with put()', unit: units.bytes, rust: MEMORY_PUT, peer: ['GunDB', task('memory', 'gun', { properties: P.memoryProperties })], metric: 'bytesPer100k' },
      { id: '6b', label: '  + outbox until peers acknowledge', unit: units.bytes, rust: MEMORY_PUT, metric: 'outboxPer100k' },
      { id: '6c', label: 'received from a peer', unit: units.bytes, rust: task('memory', 'rustReceived', { properties: P.memoryProperties }), peer: ['GunDB', task('memory', 'gunReceived', { properties: P.memoryProperties })], metric: 'bytesPer100k' },
    ],
  },
  {
    n: 7,
    title: `Durable writes to LevelDB, puts/s (node of 5 props per put, ${nodesText(P.durable.window)} in flight, counted when durable; GunDB: RAD file store, counted on its ack)`,
    rows: [
      { id: '7a', label: 'put, signed (db.user: +1 link prop)', unit: puts, rust: durable('durable', 'rustLevel', { signed: true }), peer: ['GunDB', durable('durable', 'gunRad', { signed: true })], targets: [atLeast(10_000, puts), atLeastRatio(3, 'GunDB')] },
      { id: '7b', label: 'put, unsigned', unit: puts, rust: durable('durable', 'rustLevel', { signed: false }), peer: ['GunDB', durable('durable', 'gunRad', { signed: false })], targets: [atLeastRatio(3, 'GunDB')] },
      { id: '7c', label: '  put, signed, 1 prop per put (+1 link prop)', unit: puts, rust: durable('durable', 'rustLevel', { signed: true, props: 1 }) },
    ],
  },
  {
    n: 8,
    title: `Reopening a LevelDB store of ${nodesText(P.reopen.shelves * P.reopen.perShelf)} nodes (GunDB: its RAD directory), in a fresh process each time`,
    rows: [
      { id: '8a', label: 'building the store (s; GunDB: wire input)', unit: units.seconds, rust: RUST_BUILD, peer: ['GunDB', GUN_BUILD], metric: 'seconds' },
      { id: '8b', label: 'open → first once() of one node', unit: units.ms, rust: reopen('rustReopen', RUST_BUILD), peer: ['GunDB', reopen('gunReopen', GUN_BUILD)], metric: 'ms', targets: [atMost(300, units.ms)] },
      { id: '8c', label: "  GunDB's once without its 99 ms wait", unit: units.ms, rust: reopen('rustReopen', RUST_BUILD), peer: ['GunDB', reopen('gunReopen', GUN_BUILD, { wait: 1 })], metric: 'ms' },
      { id: '8d', label: `  written nodes not read back (of ${nodesText(P.reopen.readBack)})`, unit: units.count('nodes'), rust: readBack('rustReadBack', RUST_BUILD), peer: ['GunDB', readBack('gunReadBack', GUN_BUILD)], metric: 'lost', noRatio: true },
    ],
  },
  {
    n: 9,
    title: `Durable writes to IndexedDB in Chromium, puts/s (same shapes, ${nodesText(P.durable.window)} in flight; GunDB: RAD over lib/rindexed.js)`,
    rows: [
      { id: '9a', label: 'put, signed (db.user: +1 link prop)', unit: puts, rust: inChromium('rustdht', true), peer: ['GunDB', inChromium('gun', true)], targets: [atLeastRatio(3, 'GunDB')] },
      { id: '9b', label: 'put, unsigned', unit: puts, rust: inChromium('rustdht', false), peer: ['GunDB', inChromium('gun', false)], targets: [atLeastRatio(3, 'GunDB')] },
    ],
  },
  {
    n: 10,
    title: 'Two peers through a server over loopback, each in its own process (RustDHT: rustdht serve on LevelDB, TCP; GunDB: a relay on RAD, websocket)',
    rows: [
      { id: '10a', label: 'latency put → on, p50 (signed, 5 props)', unit: units.ms, rust: NET_LATENCY, peer: ['GunDB', GUN_LATENCY], metric: 'p50', targets: [atMost(5, units.ms)] },
      { id: '10a-p99', label: '  p99', unit: units.ms, rust: NET_LATENCY, peer: ['GunDB', GUN_LATENCY], metric: 'p99', targets: [atMost(25, units.ms)] },
      { id: '10b', label: `replicated signed writes (B has them; 1 prop, ${nodesText(P.network.replication.window)} unacked)`, unit: writes, rust: NET_REPLICATED, peer: ['GunDB', GUN_RELAYED_SEA], targets: [atLeast(5_000, writes), atLeastRatio(3, 'GunDB')] },
      { id: '10b-acked', label: "  acknowledged by the server (A's outbox; GunDB: relay acks)", unit: writes, rust: NET_REPLICATED, peer: ['GunDB', GUN_RELAYED_SEA], metric: 'ackedPerSecond' },
      { id: '10b-plain', label: '  the same against GunDB unsigned (no SEA)', unit: writes, rust: NET_REPLICATED, peer: ['GunDB', GUN_RELAYED_PLAIN] },
    ],
  },
  {
    n: 11,
    title: `Soak: rustdht serve (--memory-budget ${P.soak.budgetMiB}MiB, --exempt-loopback) for ${P.soak.seconds} s under honest and hostile load, each client in its own process`,
    rows: [
      { id: '11a', label: `honest put → ack p99, worst ${soakWindow} (3 clients, 10 puts/s each)`, unit: units.ms, rust: SOAK, metric: 'ackP99Worst', targets: [atMost(100, units.ms)] },
      { id: '11a-p50', label: '  put → ack p50 over the run', unit: units.ms, rust: SOAK, metric: 'p50' },
      { id: '11a-p99', label: '  put → ack p99 over the run', unit: units.ms, rust: SOAK, metric: 'p99' },
      { id: '11b', label: 'honest read once() p50 (fresh reader)', unit: units.ms, rust: SOAK, metric: 'readP50' },
      { id: '11b-p99', label: '  read p99', unit: units.ms, rust: SOAK, metric: 'readP99' },
      { id: '11c', label: `server peak RSS (VmHWM; budget ${P.soak.budgetMiB} + overhead ${P.soak.overheadMiB} MiB)`, unit: units.bytes, rust: SOAK, metric: 'peakRss', targets: [atMost(RSS_LIMIT, units.bytes)] },
      { id: '11d', label: '  store size on disk after the run', unit: units.bytes, rust: SOAK, metric: 'storeBytes' },
      { id: '11e', label: '  refusals, all codes (by code below the table)', unit: units.count('refusals'), rust: SOAK, metric: 'refusalsTotal' },
      { id: '11f', label: 'honest acknowledged writes lost (read back, + after restart)', unit: units.count('writes'), rust: SOAK, metric: 'lost', targets: [exactly(0)] },
      { id: '11g', label: 'exit code on SIGTERM', unit: exitCode, rust: SOAK, metric: 'exitCode', targets: [exactly(0)] },
    ],
  },
  {
    n: 12,
    title: `DHT: ${dhtServers} rustdht serve processes on loopback (LevelDB, --replicas 3, bootstrapped from the first), clients in other processes; 12b and 12g-pair… in process`,
    rows: [
      { id: '12a', label: `placement agreement, ${dhtServers} processes (each server's members → placement, ${nodesText(P.dht.cluster.placementSouls)} souls)`, unit: orMissing(percent), rust: DHT_CLUSTER, metric: 'placementAgreementPct', targets: [measuredAtLeast(100, percent)] },
      { id: '12a-held', label: '  souls held by exactly their R true owners (store copies)', unit: orMissing(percent), rust: DHT_CLUSTER, metric: 'placementHeldPct', targets: [measuredAtLeast(100, percent)] },
      { id: '12b', label: `placement agreement, ${P.dht.inProcess.servers} in-process servers (placement.ownersOf)`, unit: orMissing(percent), rust: DHT_IN_PROCESS, metric: 'agreementPct', targets: [measuredAtLeast(100, percent)] },
      { id: '12b-50', label: `  the same at ${P.dht.inProcessSmall.servers} in-process servers`, unit: orMissing(percent), rust: DHT_IN_PROCESS_SMALL, metric: 'agreementPct', targets: [measuredAtLeast(100, percent)] },
      { id: '12c', label: 'remote read, soul not owned by the client\'s server, p50', unit: orMissing(units.ms), rust: DHT_CLUSTER, metric: 'remoteReadP50', targets: [measuredAtMost(10, units.ms)] },
      { id: '12c-p99', label: '  p99', unit: orMissing(units.ms), rust: DHT_CLUSTER, metric: 'remoteReadP99', targets: [measuredAtMost(50, units.ms)] },
      { id: '12d', label: `signed writes through one server, durability 'quorum' (${nodesText(P.dht.cluster.quorum.window)} in flight)`, unit: orMissing(writes), rust: DHT_CLUSTER, metric: 'quorumPerSecond', targets: [measuredAtLeast(3_000, writes)] },
      { id: '12d-all', label: "  put → all R owners durable (durability 'all', one at a time), p50", unit: orMissing(units.ms), rust: DHT_CLUSTER, metric: 'allP50', targets: [measuredAtMost(50, units.ms)] },
      { id: '12d-all-p99', label: '  p99', unit: orMissing(units.ms), rust: DHT_CLUSTER, metric: 'allP99' },
      { id: '12e', label: `stored bytes across ${dhtServers} servers ÷ one copy (property records)`, unit: orMissing(copiesUnit), rust: DHT_CLUSTER, metric: 'storedCopies', targets: [measuredAtMost(3.3, copiesUnit)] },
      { id: '12e-records', label: '  every record (change logs included) ÷ one copy', unit: orMissing(copiesUnit), rust: DHT_CLUSTER, metric: 'storedRecordCopies' },
      { id: '12e-disk', label: '  LevelDB directories\' growth ÷ one copy', unit: orMissing(copiesUnit), rust: DHT_CLUSTER, metric: 'storedDirCopies' },
      { id: '12f', label: `kill -9 of a server holding ≥ ${nodesText(P.dht.cluster.ownedByVictim)} souls → all back to R copies`, unit: orMissing(units.seconds), rust: DHT_CLUSTER, metric: 'restoreSeconds', targets: [measuredAtMost(10, units.seconds)] },
      { id: '12g', label: `anti-entropy, owners in sync: bytes per pair per round (${dhtServers} processes, /metrics)`, unit: orMissing(units.bytes), rust: DHT_CLUSTER, metric: 'antiEntropyInSyncBytes', targets: [measuredAtMost(1024, units.bytes)] },
      { id: '12g-pair', label: `  two in-process owners of ${nodesText(P.dht.antiEntropy.souls)} souls, one round`, unit: orMissing(units.bytes, 'not implemented'), rust: DHT_ANTI_ENTROPY, metric: 'inSyncBytes', targets: [measuredAtMost(1024, units.bytes)] },
      { id: '12g-diff', label: `  ${nodesText(P.dht.antiEntropy.differing)} of ${nodesText(P.dht.antiEntropy.souls)} differing: metadata per differing soul (the owner that lost them asks)`, unit: orMissing(units.bytes, 'not implemented'), rust: DHT_ANTI_ENTROPY, metric: 'perDifferingBytes', targets: [measuredAtMost(100, units.bytes)] },
      { id: '12g-push', label: '    the owner that holds them asks', unit: orMissing(units.bytes, 'not implemented'), rust: DHT_ANTI_ENTROPY, metric: 'perDifferingPushBytes', targets: [measuredAtMost(100, units.bytes)] },
      { id: '12h', label: `restarted owner missing ${nodesText(P.dht.cluster.updates)} updates caught up (from 'ready')`, unit: orMissing(units.ms), rust: DHT_CLUSTER, metric: 'catchUpMs', targets: [measuredAtMost(1_000, units.ms)] },
      { id: '12i', label: `load average (1 min) during the ${dhtServers}-process rows, mean`, unit: orMissing(loadUnit), rust: DHT_CLUSTER, metric: 'loadMean' },
    ],
  },
];

const PROGRESS = {
  1: 'measuring local writes…',
  2: 'measuring incoming updates…',
  3: 'measuring Ed25519 verification…',
  4: 'measuring merge decisions…',
  5: 'measuring WebAssembly size…',
  6: 'measuring memory…',
  7: 'measuring durable writes to LevelDB…',
  8: 'measuring reopening a large store…',
  9: 'measuring durable writes to IndexedDB in Chromium…',
  10: 'measuring two peers through a server over loopback…',
  11: `soak: one server under mixed honest and hostile load for ${P.soak.seconds} s (then reading everything back, SIGTERM, restart)…`,
  12: `DHT: ${dhtServers} rustdht serve processes (rows 12a, 12c–12f, 12h, several minutes), ${P.dht.inProcess.servers} in-process servers (12b)…`,
};

/** What a setup probe does, for the progress lines. */
const SETUP_TEXT = {
  rustBuild: `builds its store of ${nodesText(P.reopen.shelves * P.reopen.perShelf)} nodes`,
  gunBuild: `builds its RAD directory of ${nodesText(P.reopen.shelves * P.reopen.perShelf)} nodes`,
  buildPages: 'pages built with Vite',
};

await main();

async function main() {
  const started = new Date();
  const machineAtStart = machineInfo();
  progress(`RustDHT benchmark${args.quick ? ' (--quick: smoke run, numbers indicative only)' : ''} on ${machineAtStart.cpuModel} ×${machineAtStart.cpuCount}, Node ${machineAtStart.node}`);
  if (machineAtStart.loadAverage[0] > 0.5 * machineAtStart.cpuCount) {
    progress(`warning: load average ${machineAtStart.loadAverage[0]} — other work is running; results will be noisy`);
  }
  preflight();
  buildBenchEngineIfNeeded();

  const cache = new Map();
  const temporary = [];
  const measure = async (spec, what) => {
    const key = JSON.stringify(spec);
    if (!cache.has(key)) cache.set(key, measureUncached(spec, what));
    return cache.get(key);
  };
  const measureUncached = async (spec, what) => {
    let options = spec.options;
    if (spec.setup) {
      const setup = await measure(spec.setup, `${what.split(' ')[0]} ${SETUP_TEXT[spec.setup.name] ?? spec.setup.name}`);
      options = { ...options, setup };
    }
    if (!spec.processes) return runProbe({ ...spec, options }, what);
    const runs = [];
    for (let k = 0; k < spec.processes; k++) runs.push(await runProbe({ ...spec, options: { ...options, sample: k } }, `${what} [${k + 1}/${spec.processes}]`));
    return medianOfRuns(runs);
  };
  // Temporary directories a probe left for later probes (built stores, the built pages).
  const remember = (result) => {
    if (result?.cleanup) temporary.push(...result.cleanup);
    return result;
  };
  const runProbe = (spec, what) => probe(spec, what).then(remember);
  try {
    await measureAll(measure, started, machineAtStart);
  } finally {
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
  }
}

async function measureAll(measure, started, machineAtStart) {
  const results = [];
  for (const section of SECTIONS) {
    const rows = section.rows.filter((row) => selected(row.id));
    if (rows.length === 0) continue;
    progress(PROGRESS[section.n]);
    for (const row of rows) {
      const result = { id: row.id, section: section.title, label: row.label.trim(), unit: row.unit.name };
      try {
        if (row.size) {
          const size = wasmSize();
          result.rust = size[row.size];
          result.rustDetail = size;
        } else {
          const rust = await measure(row.rust, `RustDHT ${row.label.trim()}`);
          result.rust = rust[row.metric ?? 'perSecond'];
          result.rustDetail = rust;
          if (row.peer) {
            const [name, spec] = row.peer;
            const peer = await measure(spec, `${name} (for ${row.id})`);
            result.peerName = name;
            result.peer = peer[row.metric ?? 'perSecond'];
            result.peerDetail = peer;
            result.ratio = result.rust / result.peer;
          }
        }
        result.targets = (row.targets ?? []).map((t) => {
          const attained = t.attained(result);
          return { target: t.text, pass: attained >= 1, attained: Number(attained.toFixed(3)) };
        });
        result.pass = result.targets.length === 0 ? null : result.targets.every((t) => t.pass);
      } catch (error) {
        result.error = String(error.message ?? error);
        result.targets = (row.targets ?? []).map((t) => ({ target: t.text, pass: false, attained: 0 }));
        result.pass = false;
        progress(`  ✗ ${row.id} ${row.label.trim()}: ${result.error.split('\n')[0]}`);
      }
      results.push(result);
    }
  }

  const finished = new Date();
  const report = {
    schema: 1,
    quick: args.quick,
    startedAt: started.toISOString(),
    durationSeconds: Math.round((finished - started) / 100) / 10,
    machine: { ...machineAtStart, loadAverageAtEnd: machineInfo().loadAverage },
    versions: versions(),
    parameters: P,
    rows: results,
  };

  process.stdout.write(`\n${render(results)}\n`);
  process.stdout.write('ratio = RustDHT ÷ the compared value; ±x% = the samples spread that far around the reported value.\n\n');
  const soak = results.find((r) => r.id.startsWith('11') && r.rustDetail?.putAck);
  if (soak) process.stdout.write(soakText(soak.rustDetail));
  const missed = results.filter((r) => r.pass === false && !r.error);
  const errored = results.filter((r) => r.error);
  process.stdout.write(
    `${results.filter((r) => r.pass === true).length} targets met, ${missed.length} missed, ${errored.length} errors` +
      ` · ${report.durationSeconds} s · ${report.machine.cpuModel} ×${report.machine.cpuCount} · Node ${report.machine.node}` +
      ` · load ${report.machine.loadAverage[0]}→${report.machine.loadAverageAtEnd[0]}\n`,
  );
  writeResults(report, started);
  if (errored.length > 0 || (args.strict && missed.length > 0)) process.exitCode = 1;
}

function render(results) {
  const rowsById = new Map(SECTIONS.flatMap((section) => section.rows).map((row) => [row.id, row]));
  const sectionOf = new Map(SECTIONS.flatMap((section) => section.rows.map((row) => [row.id, section.n])));
  const lines = [];
  let section;
  for (const r of results) {
    if (r.section !== section) {
      section = r.section;
      lines.push({ section: `${sectionOf.get(r.id)}. ${section}` });
    }
    const { label, unit } = rowsById.get(r.id);
    const missed = r.targets.find((t) => !t.pass);
    lines.push([
      `${r.id}  ${label}`,
      r.error ? 'error' : unit.text(r.rust) + spread(r.rustDetail, rowsById.get(r.id).metric),
      r.peer === undefined ? '—' : `${r.peerName} ${unit.text(r.peer)}${notFound(r.peerDetail)}`,
      rowsById.get(r.id).noRatio ? '—' : ratioText(r.ratio),
      r.targets.length === 0 ? '—' : r.targets.map((t) => t.target).join(', '),
      r.error ? 'ERROR' : r.pass === null ? 'info' : r.pass ? 'pass' : `FAIL (${Math.round(missed.attained * 100)}% of target)`,
    ]);
  }
  return table(['row', 'RustDHT', 'compared with', 'ratio', 'target', 'result'], lines, ['l', 'r', 'r', 'r', 'l', 'l']);
}

/** Row 11's figures per time window, refusals by code and what the load generators did. */
function soakText(d) {
  const mib = (b) => (b === undefined ? '—' : `${Math.round(b / (1024 * 1024))}`);
  const ms = (x) => (x === undefined ? '—' : units.ms.text(x));
  const lines = d.putAck.perBucket.map((b, k) => {
    const r = d.read.perBucket[k] ?? {};
    const m = d.memory.perBucket[k] ?? {};
    return [`${b.from}–${b.from + d.bucketSeconds} s`, `${b.n}`, ms(b.p50), ms(b.p99), ms(b.max), `${r.n ?? 0}`, ms(r.p50), ms(r.p99), mib(m.rssMax), mib(m.residentMax), mib(m.storeBytes), m.serverCpuPct === undefined ? '—' : `${m.serverCpuPct}%`];
  });
  const table11 = table(['window', 'acks', 'ack p50', 'ack p99', 'ack max', 'reads', 'read p50', 'read p99', 'RSS MiB', 'resident MiB', 'store MiB', 'server CPU'], lines, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']);
  const refusals = Object.entries(d.refusals).sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${n.toLocaleString('en-US')}`).join(', ') || 'none';
  const h = d.honest;
  return [
    `11. soak, ${d.durationSeconds} s of load, load average ${d.loadAverage.min}–${d.loadAverage.max} (mean ${d.loadAverage.mean}):`,
    table11,
    `refusals by code (/metrics rustdht_rejects_total): ${refusals}`,
    `honest: ${h.issued} puts, ${h.acked} acknowledged, ${h.unackedAtEnd} unacknowledged at the end, ${h.readMismatches} reads without the acknowledged value, refusals seen ${JSON.stringify(h.rejects)}`,
    `read back: ${d.readBack.beforeRestart.lost} lost of ${d.readBack.beforeRestart.checked} before the restart, ${d.readBack.afterRestart.lost} after; SIGTERM → exit ${d.shutdown.sigterm.code} in ${d.shutdown.sigterm.stopMs} ms; /health degraded samples ${JSON.stringify(d.health.degradedSamples)}, slowest /health ${d.health.maxHealthMs} ms`,
    '',
    '',
  ].join('\n');
}

/** Reopen probes whose node came back missing or incomplete. */
function notFound(detail) {
  return detail?.notComplete ? ` (${detail.notComplete}/${detail.processes} not found)` : '';
}

/** ±x % when the samples spread more than 10 % around the median (a noisy measurement). */
function spread(detail, metric = 'perSecond') {
  const value = detail?.perSecond ?? detail?.ms;
  // Only for the value the samples are of (row 10b-acked reports another figure of the same probe).
  if (metric !== (detail?.perSecond !== undefined ? 'perSecond' : 'ms')) return '';
  if (!detail || detail.min === undefined || !value) return '';
  const worst = Math.max(detail.max - value, value - detail.min) / value;
  return worst > 0.1 ? ` ±${Math.round(worst * 100)}%` : '';
}

/**
 * Runs of one probe in separate processes → one result: the median run's `ms`, the
 * spread, and every run (a run whose read came back missing or incomplete is counted).
 */
function medianOfRuns(runs) {
  const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
  const round = (x) => Math.round(x * 10) / 10;
  return {
    ms: ms[Math.floor(ms.length / 2)],
    min: ms[0],
    max: ms[ms.length - 1],
    processes: runs.length,
    notComplete: runs.filter((r) => r.found === false || r.complete === false).length,
    runs: runs.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? round(v) : v]))),
  };
}

/**
 * A probe, retried once if the process died of a signal other than the timeout's
 * SIGKILL: V8 itself aborting (SIGTRAP/SIGABRT on a fatal error, seen with Node 20's
 * deoptimizer) is a finding, recorded in the result as `crashes`, not a measurement.
 */
async function probe(spec, what) {
  try {
    return await probeOnce(spec, what);
  } catch (error) {
    if (!error.signal || error.signal === 'SIGKILL') throw error;
    progress(`  ! ${what}: the probe process died of ${error.signal}, running it again (${error.message.split('\n').find((l) => /Fatal|error/i.test(l))?.trim() ?? ''})`);
    const result = await probeOnce(spec, what);
    result.crashes = [{ signal: error.signal, stderr: error.message.slice(-600) }];
    return result;
  }
}

function probeOnce(spec, what) {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', PROBE, spec.module, spec.name, JSON.stringify(spec.options)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), spec.timeoutMs ?? (args.quick ? 120_000 : 300_000));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith(RESULT_MARK));
      const result = line ? JSON.parse(line.slice(RESULT_MARK.length)) : { error: `probe exited with ${signal ?? code}: ${err.trim().slice(-2000)}` };
      if (result.error) return reject(Object.assign(new Error(result.error), { signal: line ? undefined : signal }));
      const rate =
        result.perSecond !== undefined ? ` → ${Math.round(result.perSecond).toLocaleString('en-US')}/s`
        : result.bytesPer100k !== undefined ? ` → ${units.bytes.text(result.bytesPer100k)} per 100k properties`
        : result.nodes !== undefined ? ` → ${result.nodes.toLocaleString('en-US')} nodes (${units.bytes.text(result.storeBytes)} on disk)`
        : result.p50 !== undefined ? ` → p50 ${units.ms.text(result.p50)}, p99 ${units.ms.text(result.p99)}`
        : result.ms !== undefined ? ` → ${units.ms.text(result.ms)}${result.found === false ? ' (node NOT FOUND)' : result.complete === false ? ' (node INCOMPLETE)' : ''}`
        : result.checked !== undefined ? ` → ${result.lost} of ${result.checked} not read back`
        : '';
      progress(`  ${what}${rate} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      resolve(result);
    });
  });
}

function wasmSize() {
  if (!existsSync(WASM)) throw new Error(`${relative(ROOT, WASM)} is missing: build the engine first (npm run build)`);
  const bytes = readFileSync(WASM);
  const measured = {
    file: relative(ROOT, WASM),
    raw: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
  // The build's own report says how the binary came to be; use it when it describes this file.
  if (existsSync(SIZE_REPORT)) {
    const built = JSON.parse(readFileSync(SIZE_REPORT, 'utf8'));
    if (built.rawBytes === measured.raw) return { ...measured, build: built };
  }
  return measured;
}

function preflight() {
  const missing = [];
  if (!existsSync(join(ROOT, 'sdk-ts', 'dist', 'node.js'))) missing.push('sdk-ts/dist (npm run build)');
  if (!existsSync(WASM)) missing.push(relative(ROOT, WASM));
  if (!existsSync(join(ROOT, 'node_modules', 'gun', 'package.json'))) missing.push('node_modules/gun (npm ci)');
  if (missing.length > 0) {
    process.stderr.write(`[bench] cannot run: missing ${missing.join(', ')}\n`);
    process.exit(1);
  }
}

/**
 * The benchmark's build of the engine (cargo feature `bench`), when a selected row needs
 * it. A failed build is reported once; those rows then fail with the loader's error.
 */
function buildBenchEngineIfNeeded() {
  const needs = SECTIONS.flatMap((section) => section.rows).filter((row) => row.rust?.benchBuild && selected(row.id));
  if (needs.length === 0) return;
  progress(`rows ${needs.map((row) => row.id).join(', ')} need the engine's bench build: node scripts/build-wasm.mjs --bench`);
  try {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-wasm.mjs'), '--bench'], {
      cwd: ROOT,
      // stdout carries the table: the build's output goes to stderr with the progress lines.
      stdio: ['ignore', process.stderr, process.stderr],
      // cargo-installed tools (wasm-bindgen) live here; bootstrap.sh puts them in its own PATH only.
      env: { ...process.env, PATH: `${process.env.CARGO_HOME ?? join(homedir(), '.cargo')}/bin:${process.env.PATH}` },
    });
  } catch (error) {
    progress(`  ✗ the bench build failed (${error.message.split('\n')[0]})`);
  }
}

function versions() {
  const pkg = (path) => {
    try {
      return JSON.parse(readFileSync(path, 'utf8')).version;
    } catch {
      return undefined;
    }
  };
  let commit = null;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    // No commit yet: the results still stand, without a revision to pin them to.
  }
  return { rustdht: pkg(join(ROOT, 'sdk-ts', 'package.json')), gun: pkg(join(ROOT, 'node_modules', 'gun', 'package.json')), commit };
}

function writeResults(report, started) {
  const dir = join(ROOT, 'bench-results');
  const target = args.out ?? join(dir, args.quick ? 'quick.json' : 'latest.json');
  mkdirSync(dirname(target), { recursive: true });
  const text = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(target, text);
  const written = [relative(ROOT, target)];
  if (!args.quick && !args.out) {
    const stamp = started.toISOString().replace(/[:.]/g, '-');
    const copy = join(dir, `bench-${stamp}.json`);
    writeFileSync(copy, text);
    written.push(relative(ROOT, copy));
  }
  progress(`results written to ${written.join(' and ')}`);
}

/** `--only 1` selects rows 1a…1d, not 10a… (a prefix ending in a digit stops before another digit). */
function selected(id) {
  return !args.only || args.only.some((prefix) => id.startsWith(prefix) && !(/\d$/.test(prefix) && /^\d/.test(id.slice(prefix.length))));
}

function progress(message) {
  process.stderr.write(`[bench] ${message}\n`);
}

function parseArgs(argv) {
  const out = { quick: false, strict: false, only: undefined, out: undefined, soakSeconds: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') out.quick = true;
    else if (a === '--strict') out.strict = true;
    else if (a === '--only') out.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--out') out.out = resolve(argv[++i] ?? 'bench-results/latest.json');
    else if (a === '--soak-seconds') {
      out.soakSeconds = Number(argv[++i]);
      if (!Number.isFinite(out.soakSeconds) || out.soakSeconds <= 0) {
        process.stderr.write('[bench] --soak-seconds takes a number of seconds > 0\n');
        process.exit(2);
      }
    }
    else if (a === '--help' || a === '-h') {
      process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 13).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else {
      process.stderr.write(`[bench] unknown argument ${a} (try --help)\n`);
      process.exit(2);
    }
  }
  return out;
}
