import { MemoryStore } from '../../src/node.js';
import { describeStorageAdapter } from './storage-conformance.js';

describeStorageAdapter('MemoryStore', async () => new MemoryStore());
