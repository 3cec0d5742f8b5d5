/**
 * `rustdht serve`: a server peer. Opens the LevelDB store and the database on the
 * network as a server, serves /health and /metrics, logs its lifecycle, and shuts down
 * in order on SIGINT/SIGTERM: HTTP first (no new scrapes of a closing database), then
 * the database (which stops the network, so no peer's frame arrives while the store
 * flushes, then closes the store). A second signal skips the rest and exits 1.
 */
import { onEngineTrap } from '../engine/trap-guard.js';
import { memoryBytes as engineMemoryBytes } from '../engine/load-node.js';
import { HealthChecks, memoryReasons } from '../server/health-checks.js';
import { DiskGuard } from '../server/disk-guard.js';
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { boundedText, knownCode } from '../network/known-codes.js';
import type { NetworkEvent } from '../network/types.js';
import { LevelStore, RustDHT, type Network } from '../node.js';
import { startHttpServer, type HealthJson, type HttpServer } from '../server/http.js';
import { createLogger, type Logger } from '../server/log.js';
import { createMetricsRegistry } from '../server/metrics.js';
import { directorySizer } from '../server/store-size.js';
import { RepeatThrottle } from '../server/throttle.js';
import { VERSION } from '../server/version.js';
import type { ServeOptions } from './args.js';
import { CliError, EXIT } from './cli-error.js';
import type { CliIO, TerminationSignal } from './io.js';

function logNetworkEvent(log: Logger, network: Network, throttle: RepeatThrottle, event: NetworkEvent): void {
  switch (event.type) {
    case 'peer:connect': {
      const { peer } = event;
      log.info('peer connected', { peer: peer.peerId, role: peer.role, transport: peer.transport, address: peer.address, peers: network.status().peers.length });
      return;
    }
    case 'peer:disconnect':
      log.info('peer disconnected', { peer: event.peerId, peers: network.status().peers.length });
      return;
    case 'state':
      log.debug('network state', { state: event.state });
      return;
    case 'dial:failed': {
      const suppressed = throttle.admit(`${event.address} ${event.code}`);
      if (suppressed === undefined) return;
      log.warn('dial failed', { address: event.address, code: event.code, reason: boundedText(event.message), suppressed: suppressed === 0 ? undefined : suppressed });
      return;
    }
    case 'reject': {
      // The network reports codes from a fixed set and bounded text already; mapped again
      // here so that no log field a peer can influence is unbounded, whatever the source.
      const code = knownCode(event.code);
      const suppressed = throttle.admit(`${event.peerId} ${code}`);
      if (suppressed === undefined) return;
      log.warn('rejected', { peer: event.peerId, code, reason: boundedText(event.message), suppressed: suppressed === 0 ? undefined : suppressed });
      return;
    }
  }
}

function banner(health: HealthJson, httpUrl: string, dataDir: string, demo: boolean): string {
  const [first = '(none)', ...rest] = health.addresses;
  // The try: lines name the HTTP URL: the client commands find the addresses through /health.
  const pad = '              ';
  const lines = [
    '',
    `  RustDHT ${VERSION} server ready`,
    '',
    ...(demo ? [`  demo page   ${httpUrl}/   <- open this in a browser`, ''] : []),
    `  peer id     ${health.peerId}`,
    `  listening   ${first}`,
    ...rest.map((address) => `${pad}${address}`),
    `  http        ${httpUrl}/health  ${httpUrl}/metrics`,
    `  data        ${dataDir}`,
    '',
    `  try:        npx rustdht put demo hello=world --peer ${httpUrl}`,
    `              npx rustdht get demo --peer ${httpUrl}`,
    '',
    '  Ctrl+C stops the server.',
    '',
  ];
  return `${lines.join('\n')}\n`;
}

/** A database whose options set `network` has one; undefined here would be a bug, not user error. */
function networkOf(db: RustDHT): Network {
  const network = db.network;
  if (network === undefined) throw new CliError('cli/no-network', 'the database opened without its network (this is a bug).', EXIT.failure);
  return network;
}

