/**
 * The engine's half of the DHT, through the WebAssembly glue (sdk-ts/pkg/node): placement
 * (which servers own a soul, how a frame splits by owner) and signed member records.
 * Loaded as the SDK loads it (src/engine/load-node.ts, calls trap-guarded). Answers are
 * checked against libp2p itself (peer ids) and against a brute force over node:crypto's
 * SHA-256 (owners).
 */
import { createHash } from 'node:crypto';
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { describe, expect, it } from 'vitest';
import type { MemberRecord } from '../../src/engine/core-types.js';
import { Engine, encodeUpdates, openMemberRecord, peerPosition, Placement, signMemberRecord, soulPosition } from '../../src/engine/load-node.js';
import { parseJson } from '../../src/engine/reports.js';
import { memberRecords } from './engine-json.fixture.js';

const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;

const sha256 = (bytes: Uint8Array | string): Buffer => createHash('sha256').update(bytes).digest();

/** Owners by definition: all members sorted by XOR distance (Buffer.compare is big-endian order). */
function bruteForceOwners(members: readonly Uint8Array[], replicas: number, soul: string): number[] {
  const target = sha256(soul);
  return members
    .map((member, index) => {
      const position = sha256(member);
      const distance = Buffer.alloc(32);
      for (let i = 0; i < 32; i++) distance[i] = position[i]! ^ target[i]!;
      return { distance, index };
    })
    .sort((a, b) => Buffer.compare(a.distance, b.distance) || a.index - b.index)
    .slice(0, replicas)
    .map(({ index }) => index);
}

function codeOf(call: () => unknown): string | undefined {
  try {
    call();
  } catch (error) {
    expect((error as Error).name).toBe('EngineError');
    return (error as { code?: string }).code;
  }
  return undefined;
}

async function peers(n: number): Promise<{ id: string; multihash: Uint8Array }[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
      return { id: id.toString(), multihash: id.toMultihash().bytes };
    }),
  );
}

describe('member records', () => {
  it('a record signed with a libp2p peer key opens to that peer id', async () => {
    for (let i = 0; i < 5; i++) {
      const key = await generateKeyPair('Ed25519');
      // libp2p's raw Ed25519 private key is seed ‖ public key; the engine signs from the seed.
      const seed = key.raw.subarray(0, 32);
      const fields = { role: 'server', issuedAt: NOW, capacity: 2 ** 40, addrs: ['/ip4/127.0.0.1/tcp/4001/ws', '/dns4/é.example/tcp/443/wss'] } as const;
      const bytes = signMemberRecord(seed, fields);
      const record: MemberRecord = parseJson(openMemberRecord(bytes, NOW, HOUR, MINUTE));
      expect(record).toStrictEqual({ peerId: peerIdFromPrivateKey(key).toString(), ...fields });
    }
  });

  it('writes what the native engine writes (the type-checked fixture)', async () => {
    for (const [name, { text, json }] of Object.entries(memberRecords)) expect(JSON.parse(text), name).toStrictEqual(json);
    const seed = new Uint8Array(32).fill(7);
    const server = memberRecords['openMemberRecord: server']!.json;
    const bytes = signMemberRecord(seed, server);
    expect(openMemberRecord(bytes, NOW, MINUTE, MINUTE)).toBe(memberRecords['openMemberRecord: server']!.text);
    const libp2pId = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString();
    expect(server.peerId).toBe(libp2pId);
  });

  it('refuses tampered, stale, future and malformed records with their codes', () => {
    const seed = new Uint8Array(32).fill(9);
    const bytes = signMemberRecord(seed, { role: 'leaving', issuedAt: NOW, capacity: 0, addrs: [] });
    const tampered = bytes.slice();
    tampered[12]! ^= 1;
    expect(codeOf(() => openMemberRecord(tampered, NOW, HOUR, MINUTE))).toBe('member/bad-signature');
    expect(codeOf(() => openMemberRecord(bytes, NOW + HOUR + 1, HOUR, MINUTE))).toBe('member/stale');
    expect(codeOf(() => openMemberRecord(bytes, NOW - MINUTE - 1, HOUR, MINUTE))).toBe('member/future');
    expect(codeOf(() => openMemberRecord(bytes.subarray(0, 20), NOW, HOUR, MINUTE))).toBe('member/malformed');
    expect(codeOf(() => openMemberRecord(new Uint8Array(9000), NOW, HOUR, MINUTE))).toBe('member/too-large');
    const sign = (record: unknown) => codeOf(() => signMemberRecord(seed, record as Parameters<typeof signMemberRecord>[1]));
    expect(sign({ role: 'owner', issuedAt: NOW, capacity: 0, addrs: [] })).toBe('member/malformed');
    expect(sign({ role: 'server', issuedAt: 1.5, capacity: 0, addrs: [] })).toBe('member/malformed');
    expect(sign({ role: 'server', issuedAt: NOW, capacity: 2 ** 53, addrs: [] })).toBe('member/malformed');
    expect(sign({ role: 'server', issuedAt: NOW, capacity: 0, addrs: ['/a', 1] })).toBe('member/malformed');
    expect(sign({ role: 'server', issuedAt: NOW, capacity: 0, addrs: ['/\uD800'] })).toBe('value/ill-formed-string');
    expect(sign({ role: 'server', issuedAt: NOW, capacity: 0, addrs: Array(17).fill('/a') })).toBe('member/too-large');
    expect(codeOf(() => signMemberRecord(new Uint8Array(31), { role: 'server', issuedAt: NOW, capacity: 0, addrs: [] }))).toBe('key/seed');
  });
});

