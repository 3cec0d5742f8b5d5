/** The engine refuses a bad config with a typed error instead of running with it. */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/load-node.js';

describe('engine config', () => {
  it('takes 32 random bytes as hashSeed and refuses anything else', () => {
    new Engine({ hashSeed: crypto.getRandomValues(new Uint8Array(32)) }).free();
    for (const hashSeed of [new Uint8Array(31), 'seed', [1, 2, 3]]) {
      expect(() => new Engine({ hashSeed })).toThrow(expect.objectContaining({ code: 'config/invalid' }) as Error);
    }
  });

  it('refuses limits that are not whole numbers in range', () => {
    for (const config of [{ maxBatchUpdates: 0 }, { maxKeyBytes: 1.5 }, { maxClockSkewMs: -1 }, { maxDeferred: 'many' }]) {
      expect(() => new Engine(config)).toThrow(expect.objectContaining({ code: 'config/invalid' }) as Error);
    }
  });
});
