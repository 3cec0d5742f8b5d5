#!/usr/bin/env node
// RustDHT benchmark: every row measured in one run, RustDHT against GunDB (or
// node:crypto, or plain JavaScript), same data shapes on both sides.
//
//   node scripts/bench/run.mjs [--quick] [--only 1a,3] [--out file.json] [--strict]
//
//   --quick   smoke run with small counts and short samples (seconds, for tests);
//             numbers are indicative only and go to bench-results/quick.json
//   --only    run only rows whose id starts with one of the given prefixes
//   --out     write the JSON results here instead of bench-results/latest.json
//   --strict  exit 1 when a target is missed (errors always exit 1)
//
// Each measurement runs in its own Node process (probe.mjs, with --expose-gc), so no
// contender inherits another's heap, JIT state or background timers. Prints the table
// to stdout, progress to stderr, and the results as JSON with machine information.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
    };

const millions = (n) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);
const props = units.perSecond('props');
const updates = units.perSecond('updates');
const sigs = units.perSecond('sigs');
const decisions = units.perSecond('decisions');

// A target says how close a result comes to it: `attained(result) >= 1` meets it.
const atLeast = (n, unit) => ({ text: `≥ ${unit.text(n)}`, attained: (r) => r.rust / n });
const atLeastRatio = (x, who) => ({ text: `≥ ${x}× ${who}`, attained: (r) => r.ratio / x });
const atMost = (n, unit) => ({ text: `≤ ${unit.text(n)}`, attained: (r) => n / r.rust });

const task = (module, name, options = {}) => ({ module, name, options: { timing: P.timing, ...options } });

const GUN_WRITES = task('writes', 'gunUnsigned', { nodesPerRun: P.nodesPerRun });
const GUN_SIGNED_WRITES = task('writes', 'gunSigned', { nodesPerRun: P.gunSignedNodesPerRun });
const GUN_INGEST = task('ingest', 'gunUnsigned', { nodesPerBatch: P.nodesPerBatch });
const GUN_SIGNED_INGEST = task('ingest', 'gunSigned', { nodesPerBatch: P.nodesPerBatch, signedNodes: P.gunSignedIngestNodes });
const NODE_VERIFY = task('verify', 'nodeSingle', P.corpus);
const MERGE = { existingNodes: P.existingNodes, nodesPerBatch: P.nodesPerBatch };
const JS_MERGE = task('merge', 'jsLoop', MERGE);
const MEMORY_PUT = task('memory', 'rust', { properties: P.memoryProperties });