describe('placement', () => {
  it('positions are SHA-256 of the soul and of the peer id multihash', async () => {
    const [peer] = await peers(1);
    expect(Buffer.from(soulPosition('room/1'))).toEqual(sha256('room/1'));
    expect(Buffer.from(peerPosition(peer!.multihash))).toEqual(sha256(peer!.multihash));
    expect(codeOf(() => soulPosition('\uDC00'))).toBe('value/ill-formed-string');
  });

  it('owners are the closest members, as a brute force over node:crypto finds them', async () => {
    const members = (await peers(40)).map((p) => p.multihash);
    const souls = Array.from({ length: 500 }, (_, i) => (i % 3 === 0 ? `soul/${i}` : `ключ-${i}-😀`));
    for (const replicas of [1, 3, 5, 50]) {
      const placement = new Placement(members, replicas);
      const k = Math.min(replicas, members.length);
      expect([placement.size, placement.replicas]).toEqual([members.length, k]);
      const flat = placement.owners(souls);
      expect(flat).toBeInstanceOf(Uint32Array);
      expect(flat.length).toBe(souls.length * k);
      souls.forEach((soul, i) => expect([...flat.subarray(i * k, (i + 1) * k)], soul).toEqual(bruteForceOwners(members, replicas, soul)));
      placement.free();
    }
  });

  it('routes each update to exactly its owners, and the routed frames ingest', async () => {
    const members = (await peers(12)).map((p) => p.multihash);
    const placement = new Placement(members, 3);
    const souls = ['a', 'b', 'c', 'd', 'e', 'f'];
    const flat: unknown[] = [];
    const states: number[] = [];
    for (let i = 0; i < 30; i++) {
      flat.push(souls[(i * 7) % souls.length], `k${i}`, i % 2 === 0 ? `v${i}` : i);
      states.push(NOW - i);
    }
    const frame = encodeUpdates(flat, new Float64Array(states));
    const routed = placement.routeFrame(frame);
    expect(routed).toHaveLength(members.length);
    const distinct = [...new Set(flat.filter((_, i) => i % 3 === 0) as string[])];
    expect(placement.routedSouls()).toEqual(distinct);
    expect([...placement.routedOwners()]).toEqual([...placement.owners(distinct)]);
    routed.forEach((bytes, m) => {
      const mine = distinct.filter((soul) => bruteForceOwners(members, 3, soul).includes(m));
      if (mine.length === 0) return expect(bytes).toBeUndefined();
      const engine = new Engine(undefined);
      const report = parseJson(engine.ingest(bytes!, NOW));
      expect(report.outcomes.every(({ o }) => o === 'applied')).toBe(true);
      expect(new Set(report.changes.map(([soul]) => soul))).toEqual(new Set(mine));
      expect(report.changes).toHaveLength(flat.filter((soul, i) => i % 3 === 0 && mine.includes(soul as string)).length);
      engine.free();
    });
    expect(codeOf(() => placement.routeFrame(frame.subarray(0, frame.length - 1)))).toBe('decode/truncated');
    placement.free();
  });

  it('refuses duplicate members and zero replicas; no members own nothing', () => {
    const a = new Uint8Array(38).fill(1);
    expect(codeOf(() => new Placement([a, new Uint8Array(38), a], 3))).toBe('placement/duplicate-member');
    expect(codeOf(() => new Placement([a], 0))).toBe('placement/invalid');
    expect(codeOf(() => new Placement([a], 1.5))).toBe('placement/invalid');
    expect(codeOf(() => new Placement([a], 1, { maxBatchUpdates: 0 }))).toBe('config/invalid');
    const nobody = new Placement([], 3);
    expect(nobody.owners(['x', 'y'])).toEqual(new Uint32Array());
    expect(nobody.routeFrame(encodeUpdates(['x', 'k', 1], new Float64Array([NOW])))).toEqual([]);
    nobody.free();
  });
});
