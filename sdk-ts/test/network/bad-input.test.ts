/**
 * Bad input against a real server (issue point 4): one `rustdht serve` process, attacked
 * by a raw libp2p client that opens `/rustdht/sync/1.0.0` and writes bytes directly.
 *
 * For every attack: the server answers as the protocol says (ERROR and/or a closed
 * stream, or an ACK with a rejection code), and afterwards
 * - it is healthy: /health answers 200, and normal SDK clients can write and read back;
 * - nothing invalid was stored (a GET of the attacked soul answers an empty NODE);
 * - nothing invalid was forwarded (an SDK subscriber of the attacked souls saw nothing,
 *   checked after a probe write that travels the same subscription, so anything pushed
 *   earlier would have arrived first);
 * - /metrics rustdht_rejects_total counted the reason (a flood, which is held back rather
 * than refused: rustdht_held_back_total).
 *
 * Needs the build (`npm run build`): the server runs from dist/.
 */
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBase64url } from '../../src/util/base64url.js';
import { encodeUpdates } from '../../src/engine/load-node.js';
import { createClientNode } from '../../src/network/libp2p/client-node.js';
import type { RustDHTNode } from '../../src/network/libp2p/shared.js';
import { openChannel, type StreamChannel } from '../../src/network/libp2p/stream-channel.js';
import { lengthPrefixed } from '../../src/network/wire/framing.js';
import { SYNC_PROTOCOL, encodeMessage, type WireMessage } from '../../src/network/wire/messages.js';
import { encodeVarint } from '../../src/network/wire/varint.js';
import { Identity, RustDHT } from '../../src/node.js';
import type { PropertyMeta } from '../../src/api/values.js';
import { RawPeer as ChannelPeer } from './helpers/raw-peer.js';
import { startServer, stopAllServers, waitFor, withDeadline, type ServerProcess } from './helpers/server-process.js';

const run = randomUUID().slice(0, 8);
const soulOf = (name: string): string => `bad-${run}/${name}`;

type ErrorMessage = Extract<WireMessage, { type: 'error' }>;
type AckMessage = Extract<WireMessage, { type: 'ack' }>;

/** A peer that speaks raw bytes to the server over one sync stream. */
/**
 * The hand-speaking peer of helpers/raw-peer.ts on a fresh libp2p node of its own (its
 * own peer id, so no rate-limit state carries over between attacks).
 */
class RawPeer extends ChannelPeer {
  readonly #node: RustDHTNode;

  private constructor(node: RustDHTNode, channel: StreamChannel) {
    super(channel);
    this.#node = node;
  }

  /** A new node with one sync stream to `address`. */
  static async connect(address: string): Promise<RawPeer> {
    const node = await createClientNode();
    try {
      const channel = await openChannel(node, address, SYNC_PROTOCOL, { signal: AbortSignal.timeout(10_000) });
      const peer = new RawPeer(node, channel);
      peers.add(peer);
      return peer;
    } catch (error) {
      await node.stop();
      throw error;
    }
  }

  /** Connects and completes the hello exchange. */
  static async ready(address: string): Promise<RawPeer> {
    const peer = await RawPeer.connect(address);
    await peer.hello();
    return peer;
  }

  override async stop(): Promise<void> {
    peers.delete(this);
    super.stop();
    await this.#node.stop();
  }
}

const peers = new Set<RawPeer>();

