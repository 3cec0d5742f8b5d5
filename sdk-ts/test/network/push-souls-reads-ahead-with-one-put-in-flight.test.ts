/**
 * Pushing many souls to a peer (network/dht/soul-transfer.ts `pushSouls`, the repair
 * path of hand-off and rebalance), against a scripted replica and session:
 *
 * - every soul is read once, up to READ_AHEAD reads under way at a time (one after the
 *   other, a busy pusher moved ~1,100 souls a second: each read waits for the store);
 * - parts go several to a PUT, at most one PUT in flight, while the next fills;
 * - the peer is sent every soul's frame exactly once, in the order asked; an empty soul
 *   (released meanwhile) counts as taken without being sent; a refused-for-now batch
 *   leaves its souls out of `taken`.
 */
import { describe, expect, it } from 'vitest';
import { READ_AHEAD, pushSouls, type PushHost } from '../../src/network/dht/soul-transfer.js';
import type { SyncSession } from '../../src/network/sync-session.js';
import type { WireMessage } from '../../src/network/wire/messages.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** A scripted "frame": the soul names it carries, joined by ",", each padded to 100 KiB (ten fill a PUT's part bytes). */
const PAD = 100 * 1024;
const frameOf = (souls: readonly string[]): Uint8Array => encoder.encode(souls.map((soul) => soul.padEnd(PAD)).join(','));
const soulsOf = (frame: Uint8Array): string[] => decoder.decode(frame).split(',').map((soul) => soul.trimEnd());

function setup(options: { refuse?: (souls: readonly string[]) => boolean; empty?: ReadonlySet<string> } = {}) {
  let reading = 0;
  let maxReading = 0;
  let putsInFlight = 0;
  let maxPutsInFlight = 0;
  const read: string[] = [];
  const sent: string[][] = [];
  const host: PushHost = {
    replica: {
      limits: undefined,
      async nodeFramePart(soul: string) {
        read.push(soul);
        reading++;
        maxReading = Math.max(maxReading, reading);
        // A store read: done a few milliseconds later.
        await new Promise((resolve) => setTimeout(resolve, 1 + (soul.length % 3)));
        reading--;
        return { frame: options.empty?.has(soul) === true ? new Uint8Array(0) : frameOf([soul]), next: undefined, skipped: [] };
      },
      engineModule: {
        joinFrames: (frames: Uint8Array[]) => [frameOf(frames.flatMap(soulsOf)), frames.length],
        frameUpdateCount: () => 1,
      },
    } as unknown as PushHost['replica'],
    take: async () => {},
    refused: () => {},
  };
  const session = {
    peerId: 'peer',
    closed: false,
    remoteMaxMessageBytes: 4 * 1024 * 1024,
    async request(message: WireMessage): Promise<WireMessage> {
      if (message.type !== 'put') throw new Error(`unexpected ${message.type}`);
      putsInFlight++;
      maxPutsInFlight = Math.max(maxPutsInFlight, putsInFlight);
      const souls = soulsOf(message.frame);
      sent.push(souls);
      await new Promise((resolve) => setTimeout(resolve, 5));
      putsInFlight--;
      const refused = options.refuse?.(souls) === true;
      return { type: 'ack', id: 1, outcomes: souls.map(() => (refused ? { outcome: 'rejected', code: 'quota/peer' } : { outcome: 'applied' })) } as WireMessage;
    },
  } as unknown as SyncSession;
  return { host, session, read, sent, stats: () => ({ maxReading, maxPutsInFlight }) };
}

describe('pushSouls', () => {
  it('reads ahead, keeps one PUT in flight, and sends every soul once in order', async () => {
    const souls = Array.from({ length: 250 }, (_, i) => `s${i}`);
    const f = setup({ empty: new Set(['s7', 's8']) });
    const result = await pushSouls(f.host, f.session, souls, 1_000);
    expect(f.read).toEqual(souls);
    expect(result.taken.sort()).toEqual([...souls].sort());
    const sentSouls = f.sent.flat();
    expect(sentSouls).toEqual(souls.filter((soul) => soul !== 's7' && soul !== 's8'));
    expect(f.stats().maxReading).toBeGreaterThan(1);
    expect(f.stats().maxReading).toBeLessThanOrEqual(READ_AHEAD);
    expect(f.stats().maxPutsInFlight).toBe(1);
    expect(result.moved.get('s7')).toEqual({ frameBytes: 0, sentBytes: 0, receivedBytes: 0, applied: 0 });
    expect(result.moved.get('s9')?.applied).toBe(1);
  });

  it('souls of a batch the peer refuses for now are not taken; the others are', async () => {
    const souls = Array.from({ length: 40 }, (_, i) => `r${i}`);
    const f = setup({ refuse: (batch) => batch.includes('r0') });
    const result = await pushSouls(f.host, f.session, souls, 1_000);
    const refusedBatch = f.sent.find((batch) => batch.includes('r0'))!;
    expect(refusedBatch.length).toBeGreaterThan(0);
    expect(result.taken.sort()).toEqual(souls.filter((soul) => !refusedBatch.includes(soul)).sort());
  });
});
