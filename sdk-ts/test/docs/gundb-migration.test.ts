/**
 * docs/gundb-migration.md: its RustDHT example runs as is (it asserts each GunDB
 * equivalent itself), and every RustDHT name the table relies on is exported by the
 * package, so the table cannot promise a call that does not exist.
 *
 * Needs the build (`npm run build`): the example imports the package's dist/.
 */
import { afterAll, expect, it } from 'vitest';
import * as nodeEntry from '../../src/node.js';
import { IdentityKeeper } from '../../src/replica/identity-keeper.js';
import { Network } from '../../src/network/peer-network.js';
import { Identity, MapRef, Ref, RustDHT } from '../../src/node.js';
import { LocalStorageStore } from '../../src/storage/local-storage.js';
import { fileBlock } from './markdown.js';
import { describeRun, runNode, scratchApp, type ScratchApp } from './scratch.js';

const DOC = 'gundb-migration.md';
let app: ScratchApp | undefined;

afterAll(async () => {
  await app?.remove();
});

it('the side-by-side example runs in Node and prints ok', async () => {
  app = await scratchApp('gundb');
  await app.write('gun-to-rustdht.mjs', fileBlock(DOC, 'gun-to-rustdht.mjs').code);
  const result = await runNode(app.dir, ['gun-to-rustdht.mjs']);
  expect(result.code, describeRun('gun-to-rustdht.mjs', result)).toBe(0);
  expect(result.stdout.trim()).toBe('ok');
});

it('the table names only calls the package has', () => {
  for (const name of ['RustDHT', 'Identity', 'LevelStore', 'PermissionError', 'InvalidValueError', 'LimitError', 'UndeliveredWritesError']) {
    expect(nodeEntry, name).toHaveProperty(name);
  }
  for (const method of ['get', 'put', 'set', 'on', 'once', 'map', 'changes', 'meta']) expect(typeof Ref.prototype[method as keyof Ref], `Ref.${method}`).toBe('function');
  for (const getter of ['root', 'path', 'key']) expect(Object.getOwnPropertyDescriptor(Ref.prototype, getter)?.get, `Ref.${getter}`).toBeTypeOf('function');
  // A ref is not thenable: `await ref` is the ref, which is why the table says once().
  expect('then' in Ref.prototype).toBe(false);
  for (const method of ['on', 'once', 'changes']) expect(typeof MapRef.prototype[method as keyof MapRef], `MapRef.${method}`).toBe('function');
  for (const method of ['get', 'user', 'close', 'flush']) expect(typeof RustDHT.prototype[method as keyof RustDHT], `RustDHT.${method}`).toBe('function');
  for (const method of ['dial', 'hangUp', 'goOffline', 'goOnline', 'on', 'status', 'whenSynced']) expect(typeof Network.prototype[method as keyof Network], `Network.${method}`).toBe('function');
  for (const method of ['keep', 'load', 'list', 'forget']) expect(typeof IdentityKeeper.prototype[method as keyof IdentityKeeper], `identities.${method}`).toBe('function');
  for (const method of ['export', 'dispose']) expect(typeof Identity.prototype[method as keyof Identity], `Identity.${method}`).toBe('function');
  expect(typeof Identity.generate).toBe('function');
  expect(typeof Identity.import).toBe('function');
  expect(typeof LocalStorageStore.open).toBe('function');
});
