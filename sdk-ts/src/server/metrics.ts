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
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SoulCensus } from '../network/dht/census.js';
import type { HandoffCounters } from '../network/dht/handoff.js';
import type { AntiEntropyCounters } from '../network/dht/anti-entropy.js';
import { knownCode } from '../network/known-codes.js';
import type { DhtStatus, NetworkCounters, NetworkStatus, PeerStatus, Transport } from '../network/types.js';
import { VERSION } from './version.js';

/** What the metrics read, at each scrape. */
export interface MetricsSource {
  status(): NetworkStatus;
  counters(): NetworkCounters;
  /** Bytes of the store on disk (may be cached; see store-size.ts). */
  storeBytes(): Promise<number> | number;
  uptimeSeconds(): number;
  /** A server's DHT (`network.dht`); without one, the rustdht_dht_* series stay at 0. */
  readonly dht?: DhtMetricsSource;
}

/** What the rustdht_dht_* metrics read of a server's DHT (network/dht/dht.ts `Dht`). */
export interface DhtMetricsSource {
  status(): DhtStatus;
  /** Souls stored here by role, recounted at a bounded cost (network/dht/census.ts). */
  census(): Promise<SoulCensus | undefined>;
  readonly handoff: { readonly counters: Readonly<HandoffCounters>; readonly pendingSouls: number };
  /** Anti-entropy's running totals (network/dht/anti-entropy.ts). */
  readonly antiEntropy: { readonly counters: Readonly<AntiEntropyCounters> };
  /** Calls `listener` with the seconds each read of a soul from its owners took. */
  onOwnerRead(listener: (seconds: number) => void): () => void;
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
  'rustdht_held_back_total',
  'rustdht_rejects_total',
  'rustdht_store_bytes',
  'rustdht_outbox_entries',
  'rustdht_uptime_seconds',
  'rustdht_dht_members',
  'rustdht_dht_replicas',
  'rustdht_dht_ring_share',
  'rustdht_dht_owned_souls',
  'rustdht_dht_stored_souls',
  'rustdht_dht_under_replicated_souls',
  'rustdht_dht_hints_pending',
  'rustdht_dht_repair_pushes_total',
  'rustdht_dht_repair_already_held_total',
  'rustdht_dht_repair_bytes_total',
  'rustdht_dht_repair_releases_total',
  'rustdht_dht_repair_passes_total',
  'rustdht_dht_anti_entropy_rounds_total',
  'rustdht_dht_anti_entropy_bytes_total',
  'rustdht_dht_anti_entropy_souls_repaired_total',
  'rustdht_dht_owner_read_seconds',
] as const;

/** Listed so every transport has a series (0 included): absent series break alerting on "== 0". */
const TRANSPORTS = ['tcp', 'websockets', 'webrtc-direct', 'webrtc', 'circuit-relay', 'other'] as const satisfies readonly Transport[];
const STATES = ['offline', 'syncing', 'idle'] as const satisfies readonly NetworkStatus['state'][];
/**
 * Per-peer RTT series are capped: a server may have thousands of browser clients, and
 * each label set is a time series Prometheus keeps. Servers (the backbone) come first.
 */
const MAX_RTT_SERIES = 100;
/** Why a server holds a soul (network/dht/census.ts). */
const SOUL_ROLES = ['owned', 'cached', 'hinted'] as const;
/**
 * Owner reads wait at most a second (serving/serving.ts OWNER_READ_TIMEOUT_MS): buckets from
 * a loopback round trip to that bound, so a read that timed out lands in le="1" or above.
 */
