/**
 * The libp2p node of a RustDHT server (`rustdht serve`): listens on TCP, WebSockets and
 * WebRTC-Direct, answers DHT queries, relays for browsers, and keeps the same peer id and
 * WebRTC certificate hash across restarts so the addresses clients are configured with
 * stay valid. Node only.
 */

import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { circuitRelayServer } from '@libp2p/circuit-relay-v2';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { keychain } from '@libp2p/keychain';
import { tcp } from '@libp2p/tcp';
import { webRTCDirect } from '@libp2p/webrtc';
import { webSockets } from '@libp2p/websockets';
import { createLibp2p } from 'libp2p';
import { InvalidValueError } from '../../api/errors.js';
import { FilePrefixDatastore } from './file-datastore.js';
import { parseMultiaddr, peerIdOf } from '../multiaddr.js';
import { baseConfig, registerPeerKey } from './shared.js';
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2';
import type { PrivateKey } from '@libp2p/interface';
import type { Keychain } from '@libp2p/keychain';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { Libp2p } from 'libp2p';
import type { NodeServices } from './shared.js';

/**
 * The documented fixed ports: 7401 TCP, 7402 WebSockets, 7403/udp WebRTC-Direct (7400 is
 * the HTTP API). Fixed so that firewall rules and configured peer addresses stay right.
 */
export const DEFAULT_LISTEN: readonly string[] = [
  '/ip4/0.0.0.0/tcp/7401',
  '/ip4/0.0.0.0/tcp/7402/ws',
  '/ip4/0.0.0.0/udp/7403/webrtc-direct',
];

export interface ServerNodeOptions {
  /** Holds `peer-key` (the libp2p identity) and `libp2p/` (keychain, WebRTC certificate). */
  readonly dataDir: string;
  /** Default DEFAULT_LISTEN. */
  readonly listen?: readonly string[];
  /** Servers to dial at start (multiaddrs, ideally ending in /p2p/<peerId>). */
  readonly bootstrap?: readonly string[];
  /** Exempt loopback connections from the connection limits (default false; see shared.ts LOOPBACK_ALLOW). */
  readonly exemptLoopback?: boolean;
}

export type ServerServices = NodeServices & {
  relay: CircuitRelayService;
  /** Where the WebRTC-Direct transport finds (and stores) its certificate key. */
  keychain: Keychain;
};

export type ServerNode = Libp2p<ServerServices>;

/** File (under dataDir) holding the peer's private key, libp2p protobuf encoding. */
export const PEER_KEY_FILE = 'peer-key';

/** Datastore prefixes that must survive restarts: keychain entries and the TLS certificate. */
const PERSISTED_PREFIXES = ['/pkcs8/', '/info/', '/libp2p/webrtc-direct/'];

/** Creates and starts a server node. Bootstrap peers are dialled in the background. */
export async function createServerNode(options: ServerNodeOptions): Promise<ServerNode> {
  // Checked before anything starts, so a typo is a clear error and not a half-started node.
  const listen = (options.listen ?? DEFAULT_LISTEN).map((text) => parseMultiaddr(text, 'option network.listen:'));
  const bootstrap = (options.bootstrap ?? []).map((text) => parseMultiaddr(text, 'bootstrap address'));
  const privateKey = await loadOrCreatePeerKey(options.dataDir);
  const datastore = await FilePrefixDatastore.open(join(options.dataDir, 'libp2p'), PERSISTED_PREFIXES);
  const base = baseConfig({ exemptLoopback: options.exemptLoopback });

  const node = await createLibp2p<ServerServices>({
    ...base,
    privateKey,
    datastore,
    addresses: { listen: listen.map(String) },
    transports: [
      tcp(),
      // Plain ws:// is fine here: browsers reach servers through a TLS-terminating proxy
      // (wss) or over WebRTC-Direct; the libp2p connection is Noise-encrypted either way.
      webSockets(),
      webRTCDirect({
        // No STUN/TURN: a WebRTC-Direct listener is dialled at its own public address,
        // and this machine has no network to reach public STUN servers anyway.
        rtcConfiguration: { iceServers: [] },
        // The certificate (and so the /certhash) persists through the keychain and
        // datastore; it is renewed a day before its 14-day lifespan ends. Longer lifespans
        // do not work: @libp2p/webrtc schedules the renewal with one setTimeout, and past
        // ~24.8 days the delay overflows, Node fires it at once and the hash changes on
        // every start.
      }),
    ],
    services: {
      ...base.services,
      relay: circuitRelayServer({
        // Browsers hold a reservation on a server so other browsers can reach them
        // (and upgrade to direct WebRTC); the default of 15 is meant for volunteer relays.
        // Relayed connections keep libp2p's default data and duration limits.
        reservations: { maxReservations: 512 },
      }),
      keychain: keychain(),
    },
  });

  registerPeerKey(node, privateKey);
  dialBootstrapPeers(node, bootstrap);
  return node;
}

/**
 * The server's identity: read from `${dataDir}/peer-key`, or generated (Ed25519) and
 * written there (mode 0600) on first start.
 */
export async function loadOrCreatePeerKey(dataDir: string): Promise<PrivateKey> {
  const file = join(dataDir, PEER_KEY_FILE);
  let stored: Uint8Array;
  try {
    stored = new Uint8Array(await readFile(file));
  } catch (error) {
    if (!isMissingFile(error)) throw error;
    return createPeerKey(dataDir, file);
  }
  try {
    return privateKeyFromProtobuf(stored);
  } catch (error) {
    // Never replace it silently: a new key is a new peer id, which breaks every address
    // other servers and clients were configured with.
    throw new InvalidValueError(
      'config/peer-key',
      `${file} is not a libp2p private key. Restore it from a backup, or delete it to start with a new identity (a new peer id).`,
      { cause: error },
    );
  }
}

async function createPeerKey(dataDir: string, file: string): Promise<PrivateKey> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const key = await generateKeyPair('Ed25519');
  try {
    // 'wx': if another process created the file meanwhile, keep its key, not ours.
    await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return loadOrCreatePeerKey(dataDir);
  }
}

function isMissingFile(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * One attempt per address, in the background: a server must start even when the peers it
 * knows are down. Keeping connections up (redial with backoff) is the sync layer's job.
 */
function dialBootstrapPeers(node: ServerNode, addresses: readonly Multiaddr[]): void {
  const log = node.logger.forComponent('rustdht:bootstrap');
  for (const address of addresses) {
    // A server listed in its own bootstrap list (one config file for the whole cluster).
    if (peerIdOf(address) === node.peerId.toString()) continue;
    node.dial(address).catch((error: unknown) => {
      log('could not dial bootstrap peer %a: %e', address, error);
    });
  }
}
