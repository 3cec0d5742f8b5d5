/**
 * How a platform entry (node.ts, browser.ts) builds the libp2p node for a database's
 * network. The libp2p modules are imported only when a database asks for a network,
 * so an offline-only application never loads them.
 */
import type { RustDHTNode } from './libp2p/shared.js';
import type { NetworkOptions } from './types.js';

export interface NetworkPlatform {
  createNode(options: NetworkOptions): Promise<RustDHTNode>;
}