const OWNER_READ_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

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

  const heldBack = new Counter({
    name: 'rustdht_held_back_total',
    help: 'Times a peer was read more slowly because its next message was over its rate limit (held back until its budget had room, instead of refused).',
    registers,
    collect() {
      heldBack.reset();
      heldBack.inc(total(source.counters().heldBack));
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

  registerDhtMetrics(registers, source.dht);
  return registry;
}

/** The rustdht_dht_* metrics: membership, placement, what is stored and why, repair, owner reads. */
function registerDhtMetrics(registers: Registry[], dht: DhtMetricsSource | undefined): void {
  const statusGauge = (name: string, help: string, read: (status: DhtStatus) => number): void => {
    const gauge: Gauge = new Gauge({
      name,
      help,
      registers,
      collect() {
        gauge.set(dht === undefined ? 0 : read(dht.status()));
      },
    });
  };
  statusGauge('rustdht_dht_members', 'Live DHT members (servers) this server counts, itself included.', (status) => status.members);
  statusGauge('rustdht_dht_replicas', 'R: how many servers own each soul (--replicas).', (status) => status.replicas);
  statusGauge('rustdht_dht_ring_share', 'About how much of the key space this server owns (0..1; R/members when balanced).', (status) => status.share);

  // The census runs one count at a time and answers concurrent readers with it.
  const census = async (): Promise<SoulCensus | undefined> => dht?.census();

  const owned = new Gauge({
    name: 'rustdht_dht_owned_souls',
    help: 'Souls stored here that this server owns (= rustdht_dht_stored_souls{role="owned"}; compare across servers for balance). Recounted at most every few seconds, less often on a large store.',
    registers,
    async collect() {
      const count = await census();
      if (count !== undefined) owned.set(count.owned);
    },
  });

  const stored = new Gauge({
    name: 'rustdht_dht_stored_souls',
    help: 'Souls stored here by role: owned (this server is an owner), cached (not an owner; a subscriber here watches it), hinted (not an owner, not watched: kept until its owners confirm a copy, then released). Recounted at most every few seconds, less often on a large store.',
    labelNames: ['role'] as const,
    registers,
    async collect() {
      const count = await census();
      if (count === undefined) return;
      for (const role of SOUL_ROLES) stored.set({ role }, count[role]);
    },
  });

  const underReplicated = new Gauge({
    name: 'rustdht_dht_under_replicated_souls',
    help: 'Souls held here known to have fewer than R confirmed copies: its pending hand-offs (souls it does not own whose owners have not all confirmed a copy yet), or, while the network has fewer than R members, every soul stored here. Souls it owns whose other owners missed updates are not counted (anti-entropy repairs those).',
    registers,
    async collect() {
      if (dht === undefined) return;
      const status = dht.status();
      if (status.members >= status.replicas) {
        underReplicated.set(dht.handoff.pendingSouls);
        return;
      }
      const count = await census();
      if (count !== undefined) underReplicated.set(count.owned + count.cached + count.hinted);
    },
  });

  const hints = new Gauge({
    name: 'rustdht_dht_hints_pending',
    help: 'Hand-offs waiting: souls held here for owners that have not all confirmed a copy (an owner down or not yet reached); retried every few seconds, released once confirmed.',
    registers,
    collect() {
      hints.set(dht?.handoff.pendingSouls ?? 0);
    },
  });

  const repairCounter = (name: string, help: string, read: (counters: Readonly<HandoffCounters>) => number): void => {
    const counter: Counter = new Counter({
      name,
      help,
      registers,
      collect() {
        counter.reset();
        counter.inc(total(dht === undefined ? 0 : read(dht.handoff.counters)));
      },
    });
  };
  repairCounter('rustdht_dht_repair_pushes_total', 'Souls pushed to an owner by hand-off or rebalancing (one per soul and owner).', (counters) => counters.pushes);
  repairCounter('rustdht_dht_repair_already_held_total', 'Souls not pushed because the owner already held them exactly as this server (digests compared first; one per soul and owner).', (counters) => counters.alreadyHeld);
  repairCounter('rustdht_dht_repair_bytes_total', 'Bytes of node frames pushed to owners by hand-off or rebalancing.', (counters) => counters.bytes);
  repairCounter('rustdht_dht_repair_releases_total', 'Souls this server let go of after their owners confirmed a copy.', (counters) => counters.released);
  repairCounter('rustdht_dht_repair_passes_total', 'Completed repair passes over the store (after start and after each membership change).', (counters) => counters.passes);

  const aeCounter = (name: string, help: string, labelNames: readonly string[], read: (counters: Readonly<AntiEntropyCounters>) => Record<string, number>): void => {
    const counter: Counter = new Counter({
      name,
      help,
      labelNames: [...labelNames],
      registers,
      collect() {
        counter.reset();
        if (dht === undefined) return;
        for (const [label, value] of Object.entries(read(dht.antiEntropy.counters))) {
          if (labelNames.length === 0) counter.inc(total(value));
          else counter.inc({ [labelNames[0]!]: label }, total(value));
        }
      },
    });
  };
  aeCounter('rustdht_dht_anti_entropy_rounds_total', 'Anti-entropy rounds with a co-owner, by result.', ['result'], (c) => ({ ok: c.rounds, failed: c.failedRounds }));
  aeCounter(
    'rustdht_dht_anti_entropy_bytes_total',
    'Anti-entropy bytes: digests and names sent and received by this server as the asker (metadata), node frames it moved (updates), and what it answered others (served).',
    ['kind'],
    (c) => ({ metadata_sent: c.bytesSent, metadata_received: c.bytesReceived, updates: c.updateBytes, served: c.servedBytes }),
  );
  aeCounter('rustdht_dht_anti_entropy_souls_repaired_total', 'Souls anti-entropy found different on a co-owner and moved (pushed or pulled).', [], (c) => ({ all: c.soulsRepaired }));

  const ownerReads = new Histogram({
    name: 'rustdht_dht_owner_read_seconds',
    help: 'How long a read of a soul this server does not own waited for its owners before being answered (bounded by 1 s).',
    buckets: OWNER_READ_BUCKETS,
    registers,
  });
  dht?.onOwnerRead((seconds) => ownerReads.observe(seconds));
}
