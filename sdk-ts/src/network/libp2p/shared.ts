/**
 * What every RustDHT libp2p node has in common, whatever it runs on (server, Node app,
 * browser): encryption, multiplexing, the connection policy and the four services the
 * sync layer relies on. Each node kind adds its transports, identity and extra services.
 *
 * This module is imported by the browser node, so it must stay free of Node-only imports.
 */

import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { gossipsub, StrictNoSign } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht';
import { ping } from '@libp2p/ping';
import type { GossipSub } from '@libp2p/gossipsub';
import type { Identify } from '@libp2p/identify';
import type { ConnectionGater, Libp2p } from '@libp2p/interface';
import type { KadDHT } from '@libp2p/kad-dht';
import type { Ping } from '@libp2p/ping';
import type { Libp2pOptions, ServiceFactoryMap } from 'libp2p';

/**
 * Prefix of every protocol RustDHT defines. Nodes with different prefixes do not see each
 * other's DHT, which keeps separate deployments (and tests) apart.
 */
export const DEFAULT_PROTOCOL_PREFIX = '/rustdht';

/**
 * The Kademlia protocol id. Not the default '/ipfs/kad/1.0.0': a RustDHT node must never
 * join (or be crawled as part of) the public IPFS DHT.
 */
export function dhtProtocol(protocolPrefix: string = DEFAULT_PROTOCOL_PREFIX): string {
  return `${protocolPrefix}/kad/1.0.0`;
}

/** The services every node runs; `node.services.<name>` on a started node. */
export type NodeServices = {
  identify: Identify;
  /** Round-trip times for peer health (PeerStatus.rttMs); kad-dht also needs it by this name. */
  ping: Ping;
  dht: KadDHT;
  pubsub: GossipSub;
};

export type RustDHTNode = Libp2p<NodeServices>;

/**
 * Hosts that bypass the connection manager's inbound limits (connections per second per
 * host, pending connections, maxConnections). Everything on loopback is this machine:
 * local tools, tests, a reverse proxy in front of the WebSocket port.
 */
export const LOOPBACK_ALLOW: readonly string[] = ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'];

/**
 * Permits dialling any address. libp2p's browser default refuses private addresses and
 * plain ws://, which would make a RustDHT server on a LAN (or on loopback in tests)
 * unreachable from a browser; Node's default already permits them, this states it.
 */
export function permissiveConnectionGater(): ConnectionGater {
  return { denyDialMultiaddr: () => false };
}

export interface BaseConfigOptions {
  /** Servers answer DHT queries; browsers and apps only ask (they are rarely dialable). */
  readonly dhtServer: boolean;
  readonly protocolPrefix?: string;
}

/** The part of the libp2p configuration that every node kind shares. */
export function baseConfig(options: BaseConfigOptions): Pick<
  Libp2pOptions<NodeServices>,
  'connectionEncrypters' | 'streamMuxers' | 'connectionGater' | 'connectionManager' | 'services'
> & { services: ServiceFactoryMap<NodeServices> } {
  return {
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: permissiveConnectionGater(),
    connectionManager: { allow: [...LOOPBACK_ALLOW] },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: dhtProtocol(options.protocolPrefix),
        // Explicit true/false: left undefined, kad-dht would only turn server once it saw
        // a public address, so servers on a LAN or loopback would never answer queries.
        clientMode: !options.dhtServer,
        // The default mapper drops private addresses from peer records; RustDHT servers
        // may well live on a LAN (and do, on loopback, in tests), so keep every address.
        peerInfoMapper: passthroughMapper,
      }),
      pubsub: gossipsub({
        // A write made while no peer is subscribed yet must not fail: the outbox and the
        // sync protocol deliver it later; gossip is only the live fast path.
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        // Unsigned gossip, on purpose. The payloads are RustDHT updates, which carry their
        // own engine signatures where the data model requires them (~ space) and need none
        // elsewhere, so a libp2p peer signature adds no authority; the peer that forwarded
        // a message is still known (propagationSource) for scoring and rejects. Unsigned
        // messages get content-derived ids, so the same update published by several
        // servers is delivered once instead of once per publisher, and nobody pays an
        // Ed25519 sign/verify per message.
        globalSignaturePolicy: StrictNoSign,
      }),
    },
  };
}
