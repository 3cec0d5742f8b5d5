/**
 * Node's libp2p nodes: a server (`role: 'server'`, what `rustdht serve` runs) listens on
 * TCP, WebSockets and WebRTC-Direct with a peer key and certificate kept in `dataDir`;
 * an application peer (`role: 'client'`) dials out and listens only where asked.
 */
import { InvalidValueError } from './errors.js';
import type { NetworkPlatform } from './network/platform.js';

export const nodeNetworkPlatform: NetworkPlatform = {
  async createNode(options) {
    if (options.role === 'server') {
      if (typeof options.dataDir !== 'string' || options.dataDir === '') {
        throw new InvalidValueError('config/invalid', 'a server needs network.dataDir: where its peer key and certificate persist.');
      }
      const { createServerNode } = await import('./network/libp2p/server-node.js');
      return createServerNode({ dataDir: options.dataDir, listen: options.listen });
    }
    const { createClientNode } = await import('./network/libp2p/client-node.js');
    return createClientNode({ listen: options.listen });
  },
};
