/**
 * LevelDB through `classic-level`: the default store for Node servers. Node only (a
 * native addon): it is exported from the package's Node entry and nowhere else, so
 * browser bundles never see it.
 *
 * Durability: a batch is written as one LevelDB WriteBatch with `sync: true`, so when
 * `batch()` resolves the batch is in LevelDB's write-ahead log and the log has been
 * fsync'd. A resolved batch therefore survives `kill -9` of the process (and a power
 * loss, as far as the disk honours fsync); a batch whose promise had not resolved may
 * be wholly present or wholly absent after a crash, never in part.
 *
 * Ordering and speed: at most one write is in flight. Batches issued meanwhile wait and
 * are then written together, in call order, as one WriteBatch with one fsync (group
 * commit). That keeps "the later call wins" exact (libuv would otherwise run
 * concurrent writes on different threads, in no fixed order) and makes N concurrent
 * batches cost about one disk sync instead of N. Each caller's batch stays atomic: it
 * lands inside one WriteBatch together with whole other batches. If that write fails,
 * every batch in it rejects (none of them was applied).
 *
 * Iteration uses LevelDB's implicit snapshot, taken when the iteration starts, and
 * reads in chunks, so scanning a large store does not load it into memory.
 */
import { ClassicLevel } from 'classic-level';
import { closedError, InvalidValueError, RustDHTError } from '../api/errors.js';
import type { RangeOptions, StorageAdapter, StorageEntry, StorageOperation } from './adapter.js';
import { toKeyRange } from './range.js';
import { checkBytes, copyOperations } from './validate.js';

type Database = ClassicLevel<Uint8Array, Uint8Array>;
interface IteratorOptions {
  gte?: Uint8Array;
  lt?: Uint8Array;
  reverse: boolean;
  limit: number;
}
/** What #iterate needs of classic-level's entry and key iterators. */
interface NativeIterator<T> {
  nextv(size: number): Promise<T[]>;
  close(): Promise<void>;
}

