/**
 * Reads that cannot be poisoned (issue 11, point 2): a public node that anyone padded
 * with 50,000 junk properties, or with 1 MiB values, stays readable and watchable from a
 * fresh client of a real `rustdht serve`, and `rustdht get` prints it. Before sync 1.1
 * the whole node travelled as one NODE or EVENT: past the reader's batch limit
 * (`limit/batch`, 10,000 updates) or the 4 MiB message limit (`wire/too-large`), so
 * `get(room).get('title').once()` was undefined, `on()` never fired and `rustdht get`
 * said not found.
 *
 * - a property read GETs only that key: nothing else of the node reaches the reader;
 * - a node read comes in parts (GET_PART/NODE_PART), each 1 MiB value in a part of its own;
 * - `on()` gets the current state in EVENTs of at most 1,000 updates.
 *
 * Needs the build (`npm run build`): the server and the CLI run from dist/.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientNode } from '../../src/network/libp2p/client-node.js';
import { openChannel } from '../../src/network/libp2p/stream-channel.js';
import { SYNC_PROTOCOL } from '../../src/network/wire/messages.js';
import { RustDHT, type NodeData } from '../../src/node.js';
import { RawPeer, type NodePartMessage } from './helpers/raw-peer.js';
import { runCli, startServer, stopAllServers, waitFor, type ServerProcess } from './helpers/server-process.js';

const run = randomUUID().slice(0, 8);
const MIB = 1024 * 1024;
const JUNK = 50_000;
const PADS = 5;

let server: ServerProcess;
const opened: RustDHT[] = [];
const junkRoom = `poison-${run}/junk`;
const paddedRoom = `poison-${run}/padded`;

/** A fresh client of the server: nothing of the rooms in it. */
async function freshClient(): Promise<RustDHT> {
  const db = await RustDHT.open({ store: 'memory', network: { role: 'client', peers: [server.tcpAddress] } });
  opened.push(db);
  await db.network!.whenConnected({ signal: AbortSignal.timeout(10_000) });
  return db;
}

function timed<T>(promise: Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  return promise.then((value) => [value, Math.round(performance.now() - started)]);
}

beforeAll(async () => {
  server = await startServer({ name: 'poisoned' });
  // The attacker: an ordinary client adding properties to public nodes (1,000 per put,
  // as many set() calls would), and 1 MiB values one at a time.
  const writer = await freshClient();
  await writer.get(junkRoom).put({ title: 'Hello' });
  for (let i = 0; i < JUNK; i += 1000) {
    await writer.get(junkRoom).put(Object.fromEntries(Array.from({ length: 1000 }, (_, j) => [`junk${String(i + j).padStart(6, '0')}`, `junk value ${i + j}`])));
  }
  await writer.get(paddedRoom).put({ title: 'Padded' });
  for (let i = 0; i < PADS; i++) {
    await writer.get(paddedRoom).get(`pad${i}`).put(String(i).repeat(MIB));
    await writer.network!.whenSynced({ signal: AbortSignal.timeout(30_000) });
  }
  await writer.network!.whenSynced({ signal: AbortSignal.timeout(60_000) });
}, 180_000);

afterAll(async () => {
  await Promise.allSettled(opened.map((db) => db.close({ timeoutMs: 0 })));
  await stopAllServers();
});

describe.each([
  { name: `${JUNK.toLocaleString('en')} junk properties`, room: () => junkRoom, title: 'Hello', keys: JUNK + 1 },
  { name: `${PADS} values of 1 MiB`, room: () => paddedRoom, title: 'Padded', keys: PADS + 1 },
])('a public node padded with $name', ({ room, title, keys }) => {
  it('a fresh client reads its title, and only its title travels', async () => {
    const db = await freshClient();
    const [value, ms] = await timed(db.get(room()).get('title').once());
    expect(value).toBe(title);
    // Nothing but the property read reached this client.
    expect(await db.get(room()).once({ local: true })).toEqual({ title });
    console.info(`title of ${room()}: ${ms} ms`);
  });

  it('a fresh client reads the whole node', async () => {
    const db = await freshClient();
    const [node, ms] = await timed(db.get(room()).once());
    expect(Object.keys(node as NodeData).length).toBe(keys);
    expect((node as NodeData)['title']).toBe(title);
    if (room() === paddedRoom) for (let i = 0; i < PADS; i++) expect((node as NodeData)[`pad${i}`]).toBe(String(i).repeat(MIB));
    else expect((node as NodeData)['junk049999']).toBe('junk value 49999');
    console.info(`whole ${room()} (${keys} keys): ${ms} ms`);
  });

  it('on() fires with the whole node', async () => {
    const db = await freshClient();
    let latest: NodeData | undefined;
    const started = performance.now();
    const off = db.get(room()).on((value) => (latest = value as NodeData));
    try {
      await waitFor('on() to see the whole node', () => latest !== undefined && Object.keys(latest).length === keys, { timeoutMs: 30_000, intervalMs: 20 });
    } finally {
      off();
    }
    expect(latest!['title']).toBe(title);
    console.info(`on(${room()}) whole after ${Math.round(performance.now() - started)} ms`);
  });

  it('rustdht get SOUL prints it', async () => {
    const result = await runCli(['get', room(), '--peer', server.tcpAddress, '--json', '--timeout', '30000'], { timeoutMs: 60_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const node = JSON.parse(result.stdout) as NodeData;
    expect(Object.keys(node).length).toBe(keys);
    expect(node['title']).toBe(title);
    console.info(`rustdht get ${room()}: ${result.ms} ms, ${result.stdout.length} bytes printed`);
  });
});

describe('the parts on the wire', () => {
  it('each part within 1,000 updates and the message limit; each 1 MiB value in a part of its own', async () => {
    const node = await createClientNode();
    try {
      const peer = new RawPeer(await openChannel(node, server.tcpAddress, SYNC_PROTOCOL, { signal: AbortSignal.timeout(10_000) }));
      await peer.hello();
      for (const [room, expected] of [
        [junkRoom, { parts: 51, maxUpdates: 1000 }],
        [paddedRoom, { parts: PADS + 1, maxUpdates: 1 }],
      ] as const) {
        const sizes: number[] = [];
        const counts: number[] = [];
        let after = '';
        do {
          const part = (await peer.request({ type: 'get-part', soul: room, after })) as NodePartMessage;
          expect(part.type).toBe('node-part');
          expect(part.skipped).toEqual([]);
          sizes.push(part.frame.length);
          // The count of a frame: its varint after "RD" and the version byte.
          counts.push(frameCount(part.frame));
          after = part.next;
        } while (after !== '');
        expect(counts.reduce((a, b) => a + b, 0)).toBe(room === junkRoom ? JUNK + 1 : PADS + 1);
        expect(counts.length).toBe(expected.parts);
        expect(Math.max(...counts)).toBe(expected.maxUpdates);
        expect(Math.max(...sizes)).toBeLessThan(4 * MIB);
        console.info(`${room}: ${counts.length} parts, updates ${Math.min(...counts)}–${Math.max(...counts)}, bytes ${Math.min(...sizes)}–${Math.max(...sizes)}`);
      }
      peer.stop();
    } finally {
      await node.stop();
    }
  });
});

function frameCount(frame: Uint8Array): number {
  let count = 0;
  for (let i = 3, shift = 0; i < frame.length; i++, shift += 7) {
    count |= (frame[i]! & 0x7f) << shift;
    if ((frame[i]! & 0x80) === 0) break;
  }
  return count;
}
