/**
 * The libp2p node of a Node.js application that uses RustDHT as a client: it dials
 * servers over TCP, WebSockets or WebRTC-Direct, asks the DHT but does not answer for it,
 * and listens only if told to. Node only (TCP).
 */

import { tcp } from '@libp2p/tcp';
import { webRTCDirect } from '@libp2p/webrtc';
import { webSockets } from '@libp2p/websockets';
import { createLibp2p } from 'libp2p';
import { parseMultiaddr } from '../multiaddr.js';
import { baseConfig } from './shared.js';
import type { RustDHTNode } from './shared.js';
import type { PrivateKey } from '@libp2p/interface';

export interface ClientNodeOptions {
  /** Addresses to listen on; default none (a client only dials). */
  readonly listen?: readonly string[];
  /** The peer identity; default a new Ed25519 key held in memory (a new peer id per start). */
  readonly privateKey?: PrivateKey;
  /** Exempt loopback connections from the connection limits (default false; see shared.ts LOOPBACK_ALLOW). */
  readonly exemptLoopback?: boolean;
}

/** Creates and starts a client node. */
export async function createClientNode(options: ClientNodeOptions = {}): Promise<RustDHTNode> {
  const listen = (options.listen ?? []).map((text) => parseMultiaddr(text, 'option network.listen:'));
  return createLibp2p({
    ...baseConfig({ exemptLoopback: options.exemptLoopback }),
    ...(options.privateKey === undefined ? {} : { privateKey: options.privateKey }),
    addresses: { listen: listen.map(String) },
    transports: [tcp(), webSockets(), webRTCDirect({ rtcConfiguration: { iceServers: [] } })],
  });
}
