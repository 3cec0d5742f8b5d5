/**
 * The sync conformance suite (sync-conformance.ts) over each transport the protocol
 * runs on: libp2p streams between real libp2p nodes on loopback TCP (noise, yamux,
 * multistream-select: what servers and Node apps use), and the in-memory channel pair
 * (transport/memory-channel.ts), attached to the same kind of databases.
 */
import { createClientNode } from '../../src/network/libp2p/client-node.js';
import type { RustDHTNode } from '../../src/network/libp2p/shared.js';
import { openChannel } from '../../src/network/libp2p/stream-channel.js';
import type { Network } from '../../src/network/peer-network.js';
import { createChannelPair } from '../../src/network/transport/memory-channel.js';
import { SYNC_PROTOCOL } from '../../src/network/wire/messages.js';
import type { Channel } from '../../src/network/transport/channel.js';
import { syncConformance, type SyncTransport } from './sync-conformance.js';

function tcpAddress(network: Network): string {
  const address = network.status().addresses.find((a) => a.includes('/tcp/') && !a.includes('/ws'));
  if (address === undefined) throw new Error(`${network.peerId} listens on no TCP address`);
  return address;
}

const rawNodes: RustDHTNode[] = [];

const libp2pOverTcp: SyncTransport = {
  name: 'libp2p streams (loopback TCP)',
  listen: ['/ip4/127.0.0.1/tcp/0'],
  async connect(peer, protocol = SYNC_PROTOCOL) {
    // A node of its own per channel, as a separate peer would be; it offers only `protocol`.
    const node = await createClientNode();
    rawNodes.push(node);
    return openChannel(node, tcpAddress(peer), protocol, { signal: AbortSignal.timeout(10_000) });
  },
  async join(client, server) {
    client.dial(tcpAddress(server));
    await client.whenConnected({ signal: AbortSignal.timeout(10_000) });
  },
  async cleanup() {
    await Promise.allSettled(rawNodes.splice(0).map((node) => node.stop()));
  },
};

let attached = 0;

const memoryPair: SyncTransport = {
  name: 'the in-memory channel pair',
  listen: [],
  async connect(peer, protocol) {
    const [ours, theirs] = createChannelPair();
    // A channel as if negotiated for `protocol` (absent: the newest, as for any in-process pair).
    const negotiated: Channel = protocol === undefined ? theirs : Object.defineProperty(theirs, 'protocol', { value: protocol });
    peer.attach(negotiated, { peerId: `raw-peer-${++attached}`, transport: 'other', address: '/memory/raw' });
    return ours;
  },
  async join(client, server) {
    const [atClient, atServer] = createChannelPair();
    // The client's side is its dial of the server (as network.peers would make it): a
    // peer that dialled in and only says 'server' gets no outbox.
    client.attach(atClient, { peerId: server.peerId, transport: 'other', address: '/memory/server', dialled: true });
    server.attach(atServer, { peerId: client.peerId, transport: 'other', address: '/memory/client' });
    await client.whenConnected({ signal: AbortSignal.timeout(10_000) });
  },
  async cleanup() {},
};

syncConformance(libp2pOverTcp);
syncConformance(memoryPair);
