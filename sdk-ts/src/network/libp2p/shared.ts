/**
 * What every RustDHT libp2p node has in common, whatever it runs on (server, Node app,
 * browser): encryption, multiplexing, the connection policy and the two services the
 * network uses: identify (protocols and addresses of a peer) and ping (round-trip times
 * in PeerStatus.rttMs). Everything RustDHT itself exchanges travels on its own sync
 * protocol (network/sync-session.ts), the DHT's membership gossip included
 * (network/dht/). Each node kind adds its
 * transports, identity and extra services (servers: the circuit relay).
 *
 * This module is imported by the browser node, so it must stay free of Node-only imports.
 */

import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import { ping } from '@libp2p/ping';
import type { Identify } from '@libp2p/identify';
import type { ConnectionGater, Libp2p, PrivateKey } from '@libp2p/interface';
import type { Ping } from '@libp2p/ping';
import type { Libp2pOptions, ServiceFactoryMap } from 'libp2p';
import { sendWindowUpdatesAtHalf } from './yamux-window-updates.js';

/** The services every node runs; `node.services.<name>` on a started node. */
export type NodeServices = {
  identify: Identify;
  /** Round-trip times for peer health (PeerStatus.rttMs). */
  ping: Ping;
};

export type RustDHTNode = Libp2p<NodeServices>;

/**
 * The private key each node was created with, for what must be signed with the peer's
 * own identity (a server's member record, network/dht/). libp2p keeps the key to itself,
 * so the factories that create a node with a key they made register it here.
 */
const peerKeys = new WeakMap<object, PrivateKey>();

export function registerPeerKey(node: object, key: PrivateKey): void {
  peerKeys.set(node, key);
}

export function peerKeyOf(node: object): PrivateKey | undefined {
  return peerKeys.get(node);
}

/**
 * Most a yamux stream lets its remote send ahead of what is read: the window it grants,
 * and what a paused stream holds (both sides the same, so a full window never resets it).
 * 4 MiB is a whole message at the largest wire limit and tens of MiB/s per stream even
 * at a 100 ms round trip.
 */
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;

/**
 * Loopback, which `exemptLoopback` lets bypass the connection manager's inbound limits
 * (5 new connections per second per host, 10 pending, 300 in all). Off by default:
 * behind a reverse proxy on the same host every client arrives from loopback, and the
 * exemption would lift the limits for all of them. For tests and local tools that open
 * many connections from this machine, an operator's explicit choice
 * (`rustdht serve --exempt-loopback`, NetworkOptions.exemptLoopback).
 */
export const LOOPBACK_ALLOW: readonly string[] = ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'];

export interface BaseConfigOptions {
  /** Exempt loopback connections from the connection limits (default false). */
  readonly exemptLoopback?: boolean;
}

/**
 * Permits dialling any address. libp2p's browser default refuses private addresses and
 * plain ws://, which would make a RustDHT server on a LAN (or on loopback in tests)
 * unreachable from a browser; Node's default already permits them, this states it.
 */
export function permissiveConnectionGater(): ConnectionGater {
  return { denyDialMultiaddr: () => false };
}

/** The part of the libp2p configuration that every node kind shares. */
export function baseConfig(options: BaseConfigOptions = {}): Pick<
  Libp2pOptions<NodeServices>,
  'connectionEncrypters' | 'streamMuxers' | 'connectionGater' | 'connectionManager' | 'connectionMonitor' | 'services'
> & { services: ServiceFactoryMap<NodeServices> } {
  sendWindowUpdatesAtHalf();
  return {
    connectionEncrypters: [noise()],
    // A paused stream (flow control: transport/channel.ts) holds what the remote may still
    // send, up to its receive window; yamux grows that window up to 16 MiB, past the
    // stream's 4 MiB read buffer, which would reset the stream instead of holding it back.
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: STREAM_WINDOW_BYTES, maxReadBufferLength: STREAM_WINDOW_BYTES } })],
    connectionGater: permissiveConnectionGater(),
    connectionManager: options.exemptLoopback === true ? { allow: [...LOOPBACK_ALLOW] } : {},
    // libp2p's monitor aborts a connection on the first ping that misses its adaptive
    // timeout: under load (a starved event loop on either side) that dropped connections
    // carrying live sync sessions, and its pings competed with ours for the ping
    // protocol's stream limit. Liveness is network/peers/pinger.ts's job instead.
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      // Room for our pinger and a remote's monitor at once (libp2p's defaults: 2 in, 1 out).
      ping: ping({ maxInboundStreams: 4, maxOutboundStreams: 2 }),
    },
  };
}
