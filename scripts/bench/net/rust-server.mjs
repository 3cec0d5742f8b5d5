// Row 10: the RustDHT server both peers connect to, in its own process.
//
//   node scripts/bench/net/rust-server.mjs cli|sdk      (started by tasks/network.mjs)
//
// cli: `rustdht serve` itself (sdk-ts/dist/cli/main.js) as a child of this process, with
//      `--data <temp dir> --listen /ip4/127.0.0.1/tcp/0 --http 0 --log-format json`; the
//      addresses come from its JSON "ready" line. This process only keeps it on a leash:
//      it kills the server when the benchmark goes away.
// sdk: what `rustdht serve` runs, in this process: `RustDHT.open({ store: LevelStore in a
//      temp dir, network: { role: 'server', listen: [/ip4/127.0.0.1/tcp/0], dataDir } })`;
//      also answers `counters` with the server's network counters.
//
// Either way the store is a LevelStore (LevelDB, synced group commits) in a temporary
// directory, deleted at exit.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMs, serveParent } from '../lib/children.mjs';

const mode = process.argv[2] ?? 'sdk';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = join(ROOT, 'sdk-ts', 'dist', 'cli', 'main.js');
const LISTEN = '/ip4/127.0.0.1/tcp/0';

const dir = mkdtempSync(join(tmpdir(), 'rustdht-bench-server-'));
let cli;
process.on('exit', () => {
  try {
    cli?.kill('SIGKILL');
  } catch {
    // Already gone.
  }
  rmSync(dir, { recursive: true, force: true });
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

let db;
const events = [];
const handlers = {
  counters: () => (db ? { counters: db.network.counters(), state: db.network.status().state, peers: db.network.status().peers.length, events } : { counters: null }),
  /** Diagnostics only (BENCH_NET_BREAKDOWN): when the server itself has applied each value of `soul`. */
  watchValue: ({ soul }) => {
    let last = -1;
    db.get(soul).on((value) => {
      const t = Number(process.hrtime.bigint()) / 1e6;
      if (typeof value?.count === 'number' && value.count > last) {
        last = value.count;
        emit('seen', { i: value.count, t });
      }
    });
  },
  /** CPU ms used so far by the server (the CLI's process, or this one). */
  cpu: () => ({ cpuMs: cli ? cpuMs(cli.pid) : cpuMs() }),
  stop: async () => {
    await db?.close();
    setImmediate(() => process.exit(0));
  },
};
const emit = serveParent(handlers);

try {
  if (mode === 'cli') {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing (cd sdk-ts && npm run build)`);
    const ready = await startCli();
    emit('ready', { mode, how: 'rustdht serve (sdk-ts/dist/cli/main.js), LevelStore in a temp dir', addresses: ready.addresses, readyLine: ready.line });
  } else {
    const { RustDHT, LevelStore } = await import('rustdht');
    db = await RustDHT.open({
      store: await LevelStore.open(join(dir, 'store')),
      network: { role: 'server', listen: [LISTEN], dataDir: join(dir, 'peer') },
    });
    db.network.on((event) => {
      if (event.type !== 'state' && events.length < 50) events.push({ t: Number(process.hrtime.bigint()) / 1e6, type: event.type, code: event.code, message: event.message?.slice(0, 200) });
    });
    emit('ready', { mode, how: "RustDHT.open({ store: LevelStore in a temp dir, network: { role: 'server' } })", addresses: db.network.status().addresses });
  }
} catch (error) {
  emit('failed', { error: String(error?.stack ?? error) });
  setTimeout(() => process.exit(1), 100);
}

function startCli() {
  return new Promise((resolve, reject) => {
    const args = [CLI, 'serve', '--data', join(dir, 'data'), '--listen', LISTEN, '--http', '0', '--log-format', 'json'];
    cli = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`rustdht serve printed no ready line within 30 s: ${(out + err).slice(-1500)}`)), 30_000);
    const onLine = (line) => {
      let record;
      try {
        record = JSON.parse(line);
      } catch {
        return;
      }
      const addresses = record.addresses ?? record.listen ?? record.multiaddrs;
      if ((record.msg === 'ready' || record.event === 'ready' || record.message === 'ready') && Array.isArray(addresses)) {
        clearTimeout(timer);
        resolve({ addresses, line: record });
      }
    };
    let buffer = '';
    cli.stdout.on('data', (d) => {
      out = (out + d).slice(-4000);
      buffer += d;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        onLine(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    });
    cli.stderr.on('data', (d) => {
      err = (err + d).slice(-4000);
      for (const line of String(d).split('\n')) onLine(line);
    });
    cli.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`rustdht serve exited with ${signal ?? code}: ${(out + err).slice(-1500)}`));
      // Once ready, a server that dies ends this process too: the peers would only time out.
      process.exit(1);
    });
  });
}
