/**
 * Prometheus metrics of a running server, on a registry of its own (never prom-client's
 * global one: a process embedding the SDK may have its own metrics, and tests open
 * several servers in one process).
 *
 * Every RustDHT metric is computed at scrape time by a `collect()` callback from the
 * network's running totals and status: nothing is updated on the hot path, and a value
 * is never staler than the scrape that reads it.
 *
 * Running totals are exported as Counters whose collect() does `reset()` then
 * `inc(total)`, rather than as Gauges set to the total or Counters incremented by the
 * delta since the last scrape. A Counter keeps `# TYPE … counter`, which is what
 * `rate()`/`increase()` and Prometheus' counter-reset handling are meant for (a Gauge
 * named *_total is a lint error and misleads dashboards); reset-then-set keeps the
 * exported value exactly the network's total, with no last-seen state to drift when a
 * scrape fails halfway; and both calls run in the same tick, so no scrape can observe
 * the reset value.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { knownCode } from '../network/known-codes.js';
import type { NetworkCounters, NetworkStatus, PeerStatus, Transport } from '../network/types.js';
import { VERSION } from './version.js';

/** What the metrics read, at each scrape. */
export interface MetricsSource {
  status(): NetworkStatus;
  counters(): NetworkCounters;
  /** Bytes of the store on disk (may be cached; see store-size.ts). */
  storeBytes(): Promise<number> | number;
  uptimeSeconds(): number;
}

export interface MetricsOptions {
  /**
   * prom-client's process and Node.js metrics (CPU, memory, event-loop lag, GC), named
   * with `prefix` (default: enabled, prefix 'rustdht_'). `false` leaves them out.
   */
  readonly defaultMetrics?: false | { readonly prefix?: string };
}

/** Every RustDHT-specific metric this registry exports. */
export const METRIC_NAMES = [
  'rustdht_info',
  'rustdht_peers',
  'rustdht_peer_rtt_seconds',
  'rustdht_network_state',
  'rustdht_messages_total',
  'rustdht_bytes_total',
  'rustdht_updates_total',
  'rustdht_rejects_total',
  'rustdht_store_bytes',
  'rustdht_outbox_entries',
  'rustdht_uptime_seconds',
] as const;

/** Listed so every transport has a series (0 included): absent series break alerting on "== 0". */
const TRANSPORTS = ['tcp', 'websockets', 'webrtc-direct', 'webrtc', 'circuit-relay', 'other'] as const satisfies readonly Transport[];
const STATES = ['offline', 'syncing', 'idle'] as const satisfies readonly NetworkStatus['state'][];
/**
 * Per-peer RTT series are capped: a server may have thousands of browser clients, and
 * each label set is a time series Prometheus keeps. Servers (the backbone) come first.
 */
const MAX_RTT_SERIES = 100;

/** Totals from the network are trusted, but a NaN would make inc() throw and fail the whole scrape. */
function total(value: number | undefined): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : 0;
}

function rttPeers(peers: readonly PeerStatus[]): PeerStatus[] {
  return peers
    .filter((peer) => peer.rttMs !== undefined)
    // Oldest connections first: a role is what a peer says in its hello, so ordering by it
    // would let a swarm claiming 'server' push the real backbone out of the series.
    .sort((a, b) => a.connectedAt - b.connectedAt)
    .slice(0, MAX_RTT_SERIES);
}

