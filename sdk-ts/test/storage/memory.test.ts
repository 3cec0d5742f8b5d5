import { MemoryStore } from '../../src/storage/memory.js';
import { describeConformance } from './vitest-conformance.js';

// Not persistent (no reopen) and without a quota: those two checks are skipped.
describeConformance({ name: 'MemoryStore', makeStore: async () => new MemoryStore() });
