#!/usr/bin/env node
// Builds the engine (core-rs) to WebAssembly and packages it for the SDK:
//
//   cargo build (wasm32-unknown-unknown, release)
//     → wasm-bindgen --target nodejs   → sdk-ts/pkg/node/     (CommonJS, loaded by createRequire)
//     → wasm-bindgen --target bundler  → sdk-ts/pkg/bundler/  (ESM + .wasm import, for Vite)
//     → wasm-opt -O3 on the .wasm
//     → size report: stdout and sdk-ts/pkg/size.json (read by the benchmark)
//
// `--bench` builds the benchmark's engine instead: the same crate with the cargo feature
// `bench` (exports only benchmarks call: hamDecide, verifySignature, verifySignatures),
// in its own cargo target directory so neither build invalidates the other:
//
//   cargo build --features bench --target-dir target/wasm-bench
//     → wasm-bindgen --target nodejs → target/wasm-bench/pkg/  (never in sdk-ts/pkg/, never shipped)
//     → wasm-opt -O3 on the .wasm (the same optimisation as production)
//
// Only the benchmark runner asks for it (scripts/bench/run.mjs, for the rows that call
// those exports), so `npm test` and `npm run build` never pay for a second build.
//
// A stamp (hash of every input) makes reruns free when nothing changed; `--force`
// rebuilds anyway. The toolchain route comes from RUSTDHT_WASM_ROUTE (set by
// scripts/bootstrap.sh) or is detected here the same way: rustup's wasm32 target when
// installed, else Debian's rustc-web with -Zbuild-std.
//
//   node scripts/build-wasm.mjs [--force] [--bench]

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PKG = join(ROOT, 'sdk-ts', 'pkg');
const CRATE = 'rustdht-core';
const OUT_NAME = 'rustdht_core';
const TARGET = 'wasm32-unknown-unknown';
const WASM_OPT = join(ROOT, 'node_modules', '.bin', 'wasm-opt');

/** The benchmark's build: its own cargo target directory and glue (see the header). */
const BENCH_DIR = join(ROOT, 'target', 'wasm-bench');
const BENCH_GLUE = join(BENCH_DIR, 'pkg', `${OUT_NAME}.js`);

// The features rustc 1.96 enables by default for wasm32-unknown-unknown (LLVM's
// "generic" CPU). wasm-opt must be told, or it rejects the module when it meets e.g.
// memory.copy or a multi-value block.
const WASM_FEATURES = [
  '--enable-bulk-memory',
  '--enable-bulk-memory-opt',
  '--enable-call-indirect-overlong',
  '--enable-multivalue',
  '--enable-mutable-globals',
  '--enable-nontrapping-float-to-int',
  '--enable-reference-types',
  '--enable-sign-ext',
  '--enable-simd', // .cargo/config.toml builds with +simd128
];

const log = (msg) => console.log(`[rustdht] ${msg}`);
const fail = (msg) => {
  console.error(`[rustdht] ERROR: ${msg}`);
  process.exit(1);
};

function run(cmd, args, env = {}) {
  const res = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
  if (res.error) fail(`could not run ${cmd}: ${res.error.message}`);
  if (res.status !== 0) fail(`${cmd} ${args.join(' ')} exited with ${res.status ?? res.signal}`);
}

function capture(cmd, args) {
  try {
    return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function detectRoute() {
  const fromEnv = process.env.RUSTDHT_WASM_ROUTE;
  if (fromEnv === 'rustup' || fromEnv === 'debian') return fromEnv;
  if (fromEnv) fail(`RUSTDHT_WASM_ROUTE must be 'rustup' or 'debian', not '${fromEnv}'`);
  const installed = capture('rustup', ['target', 'list', '--installed']).split('\n');
  return installed.includes(TARGET) ? 'rustup' : 'debian';
}

// Directories of core-rs that never reach the .wasm: changing a test must not cost a
// WASM rebuild on the next `npm test`.
const NOT_WASM_INPUTS = new Set(['target', 'tests', 'benches', 'fuzz', 'proptest-regressions']);

function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return NOT_WASM_INPUTS.has(entry.name) ? [] : filesUnder(path);
    return entry.isFile() ? [path] : [];
  });
}

