/**
 * A trap in the engine is fatal (issue 11, item 1): trap-guard.ts turns the first
 * WebAssembly.RuntimeError into EngineTrappedError (`engine/trapped`), tells the
 * listeners once (a server exits on it), and refuses every later call on any engine of
 * the module instead of running it on memory that can no longer be trusted.
 *
 * The trapping module is a stand-in with the engine's shape whose calls throw what a
 * trapping WebAssembly call throws; the trap state is per process, and vitest runs each
 * test file in its own module graph, so no other file sees this one's trap. The real
 * engine's ordinary errors are checked to pass through untouched.
 */
import { expect, it } from 'vitest';
import { DecodeError } from '../../src/api/errors.js';
import type { EngineModule } from '../../src/engine/core-types.js';
import { EngineTrappedError, engineTrap, guardTraps, onEngineTrap } from '../../src/engine/trap-guard.js';
import { RustDHT } from '../../src/node.js';

it('ordinary engine errors pass through the guard as typed errors, and nothing is trapped', async () => {
  const db = await RustDHT.open({ store: 'memory' });
  await expect(db.receive(new Uint8Array([1, 2, 3]))).rejects.toBeInstanceOf(DecodeError);
  expect(engineTrap()).toBeUndefined();
  await db.get('still').put({ working: true });
  expect(await db.get('still').get('working').once()).toBe(true);
  await db.close();
});

it('the first trap is fatal: typed, reported once, and every later call on any engine refuses to run', async () => {
  const db = await RustDHT.open({ store: 'memory' });
  await db.get('before').put({ ok: 1 });
  let ran = 0;
  class TrappingEngine {
    ingest(): string {
      ran++;
      throw new WebAssembly.RuntimeError('unreachable executed');
    }
    clock(): number {
      ran++;
      return 1;
    }
  }
  class NoSigner {}
  class NoPlacement {}
  class NoReconciliation {}
  const fake = guardTraps({ Engine: TrappingEngine, Signer: NoSigner, Placement: NoPlacement, Reconciliation: NoReconciliation, jsonText: () => '', contentKey: () => '', encodeUpdates: () => new Uint8Array(), joinFrames: () => [new Uint8Array(), 0] } as unknown as EngineModule);
  const heard: EngineTrappedError[] = [];
  onEngineTrap((error) => heard.push(error));

  const engine = new fake.Engine({}) as unknown as TrappingEngine;
  let thrown: unknown;
  try {
    engine.ingest();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(EngineTrappedError);
  expect(thrown).toMatchObject({ code: 'engine/trapped' });
  expect((thrown as Error).cause).toBeInstanceOf(WebAssembly.RuntimeError);
  expect(heard).toEqual([thrown]);
  expect(engineTrap()).toBe(thrown);

  // Nothing runs after the trap, on this engine or on the real one.
  expect(() => engine.clock()).toThrow(EngineTrappedError);
  expect(ran).toBe(1);
  await expect(db.get('after').put({ ok: 2 })).rejects.toMatchObject({ code: 'engine/trapped' });
  // A listener added later hears of it at once; the first listener is not told twice.
  const late: EngineTrappedError[] = [];
  onEngineTrap((error) => late.push(error));
  expect(late).toEqual([thrown]);
  expect(heard).toHaveLength(1);
});
