/**
 * The addresses this peer keeps dialled (`network.peers`, `dial()`): each is dialled at
 * once and, whenever its session ends or a dial fails, dialled again with exponential
 * backoff (backoff.ts) until it is dropped (`hangUp()`) or the network stops. Offline on
 * purpose (`goOffline()`), nothing is dialled; `goOnline()` dials them all again.
 *
 * A failed dial is a `dial:failed` event named by dial-failure.ts; the last failure of
 * each address is kept until it connects, for `whenConnected()` to say why nothing is.
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import { describeDialFailure, type DialFailure } from '../dial-failure.js';
import { parseMultiaddr, peerIdOf } from '../multiaddr.js';
import type { NetworkEvent } from '../types.js';
import { Backoff } from './backoff.js';

/** A session lasting longer than this was healthy: the next redial starts the backoff afresh. */
const HEALTHY_SESSION_MS = 10_000;

export interface DiallerOptions {
  /** Our own peer id: an address naming it (a shared bootstrap list) is skipped. */
  readonly localPeerId: string;
  /** Aborts when the network stops. */
  readonly stop: AbortSignal;
  /** Dials once; resolves once the session is open, with a promise that settles when it ends. */
  readonly connect: (target: Multiaddr, signal: AbortSignal) => Promise<{ whenClosed(): Promise<void> }>;
  readonly emit: (event: NetworkEvent) => void;
}

export class Dialler {
  readonly #options: DiallerOptions;
  /** Every address kept dialled, with the controller that stops its current dial loop. */
  readonly #dialers = new Map<string, AbortController>();
  /** The peer each kept address names (its /p2p/ component), if it names one. */
  readonly #peerIds = new Map<string, string | undefined>();
  /** Why each address failed last (until it connects). */
  readonly #failures = new Map<string, DialFailure>();
  #online = true;

  constructor(options: DiallerOptions) {
    this.#options = options;
  }

  /** False while offline on purpose. */
  get online(): boolean {
    return this.#online;
  }

  /** How many addresses are kept dialled. */
  get size(): number {
    return this.#dialers.size;
  }

  /** The last dial failure of each address kept dialled that is not connected now. */
  failures(): ReadonlyMap<string, DialFailure> {
    return this.#failures;
  }

  /** True while some address is dialled that has neither connected nor failed yet. */
  firstAttemptPending(): boolean {
    for (const address of this.#dialers.keys()) if (!this.#failures.has(address)) return true;
    return false;
  }

  /** Dials `address` now (unless offline) and keeps it dialled. */
  keep(address: string): void {
    const target = parseMultiaddr(address);
    if (peerIdOf(target) === this.#options.localPeerId) return; // our own address in a shared bootstrap list
    if (this.#dialers.has(address)) return;
    const dialer = new AbortController();
    this.#dialers.set(address, dialer);
    this.#peerIds.set(address, peerIdOf(target));
    if (this.#online) this.#start(address, target, dialer);
  }

  /** Stops dialling `address` and forgets it. */
  drop(address: string): void {
    this.#dialers.get(address)?.abort();
    this.#dialers.delete(address);
    this.#peerIds.delete(address);
    this.#failures.delete(address);
  }

  /**
   * Whether some kept address names `peerId`: a peer the operator configured
   * (network.peers, --bootstrap, dial()), whichever side's dial its session came on.
   */
  keepsPeer(peerId: string): boolean {
    for (const kept of this.#peerIds.values()) if (kept === peerId) return true;
    return false;
  }

  /** Offline on purpose: stops every dial loop (the addresses stay known). */
  pause(): void {
    this.#online = false;
    for (const [address, dialer] of this.#dialers) {
      dialer.abort();
      this.#dialers.set(address, new AbortController());
    }
  }

  /** Online again: dials every known address. */
  resume(): void {
    this.#online = true;
    for (const [address, dialer] of this.#dialers) this.#start(address, parseMultiaddr(address), dialer);
  }

  /** Why nothing (or too little) is connected, as far as dialling knows. */
  notConnectedReason(connected: number): string {
    if (!this.#online) return 'the network is offline on purpose (goOffline()).';
    const failures = [...this.#failures.values()].map((failure) => `${failure.message} [${failure.code}]`);
    if (failures.length !== 0) return `${connected} connected; ${failures.join(' ')}`;
    if (this.#dialers.size === 0) return `${connected} connected, and no peer to dial (give network.peers, or call dial()).`;
    return `${connected} connected; still dialling ${[...this.#dialers.keys()].join(', ')} (no answer yet).`;
  }

  #start(address: string, target: Multiaddr, dialer: AbortController): void {
    const { stop, connect, emit } = this.#options;
    const signal = AbortSignal.any([stop, dialer.signal]);
    const remote = peerIdOf(target);
    const backoff = new Backoff();
    void (async () => {
      while (!signal.aborted) {
        const started = Date.now();
        try {
          const session = await connect(target, signal);
          this.#failures.delete(address);
          await session.whenClosed();
          if (Date.now() - started > HEALTHY_SESSION_MS) backoff.reset();
        } catch (error) {
          if (signal.aborted) return;
          const failure = describeDialFailure(address, error);
          this.#failures.set(address, failure);
          emit({ type: 'dial:failed', address, peerId: remote, code: failure.code, message: failure.message });
        }
        await backoff.wait(signal);
      }
    })();
  }
}
