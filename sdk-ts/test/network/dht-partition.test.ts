/**
 * The DHT across a real network partition (issue 12, item 6): four `rustdht serve`
 * processes, each in its own network namespace on its own address (helpers/netns.ts:
 * veth pairs into two bridges joined by one veth "cable"), sides a = {s1, s2} and
 * b = {s3, s4}, --replicas 3, each bootstrapped from s1. Clients run inside the
 * namespaces too (helpers/netns-writer.mjs, the built SDK).
 *
 *   1. every server joins (one bootstrap address), and a first value of each soul is on
 *      its owners;
 *   2. the cable is cut (`ip link set … down`: silence, no reset). Side a writes every
 *      soul, then side b writes every soul (through both its servers), then side a
 *      writes a third of them again. Neither side's servers hold anything the other
 *      side wrote. The cut lasts until every server has given up on the other side's
 *      (its liveness check hangs up after 20 s of silence) and each side has placed every
 *      soul on both of its servers (with two members left, each owns every soul), at the
 *      latest value written on that side;
 *   3. the cable is healed, and every owner of each soul (computed here, among all four)
 *      converges to HAM's winner, computed here from what was written and the states
 *      the writes got: the later state wins; at the same state, the greater
 *      JSON.stringify text (JavaScript string order) wins. Then the four are one cluster
 *      again: each soul ends on its R owners only.
 *
 * What a server holds is read from a copy of its LevelDB files taken while it is paused
 * for a moment (helpers/dht-cluster.ts), not asked over the network.
 *
 * Needs root and iproute2 (`ip netns`); without them each case says why it did not run
 * and is reported as skipped. Needs the build (`npm run build`).
 */
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import type { PropertyMeta } from '../../src/api/values.js';
import { ownersOf, storedProperties } from './helpers/dht-cluster.js';
import { namespaceSupport, PartitionLab, runInNamespace, startNamespacedServer, stopNamespacedServers, type NamespacedServer, type Side } from './helpers/netns.js';
import { cliBuilt, waitFor } from './helpers/server-process.js';

const R = 3;
const SOULS = 40;
const KEY = 'v';
const PORT = 7401;
const SERVE_ARGS = ['--replicas', String(R)];
/** How long each side may take to give up on the other after the cut (liveness: 20 s of silence). */
const DETECT_BOUND_MS = 35_000;
/** From then until each side holds every soul on both of its servers. */
const REPLACE_BOUND_MS = 20_000;
/** From the heal until every owner holds the winner. */
const CONVERGE_BOUND_MS = 40_000;
const WRITER = join(dirname(fileURLToPath(import.meta.url)), 'helpers', 'netns-writer.mjs');

const run = randomUUID().slice(0, 6);
const souls = Array.from({ length: SOULS }, (_, i) => `dht-partition-${run}/${i}`);
const support = namespaceSupport();
const log = (line: string): void => console.log(`[dht partition] ${line}`);
const ms = (since: number): number => Math.round(performance.now() - since);

let lab: PartitionLab | undefined;
let servers: NamespacedServer[] = [];

interface Written {
  readonly soul: string;
  readonly value: string;
  readonly state: number;
}

/** Every write made, per soul, in the order made. */
const writes = new Map<string, Written[]>(souls.map((soul) => [soul, []]));

/** Skips the case, saying why, where namespaces cannot be made here. */
function requireNamespaces(ctx: TestContext): void {
  if (support.ok) return;
  console.log(`[dht partition] NOT RUN: ${support.reason}`);
  ctx.skip(`not run: ${support.reason}`);
}

/** HAM: the later state wins; at the same state, the greater JSON text (by UTF-16 code units). */
function hamWinner(a: Written, b: Written): Written {
  if (a.state !== b.state) return a.state > b.state ? a : b;
  return JSON.stringify(b.value) > JSON.stringify(a.value) ? b : a;
}

/** Writes `value(soul)` to each of `which` through `server`, from a client in its namespace. */
async function write(server: NamespacedServer, which: readonly string[], value: (soul: string) => string): Promise<void> {
  const spec = { key: KEY, writes: which.map((soul) => ({ soul, value: value(soul) })) };
  const result = await runInNamespace(server.node.ns, WRITER, [server.address], JSON.stringify(spec), 40_000);
  if (result.code !== 0) throw new Error(`the writer in ${server.node.ns} exited with ${String(result.code)}:\n${result.stderr}${result.stdout}`);
  const { metas } = JSON.parse(result.stdout.trim().split('\n').pop()!) as { metas: Written[] };
  for (const meta of metas) writes.get(meta.soul)!.push(meta);
  log(`a client of ${server.name} (side ${server.node.side}) wrote ${metas.length} souls in ${result.ms} ms (process included)`);
}

