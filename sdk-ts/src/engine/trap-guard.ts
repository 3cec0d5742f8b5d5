/**
 * A trap in the engine (WebAssembly `unreachable`, out of memory, a Rust panic) leaves
 * its linear memory in an unknown state, shared by every Engine of the module in this
 * process. Nothing the engine says after that can be trusted, so the first trap is
 * fatal: it is remembered, listeners are told (a server exits non-zero so its supervisor
 * restarts it, rather than limp on answering `internal`), and every later call, on any
 * engine of the module, throws EngineTrappedError at once instead of running.
 *
 * The guard wraps the module's methods and functions once, in place, where the
 * loaders bind the module (load-node.ts, load-browser.ts); a call that does not throw
 * costs one extra function frame.
 */
import { RustDHTError } from '../api/errors.js';
import type { EngineModule } from './core-types.js';

/** The engine trapped: this process's engine can no longer be used. */
export class EngineTrappedError extends RustDHTError {
  override readonly name: string = 'EngineTrappedError';

  constructor(message: string, options?: { cause?: unknown }) {
    super('engine/trapped', message, options);
  }
}

type TrapListener = (error: EngineTrappedError) => void;

let trapped: EngineTrappedError | undefined;
const listeners = new Set<TrapListener>();
const guarded = new WeakSet<object>();

/** The first trap of this process's engine, if there was one. */
export function engineTrap(): EngineTrappedError | undefined {
  return trapped;
}

/** Calls `listener` once the engine traps (at once if it already did). Returns the unsubscribe. */
export function onEngineTrap(listener: TrapListener): () => void {
  if (trapped !== undefined) {
    listener(trapped);
    return () => {};
  }
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

/** If `thrown` is a trap, records it (the first one) and returns the typed error; else undefined. */
export function trapFrom(thrown: unknown): EngineTrappedError | undefined {
  if (thrown instanceof EngineTrappedError) return thrown;
  if (!(thrown instanceof WebAssembly.RuntimeError)) return undefined;
  if (trapped === undefined) {
    trapped = new EngineTrappedError(`the engine trapped (${thrown.message}); its memory can no longer be trusted: restart the process.`, { cause: thrown });
    for (const listener of [...listeners]) {
      try {
        listener(trapped);
      } catch {
        // A listener's failure must not hide the trap from the caller.
      }
    }
    listeners.clear();
  }
  return trapped;
}

function guard<F extends (...args: never[]) => unknown>(call: F): F {
  return function (this: unknown, ...args: Parameters<F>) {
    if (trapped !== undefined) throw trapped;
    try {
      return call.apply(this, args);
    } catch (thrown) {
      throw trapFrom(thrown) ?? thrown;
    }
  } as F;
}

function guardPrototype(prototype: object): void {
  if (guarded.has(prototype)) return;
  guarded.add(prototype);
  for (const name of Object.getOwnPropertyNames(prototype)) {
    if (name === 'constructor') continue;
    const descriptor = Object.getOwnPropertyDescriptor(prototype, name)!;
    if (typeof descriptor.value === 'function') {
      Object.defineProperty(prototype, name, { ...descriptor, value: guard(descriptor.value as (...args: never[]) => unknown) });
    } else if (typeof descriptor.get === 'function') {
      Object.defineProperty(prototype, name, { ...descriptor, get: guard(descriptor.get) });
    }
  }
}

/** The module with every method and function guarded (its classes' prototypes in place). */
export function guardTraps(module: EngineModule): EngineModule {
  guardPrototype(module.Engine.prototype);
  guardPrototype(module.Signer.prototype);
  guardPrototype(module.Placement.prototype);
  guardPrototype(module.Reconciliation.prototype);
  return {
    Engine: module.Engine,
    Signer: module.Signer,
    jsonText: guard(module.jsonText),
    contentKey: guard(module.contentKey),
    encodeUpdates: guard(module.encodeUpdates),
    joinFrames: guard(module.joinFrames),
    frameUpdateCount: guard(module.frameUpdateCount),
    memoryBytes: guard(module.memoryBytes),
    Placement: module.Placement,
    soulPosition: guard(module.soulPosition),
    peerPosition: guard(module.peerPosition),
    signMemberRecord: guard(module.signMemberRecord),
    openMemberRecord: guard(module.openMemberRecord),
    soulDigests: guard(module.soulDigests),
    membersDigest: guard(module.membersDigest),
    encodeSymbols: guard(module.encodeSymbols),
    Reconciliation: module.Reconciliation,
  };
}
