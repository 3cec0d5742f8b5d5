import { describe, expect, it } from 'vitest';
import { FrameArena } from '../../src/replica/frame-arena.js';

const frame = (id: number): Uint8Array => Uint8Array.from({ length: id % 37 }, (_, i) => (id + i) & 0xff);

/** Every frame of the arena, oldest first. */
function all(arena: FrameArena): Array<[number, Uint8Array]> {
  const out: Array<[number, Uint8Array]> = [];
  for (let next = arena.firstFrom(0); next !== undefined; next = arena.firstFrom(next[0] + 1)) out.push(next);
  return out;
}

describe('FrameArena', () => {
  it('keeps frames by id through growth, removals and compactions', () => {
    const arena = new FrameArena();
    const live = new Map<number, Uint8Array>();
    let removals = 0;
    for (let id = 10; id < 30_010; id++) {
      arena.append(id, frame(id));
      live.set(id, frame(id));
      // Remove frames oldest first, except every 101st (they stay, between removed ones).
      const old = id - 4_000;
      if (old >= 10 && old % 101 !== 0) {
        if (arena.remove(old)) removals++;
        live.delete(old);
      }
    }
    expect(removals).toBe(30_000 - live.size);
    expect(arena.size).toBe(live.size);
    expect(all(arena)).toEqual([...live]);
    expect(arena.firstFrom(11)).toEqual([101, frame(101)]);
    expect(arena.remove(11)).toBe(false);
    expect(arena.remove(30_010)).toBe(false);
  });

  it('hands out copies', () => {
    const arena = new FrameArena();
    arena.append(0, Uint8Array.of(1, 2, 3));
    arena.firstFrom(0)![1][0] = 99;
    expect(arena.firstFrom(0)).toEqual([0, Uint8Array.of(1, 2, 3)]);
  });
});