/** Runs the server until a termination signal; resolves with the exit code. */
export async function serve(options: ServeOptions, io: CliIO): Promise<number> {
  const startedAt = Date.now();
  const log = createLogger({ level: options.logLevel, format: options.logFormat, write: io.stdout, color: io.stdoutIsTTY && io.env['NO_COLOR'] === undefined });
  const dataDir = resolve(options.dataDir);
  const storeDir = join(dataDir, 'store');
  const peerDir = join(dataDir, 'peer');

  // Signals are taken over before anything opens, so a Ctrl+C during start-up still
  // closes the store cleanly (LevelDB would otherwise keep its lock until the OS frees it).
  let stopSignal: TerminationSignal | undefined;
  let requestStop: () => void = () => {};
  const stopRequested = new Promise<void>((done) => (requestStop = done));
  // An engine trap is fatal: the process exits non-zero (a supervisor restarts it from
  // the store) rather than limp on answering every request with an error.
  let trapped = false;
  const stopOnTrap = onEngineTrap((error) => {
    if (trapped) return;
    trapped = true;
    log.error('engine trapped: exiting so a supervisor restarts this server', { error });
    requestStop();
  });
  const restoreSignals = io.onSignal((signal) => {
    if (stopSignal !== undefined) {
      log.error('second signal: exiting without finishing shutdown', { signal });
      io.exit(1);
    }
    stopSignal = signal;
    log.info('stopping', { signal });
    requestStop();
  });

  let store: LevelStore | undefined;
  let db: RustDHT | undefined;
  let http: HttpServer | undefined;
  let stopChecks: () => void = () => {};
  let stopGuard: () => void = () => {};
  const demoDir = options.demoDir === undefined ? undefined : resolve(options.demoDir);
  try {
    // Checked before anything opens: a wrong --demo is a start-up error, not a 404 later.
    if (demoDir !== undefined) {
      const info = await stat(join(demoDir, 'index.html')).catch(() => undefined);
      if (info?.isFile() !== true) {
        throw new CliError('cli/demo-missing', `--demo ${options.demoDir}: no index.html in ${demoDir} (build the demo first: npm run build -w demo)`, EXIT.failure);
      }
    }
    log.info('starting', { version: VERSION, pid: process.pid, data: dataDir, listen: options.listen, bootstrap: options.bootstrap, exemptLoopback: options.exemptLoopback || undefined, memoryBudgetBytes: options.memoryBudgetBytes });
    // 0o700: the peer directory holds the private key; the store may hold kept identities' seeds.
    await mkdir(peerDir, { recursive: true, mode: 0o700 });
    await mkdir(storeDir, { recursive: true, mode: 0o700 });
    store = await LevelStore.open(storeDir);
    const storeBytes = directorySizer(storeDir);
    const guard = new DiskGuard({ dataDir, minFreeBytes: options.minFreeDiskBytes, maxStoreBytes: options.maxStoreBytes, storeBytes });
    stopGuard = () => guard.stop();
    await guard.sample();
    db = await RustDHT.open({
      store,
      memoryBudget: options.memoryBudgetBytes,
      network: {
        role: 'server',
        listen: options.listen,
        peers: options.bootstrap,
        dataDir: peerDir,
        exemptLoopback: options.exemptLoopback,
        quota: { peerBytesPerSecond: options.peerWriteRate, totalBytesPerSecond: options.totalWriteRate },
        writeGate: guard.gate,
        dht: {
          replicas: options.replicas,
          trustedMembers: options.trustedMembers.length === 0 ? undefined : options.trustedMembers,
          maxHints: options.maxHints,
          fullMeshMax: options.fullMeshMax,
          announce: options.announce.length === 0 ? undefined : options.announce,
        },
      },
    });
    const network = networkOf(db);

    const throttle = new RepeatThrottle();
    network.on((event) => logNetworkEvent(log, network, throttle, event));

    const uptimeSeconds = (): number => (Date.now() - startedAt) / 1000;
    const checks = new HealthChecks({
      storageFailure: () => db?.storage.failure(),
      engineTrap: () => (trapped ? new Error('the engine trapped') : undefined),
      more: () => guard.reasons(),
    });
    stopChecks = () => checks.stop();
    const health = async (): Promise<HealthJson> => {
      const status = network.status();
      const memory = await memoryReport(db!);
      const reasons = [...checks.reasons(), ...memoryReasons(memory)];
      return {
        status: reasons.length === 0 ? 'ok' : 'degraded',
        ...(reasons.length === 0 ? {} : { reasons }),
        peerId: network.peerId,
        addresses: status.addresses,
        peers: {
          count: status.peers.length,
          list: status.peers.map((peer) => ({ peerId: peer.peerId, transport: peer.transport, role: peer.role, rttMs: peer.rttMs })),
        },
        state: status.state,
        uptimeSeconds: Math.round(uptimeSeconds()),
        store: { bytes: await storeBytes() },
        outboxSize: status.outboxSize,
        memory,
        ...(status.dht === undefined ? {} : { dht: { members: status.dht.members, replicas: status.dht.replicas, share: status.dht.share } }),
        version: VERSION,
      };
    };
    const metrics = createMetricsRegistry({
      status: () => network.status(),
      counters: () => network.counters(),
      storeBytes,
      uptimeSeconds,
      ...(network.dht === undefined ? {} : { dht: network.dht }),
    });

    const addresses = network.status().addresses;
    log.info('listening', { peerId: network.peerId, addresses });
    // Interrupted while opening: nothing to serve, just close again.
    if (stopSignal !== undefined) return await shutdown(log, undefined, db);
    http = await startHttpServer({ port: options.httpPort, host: options.httpHost, health, metrics, ...(demoDir === undefined ? {} : { staticDir: demoDir }) });
    log.info('http listening', { url: http.url, endpoints: [...(demoDir === undefined ? [] : [`${http.url}/`]), `${http.url}/health`, `${http.url}/metrics`], demo: demoDir });

    if (options.logFormat === 'pretty') {
      if (!options.quiet) io.stdout(banner(await health(), http.url, dataDir, demoDir !== undefined));
    } else {
      log.info('ready', { peerId: network.peerId, addresses, http: http.url, ...(demoDir === undefined ? {} : { demo: `${http.url}/` }), data: dataDir, startupMs: Date.now() - startedAt });
    }

    await stopRequested;
    const code = await shutdown(log, http, db);
    return trapped ? EXIT.engineTrapped : code;
  } catch (error) {
    // Start-up failed (or was interrupted): close what opened, then report the cause.
    await http?.close().catch(() => {});
    if (db !== undefined) await db.close().catch(() => {});
    else await store?.close().catch(() => {});
    if (stopSignal !== undefined && db === undefined) {
      log.info('stopped', { during: 'start-up' });
      return EXIT.ok;
    }
    throw error;
  } finally {
    stopChecks();
    stopGuard();
    stopOnTrap();
    restoreSignals();
  }
}

/** The process's memory as the kernel and V8 count it, and the engine's loaded nodes against the budget. */
async function memoryReport(db: RustDHT): Promise<NonNullable<HealthJson['memory']>> {
  const usage = process.memoryUsage();
  const cache = await db.storage.usage();
  return {
    rssBytes: usage.rss,
    heapUsedBytes: usage.heapUsed,
    heapTotalBytes: usage.heapTotal,
    externalBytes: usage.external,
    engineMemoryBytes: engineMemoryBytes(),
    residentNodes: cache.residentNodes,
    residentBytes: cache.residentBytes,
    budgetBytes: cache.memoryBudget,
  };
}

async function shutdown(log: Logger, http: HttpServer | undefined, db: RustDHT): Promise<number> {
  let code: number = EXIT.ok;
  const started = Date.now();
  try {
    await http?.close();
  } catch (error) {
    log.error('closing HTTP failed', { error });
    code = EXIT.failure;
  }
  try {
    await db.close();
  } catch (error) {
    log.error('closing the database failed', { error });
    code = EXIT.failure;
  }
  log.info('stopped', { shutdownMs: Date.now() - started });
  return code;
}
