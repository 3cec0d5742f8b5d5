// A browser peer on the network, driven by network.spec.ts: at load it opens a database
// whose network dials the addresses given as `?peer=<multiaddr>` (repeatable), and exposes
// `window.rustdhtNet` to watch, write, dial other peers and read the network's status.
// Times are epoch milliseconds with sub-millisecond precision (performance.timeOrigin +
// performance.now()), so the spec can compare times taken in two pages of one machine.
import { RustDHT, UndeliveredWritesError, type NetworkEvent, type NetworkStatus } from '../../src/browser.js';

export interface Seen {
  readonly value: unknown;
  readonly at: number;
}

export interface NetworkPageApi {
  readonly peerId: string;
  /** performance.now() (ms since navigation start) when the network had its first ready peer. */
  readonly connectedMs: number;
  status(): NetworkStatus;
  /** Every network event so far (rejects included), in order, with the time it was emitted. */
  events(): Array<NetworkEvent & { at: number }>;
  /** Dials `address` (and keeps it dialled). */
  dial(address: string): void;
  /** Subscribes to `soul`.`key` (once per pair); each value is recorded with the time it arrived. */
  watch(soul: string, key: string): void;
  /** What the subscriber of `soul`.`key` saw, in order. */
  seen(soul: string, key: string): Seen[];
  /** Resolves with the time the subscriber of `soul`.`key` saw `value` (already seen: at once). */
  waitForValue(soul: string, key: string, value: unknown, timeoutMs: number): Promise<number>;
  /** Writes; resolves with the time just before the write. */
  put(soul: string, key: string, value: string | number): Promise<number>;
  /** Resolves with the peer's status once `peerId` is connected (by `transport`, if given). */
  waitForPeer(peerId: string, transport: string | undefined, timeoutMs: number): Promise<NetworkStatus['peers'][number]>;
  /** Resolves once `peerId` is no longer among the connected peers. */
  waitForPeerGone(peerId: string, timeoutMs: number): Promise<void>;
  /** Resolves with this peer's addresses once one of them contains every one of `parts`. */
  waitForAddress(parts: string[], timeoutMs: number): Promise<string[]>;
  /** libp2p connections opened and closed: "<epoch ms> open|close <peer> <address> [(relayed)] [(limited)]". */
  connectionLog(): string[];
  /** The transports of the libp2p connections to `peerId` (several may be open at once). */
  connections(peerId: string): Array<{ transport: string; remoteAddr: string; direct: boolean; limited: boolean }>;
  /**
   * Closes the database without waiting for the outbox; `lost`: local writes no server
   * acknowledged, which a memory-only database loses (UndeliveredWritesError).
   */
  close(): Promise<{ undelivered: number; kept: boolean; lost: number }>;
}

declare global {
  interface Window {
    rustdhtNet?: NetworkPageApi;
  }
}

const now = (): number => performance.timeOrigin + performance.now();

function show(id: string, text: string): void {
  document.getElementById(id)!.textContent = text;
}

