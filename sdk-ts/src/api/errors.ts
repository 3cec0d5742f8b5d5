/**
 * Every error RustDHT throws on purpose is a `RustDHTError` subclass with a stable,
 * machine-readable `code` (the engine's code when the engine raised it). Messages say
 * what went wrong and what to do about it.
 */

export interface RustDHTErrorOptions {
  cause?: unknown;
  /** The property the error is about, when there is one. */
  soul?: string;
  key?: string;
}

export class RustDHTError extends Error {
  /** Stable code such as `namespace/not-owner` or `decode/truncated`. */
  readonly code: string;
  readonly soul: string | undefined;
  readonly key: string | undefined;

  constructor(code: string, message: string, options: RustDHTErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.soul = options.soul;
    this.key = options.key;
  }

  override readonly name: string = 'RustDHTError';
}

/** A value, key or soul that RustDHT cannot store as given. Nothing was written. */
export class InvalidValueError extends RustDHTError {
  override readonly name: string = 'InvalidValueError';
}

/** A configured size limit was exceeded (soul, key, value, batch, deferred queue, clock skew). */
export class LimitError extends RustDHTError {
  override readonly name: string = 'LimitError';
}

/** The namespace rules forbid the write: another key's `~` space, or `#` content space. */
export class PermissionError extends RustDHTError {
  override readonly name: string = 'PermissionError';
}

/** A signature is missing or does not verify. */
export class SignatureError extends RustDHTError {
  override readonly name: string = 'SignatureError';
}

/** Bytes that are not a well-formed RustDHT frame. Nothing was applied. */
export class DecodeError extends RustDHTError {
  override readonly name: string = 'DecodeError';
}

/** The database, store or identity was used after `close()` / `dispose()`. */
export class ClosedError extends RustDHTError {
  override readonly name: string = 'ClosedError';
}

/**
 * A storage backend ran out of room (the localStorage quota, or the browser's quota for
 * IndexedDB). The batch that hit it was not applied, not even in part, and everything
 * stored before it is intact: free space (delete data) or move to a larger backend.
 */
export class StorageQuotaError extends RustDHTError {
  override readonly name: string = 'StorageQuotaError';

  constructor(message: string, options: RustDHTErrorOptions = {}) {
    super('storage/quota', message, options);
  }
}

/**
 * A put that asked for a durability level (`put(value, { durability })`) did not reach
 * it in time: `reached` of the soul's `owners` servers confirmed they hold it durably
 * (`required` were asked for; 0 when no server answered). The write itself is not
 * lost: it is durable locally and stays in the outbox, or with the server that took
 * it, which keeps delivering it to the owners.
 */
export class DurabilityError extends RustDHTError {
  override readonly name: string = 'DurabilityError';
  readonly level: 'one' | 'quorum' | 'all';
  readonly reached: number;
  readonly required: number;
  readonly owners: number | undefined;

  constructor(level: 'one' | 'quorum' | 'all', reached: number, required: number, owners: number | undefined, message: string, options: RustDHTErrorOptions = {}) {
    super('durability/not-reached', message, options);
    this.level = level;
    this.reached = reached;
    this.required = required;
    this.owners = owners;
  }
}

/**
 * `close()` ended a database whose network never acknowledged some local writes, and
 * whose storage was memory only: those writes are gone from it. `entries` holds their
 * changes frames (signatures included): `receive()` them into another database, or
 * store them, to keep them. The database is closed all the same.
 */
export class UndeliveredWritesError extends RustDHTError {
  override readonly name: string = 'UndeliveredWritesError';
  readonly report: { readonly undelivered: number; readonly kept: boolean };
  readonly entries: ReadonlyArray<{ readonly id: number; readonly frame: Uint8Array }>;

  constructor(
    report: { readonly undelivered: number; readonly kept: boolean },
    entries: ReadonlyArray<{ readonly id: number; readonly frame: Uint8Array }>,
  ) {
    super(
      'outbox/undelivered',
      `closed with ${report.undelivered} local write${report.undelivered === 1 ? '' : 's'} that no server acknowledged, in a database kept in memory only: ` +
        "they are lost unless you keep error.entries. Open the database with { directory } (Node) or a persistent store so the outbox survives, or wait for db.network.whenSynced() before close().",
    );
    this.report = report;
    this.entries = entries;
  }
}

