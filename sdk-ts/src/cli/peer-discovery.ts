/**
 * `--peer http://host:7400`: the URL `rustdht serve` shows most prominently is its HTTP
 * side, not a libp2p address. A client command reads the server's `/health`, whose
 * `addresses` are the multiaddrs it listens on, and dials the one a Node client dials
 * best (TCP, then WebSockets, then WebRTC Direct).
 */
import { multiaddr } from '@multiformats/multiaddr';
import { describeDialFailure } from '../network/dial-failure.js';
import { CliError, EXIT } from './cli-error.js';

function isHttpUrl(peer: string): boolean {
  return /^https?:\/\//i.test(peer);
}

/** Lower is better for a Node client: plain TCP needs no HTTP upgrade nor ICE. */
function preference(address: string): number {
  const protocols = multiaddr(address).getComponents().map((c) => c.name);
  if (protocols.includes('webrtc-direct')) return 2;
  if (protocols.includes('ws') || protocols.includes('wss')) return 1;
  if (protocols.includes('tcp')) return 0;
  return 3;
}

/** The address to dial for the server at `url`, from its /health. */
async function addressFromHealth(url: string, signal: AbortSignal): Promise<string> {
  const healthUrl = `${url}/health`;
  let response: Response;
  try {
    response = await fetch(healthUrl, { signal, headers: { accept: 'application/json' } });
  } catch (error) {
    if (signal.aborted) throw error;
    const failure = describeDialFailure(healthUrl, error);
    throw new CliError(failure.code, failure.message, EXIT.unreachable, { cause: error });
  }
  const notAServer = (why: string): CliError =>
    new CliError('cli/not-a-server', `${healthUrl} ${why}: is ${url} the HTTP port of rustdht serve (its /health)?`, EXIT.unreachable);
  if (!response.ok) throw notAServer(`answered HTTP ${response.status}`);
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw notAServer('did not answer JSON');
  }
  const addresses = (body as { addresses?: unknown } | null)?.addresses;
  if (!Array.isArray(addresses) || addresses.some((a) => typeof a !== 'string')) throw notAServer('has no list of addresses');
  const usable = (addresses as string[]).filter((address) => {
    try {
      return preference(address) < 3;
    } catch {
      return false;
    }
  });
  if (usable.length === 0) throw notAServer('lists no address a Node client can dial');
  return usable.sort((a, b) => preference(a) - preference(b))[0]!;
}

/** `peers` with each HTTP(S) URL replaced by the multiaddr its /health says to dial. */
export async function resolvePeers(peers: readonly string[], signal: AbortSignal): Promise<string[]> {
  return Promise.all(peers.map((peer) => (isHttpUrl(peer) ? addressFromHealth(peer, signal) : peer)));
}
