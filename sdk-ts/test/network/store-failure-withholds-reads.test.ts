/**
 * A value a failed commit took back is never served (network/serving/durability.ts):
 * a GET answered from memory waits for the commit of what it read, and when that commit
 * fails the reader gets an ERROR — not the value the store does not hold, and not
 * silence.
 *
 * A real server database (engine, replica, network) on a MemoryStore whose commits the
 * test holds and then fails, and raw peers on the in-memory channel pair.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { encodeUpdates } from '../../src/engine/load-node.js';
import type { Network } from '../../src/network/peer-network.js';
import { createChannelPair } from '../../src/network/transport/memory-channel.js';
import { MemoryStore, RustDHT } from '../../src/node.js';
import type { StorageOperation } from '../../src/storage/adapter.js';
import { RawPeer, type NodeMessage } from './helpers/raw-peer.js';
import { waitFor } from './helpers/server-process.js';

/** A MemoryStore whose next commits can be held, then failed. */
class FailingStore extends MemoryStore {
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  failing = false;
  /** What a failing commit rejects with. */
  reason: unknown = new Error('the disk failed');
  waiting = 0;

  hold(): void {
    this.#gate ??= new Promise((resolve) => (this.#open = resolve));
  }

  release(): void {
    this.#open?.();
    this.#gate = undefined;
  }

  override async batch(operations: readonly StorageOperation[]): Promise<void> {
    const gate = this.#gate;
    if (gate !== undefined) {
      this.waiting++;
      await gate;
      this.waiting--;
    }
    if (this.failing) throw this.reason;
    return super.batch(operations);
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

let attached = 0;
function connect(network: Network): RawPeer {
  const [ours, theirs] = createChannelPair();
  network.attach(theirs, { peerId: `raw-peer-${++attached}`, transport: 'other', address: '/memory/raw' });
  const peer = new RawPeer(ours);
  cleanups.push(async () => peer.stop());
  return peer;
}

async function failedCommitUnderARead(reason: unknown, message: string, ackMessage?: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rustdht-store-failure-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const store = new FailingStore();
  store.reason = reason;
  const server = await RustDHT.open({ store, network: { role: 'server', dataDir: dir, listen: [] } });
  cleanups.push(async () => {
    store.failing = false;
    store.release();
    await server.close();
  });
  const soul = `store-failure-${Date.now()}`;
  const writer = connect(server.network!);
  const reader = connect(server.network!);
  await writer.hello();
  await reader.hello();

  store.hold();
  store.failing = true;
  const putId = writer.id();
  await writer.send({ type: 'put', id: putId, frame: encodeUpdates([soul, 'v', 'taken back'], Float64Array.of(Date.now())) });
  await waitFor('the commit to reach the store', () => store.waiting > 0);
  // The value is applied in memory; the GET reads it and waits for its commit.
  const getId = reader.id();
  await reader.send({ type: 'get', id: getId, soul, keys: [] });
  await new Promise((resolve) => setTimeout(resolve, 200));
  store.release();

  const reply = await reader.reply(getId, 10_000);
  if (reply.type === 'node') {
    // Read after the failure: whatever it holds, never the value the store lost.
    const db = await RustDHT.open({ store: 'memory' });
    cleanups.push(async () => void (await db.close()));
    await db.receive((reply as NodeMessage).frame);
    expect(await db.get(soul).get('v').once({ local: true })).toBeUndefined();
  } else {
    // The store's own reason reaches the reader.
    expect(reply).toMatchObject({ type: 'error', message: expect.stringContaining(message) });
  }
  // The writer is not told its write was taken.
  const ack = await writer.reply(putId, 10_000);
  expect(ack.type).toBe('error');
  if (ackMessage !== undefined) expect(ack).toMatchObject({ message: expect.stringContaining(ackMessage) });
}

it('a GET that read a value whose commit then fails is answered with an ERROR, not with the value', async () => {
  await failedCommitUnderARead(new Error('the disk failed'), 'the disk failed', 'the disk failed');
}, 30_000);

it('a store that fails without giving a reason still yields an ERROR that says the store failed', async () => {
  await failedCommitUnderARead(undefined, 'the store failed');
}, 30_000);
