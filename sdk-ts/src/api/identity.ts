/**
 * An Ed25519 identity. The private key is a 32-byte seed drawn from
 * `crypto.getRandomValues`; the engine derives the key pair and signs inside
 * WebAssembly. The seed is kept (zeroed on `dispose()`) only so `export()` can hand it
 * to the user for backup.
 */
import { decodeBase64url, encodeBase64url } from '../util/base64url.js';
import { requireEngine } from '../platform/engine-binding.js';
import type { EngineModule, Signer } from '../engine/core-types.js';
import { closedError, InvalidValueError } from './errors.js';

export interface ExportedIdentity {
  /** base64url Ed25519 public key (43 characters). */
  readonly publicKey: string;
  /** base64url 32-byte seed. Whoever holds it can write as this identity: keep it secret. */
  readonly secretKey: string;
}

const SEED_BYTES = 32;

interface Keys {
  readonly engineModule: EngineModule;
  readonly signer: Signer;
  readonly seed: Uint8Array;
}

/** Identity → its keys; a WeakMap keeps them out of reach of user code. */
const keysOf = new WeakMap<Identity, Keys>();

export class Identity {
  /** Set by the platform entry point (see engine-binding.ts). */
  protected static readonly engineModule: EngineModule | undefined = undefined;

  /** base64url Ed25519 public key: the `<publicKey>` of this identity's `~<publicKey>` space. */
  readonly publicKey: string;

  protected constructor(engineModule: EngineModule, seed: Uint8Array) {
    const signer = engineModule.Signer.fromSeed(seed);
    this.publicKey = signer.publicKey();
    keysOf.set(this, { engineModule, signer, seed });
  }

  /** A new identity from 32 random bytes. */
  static generate(): Identity {
    const engineModule = requireEngine(this.engineModule);
    return new this(engineModule, crypto.getRandomValues(new Uint8Array(SEED_BYTES)));
  }

  /** Restores an identity saved with `export()`; checks the public key matches the secret key. */
  static import(exported: ExportedIdentity): Identity {
    const engineModule = requireEngine(this.engineModule);
    const { publicKey, secretKey } = (exported ?? {}) as Partial<ExportedIdentity>;
    if (typeof publicKey !== 'string' || typeof secretKey !== 'string') {
      throw new InvalidValueError('identity/invalid', 'Identity.import() expects { publicKey, secretKey } as produced by identity.export().');
    }
    const seed = decodeBase64url(secretKey);
    if (seed === undefined || seed.length !== SEED_BYTES) {
      throw new InvalidValueError('identity/invalid', `secretKey must be ${SEED_BYTES} bytes in unpadded base64url, as produced by identity.export().`);
    }
    const identity = new this(engineModule, seed);
    if (identity.publicKey !== publicKey) {
      identity.dispose();
      throw new InvalidValueError('identity/mismatch', 'publicKey does not belong to secretKey: the exported identity was altered or mixed up with another one.');
    }
    return identity;
  }

  /** The key pair as text, for backup or moving to another device. */
  export(): ExportedIdentity {
    const { seed } = liveKeys(this);
    return { publicKey: this.publicKey, secretKey: encodeBase64url(seed) };
  }

  /** True after `dispose()`: the secret key is wiped and the identity can no longer sign. */
  get disposed(): boolean {
    return !keysOf.has(this);
  }

  /** Frees the engine's key and zeroes the seed. Later use throws ClosedError. */
  dispose(): void {
    const keys = keysOf.get(this);
    if (keys === undefined) return;
    keysOf.delete(this);
    keys.seed.fill(0);
    keys.signer.free();
  }
}

function liveKeys(identity: Identity): Keys {
  const keys = keysOf.get(identity);
  if (keys === undefined) throw closedError('the identity was disposed; restore it with Identity.import() to keep using it.');
  return keys;
}

/** The engine signer of `identity`, checked to belong to `engineModule`. Internal. */
export function signerOf(identity: Identity, engineModule: EngineModule): Signer {
  if (!(identity instanceof Identity)) {
    throw new InvalidValueError('identity/invalid', 'expected an Identity from Identity.generate() or Identity.import().');
  }
  const keys = liveKeys(identity);
  if (keys.engineModule !== engineModule) {
    throw new InvalidValueError('identity/engine', 'this Identity was made by another engine instance; create it with the Identity class of the same entry point as the database.');
  }
  return keys.signer;
}
