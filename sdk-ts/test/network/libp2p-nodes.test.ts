/**
 * Real libp2p nodes on loopback: the three transports carry StreamChannel bytes both ways
 * (with backpressure), clients reach servers, a server keeps its identity and certificate
 * hash across restarts, and a node runs exactly the services the network uses.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createClientNode } from '../../src/network/libp2p/client-node.js';
import { createServerNode, PEER_KEY_FILE } from '../../src/network/libp2p/server-node.js';
import { handleChannels, openChannel, type StreamChannel } from '../../src/network/libp2p/stream-channel.js';
import { transportOf } from '../../src/network/libp2p/transport-of.js';
import type { ServerNode } from '../../src/network/libp2p/server-node.js';
import type { RustDHTNode } from '../../src/network/libp2p/shared.js';
import type { Transport } from '../../src/network/types.js';
import type { Multiaddr } from '@multiformats/multiaddr';
import { pattern, receive, same } from './helpers/channel-bytes.js';

const LOOPBACK_LISTEN = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws', '/ip4/127.0.0.1/udp/0/webrtc-direct'];
const TEST_PROTOCOL = '/rustdht-test/bytes/1.0.0';
const DIRECT_TRANSPORTS = ['tcp', 'websockets', 'webrtc-direct'] as const satisfies readonly Transport[];

const running: RustDHTNode[] = [];
const dataDirs: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((node) => node.stop()));
});

afterAll(async () => {
  await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function newDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rustdht-libp2p-'));
  dataDirs.push(dir);
  return dir;
}

async function startServer(dataDir?: string, listen: readonly string[] = LOOPBACK_LISTEN): Promise<ServerNode> {
  const node = await createServerNode({ dataDir: dataDir ?? (await newDataDir()), listen });
  running.push(node);
  return node;
}

async function startClient(): Promise<RustDHTNode> {
  const node = await createClientNode();
  running.push(node);
  return node;
}

async function stopNode(node: RustDHTNode): Promise<void> {
  running.splice(running.indexOf(node), 1);
  await node.stop();
}

function addressOf(node: RustDHTNode, transport: Transport): Multiaddr {
  const address = node.getMultiaddrs().find((ma) => transportOf(ma) === transport);
  if (address === undefined) throw new Error(`no ${transport} address among ${node.getMultiaddrs().join(', ')}`);
  return address;
}

/** Polls `condition` until it holds, failing after `timeoutMs`. */
async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The first /certhash value of a node's WebRTC-Direct address. */
function certhashOf(node: RustDHTNode): string {
  const hash = /\/certhash\/([^/]+)/.exec(addressOf(node, 'webrtc-direct').toString())?.[1];
  if (hash === undefined) throw new Error('no certhash in the WebRTC-Direct address');
  return hash;
}

describe('libp2p nodes on loopback', () => {
  it.each(DIRECT_TRANSPORTS)('servers exchange bytes both ways over %s, 2 MiB included', async (transport) => {
    const [a, b] = await Promise.all([startServer(), startServer()]);
    const small = pattern(1000, 1);
    const large = pattern(2 * 1024 * 1024, 2);

    // B answers every channel with `small`, then reads `large`.
    const atB = new Promise<{ channel: StreamChannel; bytes: Uint8Array }>((resolve, reject) => {
      void handleChannels(b, TEST_PROTOCOL, (channel) => {
        receive(channel, large.byteLength).then((bytes) => resolve({ channel, bytes }), reject);
        channel.send(small).catch(reject);
      });
    });
    await until(() => b.getProtocols().includes(TEST_PROTOCOL), 'the handler to register');

    const channel = await openChannel(a, addressOf(b, transport), TEST_PROTOCOL);
    const fromB = receive(channel, small.byteLength);
    await channel.send(large);

    expect(same(await fromB, small)).toBe(true);
    const { channel: channelAtB, bytes } = await atB;
    // Not toEqual: vitest's deep equality takes half a minute over 2 MiB.
    expect(same(bytes, large)).toBe(true);
    expect(channel.bytesOut).toBe(large.byteLength);
    expect(channelAtB.bytesIn).toBe(large.byteLength);
    expect(transportOf(b.getConnections(a.peerId)[0]!)).toBe(transport);

    // Closing one end closes both, gracefully.
    const closedAtB = new Promise<Error | undefined>((resolve) => channelAtB.onClose(resolve));
    const closedAtA = new Promise<Error | undefined>((resolve) => channel.onClose(resolve));
    await channel.close();
    expect(await closedAtB).toBeUndefined();
    expect(await closedAtA).toBeUndefined();
    expect(channel.closed).toBe(true);
    await expect(channel.send(small)).rejects.toMatchObject({ name: 'ClosedError' });
  });

  it.each(DIRECT_TRANSPORTS)('a client dials a server over %s and pings it', async (transport) => {
    const server = await startServer();
    const client = await startClient();

    const connection = await client.dial(addressOf(server, transport));
    expect(transportOf(connection)).toBe(transport);
    expect(connection.remotePeer.equals(server.peerId)).toBe(true);

    const rtt = await client.services.ping.ping(server.peerId);
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect(rtt).toBeLessThan(5_000);
  });

  it('a restarted server keeps its peer id and certificate hash', async () => {
    const dataDir = await newDataDir();
    const first = await startServer(dataDir);
    const peerId = first.peerId.toString();
    const certhash = certhashOf(first);
    // The ports it got, so the second run listens where clients knew it. Except UDP:
    // node-datachannel's IceUdpMuxListener keeps its port bound after stop() until the
    // process exits (a real restart is a new process), so in-process the WebRTC-Direct
    // listener must take a new port. The certhash belongs to the certificate, not the port.
    const listen = [
      ...(['tcp', 'websockets'] as const).map((transport) => addressOf(first, transport).toString().replace(/\/p2p\/.*$/, '')),
      '/ip4/127.0.0.1/udp/0/webrtc-direct',
    ];
    const tcpAddress = addressOf(first, 'tcp').toString();
    await stopNode(first);

    expect((await stat(join(dataDir, PEER_KEY_FILE))).mode & 0o777).toBe(0o600);

    const second = await startServer(dataDir, listen);
    expect(second.peerId.toString()).toBe(peerId);
    expect(certhashOf(second)).toBe(certhash);
    expect(addressOf(second, 'tcp').toString()).toBe(tcpAddress);

    // The WebRTC-Direct handshake verifies the server's certificate against the certhash
    // in the address, so this dial proves the persisted certificate is the one in use.
    const client = await startClient();
    const connection = await client.dial(addressOf(second, 'webrtc-direct'));
    expect(connection.remotePeer.toString()).toBe(peerId);
  });

  it('runs identify, ping and the relay, and no kad-dht or gossipsub: membership and placement travel on the sync protocol (network/dht/)', async () => {
    const node = await startServer();
    expect(Object.keys(node.services).sort()).toEqual(['identify', 'keychain', 'ping', 'relay']);
    const protocols = node.getProtocols();
    expect(protocols.some((p) => p.includes('/kad/') || p.includes('meshsub') || p.includes('floodsub'))).toBe(false);
  });
});
