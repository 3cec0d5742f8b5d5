/**
 * `rustdht where` against four real `rustdht serve` processes on loopback, R = 2, each
 * joined through one --bootstrap (the first server). The owners it lists are checked
 * against owners this test computes on its own with node:crypto, the way DESIGN.md §5
 * defines them (SHA-256 of the soul, SHA-256 of each peer id's multihash bytes, XOR,
 * closest first): the CLI computes them with the engine, so the two must agree.
 *
 * Needs the build (`npm run build`): the servers and the CLI run from dist/.
 * The cases share the servers and run in order; the last one stops an owner.
 */
import { createHash, randomUUID } from 'node:crypto';
import { peerIdFromString } from '@libp2p/peer-id';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServer, stopAllServers, waitFor, type ServerProcess } from '../network/helpers/server-process.js';

const R = 2;
const run = randomUUID().slice(0, 8);
let servers: ServerProcess[] = [];

interface WhereJson {
  soul: string;
  position: string;
  replicas: number;
  members: number;
  owners: Array<{ peerId: string; address: string; distance: string; leadingZeroBits: number; status: string; properties?: number; newestState?: string; code?: string }>;
  timingsMs: { connect: number; membership: number; placement: number; holders: number; total: number };
}

const sha256 = (bytes: Uint8Array | string): Buffer => createHash('sha256').update(bytes).digest();

/** The R owners of `soul` among `peerIds`, closest first, with the XOR distance of each (hex). */
function expectedOwners(soul: string, peerIds: readonly string[]): Array<{ peerId: string; distance: string }> {
  const position = sha256(soul);
  return peerIds
    .map((peerId) => {
      const key = sha256(peerIdFromString(peerId).toMultihash().bytes);
      return { peerId, distance: Buffer.from(position.map((byte, i) => byte ^ key[i]!)).toString('hex') };
    })
    // Equal-length hex compares as the 256-bit big-endian numbers it spells.
    .sort((a, b) => (a.distance < b.distance ? -1 : 1))
    .slice(0, R);
}

const httpOf = (server: ServerProcess): string => `http://127.0.0.1:${server.httpPort}`;

async function where(soul: string, peer: ServerProcess, ...extra: string[]) {
  return runCli(['where', soul, '--peer', httpOf(peer), '--replicas', String(R), '--timeout', '10000', ...extra], { timeoutMs: 30_000 });
}

beforeAll(async () => {
  const first = await startServer({ name: 'w1', args: ['--replicas', String(R), '--exempt-loopback'] });
  servers = [first];
  // One --bootstrap each: the rest of the membership arrives by gossip.
  for (const name of ['w2', 'w3', 'w4']) servers.push(await startServer({ name, bootstrap: [first.tcpAddress], args: ['--replicas', String(R), '--exempt-loopback'] }));
  for (const server of servers) {
    await waitFor(`${server.name} to count 4 members`, async () => ((await server.health()).body['dht'] as { members: number } | undefined)?.members === 4, { timeoutMs: 30_000, intervalMs: 200 });
  }
}, 180_000);

afterAll(async () => {
  await stopAllServers();
}, 60_000);

