/**
 * StreamChannel and its factories (network/libp2p/stream-channel.ts) against a scripted
 * libp2p stream and node, for the rules the Channel contract suite (channel.test.ts, real
 * streams over loopback) rarely decides:
 *
 * - bytes in and out are counted; chunks given as a Uint8Array or a list (subarray) reach
 *   every listener, and a listener that throws aborts the stream with its error (a
 *   non-Error thrown becomes one);
 * - send on a closed channel, or one whose stream refuses the bytes, is a ClosedError
 *   naming the stream (the refusal its cause); a full write buffer waits for 'drain', and
 *   a close before it is a ClosedError with the stream's reason;
 * - `closed` follows the stream's status and write status; a stream that is not open at
 *   construction is already ended; onClose listeners run once, with the error, and a
 *   late one at once; the remote closing its write end closes ours; close() is one
 *   promise, and a failing close aborts the stream;
 * - openChannel: a peer id string, a multiaddr string or object, one protocol or several,
 *   on limited connections, the signal passed on; an aborted signal is an AbortError before
 *   or after dialling, other failures libp2p's own;
 * - handleChannels: the protocols, limited connections, the stream limits only when given,
 *   a handler that throws aborts its channel, and the function it returns unhandles.
 */
import { multiaddr } from '@multiformats/multiaddr';
import { describe, expect, it } from 'vitest';
import { AbortError, ClosedError } from '../../src/api/errors.js';
import { handleChannels, openChannel, StreamChannel } from '../../src/network/libp2p/stream-channel.js';
import type { Connection, Libp2p, Stream } from '@libp2p/interface';

const PEER = '12D3KooWGRYZDHBembyGJQqQ6WgLqJWtRmRgbvoPbHqXNWXT2n4G';

class FakeStream extends EventTarget {
  status = 'open';
  writeStatus = 'writable';
  writableNeedsDrain = false;
  readonly id = 'stream-7';
  readonly protocol = '/rustdht/sync/1.2.0';
  readonly sent: Uint8Array[] = [];
  aborted: Error | undefined;
  closeCalls = 0;
  /** What send() does: true (taken), false (buffer full) or throws. */
  onSend: (bytes: Uint8Array) => boolean = () => true;
  closeResult: Promise<void> = Promise.resolve();

  send(bytes: Uint8Array): boolean {
    this.sent.push(bytes);
    return this.onSend(bytes);
  }

  close(): Promise<void> {
    this.closeCalls++;
    return this.closeResult;
  }

  abort(error: Error): void {
    this.aborted = error;
  }

  fire(type: string, props: Record<string, unknown> = {}): void {
    this.dispatchEvent(Object.assign(new Event(type), props));
  }
}