interface QueuedBatch {
  readonly operations: StorageOperation[];
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * LevelDB's memtable (its default is 4 MiB). A write that fills it while the previous one
 * is still being flushed to disk waits for that flush: under a server's sustained writes
 * (bench row 11's soak: a peer writing at its quota) such waits put 30–70 ms under
 * commits of a few records, and so under the acknowledgements of every writer. At 32 MiB
 * the flushes are rarer and have longer to finish: in 120 s soaks, honest put → ack p90
 * 10–15 ms instead of 18–22 ms, p99 49 ms instead of 57–77 ms, and a third less
 * compaction CPU. Costs at most two memtables of memory.
 */
const WRITE_BUFFER_BYTES = 32 * 1024 * 1024;
/** A key no layout writes (persistence/layout.ts prefixes are ASCII letters): close() compacts this one-key range, which costs nothing beyond flushing the memtable. */
const FLUSH_RANGE_KEY = Uint8Array.of(0xff, 0xff, 0xff, 0xff);

/** Bounds on one group commit: large enough to amortise the fsync, small enough to not stall readers. */
const GROUP_MAX_OPERATIONS = 20_000;
const GROUP_MAX_BYTES = 32 * 1024 * 1024;
/**
 * Entries fetched from the native iterator per call: one crossing per chunk, not per
 * entry. The first call asks for FIRST_CHUNK, each next one for twice as many, up to
 * ITERATION_CHUNK. Why not 512 at once: classic-level reserves room for the whole chunk
 * (~64 bytes an entry) in the native iterator and frees it only when V8 collects the
 * iterator's JS object, which V8 does not know holds native memory. A server scans one
 * soul's few records before most merges and reads; at 512 an entry those scans held
 * ~32 KiB each until a major GC, 230 MiB at a time in the soak (heaptrack: classic-level
 * NextWorker's vector reserve), and RSS grew with it.
 */
const FIRST_CHUNK = 16;
const ITERATION_CHUNK = 512;

export class LevelStore implements StorageAdapter {
  /** The directory holding the LevelDB files. */
  readonly directory: string;
  readonly #db: Database;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #queue: QueuedBatch[] = [];
  /** The running write loop, while there is one. */
  #writing: Promise<void> | undefined;

  private constructor(directory: string, db: Database) {
    this.directory = directory;
    this.#db = db;
  }

  /**
   * Opens (creating it if needed) the LevelDB database in `directory`. One store per
   * directory at a time: LevelDB locks it, and a second open, from this process or
   * another, fails with code `storage/locked`.
   */
  static async open(directory: string): Promise<LevelStore> {
    if (typeof directory !== 'string' || directory === '') {
      throw new RustDHTError('storage/location', 'LevelStore.open() needs a directory path.');
    }
    const db: Database = new ClassicLevel<Uint8Array, Uint8Array>(directory, { keyEncoding: 'view', valueEncoding: 'view', writeBufferSize: WRITE_BUFFER_BYTES });
    try {
      await db.open();
    } catch (error) {
      throw fromLevelError(error, `open ${directory}`);
    }
    return new LevelStore(directory, db);
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    checkBytes(key, 'key');
    try {
      const value = await this.#db.get(key);
      return value === undefined ? undefined : plain(value);
    } catch (error) {
      throw this.#fromError(error, 'get');
    }
  }

  async getMany(keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    this.#assertOpen();
    if (!Array.isArray(keys)) throw new InvalidValueError('storage/bytes', 'getMany() takes an array of Uint8Array keys.');
    keys.forEach((key, i) => checkBytes(key, `key ${i}`));
    if (keys.length === 0) return [];
    try {
      // classic-level reads the array and keeps nothing of it: no copy needed.
      const values = await this.#db.getMany(keys as Uint8Array[]);
      return values.map((value) => (value === undefined ? undefined : plain(value)));
    } catch (error) {
      throw this.#fromError(error, 'get');
    }
  }

  async *entries(range: RangeOptions = {}): AsyncIterable<StorageEntry> {
    for await (const chunk of this.#chunks(range, (options) => this.#db.iterator(options))) {
      for (const [key, value] of chunk) {
        this.#assertOpen();
        yield { key: plain(key), value: plain(value) };
      }
    }
  }

  async *keys(range: RangeOptions = {}): AsyncIterable<Uint8Array> {
    for await (const chunk of this.#chunks(range, (options) => this.#db.keys(options))) {
      for (const key of chunk) {
        this.#assertOpen();
        yield plain(key);
      }
    }
  }

  /**
   * A native iterator over `range` (entries or keys), read in growing chunks (the caller
   * yields each item: a generator step per chunk here, not per item), closed when the
   * consumer stops.
   */
  async *#chunks<T>(range: RangeOptions, open: (options: IteratorOptions) => NativeIterator<T>): AsyncIterable<T[]> {
    this.#assertOpen();
    const keyRange = toKeyRange(range);
    if (keyRange === undefined) return;
    const options: IteratorOptions = {
      reverse: keyRange.reverse,
      limit: keyRange.limit === Infinity ? -1 : keyRange.limit,
    };
    if (keyRange.gte !== undefined) options.gte = keyRange.gte;
    if (keyRange.lt !== undefined) options.lt = keyRange.lt;
    const iterator = open(options);
    let size = FIRST_CHUNK;
    try {
      for (;;) {
        let chunk: T[];
        try {
          chunk = await iterator.nextv(size);
          size = Math.min(2 * size, ITERATION_CHUNK);
        } catch (error) {
          throw this.#fromError(error, 'iterate');
        }
        if (chunk.length === 0) return;
        yield chunk;
      }
    } finally {
      // Releases the snapshot early when the consumer stops; already closed if the store closed.
      await iterator.close().catch(() => {});
    }
  }

  async batch(operations: readonly StorageOperation[]): Promise<void> {
    this.#assertOpen();
    const copies = copyOperations(operations);
    // Queued synchronously, before any await: queue order is call order.
    const done = new Promise<void>((resolve, reject) => this.#queue.push({ operations: copies, resolve, reject }));
    this.#startWriting();
    return done;
  }

  /** Idempotent. Waits for every batch already issued to be written, writes LevelDB's memtable to its files, then closes it. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closed = true;
      this.#closing = (async () => {
        await this.#writing;
        // Writes the memtable out first (LevelDB's CompactRange always flushes it; this
        // range holds no key, so nothing else is compacted): else the next open replays
        // up to WRITE_BUFFER_BYTES of write-ahead log before it can answer anything.
        await this.#db.compactRange(FLUSH_RANGE_KEY, FLUSH_RANGE_KEY).catch(() => {});
        await this.#db.close();
      })();
    }
    return this.#closing;
  }

  #startWriting(): void {
    if (this.#writing !== undefined) return;
    this.#writing = (async () => {
      while (this.#queue.length > 0) {
        const group = this.#takeGroup();
        try {
          await this.#db.batch(group.flatMap((queued) => queued.operations), { sync: true });
          for (const queued of group) queued.resolve();
        } catch (error) {
          const typed = this.#fromError(error, 'write');
          for (const queued of group) queued.reject(typed);
        }
      }
      this.#writing = undefined;
    })();
  }

  /** The next whole batches to write together, oldest first; at least one. */
  #takeGroup(): QueuedBatch[] {
    let count = 0;
    let bytes = 0;
    let taken = 0;
    for (const queued of this.#queue) {
      let size = 0;
      for (const operation of queued.operations) size += operation.key.length + (operation.type === 'put' ? operation.value.length : 0);
      if (taken > 0 && (count + queued.operations.length > GROUP_MAX_OPERATIONS || bytes + size > GROUP_MAX_BYTES)) break;
      count += queued.operations.length;
      bytes += size;
      taken++;
    }
    return this.#queue.splice(0, taken);
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError(`the LevelDB store at ${this.directory} is closed; open it again with LevelStore.open().`);
  }

  #fromError(error: unknown, doing: string): unknown {
    if (this.#closed && isNotOpen(error)) {
      return closedError(`the LevelDB store at ${this.directory} was closed during ${doing}.`);
    }
    return fromLevelError(error, `${doing} in ${this.directory}`);
  }
}