const SECTIONS = [
  {
    n: 1,
    title: 'Local writes, properties/s (one put per node of 5 properties)',
    rows: [
      { id: '1a', label: 'put, unsigned', unit: props, rust: task('writes', 'rustUnsigned', { nodesPerRun: P.nodesPerRun }), peer: ['GunDB', GUN_WRITES], targets: [atLeast(100_000, props), atLeastRatio(5, 'GunDB')] },
      { id: '1b', label: 'put, signed (db.user: +1 link prop)', unit: props, rust: task('writes', 'rustSigned', { nodesPerRun: P.nodesPerRun }), peer: ['GunDB', GUN_SIGNED_WRITES], targets: [atLeast(20_000, props), atLeastRatio(5, 'GunDB')] },
      { id: '1c', label: '  engine.write alone, unsigned', unit: props, rust: task('writes', 'engineUnsigned', { nodesPerRun: P.nodesPerRun }), peer: ['GunDB', GUN_WRITES] },
      { id: '1d', label: '  engine.writeSigned alone', unit: props, rust: task('writes', 'engineSigned', { nodesPerRun: P.nodesPerRun }), peer: ['GunDB', GUN_SIGNED_WRITES] },
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
      { id: '3a', label: 'verifySignature, one call each', unit: sigs, rust: task('verify', 'engineSingle', P.corpus), peer: ['node:crypto', NODE_VERIFY], targets: [atLeastRatio(0.5, 'node:crypto')] },
      { id: '3b', label: 'verifySignatures, batch of 64', unit: sigs, rust: task('verify', 'engineBatch', { ...P.corpus, batch: 64 }), peer: ['node:crypto', NODE_VERIFY], targets: [atLeastRatio(1, 'node:crypto')] },
      { id: '3c', label: 'verifySignatures, batch of 256', unit: sigs, rust: task('verify', 'engineBatch', { ...P.corpus, batch: 256 }), peer: ['node:crypto', NODE_VERIFY], targets: [atLeastRatio(1, 'node:crypto')] },
    ],
  },
  {
    n: 4,
    title: 'Merge decisions/s on existing properties (what the boundary costs)',
    rows: [
      { id: '4a', label: 'Engine.ingest, one call per batch', unit: decisions, rust: task('merge', 'engineBatched', MERGE), peer: ['plain JS', JS_MERGE] },
      { id: '4b', label: 'hamDecide, one call per decision', unit: decisions, rust: task('merge', 'engineSingle', MERGE), peer: ['plain JS', JS_MERGE] },
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
];

const PROGRESS = {
  1: 'measuring local writes…',
  2: 'measuring incoming updates…',
  3: 'measuring Ed25519 verification…',
  4: 'measuring merge decisions…',
  5: 'measuring WebAssembly size…',
  6: 'measuring memory…',
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

  const cache = new Map();
  const measure = async (spec, what) => {
    const key = JSON.stringify(spec);
    if (!cache.has(key)) cache.set(key, runProbe(spec, what));
    return cache.get(key);
  };

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
  process.stdout.write('ratio = RustDHT ÷ the compared value; ±x% = the samples spread that far around the median.\n\n');
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
  const lines = [];
  let section;
  for (const r of results) {
    if (r.section !== section) {
      section = r.section;
      lines.push({ section: `${r.id[0]}. ${section}` });
    }
    const { label, unit } = rowsById.get(r.id);
    const missed = r.targets.find((t) => !t.pass);
    lines.push([
      `${r.id}  ${label}`,
      r.error ? 'error' : unit.text(r.rust) + spread(r.rustDetail),
      r.peer === undefined ? '—' : `${r.peerName} ${unit.text(r.peer)}`,
      ratioText(r.ratio),
      r.targets.length === 0 ? '—' : r.targets.map((t) => t.target).join(', '),
      r.error ? 'ERROR' : r.pass === null ? 'info' : r.pass ? 'pass' : `FAIL (${Math.round(missed.attained * 100)}% of target)`,
    ]);
  }
  return table(['row', 'RustDHT', 'compared with', 'ratio', 'target', 'result'], lines, ['l', 'r', 'r', 'r', 'l', 'l']);
}

/** ±x % when the samples spread more than 10 % around the median (a noisy measurement). */
function spread(detail) {
  if (!detail || detail.min === undefined || !detail.perSecond) return '';
  const worst = Math.max(detail.max - detail.perSecond, detail.perSecond - detail.min) / detail.perSecond;
  return worst > 0.1 ? ` ±${Math.round(worst * 100)}%` : '';
}

function runProbe(spec, what) {
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
    const timer = setTimeout(() => child.kill('SIGKILL'), args.quick ? 120_000 : 300_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith(RESULT_MARK));
      const result = line ? JSON.parse(line.slice(RESULT_MARK.length)) : { error: `probe exited with ${signal ?? code}: ${err.trim().slice(-2000)}` };
      if (result.error) return reject(new Error(result.error));
      const rate =
        result.perSecond !== undefined ? ` → ${Math.round(result.perSecond).toLocaleString('en-US')}/s`
        : result.bytesPer100k !== undefined ? ` → ${units.bytes.text(result.bytesPer100k)} per 100k properties`
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

function selected(id) {
  return !args.only || args.only.some((prefix) => id.startsWith(prefix));
}

function progress(message) {
  process.stderr.write(`[bench] ${message}\n`);
}

function parseArgs(argv) {
  const out = { quick: false, strict: false, only: undefined, out: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') out.quick = true;
    else if (a === '--strict') out.strict = true;
    else if (a === '--only') out.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--out') out.out = resolve(argv[++i] ?? 'bench-results/latest.json');
    else if (a === '--help' || a === '-h') {
      process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 12).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else {
      process.stderr.write(`[bench] unknown argument ${a} (try --help)\n`);
      process.exit(2);
    }
  }
  return out;
}
