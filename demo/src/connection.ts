/**
 * Connecting. The page connects by itself, on load, to the server that serves it: it
 * asks that server (`GET /health`, same origin: the page is served by `rustdht serve
 * --demo`) for its addresses and dials the one of the chosen transport (WebSockets by
 * default). The header shows the connection in words (connected, connecting,
 * disconnected, working offline) with one Connect/Disconnect button; the choice is
 * remembered in localStorage, so a page disconnected on purpose stays disconnected after
 * a reload, and a pasted server address (another server) is dialled again next time.
 *
 * The plumbing is folded away ("Connection details"): transport, server address, this
 * server's and this tab's addresses with copy buttons, and the direct browser-to-browser
 * dial. A browser's own dialable address is `<server address>/p2p-circuit/webrtc/p2p/<its
 * peer id>` once it holds a relay reservation on the server: pasted into another page's
 * "direct" field, the two connect over direct WebRTC (the server only relays the handshake).
 */
import type { Identity, Network } from 'rustdht';
import { byId, copyButton, describeError, el, say } from './dom.js';
import type { OfflineSwitch } from './offline.js';

export type TransportChoice = 'websockets' | 'webrtc-direct';

interface Health {
  readonly peerId: string;
  readonly addresses: readonly string[];
}

/** What the user chose, kept across reloads. */
export interface ConnectionChoice {
  /** False once the user pressed Disconnect (until Connect). */
  readonly connect: boolean;
  readonly transport: TransportChoice;
  /** A pasted address that is not one of this server's (another server). */
  readonly address?: string;
}

export const CHOICE_KEY = 'rustdht-demo:connection';
const DEFAULT_CHOICE: ConnectionChoice = { connect: true, transport: 'websockets' };

function loadChoice(): ConnectionChoice {
  try {
    const saved = JSON.parse(localStorage.getItem(CHOICE_KEY) ?? 'null') as Partial<ConnectionChoice> | null;
    if (saved === null || typeof saved !== 'object') return DEFAULT_CHOICE;
    return {
      connect: saved.connect !== false,
      transport: saved.transport === 'webrtc-direct' ? 'webrtc-direct' : 'websockets',
      ...(typeof saved.address === 'string' && saved.address.startsWith('/') ? { address: saved.address } : {}),
    };
  } catch {
    return DEFAULT_CHOICE; // unreadable or storage disabled: the default
  }
}

function saveChoice(choice: ConnectionChoice): void {
  try {
    localStorage.setItem(CHOICE_KEY, JSON.stringify(choice));
  } catch (error) {
    console.warn(`cannot remember the connection choice: ${describeError(error)}`);
  }
}

/**
 * Fetches this page's server's /health; undefined when there is none (e.g. `vite dev`).
 * A degraded server answers 503 (for load balancers) with the same body: its disk may be
 * nearly full or its event loop slow for a moment, but it serves reads and sessions, and
 * its addresses are still where to connect.
 */
