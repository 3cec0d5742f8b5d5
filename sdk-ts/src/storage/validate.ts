/**
 * Argument checks every StorageAdapter shares, so all backends reject the same inputs
 * with the same InvalidValueError, before touching the backend.
 *
 * `copyOperations` reads each operation exactly once and copies its bytes: after it
 * returns, nothing the caller does (mutating a buffer, a getter that throws, a Proxy)
 * can change or interrupt what the backend writes. A batch therefore either fails here,
 * with nothing written, or goes to the backend whole.
 */
import { InvalidValueError } from '../api/errors.js';
import type { StorageOperation } from './adapter.js';

export function checkBytes(bytes: unknown, what: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new InvalidValueError('storage/bytes', `the ${what} must be a Uint8Array; encode strings with TextEncoder first.`);
  }
}

/** Validated copies of `operations`, in order. Throws InvalidValueError on the first bad one. */
export function copyOperations(operations: readonly StorageOperation[]): StorageOperation[] {
  if (!Array.isArray(operations)) {
    throw new InvalidValueError('storage/operation', 'batch() takes an array of operations.');
  }
  const copies: StorageOperation[] = new Array(operations.length);
  for (let i = 0; i < operations.length; i++) {
    const operation: unknown = operations[i];
    if (typeof operation !== 'object' || operation === null) {
      throw new InvalidValueError('storage/operation', `batch operation ${i} is not an object; use { type: 'put', key, value } or { type: 'del', key }.`);
    }
    const { type, key } = operation as { type: unknown; key: unknown };
    checkBytes(key, `key of batch operation ${i}`);
    if (type === 'put') {
      const { value } = operation as { value: unknown };
      checkBytes(value, `value of batch operation ${i}`);
      copies[i] = { type, key: key.slice(), value: value.slice() };
    } else if (type === 'del') {
      copies[i] = { type, key: key.slice() };
    } else {
      throw new InvalidValueError('storage/operation', `batch operation ${i} has type ${typeof type === 'string' ? JSON.stringify(type) : typeof type}; use 'put' or 'del'.`);
    }
  }
  return copies;
}
