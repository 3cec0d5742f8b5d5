/**
 * A hand-off push whose target no longer owns its souls by the time the push leaves is
 * not sent (network/dht/handoff.ts): membership changed while it waited its turn behind
 * REPAIR_CONCURRENCY others, and the souls go to their new owner instead. At 20 servers a
 * rebalance after one left was still pushing to the temporary owners after the server
 * came back, and each such soul was then handed back again.
 *
 * A scripted host: placement by a table the test changes, a session per target that
 * records what it is sent and holds its PUTs until the test lets them go.
 */
import { describe, expect, it } from 'vitest';
import { Handoff, REPAIR_CONCURRENCY, type HandoffHost } from '../../src/network/dht/handoff.js';
import type { SyncSession } from '../../src/network/sync-session.js';
import type { WireMessage } from '../../src/network/wire/messages.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** A scripted "frame": the soul names it carries, joined by ",". */
const frameOf = (souls: readonly string[]): Uint8Array => encoder.encode(souls.join(','));
const soulsOf = (frame: Uint8Array): string[] => decoder.decode(frame).split(',');
/** Souls per push chunk in handoff.ts (SCAN_CHUNK). */
const CHUNK = 1024;

/**
 * A Handoff over a scripted host: `owner` says who owns each soul (R = 1; the test changes
 * it), `onPut` is each target's PUT (what it takes, before it is acknowledged), and
 * `heldBy` is what a target says it holds (default: nothing). Released souls are listed.
 */
function scriptedHandoff(options: {
  owner: Map<string, string>;
  onPut: (peerId: string, souls: string[]) => Promise<void>;
  connected?: (peerId: string) => boolean;
  heldBy?: () => Promise<ReadonlySet<string>>;
}): { handoff: Handoff; released: string[] } {
  const { owner, onPut } = options;
  const sessionOf = (peerId: string): SyncSession | undefined =>
    options.connected?.(peerId) === false
      ? undefined
      : ({
          peerId,
          closed: false,
          remoteMaxMessageBytes: 64 * 1024 * 1024,
          async request(message: WireMessage): Promise<WireMessage> {
            if (message.type !== 'put') throw new Error(`unexpected ${message.type}`);
            const batch = soulsOf(message.frame);
            await onPut(peerId, batch);
            return { type: 'ack', id: 1, outcomes: batch.map(() => ({ outcome: 'applied' })) } as WireMessage;
          },
        }) as unknown as SyncSession;
  const released: string[] = [];
  const host = {
    selfId: 'me',
    replica: {
      closed: false,
      limits: undefined,
      async *storedSouls() {},
      async release(batch: readonly string[]) {
        released.push(...batch);
        return [...batch];
      },
      nodeFramePart: async (soul: string) => ({ frame: frameOf([soul]), next: undefined, skipped: [] }),
      engineModule: { joinFrames: (frames: Uint8Array[]) => [frameOf(frames.flatMap(soulsOf)), frames.length], frameUpdateCount: () => 1 },
    },
    engine: {},
    table: { onChange: () => () => {} },
    placement: { full: false, replicas: 1, members: ['me', 'X', 'Y'], ownersOf: (batch: readonly string[]) => batch.map((soul) => [owner.get(soul)!]), isMember: () => true },
    sessionOf,
    ...(options.heldBy === undefined ? {} : { heldBy: options.heldBy }),
    watched: () => false,
    refused: (peerId: string, code: string, message: string) => {
      throw new Error(`refused ${peerId} ${code}: ${message}`);
    },
  } as unknown as HandoffHost;
  return { handoff: new Handoff(host), released };
}

describe('Handoff', () => {
  it('does not push souls to a target that stopped owning them while the push waited', async () => {
    // One chunk more than may be in flight: the last one waits for a free slot.
    const souls = Array.from({ length: (REPAIR_CONCURRENCY + 1) * CHUNK }, (_, i) => `s${i}`);
    const owner = new Map<string, string>(souls.map((soul) => [soul, 'X']));
    const sent = new Map<string, string[]>([['X', []], ['Y', []]]);
    const held: Array<() => void> = [];
    let holding = true;
    const { handoff, released } = scriptedHandoff({
      owner,
      onPut: async (peerId, batch) => {
        sent.get(peerId)!.push(...batch);
        if (holding) await new Promise<void>((resolve) => held.push(resolve));
      },
    });
    try {
      // A write this server coordinated for souls X owns: handed off after HANDOFF_DELAY_MS.
      handoff.noteChanged(souls);
      const deadline = Date.now() + 10_000;
      while (held.length < REPAIR_CONCURRENCY && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(held.length).toBe(REPAIR_CONCURRENCY);
      // Every chunk but the last is in flight to X. Now the last chunk's souls move to Y.
      const last = souls.slice(REPAIR_CONCURRENCY * CHUNK);
      for (const soul of last) owner.set(soul, 'Y');
      holding = false;
      for (const resolve of held.splice(0)) resolve();
      await handoff.idle();

      const toX = new Set(sent.get('X'));
      expect(toX.size).toBe(REPAIR_CONCURRENCY * CHUNK);
      expect(last.some((soul) => toX.has(soul))).toBe(false);
      // Those X confirmed are released; the moved ones wait for Y (the next pass sends them).
      expect(released.length).toBe(REPAIR_CONCURRENCY * CHUNK);
      expect(handoff.pendingSouls).toBe(CHUNK);
    } finally {
      handoff.stop();
    }
  }, 30_000);

  it('does not push souls whose owner changed while the target was asked what it holds', async () => {
    const souls = Array.from({ length: 300 }, (_, i) => `h${i}`);
    const owner = new Map<string, string>(souls.map((soul) => [soul, 'X']));
    const sent: string[] = [];
    const { handoff } = scriptedHandoff({
      owner,
      onPut: async (_, batch) => void sent.push(...batch),
      connected: (peerId) => peerId === 'X',
      // X is slow to answer; meanwhile membership moves the second half of the souls to Y.
      heldBy: async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        for (const soul of souls.slice(150)) owner.set(soul, 'Y');
        return new Set<string>();
      },
    });
    try {
      handoff.noteChanged(souls);
      await new Promise((resolve) => setTimeout(resolve, 700));
      await handoff.idle();
      expect(new Set(sent)).toEqual(new Set(souls.slice(0, 150)));
      // The moved half waits for Y (not connected here).
      expect(handoff.pendingSouls).toBe(150);
    } finally {
      handoff.stop();
    }
  }, 30_000);
});
