/**
 * `rustdht get | put | watch`: one-shot clients (and the session `where` runs in:
 * where-command.ts). Each opens an in-memory database on the network as a client, waits
 * for a connection, does one thing with the ordinary SDK API, and closes. Nothing is kept locally, which is why `put` waits until a peer
 * acknowledges the write: exiting earlier would drop it.
 *
 * --timeout bounds the whole command for get and put (connecting, fetching,
 * acknowledgement) and the first connection for watch. Ctrl+C ends get and put with
 * exit 130, and ends watch normally (exit 0): stopping is how a watch finishes.
 */
import { AbortError } from '../api/errors.js';
import type { NetworkEvent } from '../network/types.js';
import { RustDHT, type Network } from '../node.js';
import { isLink, type ReadValue } from '../api/values.js';
import type { ClientOptions, GetOptions, PutOptions, WatchOptions } from './args.js';
import { CliError, EXIT } from './cli-error.js';
import type { CliIO } from './io.js';
import { resolvePeers } from './peer-discovery.js';

export interface Session {
  readonly db: RustDHT;
  readonly network: Network;
  /** Fires on SIGINT/SIGTERM. */
  readonly interrupt: AbortSignal;
  /** Milliseconds left of --timeout (at least 1, so a late call still gets a chance to fail cleanly). */
  remainingMs(): number;
  /** Fires on SIGINT/SIGTERM or when --timeout runs out. */
  readonly deadline: AbortSignal;
}

function interrupted(): CliError {
  return new CliError('cli/interrupted', 'interrupted', EXIT.interrupted);
}

function unreachable(options: ClientOptions, why: string): CliError {
  return new CliError('cli/unreachable', `could not reach any peer at ${options.peers.join(', ')} within ${options.timeoutMs} ms (${why})`, EXIT.unreachable);
}

function describe(soul: string, key: string | undefined): string {
  return key === undefined ? `soul ${JSON.stringify(soul)}` : `key ${JSON.stringify(key)} of soul ${JSON.stringify(soul)}`;
}

/** Opens the client database, connects, runs `body`, and always closes the database (also `rustdht where`: where-command.ts). */
export async function withSession<T>(options: ClientOptions, io: CliIO, body: (session: Session) => Promise<T>): Promise<T> {
  const started = Date.now();
  const stop = new AbortController();
  const restoreSignals = io.onSignal(() => stop.abort(interrupted()));
  // Not AbortSignal.any([…, AbortSignal.timeout(ms)]): on Node 20 the timeout signal is
  // held only weakly (by its timer and by the composite), so a garbage collection before
  // it fires (likely: loading libp2p allocates a lot) loses it and --timeout never ends
  // the command. A plain timer referenced by the event loop cannot be collected.
  const expired = new AbortController();
  const timer = setTimeout(() => expired.abort(new DOMException(`timed out after ${options.timeoutMs} ms`, 'TimeoutError')), options.timeoutMs);
  const deadline = AbortSignal.any([stop.signal, expired.signal]);
  let db: RustDHT | undefined;
  let failed = true;
  try {
    let peers: string[];
    try {
      peers = await resolvePeers(options.peers, deadline);
    } catch (error) {
      if (stop.signal.aborted) throw interrupted();
      if (deadline.aborted) throw unreachable(options, 'no answer from /health');
      throw error;
    }
    const opened = await RustDHT.open({ store: 'memory', network: { role: 'client', peers } });
    db = opened;
    const network = opened.network;
    // A refusal is known in about a second: waiting out --timeout would tell nothing more.
    const gaveUp = new AbortController();
    const checkFailures = (): void => {
      const failures = network.dialFailures();
      if (network.status().peers.length === 0 && peers.every((peer) => failures.has(peer))) {
        gaveUp.abort([...failures.values()].map((failure) => `${failure.message} [${failure.code}]`).join(' '));
      }
    };
    const offFailures = network.on((event) => {
      if (event.type === 'dial:failed') checkFailures();
    });
    checkFailures();
    try {
      await network.whenConnected({ signal: AbortSignal.any([deadline, gaveUp.signal]) });
    } catch (error) {
      if (stop.signal.aborted) throw interrupted();
      if (gaveUp.signal.aborted) throw new CliError('cli/unreachable', `could not reach any peer: ${String(gaveUp.signal.reason)}`, EXIT.unreachable);
      if (deadline.aborted) throw unreachable(options, error instanceof Error ? error.message : String(error));
      throw error;
    } finally {
      offFailures();
    }
    const result = await body({
      db,
      network,
      interrupt: stop.signal,
      deadline,
      remainingMs: () => Math.max(1, options.timeoutMs - (Date.now() - started)),
    });
    failed = false;
    return result;
  } catch (error) {
    // An AbortError from deep inside the SDK after Ctrl+C is just the interruption.
    if (stop.signal.aborted && (error instanceof AbortError || error === stop.signal.reason)) throw interrupted();
    throw error;
  } finally {
    clearTimeout(timer);
    restoreSignals();
    // After a failure, a failing close must not hide the error that matters.
    // No wait for the outbox: put already waited for its acknowledgement (or said it timed out).
    if (failed) await db?.close({ timeoutMs: 0 }).catch(() => {});
    else await db?.close({ timeoutMs: 0 });
  }
}

