/**
 * Registers the storage conformance checks as vitest tests: one test per check, named
 * like the check, skipped (with the reason) where the check does not apply.
 */
import { describe, it } from 'vitest';
import { runStorageCheck, storageChecks, type StorageSubject } from './conformance.js';

export function describeConformance(subject: StorageSubject): void {
  describe(`StorageAdapter conformance: ${subject.name}`, () => {
    for (const check of storageChecks) {
      it(check.name, async (context) => {
        const result = await runStorageCheck(check, subject);
        if (result.status === 'skipped') context.skip(result.detail);
        if (result.status === 'failed') throw result.error;
      });
    }
  });
}
