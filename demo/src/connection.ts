/**
 * The connection panel. The page asks its own server (`GET /health`, same origin: the
 * page is served by `rustdht serve --demo`) for its addresses and pre-fills the one of
 * the chosen transport; the user may paste another server's address instead. Connect
 * dials it (and keeps it dialled: redialled with backoff after a drop), Disconnect hangs
 * up. A browser's own dialable address is `<server address>/p2p-circuit/webrtc/p2p/<its
 * peer id>` once it holds a relay reservation on the server: pasted into another page's
 * "direct" field, the two connect over direct WebRTC (the server only relays the handshake).
 */
import type { Identity, Network, RustDHT } from 'rustdht';
import { byId, describeError, el, say } from './dom.js';
import type { OfflineSwitch } from './offline.js';

export type TransportChoice = 'websockets' | 'webrtc-direct';

interface Health {
  readonly peerId: string;
  readonly addresses: readonly string[];
}

/** Fetches this page's server's /health; undefined when there is none (e.g. `vite dev`). */
async function fetchHealth(): Promise<Health | undefined> {
  try {
    const response = await fetch('/health', { cache: 'no-store' });
    if (!response.ok || !(response.headers.get('content-type') ?? '').includes('json')) return undefined;
    const body = (await response.json()) as Partial<Health>;
    return Array.isArray(body.addresses) && typeof body.peerId === 'string' ? (body as Health) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `address` uses `transport` (as the outermost transport). */
function usesTransport(address: string, transport: TransportChoice): boolean {
  return transport === 'websockets' ? /\/tcp\/\d+\/wss?(\/|$)/.test(address) && !address.includes('/p2p-circuit') : address.includes('/webrtc-direct');
}

/** The host part of an /ip4, /ip6, /dns* address. */
function hostOf(address: string): string | undefined {
  return /^\/(?:ip4|ip6|dns|dns4|dns6)\/([^/]+)/.exec(address)?.[1];
}

/**
 * The server address to dial for `transport`: the one whose host is the page's own host
 * (the server reachable the way the page was), else a loopback one, else the first.
 */
export function pickAddress(addresses: readonly string[], transport: TransportChoice): string | undefined {
  const candidates = addresses.filter((a) => usesTransport(a, transport));
  const pageHost = location.hostname.replace(/^\[|\]$/g, '');
  return (
    candidates.find((a) => hostOf(a) === pageHost) ??
    candidates.find((a) => hostOf(a) === '127.0.0.1' || hostOf(a) === '::1') ??
    candidates[0]
  );
}

export interface ConnectionDeps {
  readonly db: RustDHT;
  readonly network: Network;
  readonly identity: Identity;
  readonly offline: OfflineSwitch;
}

export function setupConnection({ network, identity, offline }: ConnectionDeps): void {
  const transportSelect = byId<HTMLSelectElement>('transport-select');
  const addressInput = byId<HTMLInputElement>('server-address');
  const connectForm = byId<HTMLFormElement>('connect-form');
  const disconnectButton = byId<HTMLButtonElement>('disconnect-button');
  const errorLine = byId('connection-error');
  const addressList = byId('my-addresses');
  const directForm = byId<HTMLFormElement>('direct-form');
  const directInput = byId<HTMLInputElement>('direct-peer-address');

  byId('peer-id').textContent = network.peerId;
  byId('identity-public-key').textContent = identity.publicKey;

  // --- the server's address, from /health -------------------------------------------
  let userTyped = false;
  addressInput.addEventListener('input', () => (userTyped = addressInput.value.trim() !== ''));
  const health = fetchHealth();
  const fill = async (): Promise<string | undefined> => {
    const found = await health;
    const picked = found === undefined ? undefined : pickAddress(found.addresses, transportSelect.value as TransportChoice);
    if (!userTyped && picked !== undefined) addressInput.value = picked;
    return picked;
  };
  void fill().then((picked) => {
    if (picked === undefined && addressInput.value === '') {
      addressInput.placeholder = 'No local server found: paste a server multiaddr';
    }
  });
  transportSelect.addEventListener('change', () => {
    userTyped = false;
    void fill();
  });

  // --- connect / disconnect -----------------------------------------------------------
  /** What this page asked to dial: the server, and browsers dialled directly. */
  let server: string | undefined;
  const direct = new Set<string>();
  let lastError: { address: string; text: string } | undefined;

  const dial = (address: string): void => {
    say(errorLine, undefined);
    offline.online();
    network.dial(address);
  };

  connectForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      let address = addressInput.value.trim();
      if (address === '') address = (await fill()) ?? '';
      if (address === '') {
        say(errorLine, 'No server address: paste one (a multiaddr ending in /p2p/<peer id>).');
        return;
      }
      try {
        if (server !== undefined && server !== address) await network.hangUp(server);
        dial(address);
        server = address;
      } catch (error) {
        say(errorLine, `Cannot dial that address: ${describeError(error)}`);
      }
    })();
  });

  disconnectButton.addEventListener('click', () => {
    void (async () => {
      const addresses = [...(server === undefined ? [] : [server]), ...direct];
      server = undefined;
      direct.clear();
      say(errorLine, undefined);
      await Promise.all(addresses.map((a) => network.hangUp(a).catch((error: unknown) => console.warn(describeError(error)))));
    })();
  });

  directForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const address = directInput.value.trim();
    if (address === '') {
      say(errorLine, "Paste another browser's address (from its \"Addresses other peers can dial\").");
      return;
    }
    try {
      dial(address);
      direct.add(address);
    } catch (error) {
      say(errorLine, `Cannot dial that address: ${describeError(error)}`);
    }
  });

  // Dial failures of what this page asked for, in plain words (they are retried).
  network.on((event) => {
    if (event.type === 'reject' && event.code === 'network/dial-failed') {
      const address = [server, ...direct].find((a) => a !== undefined && event.message.includes(a));
      if (address !== undefined) {
        lastError = { address, text: `Not connected yet, retrying: ${event.message}` };
        say(errorLine, lastError.text);
      }
    } else if (event.type === 'peer:connect' && lastError !== undefined && lastError.address.includes(event.peer.peerId)) {
      lastError = undefined;
      say(errorLine, undefined);
    }
  });

  // --- this page's own addresses --------------------------------------------------------
  let shown = '';
  const renderAddresses = (): void => {
    const addresses = network.node.getMultiaddrs().map(String);
    // The WebRTC ones first: they are what another browser should dial.
    addresses.sort((a, b) => Number(b.includes('/webrtc/')) - Number(a.includes('/webrtc/')));
    const key = addresses.join('\n');
    if (key === shown) return;
    shown = key;
    addressList.replaceChildren(
      ...addresses.map((a) => el('li', { 'data-testid': 'my-address', 'data-transport': a.includes('/webrtc/') ? 'webrtc' : 'circuit-relay' }, a)),
    );
    addressList.dataset['count'] = String(addresses.length);
  };
  network.node.addEventListener('self:peer:update', renderAddresses);
  network.on(renderAddresses);
  setInterval(renderAddresses, 1000);
  renderAddresses();
}
