/**
 * The transport of a connection or address (network/libp2p/transport-of.ts, what
 * PeerStatus.transport reports): the outermost component that names a transport, past
 * the ones that only qualify it (p2p, certhash, tls, sni, noise, http-path); anything
 * else outermost is 'other'; a relayed or limited connection is 'circuit-relay' whatever
 * its address.
 *
 * Why: the libp2p node tests see tcp, websockets and webrtc-direct on loopback only
 * (mutation testing: scripts/mutation/README.md).
 */
import type { Connection } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/api/errors.js';
import { transportOf } from '../../src/network/libp2p/transport-of.js';

const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA';
const RELAY = '12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8';
const CERT = 'uEiBMrDdXv5n7V9fdnI6ZnvN8pzQ-aT6RnJr5qs7R9wI5Hg';

describe('an address', () => {
  const cases: [string, string][] = [
    ['/ip4/127.0.0.1/tcp/7402', 'tcp'],
    [`/ip4/127.0.0.1/tcp/7402/p2p/${PEER}`, 'tcp'],
    ['/ip4/127.0.0.1/tcp/7402/noise', 'tcp'],
    ['/ip4/127.0.0.1/tcp/7402/ws', 'websockets'],
    ['/dns4/example.com/tcp/443/wss', 'websockets'],
    ['/dns4/example.com/tcp/443/tls/sni/example.com/ws', 'websockets'],
    ['/ip4/127.0.0.1/tcp/80/ws/http-path/%2Fsync', 'websockets'],
    [`/ip4/127.0.0.1/udp/7403/webrtc-direct/certhash/${CERT}/p2p/${PEER}`, 'webrtc-direct'],
    [`/ip4/127.0.0.1/tcp/7402/p2p/${RELAY}/p2p-circuit/p2p/${PEER}`, 'circuit-relay'],
    [`/ip4/127.0.0.1/tcp/7402/p2p/${RELAY}/p2p-circuit/webrtc/p2p/${PEER}`, 'webrtc'],
    ['/dns4/example.com/tcp/443/tls/sni/example.com', 'tcp'],
    [`/ip4/127.0.0.1/tcp/7402/ws/noise/p2p/${PEER}`, 'websockets'],
    ['/ip4/127.0.0.1/udp/7403/quic-v1', 'other'],
    // An unknown component outermost is 'other', whatever transport it rides on.
    ['/ip4/127.0.0.1/tcp/7402/http', 'other'],
    [`/ip4/127.0.0.1/tcp/7402/ws/http/p2p/${PEER}`, 'other'],
    ['/ip4/127.0.0.1', 'other'],
    [`/p2p/${PEER}`, 'other'],
  ];
  for (const [address, transport] of cases) {
    it(`${address}: ${transport}`, () => {
      expect(transportOf(address)).toBe(transport);
      expect(transportOf(multiaddr(address))).toBe(transport);
    });
  }

  it('a string that is not a multiaddr: InvalidValueError config/multiaddr', () => {
    expect(() => transportOf('not an address')).toThrow(InvalidValueError);
  });
});

describe('a connection', () => {
  const connection = (fields: Partial<Connection>): Connection => ({ remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/7402/ws'), direct: true, limits: undefined, ...fields }) as unknown as Connection;

  it('direct and unlimited: the transport of its remote address', () => {
    expect(transportOf(connection({}))).toBe('websockets');
  });

  it('relayed, or limited: circuit-relay, whatever its address says', () => {
    expect(transportOf(connection({ direct: false }))).toBe('circuit-relay');
    expect(transportOf(connection({ limits: { bytes: 1n } } as Partial<Connection>))).toBe('circuit-relay');
  });
});