function isNotOpen(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'LEVEL_DATABASE_NOT_OPEN' || code === 'LEVEL_ITERATOR_NOT_OPEN';
}

/** LevelDB's failures as typed errors; `cause` keeps the original. */
function fromLevelError(error: unknown, doing: string): unknown {
  const codes: unknown[] = [];
  for (let e: unknown = error; e instanceof Error && codes.length < 4; e = e.cause) codes.push((e as { code?: unknown }).code);
  if (codes.includes('LEVEL_LOCKED')) {
    return new RustDHTError('storage/locked', `cannot ${doing}: the directory is in use by another LevelStore (in this process or another). Close that one first.`, { cause: error });
  }
  if (codes.includes('LEVEL_CORRUPTION')) {
    return new RustDHTError('storage/corrupt', `cannot ${doing}: LevelDB reports corruption. ClassicLevel.repair(directory) may recover what is intact.`, { cause: error });
  }
  const text = String(error instanceof Error ? `${error.message} ${String((error.cause as Error | undefined)?.message ?? '')}` : error);
  if (/No space left on device|ENOSPC|disk full/i.test(text)) {
    return new RustDHTError('storage/full', `cannot ${doing}: the disk is full (${error instanceof Error ? error.message : String(error)}). Writes are refused until there is room again; reads go on.`, { cause: error });
  }
  if (codes.includes('LEVEL_IO_ERROR')) {
    return new RustDHTError('storage/io', `cannot ${doing}: LevelDB reports an I/O error (${error instanceof Error ? error.message : String(error)}).`, { cause: error });
  }
  if (codes.includes('LEVEL_DATABASE_NOT_OPEN') || codes.includes('LEVEL_ITERATOR_NOT_OPEN')) {
    return closedError(`cannot ${doing}: the LevelDB database is not open.`);
  }
  return error;
}

/**
 * classic-level returns Node Buffers. Callers get plain Uint8Arrays (a Buffer's
 * `slice` shares memory where a Uint8Array's copies). Each Buffer it returns owns its
 * ArrayBuffer, so a view over it costs nothing; anything else is copied.
 */
function plain(bytes: Uint8Array): Uint8Array {
  if (Object.getPrototypeOf(bytes) === Uint8Array.prototype) return bytes;
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength) return new Uint8Array(bytes.buffer);
  return new Uint8Array(bytes);
}