describe('rustdht where', () => {
  const written = `where-${run}/users/ann`;

  it('lists exactly the R owners computed independently, both holding a written soul; exit 0', async () => {
    const put = await runCli(['put', written, 'name=Ann', 'age=37', '--peer', httpOf(servers[0]!)]);
    expect(put.code, put.stderr).toBe(0);
    const owners = expectedOwners(written, servers.map((server) => server.peerId));

    // Hand-off to the owners is asynchronous: ask until both hold it.
    const result = await waitFor('both owners to hold the soul', async () => {
      const attempt = await where(written, servers[0]!, '--json');
      return attempt.code === 0 ? attempt : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    const report = JSON.parse(result.stdout) as WhereJson;
    expect(report.soul).toBe(written);
    expect(report.position).toBe(sha256(written).toString('hex'));
    expect(report.members).toBe(4);
    expect(report.replicas).toBe(R);
    expect(report.owners.map(({ peerId, distance }) => ({ peerId, distance }))).toEqual(owners);
    for (const owner of report.owners) {
      expect(owner).toMatchObject({ status: 'held', properties: 2 });
      expect(Date.parse(owner.newestState!)).toBeGreaterThan(Date.now() - 120_000);
      expect(owner.leadingZeroBits).toBe(/^0*/.exec(BigInt(`0x${owner.distance}`).toString(2).padStart(256, '0'))![0].length);
      expect(owner.address).toContain(`/p2p/${owner.peerId}`);
    }
    const t = report.timingsMs;
    expect(t.total).toBeGreaterThanOrEqual(t.connect + t.membership + t.placement + t.holders - 1);
    console.log(`rustdht where (--json): ${result.ms} ms in all; ${JSON.stringify(t)}`);

    // The text form says the same for humans.
    const text = await where(written, servers[3]!);
    expect(text.code, text.stderr).toBe(0);
    for (const { peerId, distance } of owners) {
      expect(text.stdout).toContain(peerId);
      expect(text.stdout).toContain(`distance ${distance}`);
    }
    expect(text.stdout).toMatch(/holds it: 2 properties, newest state \d{4}-\d\d-\d\dT/);
    expect(text.stdout).toContain(`held by ${R} of ${R} owners`);
    expect(text.stdout).toMatch(/lookup +[\d.]+ ms: connect [\d.]+ ms, membership [\d.]+ ms, placement [\d.]+ ms, holder checks [\d.]+ ms/);
    console.log(text.stdout);
  }, 90_000);

  it('a soul never written: its owners listed, "not held", exit 1', async () => {
    const soul = `where-${run}/never-written`;
    const result = await where(soul, servers[1]!, '--json');
    expect(result.code, result.stderr).toBe(1);
    const report = JSON.parse(result.stdout) as WhereJson;
    expect(report.owners.map((owner) => owner.peerId)).toEqual(expectedOwners(soul, servers.map((server) => server.peerId)).map((owner) => owner.peerId));
    expect(report.owners.map((owner) => owner.status)).toEqual(['not-held', 'not-held']);
    const text = await where(soul, servers[1]!);
    expect(text.code).toBe(1);
    expect(text.stdout.match(/^ +not held$/gm)).toHaveLength(R);
    expect(text.stdout).toContain(`held by 0 of ${R} owners`);
  }, 60_000);

  it('usage errors exit 64 (the CLI\'s usage code), an unreachable --peer exits 2', async () => {
    for (const argv of [['where'], ['where', 's', 'extra', '--peer', httpOf(servers[0]!)], ['where', 's', '--replicas', '0', '--peer', httpOf(servers[0]!)], ['where', 's', '--nope']]) {
      const result = await runCli(argv);
      expect(result.code, `rustdht ${argv.join(' ')}: ${result.stderr}`).toBe(64);
      expect(result.stderr).toMatch(/^rustdht: cli\/usage: .*\(see rustdht where --help\)\n$/);
      expect(result.stdout).toBe('');
    }
    const closed = await runCli(['where', 's', '--peer', '/ip4/127.0.0.1/tcp/1', '--timeout', '5000']);
    expect(closed.code, closed.stderr).toBe(2);
    expect(closed.stderr).toMatch(/network\/refused/);
  }, 60_000);

  it('an owner that is down is "unreachable: CODE", exit 1, asked through a server that is not an owner', async () => {
    const owners = expectedOwners(written, servers.map((server) => server.peerId)).map((owner) => owner.peerId);
    const victim = servers.find((server) => server.peerId === owners[1])!;
    const asked = servers.find((server) => !owners.includes(server.peerId))!;
    await victim.kill9();
    // Its record stays valid for a while (45 s): the client still counts it among the owners.
    const result = await where(written, asked, '--json');
    expect(result.code, result.stderr).toBe(1);
    const report = JSON.parse(result.stdout) as WhereJson;
    expect(report.owners.map((owner) => owner.peerId)).toEqual(owners);
    expect(report.owners[0]).toMatchObject({ status: 'held' });
    expect(report.owners[1]).toMatchObject({ status: 'unreachable', code: 'network/refused' });
    const text = await where(written, asked);
    expect(text.stdout).toContain('unreachable: network/refused');
  }, 60_000);
});