const channelOf = (stream: FakeStream): StreamChannel => new StreamChannel(stream as unknown as Stream);
const microtasks = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('StreamChannel', () => {
  it('counts bytes both ways and hands every chunk (an array or a list) to every listener; its protocol is the stream\'s', async () => {
    const stream = new FakeStream();
    const channel = channelOf(stream);
    expect(channel.protocol).toBe('/rustdht/sync/1.2.0');
    const a: number[][] = [];
    const b: number[][] = [];
    channel.onBytes((chunk) => a.push([...chunk]));
    channel.onBytes((chunk) => b.push([...chunk]));
    stream.fire('message', { data: new Uint8Array([1, 2, 3]) });
    stream.fire('message', { data: { subarray: () => new Uint8Array([4, 5]) } });
    expect(a).toEqual([[1, 2, 3], [4, 5]]);
    expect(b).toEqual(a);
    expect(channel.bytesIn).toBe(5);
    await channel.send(new Uint8Array(7));
    await channel.send(new Uint8Array(2));
    expect(channel.bytesOut).toBe(9);
    expect(stream.sent).toHaveLength(2);
  });

  it('a listener that throws aborts the stream with that error (a non-Error thrown becomes one)', () => {
    const stream = new FakeStream();
    const channel = channelOf(stream);
    const boom = new Error('listener failed');
    channel.onBytes(() => {
      throw boom;
    });
    stream.fire('message', { data: new Uint8Array([1]) });
    expect(stream.aborted).toBe(boom);

    const other = new FakeStream();
    const second = channelOf(other);
    second.onBytes(() => {
      throw 'a string';
    });
    other.fire('message', { data: new Uint8Array([1]) });
    expect(other.aborted).toBeInstanceOf(Error);
    expect(other.aborted!.message).toBe('a string');
  });

  it('send on a closed channel, or one whose stream refuses the bytes, is a ClosedError naming the stream', async () => {
    for (const close of [(s: FakeStream) => (s.status = 'closing'), (s: FakeStream) => (s.writeStatus = 'closed'), (s: FakeStream) => s.fire('close', {})]) {
      const stream = new FakeStream();
      const channel = channelOf(stream);
      expect(channel.closed).toBe(false);
      close(stream);
      expect(channel.closed).toBe(true);
      const error = await channel.send(new Uint8Array(1)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ClosedError);
      expect(error).toMatchObject({ code: 'closed', message: 'cannot send on stream stream-7 (/rustdht/sync/1.2.0): the channel is closed' });
      expect(stream.sent).toHaveLength(0);
    }
    const refusing = new FakeStream();
    const refusal = new Error('write end closed');
    refusing.onSend = () => {
      throw refusal;
    };
    const channel = channelOf(refusing);
    const error = await channel.send(new Uint8Array(3)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClosedError);
    expect(error).toMatchObject({ code: 'closed', message: 'cannot send on stream stream-7 (/rustdht/sync/1.2.0): the channel is closed', cause: refusal });
    expect(channel.bytesOut).toBe(0);
  });

  it('a full write buffer waits for drain; a close before it rejects with the stream\'s reason; a drain already past does not wait', async () => {
    const stream = new FakeStream();
    const channel = channelOf(stream);
    stream.onSend = () => false;
    stream.writableNeedsDrain = true;
    let settled = false;
    const sending = channel.send(new Uint8Array(4)).then(() => (settled = true));
    await microtasks();
    expect(settled).toBe(false);
    stream.fire('drain');
    await sending;
    expect(settled).toBe(true);
    // The drain listener is gone with the wait: a later close does not reach it.
    stream.fire('close', { error: undefined });

    const other = new FakeStream();
    const second = channelOf(other);
    other.onSend = () => false;
    other.writableNeedsDrain = true;
    const failing = second.send(new Uint8Array(4));
    const reset = new Error('reset by peer');
    other.fire('close', { error: reset });
    const error = await failing.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClosedError);
    expect(error).toMatchObject({ code: 'closed', cause: reset });
    expect((error as Error).message).toBe('stream stream-7 (/rustdht/sync/1.2.0) closed before its data was sent: reset by peer');
    other.fire('drain');

    const third = new FakeStream();
    const drained = channelOf(third);
    third.onSend = () => false;
    third.writableNeedsDrain = false;
    await expect(drained.send(new Uint8Array(1))).resolves.toBeUndefined();

    // A stream that aborted itself inside send(): the close already happened.
    const fourth = new FakeStream();
    const aborting = channelOf(fourth);
    fourth.onSend = () => {
      fourth.fire('close', {});
      return false;
    };
    const error4 = await aborting.send(new Uint8Array(1)).catch((e: unknown) => e);
    expect(error4).toBeInstanceOf(ClosedError);
    expect((error4 as Error).message).toBe('stream stream-7 (/rustdht/sync/1.2.0) closed before its data was sent');
  });

  it('onClose: once, with the error; a listener added after the end is called at once; a stream not open at construction has ended', async () => {
    const stream = new FakeStream();
    const channel = channelOf(stream);
    const seen: unknown[] = [];
    channel.onClose((error) => seen.push(['first', error]));
    channel.onClose((error) => seen.push(['second', error]));
    const reason = new Error('aborted');
    stream.fire('close', { error: reason });
    stream.fire('close', { error: new Error('again') });
    expect(seen).toEqual([
      ['first', reason],
      ['second', reason],
    ]);
    channel.onClose((error) => seen.push(['late', error]));
    expect(seen).toHaveLength(2);
    await microtasks();
    expect(seen[2]).toEqual(['late', reason]);

    const done = new FakeStream();
    done.status = 'closed';
    const ended = channelOf(done);
    expect(ended.closed).toBe(true);
    const late: unknown[] = [];
    ended.onClose((error) => late.push(error));
    await microtasks();
    expect(late).toEqual([undefined]);
  });

  it('the remote closing its write end closes ours; close() is one promise; a failing close aborts the stream', async () => {
    const stream = new FakeStream();
    const channel = channelOf(stream);
    stream.fire('remoteCloseWrite');
    stream.fire('remoteCloseWrite');
    expect(stream.closeCalls).toBe(1);
    await channel.close();
    expect(stream.closeCalls).toBe(1);
    expect(stream.aborted).toBeUndefined();

    const failing = new FakeStream();
    const flushFailed = new Error('flush failed');
    failing.closeResult = Promise.reject(flushFailed);
    await expect(channelOf(failing).close()).resolves.toBeUndefined();
    expect(failing.aborted).toBe(flushFailed);

    const odd = new FakeStream();
    odd.closeResult = Promise.reject('not an error');
    await channelOf(odd).close();
    expect(odd.aborted).toBeInstanceOf(Error);
    expect(odd.aborted!.message).toBe('not an error');

    const aborting = new FakeStream();
    const why = new Error('hang up');
    channelOf(aborting).abort(why);
    expect(aborting.aborted).toBe(why);
  });
});

