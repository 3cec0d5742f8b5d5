/** What a refusal says, for tests that check the words of an error as well as its code. */
import { expect } from 'vitest';
import { RustDHTError } from '../../src/api/errors.js';

/** "code: message" of the RustDHTError (WireError, LimitError, …) `run` throws; fails the test when it throws nothing or something else. */
export function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RustDHTError);
    return `${(error as RustDHTError).code}: ${(error as RustDHTError).message}`;
  }
  throw new Error('expected an error, nothing was thrown');
}
