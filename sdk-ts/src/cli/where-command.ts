/**
 * `rustdht where SOUL`: which servers own a soul, and whether they hold it.
 *
 * 1. Connect to the --peer server(s) as a client and ask for the signed member records
 *    (`network.members()`: MEMBERS_SYNC, every record opened by the engine).
 * 2. Compute the owners with the engine, exactly as servers do (placement-view.ts
 *    `ownersUnder`: the engine's Placement), and the positions with the engine's
 *    soulPosition/peerPosition. Nothing here hashes; the XOR below only prints a
 *    distance between two positions the engine derived.
 * 3. Ask each owner on its own: a separate in-memory client dialling only that owner (at
 *    the address its record announces), so what it answers is what *that* server holds,
 *    not a merge of several. The owners are asked in parallel.
 *
 * The whole command is bounded by --timeout, like get and put.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import type { NodeMeta } from '../api/values.js';
import { Placement, peerPosition, soulPosition } from '../engine/load-node.js';
import type { MemberRecord } from '../network/dht/member-table.js';
import { dialAddress } from '../network/dht/membership.js';
import { ownersUnder } from '../network/dht/placement-view.js';
import { codeOf, messageOf } from '../network/refusal.js';
import { RustDHT } from '../node.js';
import type { WhereOptions } from './args.js';
import { CliError, EXIT } from './cli-error.js';
import { withSession } from './client-commands.js';
import type { CliIO } from './io.js';

/** What one owner said about the soul. */
export type Holding =
  | { readonly status: 'held'; readonly properties: number; readonly newestState: number }
  | { readonly status: 'not-held' }
  | { readonly status: 'unreachable'; readonly code: string; readonly message: string };

export interface OwnerReport {
  readonly peerId: string;
  /** Where it was dialled (from its member record); undefined when the record has no dialable address. */
  readonly address: string | undefined;
  /** XOR of the soul's and the owner's positions, 64 hex digits. */
  readonly distance: string;
  readonly leadingZeroBits: number;
  readonly holding: Holding;
}

export interface WhereReport {
  readonly soul: string;
  readonly position: string;
  readonly replicas: number;
  /** The live members, as the server(s) asked know them. */
  readonly members: number;
  readonly owners: readonly OwnerReport[];
  readonly timingsMs: { readonly connect: number; readonly membership: number; readonly placement: number; readonly holders: number; readonly total: number };
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((byte, i) => byte ^ b[i]!);
}

