/**
 * Node's libp2p nodes: a server (`role: 'server'`, what `rustdht serve` runs) listens on
 * TCP, WebSockets and WebRTC-Direct with a peer key and certificate kept in `dataDir`;
 * an application peer (`role: 'client'`) dials out and listens only where asked.
 */
import { InvalidValueError, RustDHTError } from '../api/errors.js';
import type { NetworkPlatform } from '../network/platform.js';

/**
 * libp2p 3 and its dependencies need Node 22 (p-retry, nanoid; globals such as
 * `WebSocket` and `Promise.withResolvers`): on older Node they fail deep inside a dial
 * with a TypeError. The package's "engines" field says the same.
 */
function assertSupportedNode(): void {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const supported = (major === 22 && minor >= 13) || (major === 24 && minor >= 3) || major >= 26;
  if (!supported) {
    throw new RustDHTError(
      'runtime/unsupported',
      `RustDHT's network needs Node ^22.13, ^24.3 or >= 26; this is Node ${process.versions.node}. Install a current LTS (24). Without a network, the database works here.`,
    );
  }
}

export const nodeNetworkPlatform: NetworkPlatform = {
  async createNode(options) {
    assertSupportedNode();
    if (options.role === 'server') {
      if (typeof options.dataDir !== 'string' || options.dataDir === '') {
        throw new InvalidValueError('config/invalid', 'a server needs network.dataDir: where its peer key and certificate persist.');
      }
      const { createServerNode } = await import('../network/libp2p/server-node.js');
      return createServerNode({ dataDir: options.dataDir, listen: options.listen, exemptLoopback: options.exemptLoopback });
    }
    const { createClientNode } = await import('../network/libp2p/client-node.js');
    return createClientNode({ listen: options.listen, exemptLoopback: options.exemptLoopback });
  },
};