/** Deterministic garbage (xorshift32 from a fixed seed). */
function garbage(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function replaceAll(bytes: Uint8Array, from: Uint8Array, to: Uint8Array): { bytes: Uint8Array; count: number } {
  const out = bytes.slice();
  let count = 0;
  for (let i = indexOfBytes(out, from); i !== -1; i = indexOfBytes(out, from)) {
    out.set(to, i);
    count++;
  }
  return { bytes: out, count };
}

/**
 * A one-update frame signed by `signer` (docs/ARCHITECTURE.md, "The frame"): what a peer
 * holding a key can produce for any soul, e.g. its own key writing into another's space.
 */
function signedTextUpdate(signer: { publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array }, soul: string, key: string, text: string, state: number): Uint8Array {
  const utf8 = new TextEncoder();
  const str = (value: string): number[] => {
    const bytes = utf8.encode(value);
    return [...encodeVarint(bytes.length), ...bytes];
  };
  const len32 = (bytes: Uint8Array): number[] => [(bytes.length >>> 24) & 0xff, (bytes.length >>> 16) & 0xff, (bytes.length >>> 8) & 0xff, bytes.length & 0xff, ...bytes];
  const f64 = (value: number, littleEndian: boolean): number[] => {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, value, littleEndian);
    return [...new Uint8Array(view.buffer)];
  };
  // What the signature covers: "rustdht/update/v1\0" ‖ len32 soul ‖ len32 key ‖ tag ‖ len32 text ‖ state (f64 BE).
  const message = Uint8Array.from([
    ...utf8.encode('rustdht/update/v1\0'),
    ...len32(utf8.encode(soul)),
    ...len32(utf8.encode(key)),
    4,
    ...len32(utf8.encode(text)),
    ...f64(state, false),
  ]);
  const signature = signer.sign(message);
  // frame = "RD" 1 count; update = flags(1: signed) soul key value(4: str) state(f64 LE) signer signature
  return Uint8Array.from([0x52, 0x44, 1, 1, 1, ...str(soul), ...str(key), 4, ...str(text), ...f64(state, true), ...signer.publicKey, ...signature]);
}

/** An Identity's key as a raw Ed25519 signer (node:crypto; the test holds the seed, as a peer would). */
function signerOf(identity: Identity): { publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array; free(): void } {
  const seed = decodeBase64url(identity.export().secretKey)!;
  // PKCS#8 around the 32-byte seed: the engine's Signer signs only through writeListSigned.
  const key = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
  return { publicKey: decodeBase64url(identity.publicKey)!, sign: (m) => new Uint8Array(sign(null, m, key)), free: () => {} };
}

function isRejectionAck(m: WireMessage): m is AckMessage {
  return m.type === 'ack';
}

let server: ServerProcess;
const opened: RustDHT[] = [];
let writer: RustDHT;
let reader: RustDHT;
let watcher: RustDHT;
/** An offline database that tells how many updates a frame holds. */
let scratch: RustDHT;
const probeSoul = soulOf('probe');
let probeRound = 0;
/** What the watcher saw of the attacked souls (must stay empty). */
const forwarded: Array<{ soul: string; value: unknown }> = [];
const probeSeen: unknown[] = [];

const alice = { identity: undefined as Identity | undefined };
const attacked = {
  garbagePut: soulOf('garbage-put'),
  future: soulOf('far-future'),
  flood: soulOf('flood'),
};

async function openClient(): Promise<RustDHT> {
  const db = await RustDHT.open({ store: 'memory', network: { role: 'client', peers: [server.tcpAddress], readTimeoutMs: 3000 } });
  opened.push(db);
  await withDeadline('an SDK client to connect', db.network!.whenConnected(), 15_000);
  return db;
}

