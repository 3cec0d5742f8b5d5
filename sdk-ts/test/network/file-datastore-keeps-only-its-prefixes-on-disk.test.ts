/**
 * The server node's datastore (network/libp2p/file-datastore.ts): everything in memory,
 * and the entries under the given key prefixes also on disk, one file per key (its
 * base64url name, mode 0600, in a directory of mode 0700), written then renamed, read
 * back on open; a deleted key's file goes too; a `.tmp` leftover of an interrupted write
 * is not loaded; writes reach the disk in call order, and a failed one does not stop
 * the next.
 *
 * Why: only libp2p-nodes' restart test used it (the certificate hash surviving), which
 * leaves most of its rules unchecked (mutation testing: scripts/mutation/README.md).
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Key } from 'interface-datastore';
import { afterEach, describe, expect, it } from 'vitest';
import { FilePrefixDatastore } from '../../src/network/libp2p/file-datastore.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function newDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rustdht-datastore-'));
  dirs.push(dir);
  return join(dir, 'libp2p', 'nested');
}

const fileName = (key: string): string => Buffer.from(key, 'utf8').toString('base64url');
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array): string => new TextDecoder().decode(value);

describe('FilePrefixDatastore', () => {
  it('keeps entries under its prefixes on disk (one 0600 file per key, base64url names, a 0700 directory) and reads them back on open; the rest stays in memory', async () => {
    const dir = await newDir();
    const store = await FilePrefixDatastore.open(dir, ['/pkcs8/', '/info/']);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    await store.put(new Key('/pkcs8/self'), bytes('private key'));
    await store.put(new Key('/info/self'), bytes('key info'));
    await store.put(new Key('/peers/someone'), bytes('an address'));
    // A key that only starts like a prefix without its slash is not one of them.
    await store.put(new Key('/pkcs8x/other'), bytes('not persisted'));
    expect(text(await store.get(new Key('/peers/someone')))).toBe('an address');

    expect((await readdir(dir)).sort()).toEqual([fileName('/info/self'), fileName('/pkcs8/self')].sort());
    expect(text(new Uint8Array(await readFile(join(dir, fileName('/pkcs8/self')))))).toBe('private key');
    expect((await stat(join(dir, fileName('/pkcs8/self')))).mode & 0o777).toBe(0o600);

    const reopened = await FilePrefixDatastore.open(dir, ['/pkcs8/', '/info/']);
    expect(text(await reopened.get(new Key('/pkcs8/self')))).toBe('private key');
    expect(text(await reopened.get(new Key('/info/self')))).toBe('key info');
    expect(await reopened.has(new Key('/peers/someone'))).toBe(false);
    expect(await reopened.has(new Key('/pkcs8x/other'))).toBe(false);
  });

  it('a put replaces the file, a delete removes it (and only under its prefixes); the last of several puts wins', async () => {
    const dir = await newDir();
    const store = await FilePrefixDatastore.open(dir, ['/pkcs8/']);
    const key = new Key('/pkcs8/self');
    await Promise.all([store.put(key, bytes('first')), store.put(key, bytes('second')), store.put(key, bytes('third'))]);
    expect(text(new Uint8Array(await readFile(join(dir, fileName('/pkcs8/self')))))).toBe('third');
    expect(await readdir(dir)).toEqual([fileName('/pkcs8/self')]);

    await store.put(new Key('/peers/a'), bytes('memory only'));
    await store.delete(new Key('/peers/a'));
    expect(await store.has(new Key('/peers/a'))).toBe(false);
    await store.delete(key);
    expect(await store.has(key)).toBe(false);
    // A key under a prefix that was never written has no file: deleting it is no error.
    await store.delete(new Key('/pkcs8/never-written'));
    expect(await readdir(dir)).toEqual([]);
    expect(await (await FilePrefixDatastore.open(dir, ['/pkcs8/'])).has(key)).toBe(false);
  });

  it('a .tmp leftover of an interrupted write is not loaded: the key keeps its previous value', async () => {
    const dir = await newDir();
    const store = await FilePrefixDatastore.open(dir, ['/pkcs8/']);
    await store.put(new Key('/pkcs8/self'), bytes('complete'));
    await writeFile(join(dir, `${fileName('/pkcs8/self')}.tmp`), bytes('half a wri'));
    await writeFile(join(dir, `${fileName('/pkcs8/other')}.tmp`), bytes('half'));
    const reopened = await FilePrefixDatastore.open(dir, ['/pkcs8/']);
    expect(text(await reopened.get(new Key('/pkcs8/self')))).toBe('complete');
    expect(await reopened.has(new Key('/pkcs8/other'))).toBe(false);
    const keys: string[] = [];
    for await (const { key } of reopened.query({})) keys.push(key.toString());
    expect(keys).toEqual(['/pkcs8/self']);
  });

  it('a failed file write fails its put, and the writes after it still happen', async () => {
    const dir = await newDir();
    const store = await FilePrefixDatastore.open(dir, ['/pkcs8/']);
    // A directory where the temporary file would go: that write fails.
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, `${fileName('/pkcs8/blocked')}.tmp`));
    await expect(store.put(new Key('/pkcs8/blocked'), bytes('cannot land'))).rejects.toThrow();
    await store.put(new Key('/pkcs8/after'), bytes('lands'));
    expect(text(new Uint8Array(await readFile(join(dir, fileName('/pkcs8/after')))))).toBe('lands');
  });
});