/** Each server's stored values of the souls (see the file comment). */
async function census(): Promise<Map<string, Map<string, PropertyMeta | undefined>>> {
  const result = new Map<string, Map<string, PropertyMeta | undefined>>();
  for (const server of servers) result.set(server.peerId, await storedProperties(server, souls, KEY));
  return result;
}

/** Prints the end of each server's log (not its debug lines): what a failure needs to be understood. */
function dumpLogs(): void {
  for (const server of servers) {
    const lines = server.logs.filter((line) => !line.includes('"level":"debug"')).slice(-40);
    console.log(`[dht partition] --- ${server.name} (${server.peerId}, side ${server.node.side}), last log lines:\n${lines.join('\n')}`);
  }
}

const sideOfValue = (value: unknown): Side | undefined => (typeof value === 'string' && value.startsWith('a:') ? 'a' : typeof value === 'string' && value.startsWith('b:') ? 'b' : undefined);

beforeAll(async () => {
  if (!support.ok) return;
  if (!cliBuilt()) throw new Error('dist/cli/main.js is missing: run `npm run build` in sdk-ts first');
  const started = performance.now();
  lab = PartitionLab.create({ prefix: `rdt${run}`, sides: [2, 2] });
  const [first] = lab.nodes;
  // Fixed ports: every namespace has its own. All start at once; the others redial s1
  // (its address without /p2p/) until it listens.
  servers = await Promise.all(
    lab.nodes.map((node, i) =>
      startNamespacedServer(node, {
        name: `s${i + 1}`,
        port: PORT,
        bootstrap: i === 0 ? [] : [`/ip4/${first!.address}/tcp/${PORT}`],
        args: SERVE_ARGS,
      }),
    ),
  );
  log(`namespaces made and ${servers.length} servers ready in ${ms(started)} ms: ${servers.map((s) => `${s.name}@${s.node.address}(${s.node.side})`).join(' ')}`);
}, 90_000);

afterAll(async () => {
  // Even when a case failed or a start failed half-way: processes first, then the namespaces.
  await stopNamespacedServers();
  lab?.destroy();
}, 60_000);