function formatValue(value: Exclude<ReadValue, undefined>, json: boolean): string {
  if (json) return JSON.stringify(value);
  // Like `jq -r`: a string prints as itself, so `$(rustdht get s k)` is the value.
  if (typeof value === 'string') return value;
  return typeof value === 'object' && value !== null ? JSON.stringify(value, null, 2) : JSON.stringify(value);
}

export async function runGet(options: GetOptions, io: CliIO): Promise<number> {
  return withSession(options, io, async ({ db, network, interrupt, remainingMs }) => {
    const { soul, key } = options;
    // fetch resolves once every peer answered or the time is up; what arrived is merged.
    await network.fetch(soul, { keys: key === undefined ? undefined : [key], signal: interrupt, timeoutMs: remainingMs() });
    const ref = key === undefined ? db.get(soul) : db.get(soul).get(key);
    if (key !== undefined) {
      // A property holding a link reads as the linked node, which the fetch above did not bring.
      const prop = await ref.meta({ local: true, signal: interrupt });
      if (prop !== undefined && 'value' in prop && isLink(prop.value)) {
        await network.fetch(prop.value['#'], { signal: interrupt, timeoutMs: remainingMs() });
      }
    }
    // local: the fetch above already asked the peers; a read-through would ask again.
    const value = await ref.once({ local: true, signal: interrupt });
    if (value === undefined) {
      throw new CliError('cli/not-found', `${describe(soul, key)} not found: no peer that answered within ${options.timeoutMs} ms knows it`, EXIT.failure);
    }
    io.stdout(`${formatValue(value, options.json)}\n`);
    return EXIT.ok;
  });
}

export async function runPut(options: PutOptions, io: CliIO): Promise<number> {
  return withSession(options, io, async ({ db, network, interrupt, deadline }) => {
    const { soul, values } = options;
    // A peer refusing the write shows up as a reject event before the entry is acked.
    const rejects: Array<Extract<NetworkEvent, { type: 'reject' }>> = [];
    const off = network.on((event) => {
      if (event.type === 'reject') rejects.push(event);
    });
    try {
      // Rejects at once with a typed error (InvalidValueError, PermissionError…) for a bad value.
      await db.get(soul).put(values);
      try {
        await network.whenSynced({ signal: deadline });
      } catch (error) {
        if (interrupt.aborted) throw interrupted();
        if (deadline.aborted) {
          throw new CliError(
            'cli/timeout',
            `no peer acknowledged the write within ${options.timeoutMs} ms; it was not stored anywhere (this client keeps nothing)`,
            EXIT.unreachable,
          );
        }
        throw error;
      }
    } finally {
      off();
    }
    const refusal = rejects[0];
    if (refusal !== undefined) {
      throw new CliError(refusal.code, `peer ${refusal.peerId} refused the write to ${describe(soul, undefined)}: ${refusal.message}`, EXIT.failure);
    }
    const keys = Object.keys(values);
    io.stdout(
      options.json
        ? `${JSON.stringify({ soul, keys, acknowledged: true })}\n`
        : `stored ${keys.length} ${keys.length === 1 ? 'property' : 'properties'} (${keys.join(', ')}) in ${JSON.stringify(soul)}; acknowledged by a peer\n`,
    );
    return EXIT.ok;
  });
}

export async function runWatch(options: WatchOptions, io: CliIO): Promise<number> {
  return withSession(options, io, async ({ db, network, interrupt, remainingMs }) => {
    const { soul, key } = options;
    // The current value first, so the first line printed is the state now, not the next change.
    await network.fetch(soul, { keys: key === undefined ? undefined : [key], signal: interrupt, timeoutMs: remainingMs() }).catch((error: unknown) => {
      if (!interrupt.aborted) throw error;
    });
    if (interrupt.aborted) return EXIT.ok;
    const ref = key === undefined ? db.get(soul) : db.get(soul).get(key);
    const offValue = ref.on((value) => {
      if (value === undefined) return;
      io.stdout(`${options.json ? JSON.stringify({ time: new Date().toISOString(), soul, key, value }) : JSON.stringify(value)}\n`);
    });
    // Status on stderr, so stdout stays one JSON document per line.
    const offNetwork = network.on((event) => {
      if (event.type === 'peer:connect') io.stderr(`rustdht: connected to ${event.peer.peerId} (${event.peer.transport})\n`);
      else if (event.type === 'peer:disconnect') {
        const left = network.status().peers.length;
        io.stderr(`rustdht: disconnected from ${event.peerId}${left === 0 ? '; redialling…' : ''}\n`);
      }
    });
    try {
      await new Promise<void>((done) => interrupt.addEventListener('abort', () => done(), { once: true }));
    } finally {
      offValue();
      offNetwork();
    }
    return EXIT.ok;
  });
}
