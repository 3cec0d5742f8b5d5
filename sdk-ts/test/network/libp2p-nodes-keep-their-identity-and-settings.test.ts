/**
 * What the Node libp2p node factories promise (network/libp2p/server-node.ts,
 * client-node.ts, shared.ts), beyond what libp2p-nodes.test.ts dials:
 *
 * - a server's identity: created on first start (Ed25519, `peer-key` of mode 0600 in a
 *   directory created 0700), read back afterwards, the same one for two starts racing,
 *   never replaced when the file is not a key (config/peer-key naming the file) or
 *   cannot be read; registered so the DHT can sign with it;
 * - addresses checked before anything starts (a bad listen or bootstrap address is an
 *   error naming the option, and no identity is written); bootstrap peers dialled in the
 *   background (its own address among them harmless); the documented default ports;
 * - a client listens nowhere unless told, and takes the identity it is given;
 * - every node: noise, yamux, dialling any address, loopback exempt from the connection
 *   limits only when asked, libp2p's connection monitor off.
 *
 * Why: mutation testing (scripts/mutation/README.md).
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/api/errors.js';
import { createClientNode } from '../../src/network/libp2p/client-node.js';
import { createServerNode, DEFAULT_LISTEN, loadOrCreatePeerKey, PEER_KEY_FILE } from '../../src/network/libp2p/server-node.js';
import { baseConfig, LOOPBACK_ALLOW, peerKeyOf, permissiveConnectionGater, registerPeerKey, type RustDHTNode } from '../../src/network/libp2p/shared.js';
import { parseMultiaddr } from '../../src/network/multiaddr.js';

const running: RustDHTNode[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((node) => node.stop()));
});
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function newDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rustdht-node-'));
  dirs.push(dir);
  return dir;
}

const TCP_LOOPBACK = ['/ip4/127.0.0.1/tcp/0'];

describe('a server\'s identity', () => {
  it('is created on first start (Ed25519, peer-key 0600 in a 0700 directory) and read back afterwards; two racing starts get the same one', async () => {
    const dataDir = join(await newDir(), 'data', 'dir');
    const [a, b] = await Promise.all([loadOrCreatePeerKey(dataDir), loadOrCreatePeerKey(dataDir)]);
    expect(a.type).toBe('Ed25519');
    expect(a.equals(b)).toBe(true);
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dataDir, PEER_KEY_FILE))).mode & 0o777).toBe(0o600);
    expect((await loadOrCreatePeerKey(dataDir)).equals(a)).toBe(true);
  });

  it('is never replaced: a file that is not a key is config/peer-key naming it; a file that cannot be read is that error', async () => {
    const dataDir = await newDir();
    const file = join(dataDir, PEER_KEY_FILE);
    await writeFile(file, 'not a key');
    const error = await loadOrCreatePeerKey(dataDir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidValueError);
    expect(error).toMatchObject({ code: 'config/peer-key' });
    expect((error as Error).message).toContain(file);
    expect((error as Error).cause).toBeDefined();

    const other = await newDir();
    await mkdir(join(other, PEER_KEY_FILE));
    await expect(loadOrCreatePeerKey(other)).rejects.toMatchObject({ code: 'EISDIR' });
  });

  it('a started server signs with the key in its data directory (registered for the DHT)', async () => {
    const dataDir = await newDir();
    const key = await loadOrCreatePeerKey(dataDir);
    const node = await createServerNode({ dataDir, listen: TCP_LOOPBACK });
    running.push(node);
    expect(node.peerId.toString()).toBe(peerIdFromPrivateKey(key).toString());
    expect(peerKeyOf(node)?.equals(key)).toBe(true);
  });
});

describe('a server\'s addresses', () => {
  it('a bad listen or bootstrap address is an error naming the option, before an identity is written', async () => {
    const dataDir = await newDir();
    await expect(createServerNode({ dataDir, listen: ['not an address'] })).rejects.toThrow(/^option network\.listen:/);
    await expect(createServerNode({ dataDir, listen: TCP_LOOPBACK, bootstrap: ['nope'] })).rejects.toThrow(/^bootstrap address/);
    await expect(stat(join(dataDir, PEER_KEY_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('dials its bootstrap peers in the background (its own address in the list does not stop it)', async () => {
    const first = await createServerNode({ dataDir: await newDir(), listen: TCP_LOOPBACK });
    running.push(first);
    const dataDir = await newDir();
    const self = peerIdFromPrivateKey(await loadOrCreatePeerKey(dataDir)).toString();
    const address = first.getMultiaddrs()[0]!.toString();
    const second = await createServerNode({ dataDir, listen: TCP_LOOPBACK, bootstrap: [`/ip4/127.0.0.1/tcp/9/p2p/${self}`, address] });
    running.push(second);
    const deadline = Date.now() + 5000;
    while (first.getConnections().length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(first.getConnections().map((c) => c.remotePeer.toString())).toEqual([second.peerId.toString()]);
  });

  it('listens by default on the documented ports: 7401 TCP, 7402 WebSockets, 7403/udp WebRTC-Direct', () => {
    expect(DEFAULT_LISTEN).toEqual(['/ip4/0.0.0.0/tcp/7401', '/ip4/0.0.0.0/tcp/7402/ws', '/ip4/0.0.0.0/udp/7403/webrtc-direct']);
    for (const address of DEFAULT_LISTEN) expect(String(parseMultiaddr(address))).toBe(address);
  });
});

describe('a client node', () => {
  it('listens nowhere unless told, takes the identity it is given, and checks its listen addresses', async () => {
    const plain = await createClientNode();
    running.push(plain);
    expect(plain.getMultiaddrs()).toEqual([]);
    const key = await loadOrCreatePeerKey(await newDir());
    const listening = await createClientNode({ privateKey: key, listen: TCP_LOOPBACK });
    running.push(listening);
    expect(listening.peerId.toString()).toBe(peerIdFromPrivateKey(key).toString());
    expect(listening.getMultiaddrs().map(String)[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//);
    await expect(createClientNode({ listen: ['bad'] })).rejects.toThrow(/^option network\.listen:/);
    // A client's own node has no registered key (it signs nothing as a member).
    expect(peerKeyOf(listening)).toBeUndefined();
  });
});

describe('every node', () => {
  it('exempts loopback from the connection limits only when asked, turns libp2p\'s connection monitor off, and may dial any address', () => {
    expect(baseConfig().connectionManager).toEqual({});
    expect(baseConfig({ exemptLoopback: false }).connectionManager).toEqual({});
    expect(baseConfig({ exemptLoopback: true }).connectionManager).toEqual({ allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'] });
    expect(LOOPBACK_ALLOW).toEqual(['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128']);
    expect(baseConfig().connectionMonitor).toEqual({ enabled: false });
    expect(Object.keys(baseConfig().services).sort()).toEqual(['identify', 'ping']);
    expect(baseConfig().connectionEncrypters).toHaveLength(1);
    expect(baseConfig().streamMuxers).toHaveLength(1);
    expect(permissiveConnectionGater().denyDialMultiaddr?.(parseMultiaddr('/ip4/10.0.0.1/tcp/1'))).toBe(false);
  });

  it('the peer key registry answers only for registered nodes', async () => {
    const node = {};
    expect(peerKeyOf(node)).toBeUndefined();
    const key = await loadOrCreatePeerKey(await newDir());
    registerPeerKey(node, key);
    expect(peerKeyOf(node)).toBe(key);
    expect(peerKeyOf({})).toBeUndefined();
  });
});
