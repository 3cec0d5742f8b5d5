import { MemoryStore } from '../../src/storage/memory.js';
import { describeConformance } from './vitest-conformance.js';

// Not persistent (no reopen), without a quota and without getMany: those three checks are skipped.
describeConformance({ name: 'MemoryStore', makeStore: async () => new MemoryStore() });