async function rejects(): Promise<Map<string, number>> {
  const { status, text } = await server.metrics();
  expect(status).toBe(200);
  const counts = new Map<string, number>();
  for (const match of text.matchAll(/^rustdht_rejects_total\{reason="([^"]*)"\}\s+(\S+)/gm)) counts.set(match[1]!, Number(match[2]));
  return counts;
}

/** The reasons whose count went up since `before` and match `pattern`. */
async function rejectsGrew(before: Map<string, number>, pattern: RegExp): Promise<string[]> {
  return waitFor(`rustdht_rejects_total to count a reason matching ${String(pattern)}`, async () => {
    const after = await rejects();
    const grew = [...after].filter(([reason, n]) => pattern.test(reason) && n > (before.get(reason) ?? 0)).map(([reason]) => reason);
    return grew.length !== 0 ? grew : undefined;
  }, { timeoutMs: 5000, intervalMs: 100 });
}

/** The updates the server holds of `soul`, asked with a GET over a fresh raw stream. */
async function storedUpdates(soul: string): Promise<number> {
  const frame = await storedFrame(soul);
  // An empty NODE, or a frame of zero updates, both mean "nothing".
  return frame.length === 0 ? 0 : (await scratch.receive(frame)).outcomes.length;
}

async function storedFrame(soul: string): Promise<Uint8Array> {
  const peer = await RawPeer.ready(server.tcpAddress);
  try {
    await peer.send({ type: 'get', id: 1, soul, keys: [] });
    const reply = await peer.reply(1);
    expect(reply.type).toBe('node');
    return (reply as Extract<WireMessage, { type: 'node' }>).frame;
  } finally {
    await peer.stop();
  }
}

/** After an attack: healthy, still serving SDK clients, nothing stored or forwarded. */
async function expectServerUnharmed(souls: readonly string[]): Promise<void> {
  expect(server.running).toBe(true);
  // Healthy again: a flood may leave /health degraded for a window of event-loop lag
  // (health-checks.ts: the loop really was blocked), never for anything else.
  const health = await waitFor('the server to report ok', async () => {
    const answer = await server.health();
    if (answer.status === 503) {
      const codes = ((answer.body['reasons'] ?? []) as Array<{ code: string }>).map((reason) => reason.code);
      expect(codes).toEqual(['event-loop/lag']);
      return undefined;
    }
    return answer;
  }, { timeoutMs: 20_000, intervalMs: 250 });
  expect(health.status).toBe(200);
  expect(health.body.status).toBe('ok');
  // A normal client writes; the watcher (subscribed since before the attacks) sees the
  // probe; another client reads it back through the network.
  const round = ++probeRound;
  await writer.get(probeSoul).get('round').put(round);
  await withDeadline('the writer\'s outbox to be acknowledged', writer.network!.whenSynced(), 10_000);
  await waitFor(`the watcher to see probe round ${round}`, () => probeSeen.includes(round), { timeoutMs: 10_000 });
  // Read back through the network. (The reader may be redialling: under the flood test's
  // load libp2p's connection monitor has been seen to drop an idle client's connection.)
  await waitFor(`the reader to read probe round ${round} back from the server`, async () => {
    await withDeadline('the reader to be connected', reader.network!.whenConnected(), 10_000);
    return (await reader.get(probeSoul).get('round').once()) === round;
  }, { timeoutMs: 15_000, intervalMs: 100 });
  for (const soul of souls) expect(await storedUpdates(soul), `the server stored nothing of ${soul}`).toBe(0);
  expect(forwarded).toEqual([]);
}

beforeAll(async () => {
  // Each attack comes on a connection of its own, many a second from loopback: past
  // libp2p's 5 new connections per second per host unless loopback is exempt.
  server = await startServer({ name: 'target', args: ['--exempt-loopback'] });
  alice.identity = Identity.generate();
  [writer, reader, watcher] = await Promise.all([openClient(), openClient(), openClient()]);
  scratch = await RustDHT.open({ store: 'memory' });
  opened.push(scratch);
  // Subscribe to every soul an attack targets, then to the probe: subscriptions travel
  // in order on one session, so once a probe value arrives the others are active too.
  for (const soul of [...Object.values(attacked), `~${alice.identity.publicKey}`]) {
    watcher.get(soul).on((value) => {
      if (value !== undefined) forwarded.push({ soul, value });
    });
  }
  watcher.get(probeSoul).get('round').on((value) => void probeSeen.push(value));
  await expectServerUnharmed([]);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([...peers].map((peer) => peer.stop()));
  await Promise.allSettled(opened.splice(0).map((db) => db.close()));
  alice.identity?.dispose();
  await stopAllServers();
}, 60_000);

describe('a rustdht serve process under bad input', () => {
  it('random garbage after a valid hello: ERROR, stream closed', async () => {
    const before = await rejects();
    const peer = await RawPeer.ready(server.tcpAddress);
    // A length prefix the server will read in full (100 bytes), then garbage whose first
    // byte cannot be the version: deterministic whatever the seed yields afterwards.
    const body = garbage(100, 0xc0ffee);
    body[0] = 0xee;
    await peer.sendBytes(Uint8Array.of(100, ...body, ...garbage(4000, 7)));
    const error = await peer.ended();
    expect(error?.code).toMatch(/^wire\//);
    expect(await rejectsGrew(before, /^wire\//)).not.toEqual([]);
    await peer.stop();
    await expectServerUnharmed([]);
  });

  it('a first message that is not a hello: ERROR wire/malformed, stream closed', async () => {
    const before = await rejects();
    const peer = await RawPeer.connect(server.tcpAddress);
    await peer.send({ type: 'get', id: 1, soul: probeSoul, keys: [] });
    const error = await peer.ended();
    expect(error?.code).toBe('wire/malformed');
    // The GET was not answered.
    expect(peer.messages.some((m) => m.type === 'node')).toBe(false);
    await rejectsGrew(before, /^wire\/malformed$/);
    await peer.stop();
    await expectServerUnharmed([]);
  });

  it('an oversized length prefix (64 MiB announced): ERROR wire/too-large before any body, stream closed', async () => {
    const before = await rejects();
    const peer = await RawPeer.ready(server.tcpAddress);
    await peer.sendBytes(encodeVarint(64 * 1024 * 1024));
    const error = await peer.ended();
    expect(error?.code).toBe('wire/too-large');
    await rejectsGrew(before, /^wire\/too-large$/);
    await peer.stop();
    await expectServerUnharmed([]);
  });

  it('an unknown version byte: ERROR wire/version, stream closed', async () => {
    const before = await rejects();
    const peer = await RawPeer.ready(server.tcpAddress);
    const get = encodeMessage({ type: 'get', id: 5, soul: probeSoul, keys: [] }).slice();
    get[0] = 2;
    await peer.sendBytes(lengthPrefixed(get));
    const error = await peer.ended();
    expect(error?.code).toBe('wire/version');
    expect(peer.messages.some((m) => m.id === 5)).toBe(false);
    await rejectsGrew(before, /^wire\/version$/);
    await peer.stop();
    await expectServerUnharmed([]);
  });

  it('an unknown message type: ERROR wire/unknown-type, stream closed', async () => {
    const before = await rejects();
    const peer = await RawPeer.ready(server.tcpAddress);
    await peer.sendBytes(lengthPrefixed(Uint8Array.of(1, 0x7f, 1, 0, 0)));
    const error = await peer.ended();
    expect(error?.code).toBe('wire/unknown-type');
    await rejectsGrew(before, /^wire\/unknown-type$/);
    await peer.stop();
    await expectServerUnharmed([]);
  });

  it('a PUT whose frame is garbage: ERROR with a decode code for that request, and the stream stays usable', async () => {
    const before = await rejects();
    const peer = await RawPeer.ready(server.tcpAddress);
    await peer.send({ type: 'put', id: 1, frame: garbage(300, 42) });
    const reply = await peer.reply(1);
    expect(reply.type).toBe('error');
    expect((reply as ErrorMessage).code).toMatch(/^decode\//);
    // Same stream: a well-formed request is still answered.
    await peer.send({ type: 'put', id: 2, frame: encodeUpdates([attacked.garbagePut, 'k', 'fine'], Float64Array.of(Date.now())) });
    const ack = await peer.reply(2);
    expect(ack).toMatchObject({ type: 'ack', outcomes: [{ outcome: 'applied' }] });
    expect(peer.closed).toBe(false);
    await rejectsGrew(before, /^decode\//);
    await peer.stop();
    // The valid put after it was stored and forwarded: the garbage was not (the watcher
    // saw exactly the valid value).
    await waitFor('the watcher to see the valid put', () => forwarded.some((f) => f.soul === attacked.garbagePut));
    expect(forwarded).toEqual([{ soul: attacked.garbagePut, value: { k: 'fine' } }]);
    forwarded.length = 0;
    await expectServerUnharmed([]);
  });

  it('a PUT with an invalid signature: ACK rejected with a signature code, nothing stored or forwarded', async () => {
    const before = await rejects();
    const identity = alice.identity!;
    // A genuine signed frame, from an offline database's outbox.
    const offline = await RustDHT.open({ store: 'memory' });
    opened.push(offline);
    await offline.user(identity).put({ name: 'Alice' });
    const entries = [];
    for await (const entry of offline.outbox.pending()) entries.push(entry);
    expect(entries).toHaveLength(1);
    const frame = entries[0]!.frame.slice();
    const meta = (await offline.get(`~${identity.publicKey}`).get('name').meta({ local: true })) as PropertyMeta;
    const signature = decodeBase64url(meta.signature!)!;
    const at = indexOfBytes(frame, signature);
    expect(at).toBeGreaterThanOrEqual(0);
    // Control: the untouched frame is valid.
    const control = await RustDHT.open({ store: 'memory' });
    opened.push(control);
    expect((await control.receive(frame)).applied).toBe(1);
    frame[at + 10] = frame[at + 10]! ^ 0x01;

    const peer = await RawPeer.ready(server.tcpAddress);
    await peer.send({ type: 'put', id: 1, frame });
    const ack = await peer.next(isRejectionAck, 'an ACK');
    expect(ack.outcomes).toHaveLength(1);
    expect(ack.outcomes[0]).toMatchObject({ outcome: 'rejected', code: expect.stringMatching(/^signature\//) });
    await rejectsGrew(before, /^signature\//);
    await peer.stop();
    await expectServerUnharmed([`~${identity.publicKey}`]);
  });

  it('writes into another key\'s ~ space (unsigned, re-signed, or validly signed by another key): rejected', async () => {
    const before = await rejects();
    const victim = `~${alice.identity!.publicKey}`;
    const peer = await RawPeer.ready(server.tcpAddress);
    // Unsigned: the ~ space needs its owner's signature.
    await peer.send({ type: 'put', id: 1, frame: encodeUpdates([victim, 'name', 'Mallory'], Float64Array.of(Date.now())) });
    const unsigned = await peer.reply(1);
    expect(unsigned.type).toBe('ack');
    expect((unsigned as AckMessage).outcomes[0]).toMatchObject({ outcome: 'rejected', code: expect.stringMatching(/^(signature\/missing|namespace\/not-owner)$/) });

    const mallory = Identity.generate();
    const signer = signerOf(mallory);
    try {
      // Mallory's own signed frame with the soul rewritten to Alice's space: the signature no longer matches.
      const offline = await RustDHT.open({ store: 'memory' });
      opened.push(offline);
      await offline.user(mallory).put({ name: 'Mallory' });
      let frame: Uint8Array | undefined;
      for await (const entry of offline.outbox.pending()) frame = entry.frame;
      const text = new TextEncoder();
      const rewritten = replaceAll(frame!, text.encode(`~${mallory.publicKey}`), text.encode(victim));
      expect(rewritten.count).toBeGreaterThan(0);
      await peer.send({ type: 'put', id: 2, frame: rewritten.bytes });
      const resigned = await peer.reply(2);
      expect(resigned.type).toBe('ack');
      expect((resigned as AckMessage).outcomes[0]).toMatchObject({ outcome: 'rejected', code: expect.stringMatching(/^(namespace|signature)\//) });

      // A valid signature by Mallory over an update of Alice's space: the namespace refuses it.
      const state = Date.now();
      const own = signedTextUpdate(signer, `~${mallory.publicKey}`, 'name', 'Mallory', state);
      // Control: the same construction for Mallory's own space is a valid update.
      const control = await RustDHT.open({ store: 'memory' });
      opened.push(control);
      expect((await control.receive(own)).outcomes).toEqual([{ outcome: 'applied' }]);
      await peer.send({ type: 'put', id: 3, frame: signedTextUpdate(signer, victim, 'name', 'Mallory', state) });
      const foreign = await peer.reply(3);
      expect(foreign.type).toBe('ack');
      expect((foreign as AckMessage).outcomes[0]).toEqual({ outcome: 'rejected', code: 'namespace/not-owner' });
    } finally {
      signer.free();
      mallory.dispose();
    }
    expect(peer.closed).toBe(false);
    await rejectsGrew(before, /^namespace\/not-owner$/);
    await peer.stop();
    await expectServerUnharmed([victim]);
  });

  it('a state a year in the future: rejected (not deferred, not stored)', async () => {
    const before = await rejects();
    const peer = await RawPeer.ready(server.tcpAddress);
    const yearAhead = Date.now() + 365 * 24 * 3600 * 1000;
    await peer.send({ type: 'put', id: 1, frame: encodeUpdates([attacked.future, 'k', 'from 2099'], Float64Array.of(yearAhead)) });
    const ack = await peer.reply(1);
    expect(ack.type).toBe('ack');
    const outcome = (ack as AckMessage).outcomes[0]!;
    expect(outcome.outcome).toBe('rejected');
    const code = (outcome as { code: string }).code;
    expect(code).toMatch(/future|skew|clock|limit/);
    await rejectsGrew(before, new RegExp(`^${code.replace(/[/]/g, '\\/')}$`));
    await peer.stop();
    await expectServerUnharmed([attacked.future]);
  });

  it('a flood of 12,000 tiny messages: held back to the rate limit, each answered in turn, none refused, the server stays up', async () => {
    const heldBack = async (): Promise<number> => Number(/^rustdht_held_back_total\s+(\S+)/m.exec((await server.metrics()).text)?.[1] ?? NaN);
    const [before, heldBefore] = [await rejects(), await heldBack()];
    const peer = await RawPeer.ready(server.tcpAddress);
    const count = 12_000;
    const parts = [];
    for (let id = 1; id <= count; id++) parts.push(lengthPrefixed(encodeMessage({ type: 'get', id, soul: attacked.flood, keys: [] })));
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      all.set(part, offset);
      offset += part.length;
    }
    const started = performance.now();
    for (let i = 0; i < all.length; i += 64 * 1024) await peer.sendBytes(all.subarray(i, i + 64 * 1024));
    await waitFor('every request to be answered', () => new Set(peer.messages.filter((m) => m.id !== 0).map((m) => m.id)).size === count, { timeoutMs: 30_000, intervalMs: 50 });
    const seconds = (performance.now() - started) / 1000;
    expect(peer.messages.filter((m) => m.type === 'error')).toEqual([]);
    expect(peer.closed).toBe(false);
    // 2,000 a second after a burst of 4,000: the other 8,000 waited ~4 s, unread.
    expect(seconds).toBeGreaterThanOrEqual(3.5);
    expect(await heldBack()).toBeGreaterThan(heldBefore);
    const after = await rejects();
    expect(after.get('wire/rate-limited') ?? 0).toBe(before.get('wire/rate-limited') ?? 0);
    await peer.stop();
    await expectServerUnharmed([attacked.flood]);
  }, 60_000);

  it('ERRORs with codes of its own (200 distinct, one of 1 MiB): /metrics and the log carry them as `other`, the text cut short', async () => {
    const before = (await rejects()).get('other') ?? 0;
    const metricsBefore = (await server.metrics()).text.length;
    const logsBefore = server.logs.length;
    // A connection-level ERROR ends its session, so each comes on a stream of its own.
    for (let i = 0; i < 200; i += 20) {
      await Promise.all(Array.from({ length: 20 }, async (_, j) => {
        const peer = await RawPeer.ready(server.tcpAddress);
        const code = i + j === 0 ? 'c'.repeat(1024 * 1024) : `invented/${run}-${i + j}`;
        await peer.send({ type: 'error', id: 0, code, message: 'm'.repeat(100_000) });
        await peer.ended().catch(() => {});
        await peer.stop();
      }));
    }
    await waitFor('the ERRORs to be counted', async () => ((await rejects()).get('other') ?? 0) - before >= 200, { timeoutMs: 15_000, intervalMs: 100 });
    const lines = server.logs.slice(logsBefore);
    expect(lines.some((line) => line.includes('invented/') || line.includes('c'.repeat(1000)))).toBe(false);
    const rejected = server.records('rejected').slice(-50);
    expect(rejected.length).toBeGreaterThan(0);
    for (const record of rejected) expect(String(record['reason']).length).toBeLessThanOrEqual(300);
    expect(Math.max(...lines.map((line) => line.length))).toBeLessThan(2000);
    const { text } = await server.metrics();
    expect(text).not.toContain('invented/');
    // One series more at most (other), whatever the codes were: not 200, not a 1 MiB label.
    expect(text.length - metricsBefore).toBeLessThan(16 * 1024);
  }, 60_000);

  it('rustdht_rejects_total lists every reason seen', async () => {
    const reasons = [...(await rejects()).keys()];
    for (const pattern of [/^wire\/malformed$/, /^wire\/too-large$/, /^wire\/version$/, /^wire\/unknown-type$/, /^decode\//, /^signature\//, /^namespace\//]) {
      expect(reasons.some((r) => pattern.test(r)), `${String(pattern)} in ${JSON.stringify(reasons)}`).toBe(true);
    }
  });
});
