/**
 * Loopback is exempt from libp2p's connection limits only when the operator asks
 * (`exemptLoopback`, `rustdht serve --exempt-loopback`): by default a server takes at
 * most 5 new connections per second per host, loopback included, so a reverse proxy on
 * the same host (through which every client arrives from 127.0.0.1) does not lift the
 * limit for everyone. Real libp2p nodes on loopback TCP: 15 clients dial one server at
 * once.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createClientNode } from '../../src/network/libp2p/client-node.js';
import { createServerNode } from '../../src/network/libp2p/server-node.js';
import type { RustDHTNode } from '../../src/network/libp2p/shared.js';
import { helpText, parseCommandLine } from '../../src/cli/args.js';

const running: RustDHTNode[] = [];
const dirs: string[] = [];
const CLIENTS = 15;

afterEach(async () => {
  await Promise.all(running.splice(0).map((node) => node.stop()));
});

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** How many of CLIENTS fresh client nodes, dialling at once, get a connection that stays open. */
async function connectedAtOnce(exemptLoopback: boolean | undefined): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'rustdht-loopback-'));
  dirs.push(dir);
  const server = await createServerNode({ dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], exemptLoopback });
  running.push(server);
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => createClientNode()));
  running.push(...clients);
  const address = server.getMultiaddrs()[0]!;
  await Promise.allSettled(clients.map((client) => client.dial(address, { signal: AbortSignal.timeout(10_000) })));
  // A refused inbound connection is closed by the server right after the handshake.
  await new Promise((resolve) => setTimeout(resolve, 500));
  return clients.filter((client) => client.getConnections(server.peerId).some((connection) => connection.status === 'open')).length;
}

describe('the loopback exemption', () => {
  it('is off by default: loopback gets the per-host connection rate like any host', async () => {
    const connected = await connectedAtOnce(undefined);
    expect(connected).toBeGreaterThan(0);
    expect(connected).toBeLessThan(CLIENTS);
  }, 30_000);

  it('exemptLoopback: every loopback dial is taken', async () => {
    expect(await connectedAtOnce(true)).toBe(CLIENTS);
  }, 30_000);

  it('rustdht serve takes it only from --exempt-loopback', () => {
    expect(parseCommandLine(['serve'])).toMatchObject({ command: 'serve', options: { exemptLoopback: false } });
    expect(parseCommandLine(['serve', '--exempt-loopback'])).toMatchObject({ command: 'serve', options: { exemptLoopback: true } });
    expect(helpText('serve')).toMatch(/--exempt-loopback +exempt connections from 127\.0\.0\.0\/8/);
  });
});
