// LevelStore against the shared suite, on real LevelDB directories under the OS temp
// directory: one directory per store, reopened by path, all removed after each check.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
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
  keys: true,
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

describe('LevelStore.close', () => {
  /** Bytes of LevelDB's write-ahead log files in `directory` (what the next open replays). */
  async function logBytes(directory: string): Promise<number> {
    let bytes = 0;
    for (const name of await readdir(directory)) if (name.endsWith('.log')) bytes += (await stat(join(directory, name))).size;
    return bytes;
  }

  it('writes the memtable out, so the next open has no write-ahead log to replay; the data reads back', async () => {
    const directory = join(root, 'flushed');
    const store = await LevelStore.open(directory);
    const value = new Uint8Array(64 * 1024).fill(7);
    for (let i = 0; i < 64; i++) await store.batch([{ type: 'put', key: Uint8Array.of(0x50, i), value }]);
    // 4 MiB written: in the memtable and its log, below LevelDB's 32 MiB write buffer.
    expect(await logBytes(directory)).toBeGreaterThan(4 * 1024 * 1024);
    await store.close();
    expect(await logBytes(directory)).toBeLessThan(64 * 1024);
    const reopened = await LevelStore.open(directory);
    expect(await reopened.get(Uint8Array.of(0x50, 63))).toEqual(value);
    await reopened.close();
  });
});
