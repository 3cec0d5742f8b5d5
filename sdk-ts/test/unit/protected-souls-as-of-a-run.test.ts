/**
 * Which souls an eviction run must leave alone (persistence/protected-souls.ts), from
 * scripted sources: the souls of every pending outbox entry and of the deferred updates
 * (only when there are some), and the `~` spaces of kept identities and of keys used
 * through db.user() — by the engine's namespace rule, not by prefix; everything while
 * the engine is gone (the database is closing), and a `~` soul with no owner only then.
 *
 * Why: cache-eviction.test.ts checks these end to end through the database; a predicate
 * that protects too much passes there (nothing is evicted, which is "safe"), so each
 * source needs its own check here (mutation testing: scripts/mutation/README.md).
 */
import { describe, expect, it } from 'vitest';
import { protectedSouls, type ProtectionSources } from '../../src/persistence/protected-souls.js';

/** A "frame" here is its souls, comma-separated; a `~owner/…` soul's owner is what follows `~` up to `/`. */
const encode = (souls: string[]): Uint8Array => new TextEncoder().encode(souls.join(','));

function sources(options: { outbox?: string[][]; kept?: string[]; own?: string[]; deferred?: string[]; engineGone?: boolean }) {
  const calls = { deferredFrame: 0 };
  let engineGone = options.engineGone ?? false;
  const engine = {
    soulsOf: (frame: Uint8Array) => new TextDecoder().decode(frame).split(',').filter((soul) => soul !== ''),
    deferredCount: () => options.deferred?.length ?? 0,
    deferredFrame: () => (calls.deferredFrame++, encode(options.deferred ?? [])),
    spaceOwner: (soul: string) => /^~([^/.]+)(?:\/|$)/.exec(soul)?.[1],
  };
  const value = {
    outbox: {
      async *pending() {
        for (const souls of options.outbox ?? []) yield { id: 0, frame: encode(souls) };
      },
    },
    identities: { list: async () => options.kept ?? [] },
    ownKeys: new Set(options.own ?? []),
    engine: () => (engineGone ? undefined : engine),
  } as unknown as ProtectionSources;
  return { value, calls, closeEngine: () => (engineGone = true) };
}

describe('protected souls', () => {
  it('the souls of pending outbox entries and of deferred updates are protected; others are not', async () => {
    const s = sources({ outbox: [['a', 'b'], ['c']], deferred: ['d'] });
    const isProtected = await protectedSouls(s.value);
    expect(['a', 'b', 'c', 'd', 'e', 'a/b'].map(isProtected)).toEqual([true, true, true, true, false, false]);
  });

  it('no deferred updates: their frame is not asked for', async () => {
    const s = sources({ outbox: [['a']] });
    const isProtected = await protectedSouls(s.value);
    expect(s.calls.deferredFrame).toBe(0);
    expect(isProtected('a')).toBe(true);
  });

  it("the spaces of kept identities and of keys used in this session, by the namespace rule; other spaces are not", async () => {
    const isProtected = await protectedSouls(sources({ kept: ['alice'], own: ['bob'] }).value);
    expect(isProtected('~alice')).toBe(true);
    expect(isProtected('~alice/notes')).toBe(true);
    expect(isProtected('~bob/inbox')).toBe(true);
    expect(isProtected('~carol/notes')).toBe(false);
    // A public soul that merely contains a protected key is not in that space.
    expect(isProtected('alice')).toBe(false);
    expect(isProtected('x~alice')).toBe(false);
    // A `~` soul the namespace rule gives no owner: not protected while the engine is there.
    expect(isProtected('~')).toBe(false);
  });

  it('with the engine gone (closing), everything is protected, and a `~` soul with no owner too', async () => {
    const gone = await protectedSouls(sources({ outbox: [['a']], kept: ['alice'], engineGone: true }).value);
    expect(['a', 'b', '~alice', '~x/y', '~'].map(gone)).toEqual([true, true, true, true, true]);

    // The engine goes after the run started: a `~` soul it can no longer place is protected.
    const s = sources({ kept: ['alice'] });
    const isProtected = await protectedSouls(s.value);
    s.closeEngine();
    expect(isProtected('~carol/notes')).toBe(true);
    expect(isProtected('public')).toBe(false);
  });
});