async function fetchHealth(): Promise<Health | undefined> {
  try {
    const response = await fetch('/health', { cache: 'no-store' });
    if ((!response.ok && response.status !== 503) || !(response.headers.get('content-type') ?? '').includes('json')) return undefined;
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

/** A row of an address list: the address and its copy button. */
function addressItem(address: string, attributes: Record<string, string>): HTMLLIElement {
  return el('li', { ...attributes, 'data-address': address }, el('code', {}, address), copyButton(address, 'this address'));
}

export interface ConnectionDeps {
  readonly network: Network;
  readonly identity: Identity;
  readonly offline: OfflineSwitch;
}

export function setupConnection({ network, identity, offline }: ConnectionDeps): void {
  const transportSelect = byId<HTMLSelectElement>('transport-select');
  const addressInput = byId<HTMLInputElement>('server-address');
  const connectForm = byId<HTMLFormElement>('connect-form');
  const toggle = byId<HTMLButtonElement>('connection-toggle');
  const stateLine = byId('connection-state');
  const errorLine = byId('connection-error');
  const serverList = byId('server-addresses');
  const addressList = byId('my-addresses');
  const directForm = byId<HTMLFormElement>('direct-form');
  const directInput = byId<HTMLInputElement>('direct-peer-address');

  byId('peer-id').textContent = network.peerId;
  byId('peer-id-copy').replaceChildren(copyButton(network.peerId, "this tab's peer id"));
  byId('identity-public-key').textContent = identity.publicKey;
  byId('identity-copy').replaceChildren(copyButton(identity.publicKey, 'your public key'));

  let choice = loadChoice();
  transportSelect.value = choice.transport;

  // --- the server's address, from /health -------------------------------------------
  let userTyped = choice.address !== undefined;
  if (choice.address !== undefined) addressInput.value = choice.address;
  addressInput.addEventListener('input', () => (userTyped = addressInput.value.trim() !== ''));
  const health = fetchHealth();
  void health.then((found) => {
    serverList.replaceChildren(...(found?.addresses ?? []).map((a) => addressItem(a, { 'data-testid': 'server-address-item' })));
    serverList.dataset['count'] = String(found?.addresses.length ?? 0);
  });
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
  /** Connecting on load: /health not answered yet. */
  let starting = choice.connect;
  let lastError: { address: string; text: string } | undefined;
  /** Bumped by every Connect and Disconnect: a connect still waiting for /health gives way to a later choice. */
  let intent = 0;

  const render = (): void => {
    const status = network.status();
    const wanted = server !== undefined || direct.size !== 0;
    const peers = status.peers.length;
    let state: 'connected' | 'connecting' | 'disconnected' | 'offline';
    let text: string;
    if (!network.online && (wanted || starting)) {
      state = 'offline';
      text = 'Working offline';
    } else if (!wanted && !starting) {
      state = 'disconnected';
      text = 'Disconnected';
    } else if (peers > 0) {
      state = 'connected';
      const serverPeer = status.peers.find((p) => p.role === 'server');
      text = serverPeer !== undefined ? (status.state === 'syncing' ? 'Connected · syncing' : 'Connected') : `Connected to ${peers} browser${peers === 1 ? '' : 's'}`;
    } else {
      state = 'connecting';
      text = 'Connecting…';
    }
    if (stateLine.dataset['state'] !== state || stateLine.textContent !== text) {
      stateLine.dataset['state'] = state;
      stateLine.textContent = text;
    }
    const label = wanted || starting ? 'Disconnect' : 'Connect';
    if (toggle.textContent !== label) toggle.textContent = label;
    toggle.dataset['action'] = label.toLowerCase();
    toggle.classList.toggle('primary', label === 'Connect');
  };

  const dial = (address: string): void => {
    say(errorLine, undefined);
    offline.online();
    network.dial(address);
  };

  /** Connects to the address in the form (or this server's, from /health) and remembers it. */
  const connect = async (): Promise<void> => {
    const attempt = ++intent;
    let address = addressInput.value.trim();
    if (address === '') address = (await fill()) ?? '';
    if (attempt !== intent) return; // Disconnect (or another Connect) meanwhile
    starting = false;
    if (address === '') {
      say(errorLine, 'No server address: paste one in Connection details (a multiaddr ending in /p2p/<peer id>).');
      render();
      return;
    }
    const transport = transportSelect.value as TransportChoice;
    try {
      if (server !== undefined && server !== address) await network.hangUp(server);
      if (attempt !== intent) return;
      dial(address);
      server = address;
    } catch (error) {
      say(errorLine, `Cannot dial that address: ${describeError(error)}`);
      render();
      return;
    }
    const ours = (await health)?.addresses.includes(address) ?? false;
    if (attempt !== intent) return;
    choice = { connect: true, transport, ...(ours ? {} : { address }) };
    saveChoice(choice);
    render();
  };

  const disconnect = async (): Promise<void> => {
    intent++;
    const addresses = [...(server === undefined ? [] : [server]), ...direct];
    server = undefined;
    starting = false;
    direct.clear();
    lastError = undefined;
    say(errorLine, undefined);
    choice = { ...choice, connect: false };
    saveChoice(choice);
    render();
    await Promise.all(addresses.map((a) => network.hangUp(a).catch((error: unknown) => console.warn(describeError(error)))));
    render();
  };

  connectForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void connect();
  });
  toggle.addEventListener('click', () => {
    void (toggle.dataset['action'] === 'disconnect' ? disconnect() : connect());
  });

  directForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const address = directInput.value.trim();
    if (address === '') {
      say(errorLine, "Paste another browser's address (from its \"This tab's addresses\").");
      return;
    }
    try {
      dial(address);
      direct.add(address);
    } catch (error) {
      say(errorLine, `Cannot dial that address: ${describeError(error)}`);
    }
    render();
  });

  // Dial failures of what this page asked for, in plain words (they are retried).
  network.on((event) => {
    if (event.type === 'dial:failed') {
      const address = [server, ...direct].find((a) => a === event.address);
      if (address !== undefined) {
        lastError = { address, text: `Not connected yet, retrying (${event.code}): ${event.message}` };
        say(errorLine, lastError.text);
      }
    } else if (event.type === 'peer:connect' && lastError !== undefined && lastError.address.includes(event.peer.peerId)) {
      lastError = undefined;
      say(errorLine, undefined);
    }
    render();
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
      ...addresses.map((a) => addressItem(a, { 'data-testid': 'my-address', 'data-transport': a.includes('/webrtc/') ? 'webrtc' : 'circuit-relay' })),
    );
    addressList.dataset['count'] = String(addresses.length);
    byId('my-addresses-empty').hidden = addresses.length !== 0;
  };
  network.node.addEventListener('self:peer:update', renderAddresses);
  network.on(renderAddresses);
  setInterval(() => {
    renderAddresses();
    render();
  }, 1000);
  renderAddresses();

  // --- on load: connect as last time (by default: to this server) ----------------------
  render();
  if (choice.connect) void connect();
}
