// Row 12 (DHT): the leash on the `rustdht serve` processes of a cluster.
//
//   node scripts/bench/net/dht-keeper.mjs      (forked by tasks/dht.mjs, IPC channel)
//
// tasks/dht.mjs spawns every server itself (it needs their pids to pause, kill -9 and
// restart them) and kills them all when it ends, however it ends: normal end, an
// exception, SIGINT/SIGTERM. What it cannot cover is being SIGKILLed (run.mjs's probe
// timeout): then this process, whose IPC channel closes with it, SIGKILLs every pid it
// was told about (`watch { pid }`; `unwatch { pid }` once a server exited by itself) and
// deletes the probe's temporary directory (`removeOnExit { dir }`).

import { readFileSync, rmSync } from 'node:fs';
import { serveParent } from '../lib/children.mjs';

const pids = new Set();
const dirs = new Set();

function killAll() {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  // The directory only once they are gone (a process dying in a write could still add a file).
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let wait = 0; wait < 100 && [...pids].some(alive); wait++) Atomics.wait(sleeper, 0, 0, 20);
  pids.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  dirs.clear();
}

/** Not gone yet: the process exists and is not a zombie. */
function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

// serveParent exits on 'disconnect' (the parent is gone): the 'exit' handler runs then.
process.on('exit', killAll);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => process.exit(0));

const emit = serveParent({
  watch: ({ pid }) => void pids.add(pid),
  unwatch: ({ pid }) => void pids.delete(pid),
  removeOnExit: ({ dir }) => void dirs.add(dir),
  killAll: () => killAll(),
});
emit('ready', { pid: process.pid });
