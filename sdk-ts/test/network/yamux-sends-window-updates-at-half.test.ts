/**
 * network/libp2p/yamux-window-updates.ts over real libp2p nodes on loopback TCP: a
 * receiver of many small messages sends a window update once half of its window is used,
 * not one per data frame (what @chainsafe/libp2p-yamux does by itself: one frame back,
 * encrypted and written to the socket, for every frame in), and nothing stalls: small
 * messages one by one and 8 MiB (twice the largest window) in large ones arrive whole and
 * in order.
 */
import type { Connection } from '@libp2p/interface';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientNode } from '../../src/network/libp2p/client-node.js';
import type { RustDHTNode } from '../../src/network/libp2p/shared.js';
import { handleChannels, openChannel, type StreamChannel } from '../../src/network/libp2p/stream-channel.js';
import { pattern, receive, same } from './helpers/channel-bytes.js';

const PROTOCOL = '/rustdht-test/window-updates/1.0.0';
/** A yamux frame's type field: 0x1 is Window Update (the yamux spec). */
const WINDOW_UPDATE = 1;

interface FrameHeader {
  readonly type: number;
}
const nodes: RustDHTNode[] = [];
let accepted: ((accept: { channel: StreamChannel; connection: Connection }) => void) | undefined;

beforeAll(async () => {
  nodes.push(await createClientNode(), await createClientNode({ listen: ['/ip4/127.0.0.1/tcp/0'] }));
  await handleChannels(nodes[1]!, PROTOCOL, (channel, connection) => accepted?.({ channel, connection }));
});

afterAll(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

/** A channel from node 0 to node 1, and a count of the WindowUpdate frames node 1's end of it sends. */
async function pair(): Promise<{ sender: StreamChannel; receiver: StreamChannel; windowUpdates: () => number }> {
  const atReceiver = new Promise<{ channel: StreamChannel; connection: Connection }>((resolve) => (accepted = resolve));
  const sender = await openChannel(nodes[0]!, nodes[1]!.getMultiaddrs()[0]!, PROTOCOL);
  const { channel: receiver, connection } = await atReceiver;
  const stream = connection.streams.filter((candidate) => candidate.protocol === PROTOCOL).at(-1) as unknown as { sendFrame: (header: FrameHeader, body?: unknown) => boolean };
  expect(stream?.sendFrame).toBeTypeOf('function');
  let updates = 0;
  const send = stream.sendFrame;
  stream.sendFrame = (header, body) => {
    if (header.type === WINDOW_UPDATE) updates++;
    return send(header, body);
  };
  return { sender, receiver, windowUpdates: () => updates };
}

describe('yamux window updates', () => {
  it('2,000 small messages sent one at a time: a handful of window updates back, not one per message, and every byte arrives in order', async () => {
    const { sender, receiver, windowUpdates } = await pair();
    const messages = Array.from({ length: 2_000 }, (_, k) => pattern(100, k));
    const arrived = receive(receiver, 200_000);
    for (const message of messages) await sender.send(message);
    const bytes = await arrived;
    expect(same(bytes, Buffer.concat(messages))).toBe(true);
    // 200,000 bytes through a 256 KiB initial window: one update at half, maybe one more
    // as the window grows; yamux by itself sends ~2,000 (one per data frame).
    expect(windowUpdates()).toBeLessThanOrEqual(4);
    await sender.close();
  });

  it('8 MiB in 64 KiB messages (twice the largest window) arrives whole: the sender is never left waiting for an update', async () => {
    const { sender, receiver, windowUpdates } = await pair();
    const messages = Array.from({ length: 128 }, (_, k) => pattern(64 * 1024, k));
    const arrived = receive(receiver, 8 * 1024 * 1024);
    await Promise.all(messages.map((message) => sender.send(message)));
    const bytes = await arrived;
    expect(same(bytes, Buffer.concat(messages))).toBe(true);
    expect(windowUpdates()).toBeGreaterThan(0);
    expect(windowUpdates()).toBeLessThan(64);
    await sender.close();
  });
});
