/**
 * `RustDHT.open({ network })` checked before anything starts, so a typo is a typed
 * error naming the option rather than a failure deep inside libp2p.
 */
import { InvalidValueError } from '../api/errors.js';
import { parseMultiaddr } from './multiaddr.js';
import type { NetworkOptions } from './types.js';

/** How long a read waits for peers by default. */
export const DEFAULT_READ_TIMEOUT_MS = 2000;

export function validateNetworkOptions(options: NetworkOptions): void {
  if (options === null || typeof options !== 'object') throw new InvalidValueError('config/invalid', 'option network must be an object.');
  const { role, peers, readTimeoutMs, exemptLoopback } = options;
  if (role !== undefined && role !== 'server' && role !== 'client') throw new InvalidValueError('config/invalid', `option network.role must be 'server' or 'client', got ${String(role)}.`);
  if (peers !== undefined && (!Array.isArray(peers) || peers.some((p) => typeof p !== 'string'))) {
    throw new InvalidValueError('config/invalid', 'option network.peers must be an array of multiaddr strings.');
  }
  for (const address of peers ?? []) parseMultiaddr(address, 'option network.peers:');
  if (exemptLoopback !== undefined && typeof exemptLoopback !== 'boolean') throw new InvalidValueError('config/invalid', 'option network.exemptLoopback must be a boolean.');
  if (options.writeGate !== undefined && typeof options.writeGate !== 'function') throw new InvalidValueError('config/invalid', 'option network.writeGate must be a function.');
  validateDhtOptions(options.dht);
  if (readTimeoutMs !== undefined && (typeof readTimeoutMs !== 'number' || !(readTimeoutMs > 0))) {
    throw new InvalidValueError('config/invalid', 'option network.readTimeoutMs must be a number of ms > 0.');
  }
}

function validateDhtOptions(dht: NetworkOptions['dht']): void {
  if (dht === undefined) return;
  if (dht === null || typeof dht !== 'object') throw new InvalidValueError('config/invalid', 'option network.dht must be an object.');
  const { replicas, trustedMembers, capacity, announce, maxHints, fullMeshMax } = dht;
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 1 || replicas > 64)) {
    throw new InvalidValueError('config/invalid', `option network.dht.replicas must be an integer from 1 to 64, got ${String(replicas)}.`);
  }
  if (trustedMembers !== undefined && (!Array.isArray(trustedMembers) || trustedMembers.some((id) => typeof id !== 'string' || id === ''))) {
    throw new InvalidValueError('config/invalid', 'option network.dht.trustedMembers must be an array of peer ids.');
  }
  if (maxHints !== undefined && (typeof maxHints !== 'number' || !Number.isSafeInteger(maxHints) || maxHints < 1)) {
    throw new InvalidValueError('config/invalid', `option network.dht.maxHints must be a whole number >= 1, got ${String(maxHints)}.`);
  }
  if (fullMeshMax !== undefined && (typeof fullMeshMax !== 'number' || !Number.isSafeInteger(fullMeshMax) || fullMeshMax < 0)) {
    throw new InvalidValueError('config/invalid', `option network.dht.fullMeshMax must be a whole number >= 0, got ${String(fullMeshMax)}.`);
  }
  if (capacity !== undefined && (typeof capacity !== 'number' || !Number.isSafeInteger(capacity) || capacity < 0)) {
    throw new InvalidValueError('config/invalid', 'option network.dht.capacity must be a whole number of bytes >= 0.');
  }
  if (announce !== undefined && (!Array.isArray(announce) || announce.some((a) => typeof a !== 'string'))) {
    throw new InvalidValueError('config/invalid', 'option network.dht.announce must be an array of multiaddr strings.');
  }
  for (const address of announce ?? []) parseMultiaddr(address, 'option network.dht.announce:');
}
