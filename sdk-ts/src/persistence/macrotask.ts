/**
 * Moved to util/macrotask.ts: the network schedules with it too, and network code does
 * not import storage internals. Kept here only for group-commit.ts's import until the
 * persistence layer imports util/macrotask.js directly.
 */
export { afterMicrotasks } from '../util/macrotask.js';