describe('the DHT across a network partition (network namespaces)', () => {
  const members = (): string[] => servers.map((s) => s.peerId);

  it('every server joins, and a first value of each soul reaches its owners', async (ctx) => {
    requireNamespaces(ctx);
    const started = performance.now();
    await waitFor('a full mesh of servers', () => servers.every((server) => members().filter((id) => id !== server.peerId).every((id) => server.connectedServers().has(id))), {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    log(`full mesh of servers ${ms(started)} ms after they were ready`);

    await write(servers[0]!, souls, (soul) => `first:${soul}`);
    const written = performance.now();
    await waitFor('the first values on their owners', async () => {
      const held = await census();
      return souls.every((soul) => ownersOf(soul, members(), R).every((owner) => held.get(owner)!.get(soul)?.value === `first:${soul}`));
    }, { timeoutMs: 20_000, intervalMs: 250 });
    log(`first values on their ${R} owners ${ms(written)} ms after they were acknowledged`);
  }, 60_000);

  it('cut in two, each side takes its own writes to the same souls and holds none of the other side\'s', async (ctx) => {
    requireNamespaces(ctx);
    const [s1, s2, s3, s4] = servers as [NamespacedServer, NamespacedServer, NamespacedServer, NamespacedServer];
    const cutAt = performance.now();
    lab!.cut();
    log('cable cut');

    // a, then b (half through each of its servers), then a again for a third: the states
    // are in that order, so each side wins some souls.
    await write(s1, souls, (soul) => `a:early:${soul}`);
    await Promise.all([
      write(s3, souls.filter((_, i) => i % 2 === 0), (soul) => `b:${soul}`),
      write(s4, souls.filter((_, i) => i % 2 === 1), (soul) => `b:${soul}`),
    ]);
    await write(s2, souls.filter((_, i) => i % 3 === 0), (soul) => `a:late:${soul}`);

    const held = await census();
    const crossed: string[] = [];
    const sideHolds = { a: 0, b: 0 };
    for (const server of servers) {
      for (const [soul, meta] of held.get(server.peerId)!) {
        const side = sideOfValue(meta?.value);
        if (side === undefined) continue;
        if (side !== server.node.side) crossed.push(`${server.name} (side ${server.node.side}) holds ${soul} = ${JSON.stringify(meta!.value)}`);
        else sideHolds[side]++;
      }
    }
    expect(crossed).toEqual([]);
    // Each side holds what it wrote: every soul on at least one server of each side.
    for (const side of ['a', 'b'] as const) {
      const sideServers = servers.filter((s) => s.node.side === side);
      const missing = souls.filter((soul) => !sideServers.some((s) => sideOfValue(held.get(s.peerId)!.get(soul)?.value) === side));
      expect(missing, `souls side ${side} wrote and none of its servers holds`).toEqual([]);
    }
    log(`during the cut: ${sideHolds.a} copies of side a's values on side a, ${sideHolds.b} of side b's on side b, none across`);

    // Until every server has given up on the other side (its liveness check), so that
    // both sides place the souls among themselves before the heal.
    const detected = await waitFor('every server to hang up on the other side', () => {
      let last = 0;
      for (const server of servers) {
        for (const other of servers) {
          if (other.node.side === server.node.side) continue;
          const at = server.disconnectedAt(other.peerId, cutAt);
          if (at === undefined) return undefined;
          last = Math.max(last, at);
        }
      }
      return last;
    }, { timeoutMs: DETECT_BOUND_MS, intervalMs: 250 });
    log(`every server hung up on the other side ${Math.round(detected - cutAt)} ms after the cut`);

    // Then each side counts the other down and places every soul on both of its servers,
    // at the latest value written on that side (HAM among that side's writes).
    const sideLatest = (soul: string, side: Side): Written => writes.get(soul)!.filter((w) => !w.value.startsWith('a:') && !w.value.startsWith('b:') || sideOfValue(w.value) === side).reduce(hamWinner);
    let notYet: string[] = [];
    await waitFor('each side to hold every soul on both of its servers', async () => {
      const now = await census();
      notYet = [];
      for (const server of servers) {
        for (const soul of souls) {
          const expected = sideLatest(soul, server.node.side);
          const meta = now.get(server.peerId)!.get(soul);
          if (meta?.value !== expected.value || meta.state !== expected.state) notYet.push(`${server.name} holds ${soul} = ${JSON.stringify(meta?.value)}, side ${server.node.side} wrote ${JSON.stringify(expected.value)} last`);
        }
      }
      return notYet.length === 0;
    }, { timeoutMs: REPLACE_BOUND_MS, intervalMs: 250 }).catch((error: unknown) => {
      dumpLogs();
      throw new Error(`${notYet.length} copies missing on their side, e.g. ${notYet.slice(0, 5).join('; ')}`, { cause: error });
    });
    log(`each side holds every soul on both of its servers ${ms(cutAt)} ms after the cut (${Math.round(performance.now() - detected)} ms after the hang-ups)`);
  }, 120_000);

  it('healed, every owner of each soul converges to HAM\'s winner', async (ctx) => {
    requireNamespaces(ctx);
    const winners = new Map(souls.map((soul) => [soul, writes.get(soul)!.reduce(hamWinner)]));
    const won = { a: 0, b: 0 };
    for (const winner of winners.values()) won[sideOfValue(winner.value)!]++;
    expect(won.a).toBeGreaterThan(0);
    expect(won.b).toBeGreaterThan(0);

    const healedAt = performance.now();
    lab!.heal();
    log(`cable healed; expected winners: side a ${won.a}, side b ${won.b}`);
    let wrong: string[] = [];
    await waitFor('every owner to hold the winner', async () => {
      const held = await census();
      wrong = [];
      for (const soul of souls) {
        const winner = winners.get(soul)!;
        for (const owner of ownersOf(soul, members(), R)) {
          const meta = held.get(owner)!.get(soul);
          if (meta?.value !== winner.value || meta.state !== winner.state) {
            wrong.push(`${servers.find((s) => s.peerId === owner)!.name} holds ${soul} = ${JSON.stringify(meta?.value)} @${meta?.state}, winner ${JSON.stringify(winner.value)} @${winner.state}`);
          }
        }
      }
      return wrong.length === 0;
    }, { timeoutMs: CONVERGE_BOUND_MS, intervalMs: 500 }).catch((error: unknown) => {
      dumpLogs();
      throw new Error(`${wrong.length} owner copies not at HAM's winner, e.g. ${wrong.slice(0, 5).join('; ')}`, { cause: error });
    });
    log(`every owner holds HAM's winner ${ms(healedAt)} ms after the heal`);

    // And the four are one cluster again: each side takes the other's members back (on
    // their next signed record), so each soul ends on its R owners only (the fourth
    // server hands its copy off and lets it go).
    let extra: string[] = [];
    await waitFor('each soul on its owners only', async () => {
      const held = await census();
      extra = [];
      for (const soul of souls) {
        const owners = ownersOf(soul, members(), R);
        for (const server of servers) if (!owners.includes(server.peerId) && held.get(server.peerId)!.get(soul) !== undefined) extra.push(`${server.name} still holds ${soul}`);
      }
      return extra.length === 0;
    }, { timeoutMs: CONVERGE_BOUND_MS, intervalMs: 500 }).catch((error: unknown) => {
      dumpLogs();
      throw new Error(`${extra.length} copies beyond the owners, e.g. ${extra.slice(0, 5).join('; ')}`, { cause: error });
    });
    log(`each soul on its ${R} owners only ${ms(healedAt)} ms after the heal`);
  }, 2 * CONVERGE_BOUND_MS + 30_000);
});
