/**
 * The one rule for addresses a user configures (network.peers, listen addresses, the
 * CLI's --peer, --listen and --bootstrap): parsed here, refused with one error code,
 * `config/multiaddr`, whose message says where the address came from, what is wrong
 * with it and what one looks like.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { InvalidValueError } from '../api/errors.js';

const EXAMPLE = '/ip4/127.0.0.1/tcp/7401/p2p/<peerId>';

/**
 * Parses `text` as a multiaddr. Throws InvalidValueError `config/multiaddr`:
 * "<source> '<text>' is not a multiaddr (<why>); expected e.g. /ip4/…".
 */
export function parseMultiaddr(text: string, source?: string): Multiaddr {
  try {
    return multiaddr(text);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    const where = source === undefined ? '' : `${source} `;
    throw new InvalidValueError('config/multiaddr', `${where}'${text}' is not a multiaddr (${why}); expected e.g. ${EXAMPLE}`, { cause: error });
  }
}

/** The peer id an address names (its last /p2p/ component), if any. */
export function peerIdOf(address: Multiaddr): string | undefined {
  return address.getComponents().filter((component) => component.name === 'p2p').at(-1)?.value;
}