/** The operation's AbortSignal fired. */
export class AbortError extends RustDHTError {
  override readonly name: string = 'AbortError';

  constructor(message = 'the operation was aborted', options: RustDHTErrorOptions = {}) {
    super('abort', message, options);
  }
}

type ErrorClass = new (code: string, message: string, options?: RustDHTErrorOptions) => RustDHTError;

/** What the user can do about each family of engine codes. */
const HINTS: Record<string, readonly [ErrorClass, string]> = {
  decode: [DecodeError, 'The bytes are not a RustDHT frame (or a newer version of one); nothing was applied.'],
  limit: [LimitError, 'Split the data into smaller writes, or raise the limit in RustDHT.open({ limits }).'],
  value: [InvalidValueError, 'Nothing was written.'],
  key: [InvalidValueError, 'Use a non-empty, well-formed string as key. Nothing was written.'],
  soul: [InvalidValueError, 'Use a non-empty, well-formed string as soul. Nothing was written.'],
  namespace: [
    PermissionError,
    'Souls starting with ~ belong to the public key that follows: write there through db.user(identity) with that identity.',
  ],
  content: [
    PermissionError,
    'Souls starting with # are immutable and content-addressed: the key must be contentKey(value) and an existing property never changes.',
  ],
  signature: [SignatureError, 'The update was not accepted.'],
  clock: [LimitError, "The writer's clock is too far ahead; raise maxClockSkewMs if that skew is legitimate."],
  config: [InvalidValueError, 'Fix the option passed to RustDHT.open().'],
};

/** Codes whose family would mislead: an unsigned write into ~ space is a permission problem. */
const SPECIAL: Record<string, readonly [ErrorClass, string]> = {
  'signature/missing': [PermissionError, HINTS['namespace']![1]],
};

function classify(code: string): readonly [ErrorClass, string] {
  const special = SPECIAL[code];
  if (special !== undefined) return special;
  const family = code.slice(0, code.indexOf('/'));
  return HINTS[family] ?? [RustDHTError, ''];
}

function withHint(message: string, hint: string): string {
  if (hint === '') return message;
  const sentence = /[.!?]$/.test(message) ? message : `${message}.`;
  return `${sentence} ${hint}`;
}

/** The typed error for an engine (or per-update rejection) code and message. */
export function errorForCode(code: string, message: string, options: RustDHTErrorOptions = {}): RustDHTError {
  const [ErrorType, hint] = classify(code);
  const where = options.soul === undefined ? '' : ` (soul ${JSON.stringify(options.soul)}${options.key === undefined ? '' : `, key ${JSON.stringify(options.key)}`})`;
  return new ErrorType(code, withHint(`${message}${where}`, hint), options);
}

/**
 * Converts what an engine call threw into a typed error. The engine throws `Error`s
 * named `EngineError` carrying a `code`; anything else (a WebAssembly trap, a bug) is
 * not user-facing input trouble and is rethrown unchanged.
 */
export function fromEngineError(thrown: unknown, options: RustDHTErrorOptions = {}): unknown {
  if (thrown instanceof Error && thrown.name === 'EngineError' && typeof (thrown as { code?: unknown }).code === 'string') {
    return errorForCode((thrown as Error & { code: string }).code, thrown.message, { ...options, cause: thrown });
  }
  return thrown;
}

/**
 * Runs an engine call and converts what it throws (fromEngineError): the one place the
 * shell turns engine failures into typed errors. `where` names the update a failure is
 * about, from the thrown error (e.g. its `index` in a write list).
 */
export function engineCall<T>(call: () => T, where?: (thrown: unknown) => RustDHTErrorOptions): T {
  try {
    return call();
  } catch (thrown) {
    throw fromEngineError(thrown, where?.(thrown));
  }
}

export function closedError(message: string): ClosedError {
  return new ClosedError('closed', message);
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortErrorFrom(signal);
}

export function abortErrorFrom(signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason;
  if (reason instanceof AbortError) return reason;
  return new AbortError('the operation was aborted by its AbortSignal', { cause: reason });
}
