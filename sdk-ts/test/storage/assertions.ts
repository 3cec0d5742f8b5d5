/**
 * The few assertions the storage conformance suite needs, with no test framework: the
 * same checks run under vitest in Node and inside a plain page in Chromium. A failed
 * assertion throws CheckFailure with a message that says what differed.
 */

export class CheckFailure extends Error {
  override readonly name = 'CheckFailure';
}

export function fail(message: string): never {
  throw new CheckFailure(message);
}

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) fail(message);
}

export function hex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Short description of bytes for messages: large values are summarised, not dumped. */
export function show(bytes: Uint8Array | undefined): string {
  if (bytes === undefined) return 'undefined';
  if (!(bytes instanceof Uint8Array)) return `a ${Object.prototype.toString.call(bytes)} (not a Uint8Array)`;
  return bytes.length <= 24 ? `[${hex(bytes)}]` : `[${bytes.length} bytes: ${hex(bytes.subarray(0, 12))}…]`;
}

export function assertBytes(actual: Uint8Array | undefined, expected: Uint8Array | undefined, what: string): void {
  if (expected === undefined) {
    assert(actual === undefined, `${what}: expected undefined, got ${show(actual)}`);
    return;
  }
  assert(actual instanceof Uint8Array && sameBytes(actual, expected), `${what}: expected ${show(expected)}, got ${show(actual)}`);
}

export function assertEqual<T>(actual: T, expected: T, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  assert(a === e, `${what}:\n  expected ${clip(e)}\n  got      ${clip(a)}`);
}

/** Awaits `action()` and returns what it rejected (or threw) with; fails if it succeeded. */
export async function rejection(action: () => Promise<unknown>, what: string): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  return fail(`${what}: expected a rejection, but it succeeded`);
}

/** Asserts that `error` is an instance of `type` (and has `code`, when given). */
export function assertError(error: unknown, type: abstract new (...args: never[]) => Error, what: string, code?: string): void {
  const described = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  assert(error instanceof type, `${what}: expected a ${type.name}, got ${described}`);
  if (code !== undefined) assert((error as { code?: unknown }).code === code, `${what}: expected code ${code}, got ${String((error as { code?: unknown }).code)}`);
}

function clip(text: string): string {
  return text.length > 600 ? `${text.slice(0, 600)}… (${text.length} chars)` : text;
}
