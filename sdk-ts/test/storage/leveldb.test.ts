// LevelStore against the shared suite, on real LevelDB directories under the OS temp
// directory: one directory per store, reopened by path, all removed after each check.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RustDHTError } from '../../src/api/errors.js';
import type { StorageAdapter } from '../../src/storage/adapter.js';
import { LevelStore } from '../../src/storage/leveldb.js';
import { describeConformance } from './vitest-conformance.js';

const root = await mkdtemp(join(tmpdir(), 'rustdht-level-'));
let made = 0;
const open = new Set<StorageAdapter>();

async function track(store: LevelStore): Promise<LevelStore> {
  open.add(store);
  return store;
}

describeConformance({
  name: 'LevelStore',
  getMany: true,
  makeStore: async () => track(await LevelStore.open(join(root, `store-${made++}`))),
  reopen: async (store) => track(await LevelStore.open((store as LevelStore).directory)),
  async cleanup() {
    // A failed check may leave stores open: LevelDB must release its lock before the
    // directory goes.
    await Promise.all([...open].map((store) => store.close()));
    open.clear();
    await rm(root, { recursive: true, force: true });
  },
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('LevelStore.open', () => {
  it('refuses a directory another LevelStore holds, with storage/locked, until it closes', async () => {
    const directory = join(root, 'locked');
    const first = await LevelStore.open(directory);
    const second = await LevelStore.open(directory).catch((error: unknown) => error);
    expect(second).toBeInstanceOf(RustDHTError);
    expect((second as RustDHTError).code).toBe('storage/locked');
    await first.close();
    const third = await LevelStore.open(directory);
    await third.close();
  });

  it('needs a directory path', async () => {
    await expect(LevelStore.open('')).rejects.toMatchObject({ code: 'storage/location' });
  });
});