/** A registry exporting `source`'s state; serve it with `registry.metrics()` and `registry.contentType`. */
export function createMetricsRegistry(source: MetricsSource, options: MetricsOptions = {}): Registry {
  const registry = new Registry();
  const registers = [registry];
  const { defaultMetrics = {} } = options;
  if (defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: defaultMetrics.prefix ?? 'rustdht_' });

  const info = new Gauge({
    name: 'rustdht_info',
    help: 'Always 1; labels carry the version and this peer id.',
    labelNames: ['version', 'peer_id'] as const,
    registers,
    collect() {
      info.reset();
      info.set({ version: VERSION, peer_id: source.status().peerId }, 1);
    },
  });

  const peers = new Gauge({
    name: 'rustdht_peers',
    help: 'Connected peers, by transport.',
    labelNames: ['transport'] as const,
    registers,
    collect() {
      const counts = new Map<string, number>(TRANSPORTS.map((transport) => [transport, 0]));
      for (const peer of source.status().peers) counts.set(peer.transport, (counts.get(peer.transport) ?? 0) + 1);
      peers.reset();
      for (const [transport, count] of counts) peers.set({ transport }, count);
    },
  });

  const rtt = new Gauge({
    name: 'rustdht_peer_rtt_seconds',
    help: `Last ping round trip per connected peer (longest connected first, at most ${MAX_RTT_SERIES} peers).`,
    labelNames: ['peer', 'transport'] as const,
    registers,
    collect() {
      // Reset first: a peer that disconnected must not keep its last value forever.
      rtt.reset();
      for (const peer of rttPeers(source.status().peers)) rtt.set({ peer: peer.peerId, transport: peer.transport }, peer.rttMs! / 1000);
    },
  });

  const state = new Gauge({
    name: 'rustdht_network_state',
    help: 'The network state: 1 for the current one (offline: no peer; syncing: work in flight; idle: caught up).',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const current = source.status().state;
      for (const name of STATES) state.set({ state: name }, name === current ? 1 : 0);
    },
  });

  const messages = new Counter({
    name: 'rustdht_messages_total',
    help: 'Sync protocol messages received (in) and sent (out).',
    labelNames: ['direction'] as const,
    registers,
    collect() {
      const counters = source.counters();
      messages.reset();
      messages.inc({ direction: 'in' }, total(counters.messagesIn));
      messages.inc({ direction: 'out' }, total(counters.messagesOut));
    },
  });

  const bytes = new Counter({
    name: 'rustdht_bytes_total',
    help: 'Sync protocol bytes received (in) and sent (out).',
    labelNames: ['direction'] as const,
    registers,
    collect() {
      const counters = source.counters();
      bytes.reset();
      bytes.inc({ direction: 'in' }, total(counters.bytesIn));
      bytes.inc({ direction: 'out' }, total(counters.bytesOut));
    },
  });

  const updates = new Counter({
    name: 'rustdht_updates_total',
    help: 'Updates received from peers, by merge outcome (applied, ignored, historical, deferred, rejected).',
    labelNames: ['outcome'] as const,
    registers,
    collect() {
      const counts = source.counters().updates;
      updates.reset();
      for (const outcome of ['applied', 'ignored', 'historical', 'deferred', 'rejected'] as const) {
        updates.inc({ outcome }, total(counts[outcome]));
      }
    },
  });

  const rejects = new Counter({
    name: 'rustdht_rejects_total',
    help: 'Messages and updates refused, by reason code (engine codes such as signature/invalid, wire codes such as wire/rate-limited; a code not in the fixed set is other).',
    labelNames: ['reason'] as const,
    registers,
    collect() {
      const counts = source.counters().rejects;
      rejects.reset();
      // The label takes values from the fixed set only (the network's counters already
      // map to it; a source that does not still cannot mint series).
      for (const reason of Object.keys(counts)) rejects.inc({ reason: knownCode(reason) }, total(counts[reason]));
    },
  });

  const storeBytes = new Gauge({
    name: 'rustdht_store_bytes',
    help: 'Bytes of the LevelDB store on disk (refreshed at most every few seconds).',
    registers,
    async collect() {
      // A failed directory walk keeps the previous value rather than failing the whole scrape.
      try {
        storeBytes.set(await source.storeBytes());
      } catch {
        /* keep the last value */
      }
    },
  });

  const outbox = new Gauge({
    name: 'rustdht_outbox_entries',
    help: 'Local writes not yet acknowledged by a peer.',
    registers,
    collect() {
      outbox.set(source.status().outboxSize);
    },
  });

  const uptime = new Gauge({
    name: 'rustdht_uptime_seconds',
    help: 'Seconds since the server started.',
    registers,
    collect() {
      uptime.set(source.uptimeSeconds());
    },
  });

  return registry;
}
