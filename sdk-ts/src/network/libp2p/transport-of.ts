/**
 * Names the transport a connection (or an address) uses, for PeerStatus.transport.
 */

import { parseMultiaddr } from '../multiaddr.js';
import type { Transport } from '../types.js';
import type { Connection } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';

/** Multiaddr protocol names that identify a transport. */
const TRANSPORT_OF_PROTOCOL: Readonly<Record<string, Transport>> = {
  tcp: 'tcp',
  ws: 'websockets',
  wss: 'websockets',
  'webrtc-direct': 'webrtc-direct',
  webrtc: 'webrtc',
  'p2p-circuit': 'circuit-relay',
};

/** Components that qualify a transport without naming one (peer id, TLS, certificate hash…). */
const QUALIFIERS = new Set(['p2p', 'certhash', 'tls', 'sni', 'noise', 'http-path']);

/**
 * The transport of a connection or address. The outermost transport wins, so
 * `/…/tcp/7402/ws` is 'websockets', `/…/p2p/<relay>/p2p-circuit/p2p/<peer>` is
 * 'circuit-relay', and `/…/p2p-circuit/webrtc/p2p/<peer>` is 'webrtc': the relay only
 * carried the WebRTC handshake, the connection itself is direct between the two peers.
 *
 * A connection that libp2p marks as relayed or limited is 'circuit-relay' whatever its
 * address says. Throws InvalidValueError for a string that is not a multiaddr.
 */
export function transportOf(target: Connection | Multiaddr | string): Transport {
  if (typeof target === 'string') return transportOfAddress(parseMultiaddr(target));
  if (isConnection(target)) {
    if (!target.direct || target.limits !== undefined) return 'circuit-relay';
    return transportOfAddress(target.remoteAddr);
  }
  return transportOfAddress(target);
}

function transportOfAddress(address: Multiaddr): Transport {
  const components = address.getComponents();
  for (let i = components.length - 1; i >= 0; i--) {
    const name = components[i]!.name;
    const transport = TRANSPORT_OF_PROTOCOL[name];
    if (transport !== undefined) return transport;
    if (!QUALIFIERS.has(name)) return 'other';
  }
  return 'other';
}

function isConnection(target: Connection | Multiaddr): target is Connection {
  return 'remoteAddr' in target;
}