function leadingZeroBits(bytes: Uint8Array): number {
  let bits = 0;
  for (const byte of bytes) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

/** Milliseconds, to a tenth for the sub-millisecond steps (placement). */
const ms = (from: number, to: number): number => Math.round((to - from) * 10) / 10;

/**
 * What the owner reachable at `address` holds of `soul`: its own client, dialling only
 * that address, so the answer is that server's alone. Bounded by `signal`.
 */
async function askOwner(address: string, soul: string, signal: AbortSignal, remainingMs: () => number): Promise<Holding> {
  const db = await RustDHT.open({ store: 'memory', network: { role: 'client', peers: [address] } });
  try {
    const network = db.network!;
    // A refused or unreachable owner is known at its first failed dial: no need to wait out --timeout.
    const failed = new AbortController();
    const off = network.on((event) => {
      if (event.type === 'dial:failed') failed.abort(network.dialFailures().get(address) ?? event);
    });
    try {
      await network.whenConnected({ signal: AbortSignal.any([signal, failed.signal]) });
    } catch (error) {
      const failure = network.dialFailures().get(address);
      if (failure !== undefined) return { status: 'unreachable', code: failure.code, message: failure.message };
      if (signal.aborted && !failed.signal.aborted) return { status: 'unreachable', code: 'network/timeout', message: `no connection within --timeout` };
      return { status: 'unreachable', code: codeOf(error, 'network/dial-failed'), message: messageOf(error) };
    } finally {
      off();
    }
    await network.fetch(soul, { signal, timeoutMs: remainingMs() });
    const meta = (await db.get(soul).meta({ local: true, signal })) as NodeMeta | undefined;
    const states = Object.values(meta?.props ?? {}).map((prop) => prop.state);
    if (states.length === 0) return { status: 'not-held' };
    return { status: 'held', properties: states.length, newestState: Math.max(...states) };
  } finally {
    await db.close({ timeoutMs: 0 }).catch(() => {});
  }
}

/** The owners of `soul` among `members` and their distances, all from the engine's positions. */
function place(soul: string, members: readonly MemberRecord[], replicas: number): { position: Uint8Array; owners: Array<{ member: MemberRecord; distance: Uint8Array }> } {
  const ids = members.map((member) => member.peerId);
  const [owners] = ownersUnder({ Placement }, ids, replicas, [soul]);
  const position = soulPosition(soul);
  const byId = new Map(members.map((member) => [member.peerId, member]));
  return {
    position,
    owners: owners!.map((peerId) => ({
      member: byId.get(peerId)!,
      distance: xor(position, peerPosition(peerIdFromString(peerId).toMultihash().bytes)),
    })),
  };
}

export async function runWhere(options: WhereOptions, io: CliIO): Promise<number> {
  const started = performance.now();
  return withSession(options, io, async ({ network, deadline, interrupt, remainingMs }) => {
    const connected = performance.now();
    let members: MemberRecord[];
    try {
      members = await network.members({ signal: deadline, timeoutMs: remainingMs() });
    } catch (error) {
      if (interrupt.aborted) throw error;
      throw new CliError(codeOf(error, 'dht/members'), `could not read the member list: ${messageOf(error)}`, EXIT.failure);
    }
    if (members.length === 0) {
      throw new CliError('dht/no-members', 'the server knows no members (is it a rustdht serve of this version?)', EXIT.failure);
    }
    const fetched = performance.now();
    const { position, owners } = place(options.soul, members, options.replicas);
    const placed = performance.now();
    const holdings = await Promise.all(
      owners.map(async ({ member }): Promise<Holding> => {
        const address = dialAddress(member);
        if (address === undefined) return { status: 'unreachable', code: 'network/no-address', message: 'its member record lists no address a Node client can dial' };
        try {
          return await askOwner(address, options.soul, deadline, remainingMs);
        } catch (error) {
          if (interrupt.aborted) throw error;
          return { status: 'unreachable', code: codeOf(error, 'network/dial-failed'), message: messageOf(error) };
        }
      }),
    );
    // Ctrl+C during the checks: owners cut short are not "unreachable"; stop as get does.
    if (interrupt.aborted) throw interrupt.reason;
    const checked = performance.now();
    const report: WhereReport = {
      soul: options.soul,
      position: hex(position),
      replicas: options.replicas,
      members: members.length,
      owners: owners.map(({ member, distance }, i) => ({
        peerId: member.peerId,
        address: dialAddress(member),
        distance: hex(distance),
        leadingZeroBits: leadingZeroBits(distance),
        holding: holdings[i]!,
      })),
      timingsMs: { connect: ms(started, connected), membership: ms(connected, fetched), placement: ms(fetched, placed), holders: ms(placed, checked), total: ms(started, checked) },
    };
    const asked = network.status().peers.map((peer) => peer.peerId);
    io.stdout(options.json ? `${JSON.stringify(toJson(report))}\n` : formatReport(report, asked));
    return report.owners.every((owner) => owner.holding.status === 'held') ? EXIT.ok : EXIT.failure;
  });
}

/** The --json shape: flat owners, states as ISO times. */
function toJson(report: WhereReport): unknown {
  return {
    ...report,
    owners: report.owners.map(({ holding, ...owner }) => ({
      ...owner,
      ...(holding.status === 'held' ? { ...holding, newestState: new Date(holding.newestState).toISOString() } : holding),
    })),
  };
}

function describeHolding(holding: Holding): string {
  switch (holding.status) {
    case 'held':
      return `holds it: ${holding.properties} ${holding.properties === 1 ? 'property' : 'properties'}, newest state ${new Date(holding.newestState).toISOString()}`;
    case 'not-held':
      return 'not held';
    case 'unreachable':
      // The sentence (in --json) repeats the address printed above; the code says what failed.
      return `unreachable: ${holding.code}`;
  }
}

function formatReport(report: WhereReport, asked: readonly string[]): string {
  const source = asked.length === 1 ? ` (as ${asked[0]} knows them)` : '';
  const lines = [
    `soul      ${JSON.stringify(report.soul)}`,
    `position  ${report.position}`,
    `members   ${report.members} server${report.members === 1 ? '' : 's'}${source}; replicas ${report.replicas}`,
    '',
  ];
  report.owners.forEach((owner, i) => {
    lines.push(`owner ${i + 1}   ${owner.peerId}`);
    lines.push(`          distance ${owner.distance} (${owner.leadingZeroBits} leading zero bit${owner.leadingZeroBits === 1 ? '' : 's'})`);
    lines.push(`          at ${owner.address ?? '(no dialable address)'}`);
    lines.push(`          ${describeHolding(owner.holding)}`);
  });
  const t = report.timingsMs;
  const held = report.owners.filter((owner) => owner.holding.status === 'held').length;
  lines.push('');
  lines.push(`held by ${held} of ${report.owners.length} owner${report.owners.length === 1 ? '' : 's'}`);
  lines.push(`lookup    ${t.total} ms: connect ${t.connect} ms, membership ${t.membership} ms, placement ${t.placement} ms, holder checks ${t.holders} ms`);
  return `${lines.join('\n')}\n`;
}
