/**
 * The browser's libp2p node: dials servers over WebSockets or WebRTC-Direct, reserves a
 * relay slot on them so other browsers can reach it over WebRTC, and serves its own
 * watchers like any peer. A browser is never a server.
 */
import { InvalidValueError } from '../api/errors.js';
import type { NetworkPlatform } from '../network/platform.js';

export const browserNetworkPlatform: NetworkPlatform = {
  async createNode(options) {
    if (options.role === 'server') throw new InvalidValueError('config/invalid', 'a browser peer cannot be a server; use role "client".');
    const { createBrowserNode } = await import('../network/libp2p/browser-node.js');
    return createBrowserNode({ listen: options.listen });
  },
};