async function main(): Promise<void> {
  const peers = new URL(location.href).searchParams.getAll('peer');
  const db = await RustDHT.open({ store: 'memory', network: { peers } });
  const network = db.network!;
  const node = network.node;
  show('peer-id', network.peerId);
  show('status', 'connecting');

  const events: Array<NetworkEvent & { at: number }> = [];
  const wakers = new Set<() => void>();
  const wake = (): void => {
    for (const waker of [...wakers]) waker();
  };
  const renderPeers = (): void => {
    show('peers', network.status().peers.map((p) => `${p.peerId} ${p.role ?? '?'} ${p.transport} ${p.address}`).join('\n'));
  };
  network.on((event) => {
    events.push({ ...event, at: now() });
    renderPeers();
    wake();
  });
  node.addEventListener('self:peer:update', wake);
  // libp2p's connections as they open and close, for the spec's failure messages.
  const connectionLog: string[] = [];
  const logConnection = (what: string) => (event: CustomEvent<{ remotePeer: { toString(): string }; remoteAddr: { toString(): string }; direct: boolean; limits?: unknown }>) => {
    const c = event.detail;
    connectionLog.push(`${now().toFixed(0)} ${what} ${c.remotePeer.toString().slice(-6)} ${c.remoteAddr.toString()}${c.direct ? '' : ' (relayed)'}${c.limits === undefined ? '' : ' (limited)'}`);
    wake();
  };
  node.addEventListener('connection:open', logConnection('open'));
  node.addEventListener('connection:close', logConnection('close'));

  /** Resolves with `check()`'s value once it is not undefined; re-checked on every network event and every 100 ms. */
  const until = <T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const done = (): void => {
        const value = check();
        if (value === undefined) return;
        finish();
        resolve(value);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; status ${JSON.stringify(network.status())}`));
      }, timeoutMs);
      const poll = setInterval(done, 100);
      const finish = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        wakers.delete(done);
      };
      wakers.add(done);
      done();
    });

  const seen = new Map<string, Seen[]>();
  const watched = new Map<string, () => void>();
  const pairKey = (soul: string, key: string): string => JSON.stringify([soul, key]);

  const api: NetworkPageApi = {
    peerId: network.peerId,
    connectedMs: 0,
    status: () => network.status(),
    events: () => [...events],
    dial: (address) => network.dial(address),
    watch(soul, key) {
      const id = pairKey(soul, key);
      if (watched.has(id)) return;
      const list: Seen[] = [];
      seen.set(id, list);
      watched.set(
        id,
        db.get(soul).get(key).on((value) => {
          list.push({ value, at: now() });
          show('seen', `${soul}.${key} = ${JSON.stringify(value)} (${list.length} values)`);
          wake();
        }),
      );
    },
    seen: (soul, key) => [...(seen.get(pairKey(soul, key)) ?? [])],
    waitForValue: (soul, key, value, timeoutMs) =>
      until(`${soul}.${key} = ${JSON.stringify(value)}`, () => seen.get(pairKey(soul, key))?.find((s) => s.value === value)?.at, timeoutMs),
    async put(soul, key, value) {
      const at = now();
      await db.get(soul).get(key).put(value);
      return at;
    },
    waitForPeer: (peerId, transport, timeoutMs) =>
      until(
        `peer ${peerId}${transport === undefined ? '' : ` over ${transport}`}`,
        () => network.status().peers.find((p) => p.peerId === peerId && (transport === undefined || p.transport === transport)),
        timeoutMs,
      ),
    waitForPeerGone: (peerId, timeoutMs) =>
      until(`peer ${peerId} to be gone`, () => (network.status().peers.some((p) => p.peerId === peerId) ? undefined : true), timeoutMs).then(() => undefined),
    waitForAddress: (parts, timeoutMs) =>
      until(
        `an address with ${parts.join(' and ')}`,
        () => {
          const addresses = node.getMultiaddrs().map(String);
          return addresses.some((a) => parts.every((part) => a.includes(part))) ? addresses : undefined;
        },
        timeoutMs,
      ),
    connectionLog: () => [...connectionLog],
    connections: (peerId) =>
      node
        .getConnections()
        .filter((c) => c.remotePeer.toString() === peerId)
        .map((c) => ({
          transport: c.remoteAddr.getComponents().map((p) => p.name).filter((n) => n !== 'p2p' && n !== 'certhash').join('/'),
          remoteAddr: c.remoteAddr.toString(),
          direct: c.direct,
          limited: c.limits !== undefined,
        })),
    close: () =>
      db.close({ timeoutMs: 0 }).then(
        (report) => ({ ...report, lost: 0 }),
        (error: unknown) => {
          if (error instanceof UndeliveredWritesError) return { ...error.report, lost: error.entries.length };
          throw error;
        },
      ),
  };

  await network.whenConnected({ count: Math.max(1, peers.length) });
  (api as { connectedMs: number }).connectedMs = performance.now();
  show('connected-ms', api.connectedMs.toFixed(0));
  renderPeers();
  window.rustdhtNet = api;
  show('status', 'connected');
}

main().catch((error: unknown) => {
  show('status', `error: ${String(error)}`);
  console.error(error);
});
