// Packaging test: packs sdk-ts exactly as `npm publish` would, unpacks the tarball into
// a scratch project's node_modules, and uses it from a separate Node process and from
// the TypeScript compiler the way an application does: `import { RustDHT } from
// 'rustdht'`, no flags, no paths into the repo. Catches a wrong exports map, files
// missing from the tarball, and WASM glue that only works from the source tree.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const SDK = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REPO = join(SDK, '..');
// Inside the repo on purpose: the unpacked package finds its own dependencies by
// walking up to the workspace's node_modules, as it would find them in an app.
const APP = join(REPO, 'target', 'package-test');
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

let packedFiles: string[] = [];

beforeAll(() => {
  rmSync(APP, { recursive: true, force: true });
  mkdirSync(join(APP, 'node_modules', 'rustdht'), { recursive: true });
  const packJson = execFileSync('npm', ['pack', '--json', '--loglevel=error', '--pack-destination', APP], {
    cwd: SDK,
    encoding: 'utf8',
  });
  const [pack] = JSON.parse(packJson) as [{ filename: string; files: { path: string }[] }];
  packedFiles = pack.files.map((f) => f.path);
  execFileSync('tar', [
    '-xzf', join(APP, pack.filename),
    '-C', join(APP, 'node_modules', 'rustdht'),
    '--strip-components=1',
  ]);
  writeFileSync(join(APP, 'package.json'), JSON.stringify({ name: 'rustdht-consumer', private: true, type: 'module' }));
});

describe('the packed rustdht package', () => {
  it('contains the compiled SDK and both WASM builds', () => {
    for (const file of [
      'package.json',
      'dist/index.d.ts',
      'dist/node.js',
      'dist/browser.js',
      'pkg/node/rustdht_core.js',
      'pkg/node/rustdht_core_bg.wasm',
      'pkg/node/package.json',
      'pkg/bundler/rustdht_core.js',
      'pkg/bundler/rustdht_core_bg.js',
      'pkg/bundler/rustdht_core_bg.wasm',
      'pkg/bundler/package.json',
    ]) {
      expect(packedFiles, file).toContain(file);
    }
    expect(packedFiles.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
  });

  it('works from plain Node: put, then once reads it back', () => {
    const script = join(APP, 'roundtrip.mjs');
    writeFileSync(
      script,
      `import { RustDHT } from 'rustdht';
const db = await RustDHT.open();
const ref = db.get('packaging').get('greeting');
await ref.put('hello from the tarball');
const value = await ref.once();
await db.close();
console.log(JSON.stringify({ value, resolved: import.meta.resolve('rustdht') }));
`,
    );
    const out = execFileSync(process.execPath, [script], { cwd: APP, encoding: 'utf8' });
    const result = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { value: unknown; resolved: string };
    expect(result.value).toBe('hello from the tarball');
    // The "node" condition, from the unpacked copy, not the source tree.
    expect(result.resolved).toBe(`file://${join(APP, 'node_modules', 'rustdht', 'dist', 'node.js')}`);
  });

  it('type-checks for a TypeScript app (NodeNext and Bundler resolution)', () => {
    writeFileSync(
      join(APP, 'app.ts'),
      `import { RustDHT } from 'rustdht';
export async function main(): Promise<void> {
  const db = await RustDHT.open();
  const ref = db.get('room').get('msg');
  const off = ref.on((value) => console.log(value));
  await ref.put('hello');
  off();
  await db.close();
}
`,
    );
    for (const moduleResolution of ['NodeNext', 'Bundler'] as const) {
      const module = moduleResolution === 'NodeNext' ? 'NodeNext' : 'ESNext';
      // A Node app has Node's types; a browser app built with a bundler has none.
      const types = moduleResolution === 'NodeNext' ? ['node'] : [];
      writeFileSync(
        join(APP, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module, moduleResolution, skipLibCheck: true, types, lib: ['ES2022', 'DOM'] },
          files: ['app.ts'],
        }),
      );
      try {
        execFileSync(process.execPath, [TSC, '-p', join(APP, 'tsconfig.json')], { cwd: APP, encoding: 'utf8' });
      } catch (err) {
        const e = err as { stdout?: string };
        throw new Error(`tsc (${moduleResolution}) failed:\n${e.stdout ?? String(err)}`);
      }
    }
  });

  it('keeps the exports map users rely on', () => {
    const manifest = JSON.parse(readFileSync(join(APP, 'node_modules', 'rustdht', 'package.json'), 'utf8')) as {
      exports: Record<string, Record<string, Record<string, string>>>;
    };
    // Each platform gets its own declarations: the Node entry adds LevelStore, the
    // browser entry IndexedDBStore and LocalStorageStore.
    expect(manifest.exports['.']).toEqual({
      node: { types: './dist/node.d.ts', default: './dist/node.js' },
      default: { types: './dist/browser.d.ts', default: './dist/browser.js' },
    });
  });

  it('gives Node apps LevelStore, with classic-level as a dependency', () => {
    const manifest = JSON.parse(readFileSync(join(APP, 'node_modules', 'rustdht', 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies ?? {})).toEqual(expect.arrayContaining(['classic-level', 'idb']));
    const script = join(APP, 'level.mjs');
    writeFileSync(
      script,
      `import { LevelStore } from 'rustdht';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const dir = mkdtempSync(join(tmpdir(), 'rustdht-package-level-'));
const store = await LevelStore.open(dir);
await store.batch([{ type: 'put', key: new Uint8Array([1]), value: new Uint8Array([2, 3]) }]);
const value = await store.get(new Uint8Array([1]));
await store.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify([...value]));
`,
    );
    const out = execFileSync(process.execPath, [script], { cwd: APP, encoding: 'utf8' });
    expect(out.trim().split('\n').at(-1)).toBe('[2,3]');
  });

  it('type-checks each platform’s stores: LevelStore under NodeNext, IndexedDBStore and LocalStorageStore under Bundler', () => {
    const apps = {
      NodeNext: `import { LevelStore, MemoryStore, StorageQuotaError, type StorageAdapter } from 'rustdht';
export async function open(dir: string): Promise<StorageAdapter> { return dir === '' ? new MemoryStore() : LevelStore.open(dir); }
export const quota: string = new StorageQuotaError('full').code;
`,
      Bundler: `import { IndexedDBStore, LocalStorageStore, MemoryStore, type StorageAdapter } from 'rustdht';
export async function open(name: string): Promise<StorageAdapter> {
  return name === '' ? new MemoryStore() : name.startsWith('ls:') ? LocalStorageStore.open(name.slice(3)) : IndexedDBStore.open(name, { durability: 'relaxed' });
}
`,
    } as const;
    for (const [moduleResolution, source] of Object.entries(apps)) {
      const module = moduleResolution === 'NodeNext' ? 'NodeNext' : 'ESNext';
      const types = moduleResolution === 'NodeNext' ? ['node'] : [];
      writeFileSync(join(APP, 'stores.ts'), source);
      writeFileSync(
        join(APP, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module, moduleResolution, skipLibCheck: true, types, lib: ['ES2022', 'DOM'] },
          files: ['stores.ts'],
        }),
      );
      try {
        execFileSync(process.execPath, [TSC, '-p', join(APP, 'tsconfig.json')], { cwd: APP, encoding: 'utf8' });
      } catch (err) {
        const e = err as { stdout?: string };
        throw new Error(`tsc (${moduleResolution}) failed:\n${e.stdout ?? String(err)}`);
      }
    }
  });
});
