// Child processes for the network rows (row 10): a server (or relay) and two peers, each
// in its own Node process, so no two of them share an event loop.
//
// The probe (parent) talks to each child over Node's IPC channel: `call(cmd, args)`
// sends `{ id, cmd, args }` and resolves with the child's `{ id, result }` (or rejects
// with its `{ id, error }`); a child may also send `{ event, ... }` at any time, heard
// through `onEvent`. Every child started here is killed when the parent exits, however
// it exits (normal end, exception, signal), and a child exits by itself as soon as its
// IPC channel closes, which covers the parent being SIGKILLed (run.mjs's timeout).

import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';

const running = new Set();

function killAll() {
  for (const child of running) {
    try {
      child.process.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
  running.clear();
}

let hooked = false;
function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      killAll();
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
}

/**
 * Starts `script` (a module that calls `serveParent`) in a fresh Node process.
 * Resolves once the child said it is ready (`{ event: 'ready', ... }`), with the child.
 */
/**
 * Node flags for a `rustdht serve` the bench spawns itself: BENCH_SERVER_PROFILE=dir writes
 * its CPU profile there when it exits (stop it with SIGTERM, not SIGKILL, for that).
 */
export function serverProfileArgs() {
  const dir = process.env.BENCH_SERVER_PROFILE;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

export function startChild(script, { name, args = [], env, readyTimeoutMs = 30_000, execArgv = [] } = {}) {
  hookExit();
  // BENCH_NET_PROF=<dir>: every child writes a CPU profile there when it exits.
  const profile = process.env.BENCH_NET_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_NET_PROF, '--cpu-prof-name', `${name.replace(/\W+/g, '-')}-${process.pid}.cpuprofile`] : [];
  const proc = fork(script, args, {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    execArgv: [...execArgv, ...profile],
    env: { ...process.env, ...env },
    serialization: 'advanced',
  });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
    if (process.env.BENCH_NET_DEBUG) process.stderr.write(`[${name}] ${d}`);
  });
  proc.stdout.on('data', (d) => {
    if (process.env.BENCH_NET_DEBUG) process.stderr.write(`[${name}] ${d}`);
  });
  const pending = new Map();
  const listeners = new Set();
  let nextId = 1;
  let exited = null;
  const child = {
    name,
    process: proc,
    get stderr() {
      return stderr;
    },
    call(cmd, callArgs = {}, timeoutMs = 120_000) {
      if (exited) return Promise.reject(new Error(`${name} exited (${exited}): ${stderr.trim().slice(-800)}`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name} did not answer ${cmd} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer, cmd });
        proc.send({ id, cmd, args: callArgs });
      });
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    kill() {
      running.delete(child);
      try {
        proc.kill('SIGKILL');
      } catch {
        // Already gone.
      }
    },
  };
  running.add(child);
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} was not ready within ${readyTimeoutMs} ms: ${stderr.trim().slice(-800)}`)), readyTimeoutMs);
    const stop = child.onEvent((message) => {
      if (message.event === 'ready') {
        clearTimeout(timer);
        stop();
        resolve(message);
      } else if (message.event === 'failed') {
        clearTimeout(timer);
        stop();
        reject(new Error(`${name} failed to start: ${message.error}`));
      }
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${signal ?? code} before it was ready: ${stderr.trim().slice(-800)}`));
    });
  });
  proc.on('message', (message) => {
    if (message && message.id !== undefined && pending.has(message.id)) {
      const p = pending.get(message.id);
      pending.delete(message.id);
      clearTimeout(p.timer);
      if (message.error !== undefined) p.reject(new Error(`${name} ${p.cmd}: ${message.error}`));
      else p.resolve(message.result);
      return;
    }
    for (const listener of [...listeners]) listener(message);
  });
  proc.on('exit', (code, signal) => {
    exited = signal ?? code;
    running.delete(child);
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`${name} exited (${exited}) during ${p.cmd}: ${stderr.trim().slice(-800)}`));
    }
    pending.clear();
  });
  return ready.then((message) => Object.assign(child, { info: message }));
}

/**
 * Ends every child started so far: closes its IPC channel (the child exits on its own,
 * writing a CPU profile if asked to), then kills whatever still runs after `graceMs`.
 * (They are also killed when this process exits.)
 */
export async function stopChildren(graceMs = 1_000) {
  const children = [...running];
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          if (child.process.exitCode !== null || child.process.signalCode !== null) return resolve();
          const timer = setTimeout(resolve, graceMs);
          child.process.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          try {
            child.process.disconnect();
          } catch {
            clearTimeout(timer);
            resolve();
          }
        }),
    ),
  );
  killAll();
}

// ---- the child side ----------------------------------------------------------------------

/**
 * In a child: answers the parent's calls with `handlers[cmd](args)`, and exits when the
 * parent goes away. Returns `emit(event, data)` to send unsolicited messages.
 */
export function serveParent(handlers) {
  if (!process.send) throw new Error('this script runs as a child of the benchmark (IPC channel missing)');
  process.on('disconnect', () => process.exit(0));
  process.on('message', async (message) => {
    const { id, cmd, args } = message ?? {};
    if (id === undefined) return;
    try {
      const handler = handlers[cmd];
      if (typeof handler !== 'function') throw new Error(`unknown command ${cmd}`);
      const result = await handler(args ?? {});
      send({ id, result: result ?? null });
    } catch (error) {
      send({ id, error: String(error?.stack ?? error) });
    }
  });
  return (event, data = {}) => send({ event, ...data });
}

function send(message) {
  // The callback takes a failed send (the parent went away meanwhile: EPIPE) instead of an unhandled 'error' event.
  if (process.connected) process.send(message, () => {});
}

/**
 * The machine's monotonic clock in ms, the same in every process on this machine
 * (`process.hrtime` reads CLOCK_MONOTONIC on Linux): a timestamp taken in one process
 * can be subtracted from one taken in another.
 */
export function sharedClockMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * CPU time (user + system, ms) this process used so far, or process `pid`'s (Linux
 * /proc, 10 ms ticks): divided by the writes handled, what each write costs a process,
 * whatever else the machine runs at the time.
 */
export function cpuMs(pid) {
  if (pid === undefined) {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime in ticks of 10 ms
  } catch {
    return undefined;
  }
}
