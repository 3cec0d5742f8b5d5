// Row 10: a GunDB relay, as `examples/http.js` runs one: `Gun({ web: httpServer })` on a
// loopback port, with its default storage (RAD over the `rfs` file adapter, here in a
// temporary directory) and SEA loaded (it verifies the signed `~pub` writes it relays).
// Multicast, AXE and the stats file are off, as for every GunDB in the benchmark.
// Run by tasks/network.mjs (lib/children.mjs); prints nothing, answers over IPC.

import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuMs, serveParent } from '../lib/children.mjs';
import { loadGun } from '../lib/gun.mjs';

const dir = mkdtempSync(join(tmpdir(), 'rustdht-bench-gun-relay-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const Gun = loadGun();
const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const gun = Gun({ web: server, file: join(dir, 'radata'), radisk: true, localStorage: false, axe: false, multicast: false, stats: false });

const emit = serveParent({
  cpu: () => ({ cpuMs: cpuMs() }),
  stop: () => {
    setImmediate(() => process.exit(0));
  },
});
emit('ready', { url: `http://127.0.0.1:${server.address().port}/gun`, storage: 'RAD (radisk + rfs) in a temporary directory' });