function scriptedNode(dial: (target: unknown, protocols: unknown, options: { signal?: AbortSignal; runOnLimitedConnection?: boolean }) => Promise<unknown> = async () => new FakeStream()) {
  const dials: { target: unknown; protocols: unknown; options: { signal?: AbortSignal; runOnLimitedConnection?: boolean } }[] = [];
  const handled: { protocols: unknown; handler: (stream: Stream, connection: Connection) => void; options: Record<string, unknown> }[] = [];
  const unhandled: unknown[] = [];
  const node = {
    dialProtocol: (target: unknown, protocols: unknown, options: { signal?: AbortSignal; runOnLimitedConnection?: boolean }) => {
      dials.push({ target, protocols, options });
      return dial(target, protocols, options);
    },
    handle: async (protocols: unknown, handler: (stream: Stream, connection: Connection) => void, options: Record<string, unknown>) => {
      handled.push({ protocols, handler, options });
    },
    unhandle: async (protocols: unknown) => {
      unhandled.push(protocols);
    },
  };
  return { node: node as unknown as Libp2p, dials, handled, unhandled };
}

describe('openChannel', () => {
  it('dials a peer id string, a multiaddr string or object, on one protocol or several, over limited connections too', async () => {
    const { node, dials } = scriptedNode();
    const signal = new AbortController().signal;
    const channel = await openChannel(node, PEER, '/p/1', { signal });
    expect(channel).toBeInstanceOf(StreamChannel);
    await openChannel(node, `/ip4/127.0.0.1/tcp/1/p2p/${PEER}`, ['/p/2', '/p/1']);
    const address = multiaddr('/ip4/127.0.0.1/tcp/2');
    await openChannel(node, address, '/p/1');
    expect(String(dials[0]!.target)).toBe(PEER);
    expect(typeof dials[0]!.target).not.toBe('string');
    expect(dials[0]!.protocols).toBe('/p/1');
    expect(dials[0]!.options).toEqual({ signal, runOnLimitedConnection: true });
    expect(String(dials[1]!.target)).toBe(`/ip4/127.0.0.1/tcp/1/p2p/${PEER}`);
    expect(typeof dials[1]!.target).not.toBe('string');
    expect(dials[1]!.protocols).toEqual(['/p/2', '/p/1']);
    expect(dials[2]!.target).toBe(address);
  });

  it('an aborted signal is an AbortError, before dialling or when the dial fails after it; other failures pass through', async () => {
    const { node, dials } = scriptedNode();
    await expect(openChannel(node, PEER, '/p/1', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    expect(dials).toHaveLength(0);

    const controller = new AbortController();
    const dialFailure = new Error('dial failed');
    const aborting = scriptedNode(async () => {
      controller.abort(new Error('caller gave up'));
      throw dialFailure;
    });
    const error = await openChannel(aborting.node, PEER, '/p/1', { signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);

    const failing = scriptedNode(async () => {
      throw dialFailure;
    });
    await expect(openChannel(failing.node, PEER, '/p/1', { signal: new AbortController().signal })).rejects.toBe(dialFailure);
    await expect(openChannel(failing.node, PEER, '/p/1')).rejects.toBe(dialFailure);
  });
});

describe('handleChannels', () => {
  it('handles the protocols over limited connections, with the stream limits only when given; a throwing handler aborts its channel; the result unhandles', async () => {
    const { node, handled, unhandled } = scriptedNode();
    const accepted: StreamChannel[] = [];
    const stop = await handleChannels(node, ['/p/2', '/p/1'], (channel) => accepted.push(channel), { maxInboundStreams: 4, maxOutboundStreams: 2 });
    expect(handled[0]!.protocols).toEqual(['/p/2', '/p/1']);
    expect(handled[0]!.options).toEqual({ runOnLimitedConnection: true, maxInboundStreams: 4, maxOutboundStreams: 2 });
    const stream = new FakeStream();
    handled[0]!.handler(stream as unknown as Stream, {} as Connection);
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.protocol).toBe('/rustdht/sync/1.2.0');
    await stop();
    expect(unhandled).toEqual([['/p/2', '/p/1']]);

    await handleChannels(node, '/p/3', () => {
      throw new Error('no thanks');
    });
    expect(handled[1]!.protocols).toBe('/p/3');
    expect(handled[1]!.options).toEqual({ runOnLimitedConnection: true });
    const refused = new FakeStream();
    handled[1]!.handler(refused as unknown as Stream, {} as Connection);
    expect(refused.aborted?.message).toBe('no thanks');

    await handleChannels(node, '/p/4', () => {
      throw 'a string';
    });
    const odd = new FakeStream();
    handled[2]!.handler(odd as unknown as Stream, {} as Connection);
    expect(odd.aborted).toBeInstanceOf(Error);
    expect(odd.aborted!.message).toBe('a string');
  });
});
