/**
 * Registers the storage conformance checks as vitest tests: one test per check that
 * applies to the backend, named like the check. Checks that cannot apply (reopening a
 * memory store, a quota a backend cannot reach) are not registered; the suite's name
 * lists them with the reason, so what a backend is not tested for stays visible.
 */
import { describe, it } from 'vitest';
import { runStorageCheck, storageChecks, type StorageSubject } from './conformance.js';

export function describeConformance(subject: StorageSubject): void {
  const notApplicable = storageChecks.flatMap((check) => {
    const reason = check.notApplicable?.(subject);
    return reason === undefined ? [] : [`${check.name} (${reason})`];
  });
  const title = notApplicable.length === 0 ? '' : `; not applicable: ${notApplicable.join('; ')}`;
  describe(`StorageAdapter conformance: ${subject.name}${title}`, () => {
    for (const check of storageChecks) {
      if (check.notApplicable?.(subject) !== undefined) continue;
      it(check.name, async () => {
        const result = await runStorageCheck(check, subject);
        if (result.status === 'failed') throw result.error;
      });
    }
  });
}