// Everything the output depends on: sources, manifests, lockfiles, this script and the
// versions of the tools that transform the output.
function inputsHash(route) {
  const hash = createHash('sha256');
  const files = [
    ...filesUnder(join(ROOT, 'core-rs')),
    join(ROOT, 'Cargo.toml'),
    join(ROOT, 'Cargo.lock'),
    join(ROOT, '.cargo', 'config.toml'),
    fileURLToPath(import.meta.url),
  ].sort();
  for (const file of files) {
    hash.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  const rustc = route === 'rustup' ? capture('rustc', ['--version']) : capture('/usr/bin/rustc', ['--version']);
  hash.update(route).update(rustc).update(capture('wasm-bindgen', ['--version']));
  hash.update(readFileSync(join(ROOT, 'node_modules', 'binaryen', 'package.json')));
  return hash.digest('hex');
}

const OUTPUTS = [
  join(PKG, 'node', `${OUT_NAME}.js`),
  join(PKG, 'node', `${OUT_NAME}_bg.wasm`),
  join(PKG, 'bundler', `${OUT_NAME}.js`),
  join(PKG, 'bundler', `${OUT_NAME}_bg.wasm`),
  join(PKG, 'size.json'),
];
const BENCH_OUTPUTS = [BENCH_GLUE, join(BENCH_DIR, 'pkg', `${OUT_NAME}_bg.wasm`)];

function kib(bytes) {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

function cargoBuild(route, { features = [], targetDir } = {}) {
  const cargoArgs = ['build', '--release', '--target', TARGET, '-p', CRATE];
  if (features.length > 0) cargoArgs.push('--features', features.join(','));
  if (targetDir) cargoArgs.push('--target-dir', targetDir);
  const what = features.length > 0 ? ` (features: ${features.join(', ')})` : '';
  if (route === 'rustup') {
    log(`building WASM${what} with rustup's cargo (${capture('rustc', ['--version'])})…`);
    run('cargo', cargoArgs);
  } else {
    log(`building WASM${what} with Debian's cargo + -Zbuild-std (${capture('/usr/bin/rustc', ['--version'])})…`);
    run('/usr/bin/cargo', [...cargoArgs, '-Zbuild-std=std,panic_abort'], {
      // build-std is a nightly feature; RUSTC_BOOTSTRAP unlocks it on the stable compiler.
      RUSTC_BOOTSTRAP: '1',
      RUSTC: '/usr/bin/rustc',
    });
  }
  const wasm = join(targetDir ?? join(ROOT, 'target'), TARGET, 'release', `${OUT_NAME}.wasm`);
  if (!existsSync(wasm)) fail(`cargo finished but ${relative(ROOT, wasm)} is missing`);
  return wasm;
}

function upToDate(outputs, stampFile, stamp) {
  return outputs.every((f) => existsSync(f)) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp;
}

function wasmOpt(wasm) {
  log(`wasm-opt -O3 ${relative(ROOT, wasm)}…`);
  run(WASM_OPT, ['-O3', ...WASM_FEATURES, wasm, '-o', wasm]);
}

function sizes(bytes) {
  return {
    rawBytes: bytes.length,
    gzipBytes: gzipSync(bytes, { level: 9 }).length,
    brotliBytes: brotliCompressSync(bytes, {
      params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11 },
    }).length,
  };
}

/** The benchmark's engine: `--features bench`, nodejs glue in target/wasm-bench/pkg/. */
function buildBench({ force, route }) {
  const outDir = join(BENCH_DIR, 'pkg');
  const stampFile = join(outDir, '.build-stamp');
  const stamp = `bench:${inputsHash(route)}`;
  if (!force && upToDate(BENCH_OUTPUTS, stampFile, stamp)) {
    log(`benchmark WASM (feature bench): up to date in ${relative(ROOT, outDir)}`);
    return;
  }
  const started = Date.now();
  const cargoWasm = cargoBuild(route, { features: ['bench'], targetDir: BENCH_DIR });
  rmSync(outDir, { recursive: true, force: true });
  log(`wasm-bindgen --target nodejs → ${relative(ROOT, outDir)}`);
  run('wasm-bindgen', ['--target', 'nodejs', '--out-dir', outDir, '--out-name', OUT_NAME, cargoWasm]);
  writeFileSync(join(outDir, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
  const wasm = join(outDir, `${OUT_NAME}_bg.wasm`);
  wasmOpt(wasm);
  const size = sizes(readFileSync(wasm));
  writeFileSync(stampFile, stamp);
  log(
    `benchmark WASM: ${kib(size.rawBytes)} raw, ${kib(size.gzipBytes)} gzip, ${kib(size.brotliBytes)} brotli; ` +
      `built in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}

function main() {
  const force = process.argv.includes('--force');
  if (!existsSync(WASM_OPT)) fail('wasm-opt missing: run `npm ci` first (it comes with the binaryen devDependency)');
  const route = detectRoute();
  if (process.argv.includes('--bench')) {
    buildBench({ force, route });
    return;
  }
  const stampFile = join(PKG, '.build-stamp');
  const stamp = inputsHash(route);
  if (!force && upToDate(OUTPUTS, stampFile, stamp)) {
    const size = JSON.parse(readFileSync(join(PKG, 'size.json'), 'utf8'));
    log(`WASM: up to date (${kib(size.rawBytes)} raw, ${kib(size.gzipBytes)} gzip)`);
    return;
  }

  const started = Date.now();
  const cargoWasm = cargoBuild(route);
  const cargoBytes = statSync(cargoWasm).size;

  rmSync(stampFile, { force: true });
  for (const target of ['node', 'bundler']) {
    const outDir = join(PKG, target);
    rmSync(outDir, { recursive: true, force: true });
    log(`wasm-bindgen --target ${target === 'node' ? 'nodejs' : 'bundler'} → sdk-ts/pkg/${target}`);
    run('wasm-bindgen', [
      '--target', target === 'node' ? 'nodejs' : 'bundler',
      '--out-dir', outDir,
      '--out-name', OUT_NAME,
      cargoWasm,
    ]);
  }
  // The SDK's package.json says "type": "module"; the nodejs glue is CommonJS and the
  // bundler glue must keep its side effect (handing the instance to the JS glue) even
  // though sdk-ts declares itself side-effect free. Nested package.json files say so.
  writeFileSync(join(PKG, 'node', 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
  writeFileSync(
    join(PKG, 'bundler', 'package.json'),
    `${JSON.stringify({ type: 'module', sideEffects: [`./${OUT_NAME}.js`, './snippets/*'] }, null, 2)}\n`,
  );

  // The two targets usually embed byte-identical .wasm files; optimize once then.
  const nodeWasm = join(PKG, 'node', `${OUT_NAME}_bg.wasm`);
  const bundlerWasm = join(PKG, 'bundler', `${OUT_NAME}_bg.wasm`);
  const preOptBytes = statSync(nodeWasm).size;
  const identical = readFileSync(nodeWasm).equals(readFileSync(bundlerWasm));
  for (const wasm of identical ? [nodeWasm] : [nodeWasm, bundlerWasm]) wasmOpt(wasm);
  if (identical) copyFileSync(nodeWasm, bundlerWasm);

  const size = {
    file: `sdk-ts/pkg/node/${OUT_NAME}_bg.wasm`,
    ...sizes(readFileSync(nodeWasm)),
    cargoRawBytes: cargoBytes,
    wasmBindgenRawBytes: preOptBytes,
    route,
  };
  mkdirSync(PKG, { recursive: true });
  writeFileSync(join(PKG, 'size.json'), `${JSON.stringify(size, null, 2)}\n`);
  writeFileSync(stampFile, stamp);
  log(
    `WASM size: ${kib(size.rawBytes)} raw, ${kib(size.gzipBytes)} gzip, ${kib(size.brotliBytes)} brotli ` +
      `(cargo ${kib(cargoBytes)}, after wasm-bindgen ${kib(preOptBytes)}); built in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}

main();
