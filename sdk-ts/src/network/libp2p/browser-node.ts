/**
 * The libp2p node of a RustDHT peer in a browser. It dials servers over WebSockets or
 * WebRTC-Direct, holds a circuit-relay reservation on a server so that other browsers can
 * reach it, and talks to those browsers over direct WebRTC once the relay has carried the
 * handshake. Asks the DHT, never answers for it.
 *
 * Browser only at run time (WebRTC, no listening sockets); it imports nothing Node-only,
 * and the @libp2p packages resolve to their browser builds through their package.json.
 */

import { circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { webRTC, webRTCDirect } from '@libp2p/webrtc';
import { webSockets } from '@libp2p/websockets';
import { createLibp2p } from 'libp2p';
import { parseMultiaddr } from '../multiaddr.js';
import { baseConfig } from './shared.js';
import type { RustDHTNode } from './shared.js';
import type { PrivateKey } from '@libp2p/interface';

/**
 * What a browser listens on. '/p2p-circuit' asks for a reservation on a relay (a server
 * it is connected to) and so gives it a relayed address; '/webrtc' accepts WebRTC
 * connections whose handshake arrives over that relayed address.
 */
export const BROWSER_LISTEN: readonly string[] = ['/p2p-circuit', '/webrtc'];

export interface BrowserNodeOptions {
  /** Default BROWSER_LISTEN. */
  readonly listen?: readonly string[];
  /** The peer identity; default a new Ed25519 key held in memory (a new peer id per page load). */
  readonly privateKey?: PrivateKey;
  /**
   * For browser-to-browser WebRTC: the STUN/TURN servers that let two browsers behind NATs
   * find a path. Default libp2p's (none configured: only peers that can reach each other
   * directly, e.g. on one LAN, connect; relayed connections still work).
   */
  readonly rtcConfiguration?: RTCConfiguration;
}

/** Creates and starts a browser node. */
export async function createBrowserNode(options: BrowserNodeOptions = {}): Promise<RustDHTNode> {
  const listen = (options.listen ?? BROWSER_LISTEN).map((text) => parseMultiaddr(text, 'option network.listen:'));
  const rtc = options.rtcConfiguration === undefined ? {} : { rtcConfiguration: options.rtcConfiguration };
  return createLibp2p({
    ...baseConfig(),
    ...(options.privateKey === undefined ? {} : { privateKey: options.privateKey }),
    addresses: { listen: listen.map(String) },
    transports: [webSockets(), webRTCDirect(rtc), webRTC(rtc), circuitRelayTransport()],
  });
}
