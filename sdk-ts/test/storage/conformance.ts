/**
 * The StorageAdapter conformance suite: one list of named checks that every backend
 * must pass, run the same way everywhere. Each check is a plain async function that
 * throws on failure and uses no test framework, so vitest runs it in Node
 * (MemoryStore, LevelStore) and a page runs it in Chromium (IndexedDBStore,
 * LocalStorageStore, MemoryStore), and both report the same check names.
 *
 * A backend is described by a StorageSubject. Two checks depend on what the backend
 * is: "reopen" needs a persistent backend (`reopen`), "quota" one whose quota a test
 * can reach (`quotaLimited`). For other backends they report `skipped` with the
 * reason; every other check runs for every backend.
 */
import type { RangeOptions, StorageAdapter, StorageEntry, StorageOperation } from '../../src/storage/adapter.js';
import { ClosedError, InvalidValueError, RustDHTError, StorageQuotaError } from '../../src/api/errors.js';
import { assert, assertBytes, assertEqual, assertError, fail, hex, rejection, sameBytes, show } from './assertions.js';
import { Random, StoreModel } from './model.js';

export interface StorageSubject {
  readonly name: string;
  /** A new, empty store, independent of every other store the subject made. */
  makeStore(): Promise<StorageAdapter>;
  /** Persistent backends: opens again the storage behind `store`, which the check has closed. */
  reopen?(store: StorageAdapter): Promise<StorageAdapter>;
  /** The backend has the optional `getMany` (LevelDB). */
  readonly getMany?: boolean;
  /** The backend has the optional `keys` (LevelDB). */
  readonly keys?: boolean;
  /** The backend has a quota small enough to fill in a test (localStorage). */
  readonly quotaLimited?: boolean;
  /** Called after every check, passed or not: close what is open, delete what was made. */
  cleanup?(): Promise<void>;
}

export interface StorageCheck {
  readonly name: string;
  /** Why the check does not apply to `subject`; undefined when it does. */
  readonly notApplicable?: (subject: StorageSubject) => string | undefined;
  readonly run: (subject: StorageSubject) => Promise<void>;
}

export interface CheckResult {
  readonly name: string;
  readonly status: 'passed' | 'failed' | 'skipped';
  /** The failure message, or why the check was skipped. */
  readonly detail?: string;
  readonly error?: unknown;
  readonly ms: number;
}

// ---------------------------------------------------------------------------------------
// Helpers

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const put = (key: Uint8Array, value: Uint8Array): StorageOperation => ({ type: 'put', key, value });
const del = (key: Uint8Array): StorageOperation => ({ type: 'del', key });
const MiB = 1024 * 1024;

async function collect(iterable: AsyncIterable<StorageEntry>): Promise<StorageEntry[]> {
  const out: StorageEntry[] = [];
  for await (const entry of iterable) out.push(entry);
  return out;
}

/** Asserts that entries(range) yields exactly what the model selects, in order. */
async function assertRange(store: StorageAdapter, model: StoreModel, range: RangeOptions, what: string): Promise<void> {
  const actual = await collect(store.entries(range));
  const expected = model.select(range);
  const describe = (): string => `${what} ${describeRange(range)}`;
  assertEqual(actual.map((e) => hex(e.key)), expected.map(([k]) => k), `keys of ${describe()}`);
  for (let i = 0; i < expected.length; i++) {
    const value = actual[i]!.value;
    if (!(value instanceof Uint8Array) || !sameBytes(value, expected[i]![1])) {
      fail(`value of key [${expected[i]![0]}] in ${describe()}: expected ${show(expected[i]![1])}, got ${show(value)}`);
    }
  }
}

/** The whole store equals the model. */
async function assertContents(store: StorageAdapter, model: StoreModel, what: string): Promise<void> {
  await assertRange(store, model, {}, what);
}

function describeRange(range: RangeOptions): string {
  const parts: string[] = [];
  if (range.prefix !== undefined) parts.push(`prefix [${hex(range.prefix)}]`);
  if (range.gte !== undefined) parts.push(`gte [${hex(range.gte)}]`);
  if (range.lt !== undefined) parts.push(`lt [${hex(range.lt)}]`);
  if (range.reverse !== undefined) parts.push(`reverse ${range.reverse}`);
  if (range.limit !== undefined) parts.push(`limit ${range.limit}`);
  return `{ ${parts.join(', ')} }`;
}

/** Writes `operations` to the store and the model alike. */
async function write(store: StorageAdapter, model: StoreModel, operations: StorageOperation[]): Promise<void> {
  await store.batch(operations);
  model.apply(operations);
}

const isPlainBytes = (value: unknown): boolean => value instanceof Uint8Array && Object.getPrototypeOf(value) === Uint8Array.prototype;

/** Keys over a tiny alphabet rich in edge bytes, lengths 0..3: every prefix relation occurs. */
const EDGE_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff] as const;
function edgeKeys(): Uint8Array[] {
  const keys: Uint8Array[] = [bytes()];
  let previous: Uint8Array[] = [bytes()];
  for (let length = 1; length <= 3; length++) {
    const next: Uint8Array[] = [];
    for (const stem of previous) for (const b of EDGE_BYTES) next.push(bytes(...stem, b));
    keys.push(...next);
    previous = next;
  }
  return keys;
}

// ---------------------------------------------------------------------------------------
// The checks

const basics: StorageCheck = {
  name: 'get returns what a batch put; undefined for missing keys; overwrite and delete',
  async run(subject) {
    const store = await subject.makeStore();
    await store.batch([put(text('a'), bytes(1, 2, 3)), put(bytes(), bytes(7)), put(text('empty'), bytes())]);
    assertBytes(await store.get(text('a')), bytes(1, 2, 3), 'get(a)');
    assertBytes(await store.get(bytes()), bytes(7), 'get(empty key)');
    assertBytes(await store.get(text('empty')), bytes(), 'get of an empty value');
    assertBytes(await store.get(text('b')), undefined, 'get of a missing key');
    assertBytes(await store.get(text('a\0')), undefined, 'get of a key extending a stored one');
    await store.batch([put(text('a'), bytes(4))]);
    assertBytes(await store.get(text('a')), bytes(4), 'get(a) after overwrite');
    await store.batch([del(text('a'))]);
    assertBytes(await store.get(text('a')), undefined, 'get(a) after delete');
    await store.batch([del(text('never-there'))]);
    await store.batch([]);
    assertEqual((await collect(store.entries())).map((e) => hex(e.key)), ['', hex(text('empty'))], 'keys left');
    await store.close();
  },
};

const manyReads: StorageCheck = {
  name: 'getMany returns what get of each key would, in the order asked; rejects bad keys and a closed store',
  notApplicable: (subject) => (subject.getMany === true ? undefined : 'the backend has no getMany (callers read key by key)'),
  async run(subject) {
    const store = await subject.makeStore();
    assert(store.getMany !== undefined, 'the subject says the backend has getMany');
    const random = new Random(0x6e7);
    const stored = Array.from({ length: 300 }, (_, i) => put(text(`k${i}`), random.bytes(i % 7 === 0 ? 0 : 1 + (i % 50))));
    await store.batch(stored);
    const asked = [text('missing'), ...stored.map((operation) => operation.key).reverse(), text('k1'), bytes(), text('k1\0')];
    const values = await store.getMany!(asked);
    assertEqual(values.length, asked.length, 'one value per key asked');
    for (const [i, key] of asked.entries()) assertBytes(values[i], await store.get(key), `getMany value ${i} (${hex(key)})`);
    assertEqual((await store.getMany!([])).length, 0, 'getMany([])');
    // What it returns is the caller's: changing it changes nothing stored.
    const [first] = await store.getMany!([text('k1')]);
    first![0] = (first![0]! + 1) & 0xff;
    assertBytes((await store.getMany!([text('k1')]))[0], (stored[1] as { value: Uint8Array }).value, 'k1 after changing a returned value');
    assertError(await rejection(() => store.getMany!(['x' as never]), 'getMany of a string key'), InvalidValueError, 'getMany of a string key');
    assertError(await rejection(() => store.getMany!('x' as never), 'getMany of a string'), InvalidValueError, 'getMany of a string');
    await store.close();
    assertError(await rejection(() => store.getMany!([text('k1')]), 'getMany after close()'), ClosedError, 'getMany after close()', 'closed');
  },
};

const keysOnly: StorageCheck = {
  name: 'keys yields the keys entries would, for 300 random ranges; rejects a closed store',
  notApplicable: (subject) => (subject.keys === true ? undefined : 'the backend has no keys (callers read entries)'),
  async run(subject) {
    const store = await subject.makeStore();
    assert(store.keys !== undefined, 'the subject says the backend has keys');
    const random = new Random(0x6b5);
    await store.batch(edgeKeys().filter(() => random.below(4) !== 0).map((key) => put(key, random.bytes(random.below(40)))));
    for (let i = 0; i < 300; i++) {
      const range = randomRange(random, [0, 1, 2, 3, 7, 50, Infinity]);
      const expected = (await collect(store.entries(range))).map((entry) => hex(entry.key));
      const got: string[] = [];
      for await (const key of store.keys!(range)) got.push(hex(key));
      assertEqual(got, expected, `keys of random range #${i}`);
    }
    // A key it yields is the caller's: changing it changes nothing stored.
    const first = (await collect(store.entries({ limit: 2 }))).map((entry) => hex(entry.key));
    for await (const key of store.keys!({ limit: 2 })) key.fill(0xee);
    assertEqual((await collect(store.entries({ limit: 2 }))).map((entry) => hex(entry.key)), first, 'the first keys after changing the yielded ones');
    await store.close();
    assertError(await rejection(async () => {
      for await (const _ of store.keys!()) break;
    }, 'keys after close()'), ClosedError, 'keys after close()', 'closed');
  },
};

const batchOrder: StorageCheck = {
  name: 'a batch applies its operations in order (several on one key)',
  async run(subject) {
    const store = await subject.makeStore();
    const k = text('k');
    await store.batch([put(k, bytes(1)), put(k, bytes(2))]);
    assertBytes(await store.get(k), bytes(2), 'put, put');
    await store.batch([put(k, bytes(3)), del(k)]);
    assertBytes(await store.get(k), undefined, 'put, del');
    await store.batch([del(k), put(k, bytes(4))]);
    assertBytes(await store.get(k), bytes(4), 'del, put');
    await store.batch([put(k, bytes(5)), del(k), put(k, bytes(6)), put(text('other'), bytes(7))]);
    assertBytes(await store.get(k), bytes(6), 'put, del, put');
    assertBytes(await store.get(text('other')), bytes(7), 'other key in the same batch');
    await store.close();
  },
};

const copies: StorageCheck = {
  name: 'keys and values are copied in and out; reads return plain Uint8Arrays',
  async run(subject) {
    const store = await subject.makeStore();
    const key = text('m');
    const value = bytes(1, 2);
    // Mutated before the batch settles: an asynchronous backend must have copied already.
    const written = store.batch([put(key, value)]);
    value[0] = 9;
    key[0] = 0x6e;
    await written;
    assertBytes(await store.get(text('m')), bytes(1, 2), 'value after the caller mutated its buffers');
    assertBytes(await store.get(text('n')), undefined, 'the mutated key');
    const read = (await store.get(text('m')))!;
    assert(isPlainBytes(read), `get returns a plain Uint8Array, got ${Object.prototype.toString.call(read)} (${read?.constructor?.name})`);
    read[0] = 7;
    assertBytes(await store.get(text('m')), bytes(1, 2), 'value after mutating what get returned');
    // A view into a larger buffer stores only the viewed bytes.
    const backing = bytes(0xaa, 0x61, 0x62, 0xbb, 5, 6, 0xcc);
    await store.batch([put(backing.subarray(1, 3), backing.subarray(4, 6))]);
    assertBytes(await store.get(text('ab')), bytes(5, 6), 'value written from subarray views');
    const [entry] = await collect(store.entries({ prefix: text('ab') }));
    assert(entry !== undefined && isPlainBytes(entry.key) && isPlainBytes(entry.value), 'entries yields plain Uint8Arrays');
    entry.key[0] = 0;
    entry.value[0] = 0;
    assertBytes(await store.get(text('ab')), bytes(5, 6), 'value after mutating what entries yielded');
    await store.close();
  },
};

const byteOrder: StorageCheck = {
  name: 'keys sort byte-wise: 0x00 and 0xff bytes, keys that are prefixes of each other',
  async run(subject) {
    const store = await subject.makeStore();
    const model = new StoreModel();
    const keys = [
      bytes(0xff), bytes(0), bytes(0, 0), bytes(0, 0xff), bytes(1, 0), bytes(1), bytes(0x80), bytes(0x7f, 0xff),
      bytes(), bytes(0xff, 0xff), bytes(0xff, 0), bytes(1, 0, 0), bytes(0x7f), text('Z'), text('a'), text('é'), text('😀'),
    ];
    await write(store, model, keys.map((key, i) => put(key, bytes(i))));
    // Spelled out rather than computed: this is what byte-wise means.
    const sorted = ['', '00', '0000', '00ff', '01', '0100', '010000', '5a', '61', '7f', '7fff', '80', 'c3a9', 'f09f9880', 'ff', 'ff00', 'ffff'];
    assertEqual((await collect(store.entries())).map((e) => hex(e.key)), sorted, 'forward order');
    assertEqual((await collect(store.entries({ reverse: true }))).map((e) => hex(e.key)), [...sorted].reverse(), 'reverse order');
    await assertContents(store, model, 'keys with their values');
    await store.close();
  },
};

const fixedRanges: StorageCheck = {
  name: 'ranges: prefix, gte, lt, reverse and limit, alone and combined',
  async run(subject) {
    const store = await subject.makeStore();
    const model = new StoreModel();
    await write(store, model, ['a', 'b', 'ba', 'bb', 'bc', 'c', 'ca'].map((k, i) => put(text(k), bytes(i))));
    const names = async (range: RangeOptions): Promise<string[]> =>
      (await collect(store.entries(range))).map((e) => new TextDecoder().decode(e.key));
    const cases: Array<[RangeOptions, string[]]> = [
      [{ prefix: text('b') }, ['b', 'ba', 'bb', 'bc']],
      [{ prefix: text('b'), reverse: true }, ['bc', 'bb', 'ba', 'b']],
      [{ prefix: text('b'), limit: 2 }, ['b', 'ba']],
      [{ prefix: text('b'), limit: 2, reverse: true }, ['bc', 'bb']],
      [{ gte: text('b'), lt: text('c') }, ['b', 'ba', 'bb', 'bc']],
      [{ gte: text('b'), lt: text('c'), reverse: true, limit: 3 }, ['bc', 'bb', 'ba']],
      [{ gte: text('bb') }, ['bb', 'bc', 'c', 'ca']],
      [{ gte: text('bab') }, ['bb', 'bc', 'c', 'ca']],
      [{ lt: text('b') }, ['a']],
      [{ lt: text('ba') }, ['a', 'b']],
      [{ lt: text('b'), reverse: true }, ['a']],
      [{ prefix: text('b'), gte: text('bb'), lt: text('bc') }, ['bb']],
      [{ prefix: text('b'), gte: text('a') }, ['b', 'ba', 'bb', 'bc']],
      [{ prefix: text('b'), lt: text('z') }, ['b', 'ba', 'bb', 'bc']],
      [{ prefix: text('b'), gte: text('c') }, []],
      [{ gte: text('c'), lt: text('b') }, []],
      [{ gte: text('b'), lt: text('b') }, []],
      [{ limit: 0 }, []],
      [{ limit: 0, reverse: true }, []],
      [{ limit: 1 }, ['a']],
      [{ limit: 1, reverse: true }, ['ca']],
      [{ limit: 100 }, ['a', 'b', 'ba', 'bb', 'bc', 'c', 'ca']],
      [{ limit: Infinity, reverse: true }, ['ca', 'c', 'bc', 'bb', 'ba', 'b', 'a']],
      [{ prefix: text('z') }, []],
      [{ prefix: text('bcd') }, []],
      [{ prefix: text('ca') }, ['ca']],
    ];
    for (const [range, expected] of cases) assertEqual(await names(range), expected, `entries(${describeRange(range)})`);
    for (const [range] of cases) await assertRange(store, model, range, 'values of');
    await store.close();
  },
};

/** Range options drawn at random over the edge bytes: each bound present or not, a 2-byte prefix, one of `limits`. */
function randomRange(random: Random, limits: readonly number[]): RangeOptions {
  const someKey = (): Uint8Array => {
    const length = random.below(4);
    return bytes(...Array.from({ length }, () => random.pick(EDGE_BYTES)));
  };
  const range: { -readonly [K in keyof RangeOptions]: RangeOptions[K] } = {};
  if (random.below(2) === 0) range.prefix = someKey().subarray(0, 2);
  if (random.below(2) === 0) range.gte = someKey();
  if (random.below(2) === 0) range.lt = someKey();
  if (random.below(2) === 0) range.reverse = random.below(2) === 0;
  if (random.below(2) === 0) range.limit = random.pick(limits);
  return range;
}

const randomRanges: StorageCheck = {
  name: 'ranges: 400 random combinations agree with a reference model',
  async run(subject) {
    const store = await subject.makeStore();
    const model = new StoreModel();
    const random = new Random(0x5eed);
    // Every edge key but a random fifth, so bounds fall both on and between stored keys.
    const keys = edgeKeys().filter(() => random.below(5) !== 0);
    await write(store, model, keys.map((key) => put(key, random.bytes(random.below(6)))));
    for (let i = 0; i < 400; i++) await assertRange(store, model, randomRange(random, [0, 1, 2, 3, 7, 50, 1000, Infinity]), `random range #${i}`);
    await store.close();
  },
};

const edgePrefixes: StorageCheck = {
  name: 'prefixes ending in 0xff, the empty prefix, a prefix equal to a key',
  async run(subject) {
    const store = await subject.makeStore();
    const model = new StoreModel();
    const keys = [bytes(1, 0xff), bytes(1, 0xff, 0), bytes(1, 0xff, 0xff), bytes(2), bytes(0xff, 0xff, 1), bytes(0xff, 0xff), bytes(0xff), bytes(1, 0xfe, 0xff)];
    await write(store, model, keys.map((key, i) => put(key, bytes(i))));
    const ranges: RangeOptions[] = [
      { prefix: bytes(1, 0xff) },
      { prefix: bytes(1, 0xff), reverse: true },
      { prefix: bytes(1, 0xff), reverse: true, limit: 2 },
      { prefix: bytes(0xff) },
      { prefix: bytes(0xff, 0xff), reverse: true },
      { prefix: bytes(0xff, 0xff, 0xff) },
      { prefix: bytes() },
      { prefix: bytes(), reverse: true, limit: 3 },
      { prefix: bytes(2) },
      { prefix: bytes(1, 0xfe) },
      { prefix: bytes(0xff), gte: bytes(0xff, 0xff) },
      { prefix: bytes(0xff), lt: bytes(0xff, 0xff, 1) },
    ];
    for (const range of ranges) await assertRange(store, model, range, 'entries');
    await store.close();
  },
};

const invalidArguments: StorageCheck = {
  name: 'invalid arguments are rejected with InvalidValueError and change nothing',
  async run(subject) {
    const store = await subject.makeStore();
    const model = new StoreModel();
    await write(store, model, [put(text('a'), bytes(1))]);
    const bad = (value: unknown): never => value as never;
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ['get(string)', () => store.get(bad('a'))],
      ['get(undefined)', () => store.get(bad(undefined))],
      ['get(number[])', () => store.get(bad([0x61]))],
      ['get(ArrayBuffer)', () => store.get(bad(new ArrayBuffer(1)))],
      ['entries({ prefix: string })', () => collect(store.entries({ prefix: bad('a') }))],
      ['entries({ gte: number })', () => collect(store.entries({ gte: bad(1) }))],
      ['entries({ lt: null })', () => collect(store.entries({ lt: bad(null) }))],
      ['entries({ limit: -1 })', () => collect(store.entries({ limit: -1 }))],
      ['entries({ limit: 1.5 })', () => collect(store.entries({ limit: 1.5 }))],
      ['entries({ limit: NaN })', () => collect(store.entries({ limit: NaN }))],
      ['entries({ reverse: "yes" })', () => collect(store.entries({ reverse: bad('yes') }))],
      ['batch(not an array)', () => store.batch(bad('x'))],
      ['batch([null])', () => store.batch(bad([null]))],
      ['batch([put with a string key])', () => store.batch([put(bad('b'), bytes(1))])],
      ['batch([put with a string value])', () => store.batch([put(text('b'), bad('v'))])],
      ['batch([put without a value])', () => store.batch([bad({ type: 'put', key: text('b') })])],
      ['batch([unknown type])', () => store.batch([bad({ type: 'upsert', key: text('b'), value: bytes(1) })])],
      ['batch([del with an ArrayBuffer key])', () => store.batch([del(bad(new ArrayBuffer(1)))])],
    ];
    for (const [what, attempt] of attempts) {
      assertError(await rejection(attempt, what), InvalidValueError, what);
    }
    await assertContents(store, model, 'store after the rejected calls');
    await store.close();
  },
};

const failedBatchInvalid: StorageCheck = {
  name: 'a batch with an invalid operation in the middle leaves nothing of itself',
  async run(subject) {
    const store = await subject.makeStore();
    const model = new StoreModel();
    await write(store, model, [put(text('a'), bytes(1)), put(text('b'), bytes(2)), put(text('c'), bytes(3))]);
    const invalid: unknown[] = [
      { type: 'put', key: 'not bytes', value: bytes(4) },
      { type: 'put', key: text('x'), value: [4] },
      { type: 'nope', key: text('x') },
      null,
      { type: 'del' },
    ];
    for (const [i, operation] of invalid.entries()) {
      const batch = [put(text('a'), bytes(9)), del(text('b')), put(text('d'), bytes(4)), operation as StorageOperation, put(text('e'), bytes(5))];
      assertError(await rejection(() => store.batch(batch), `batch with invalid operation #${i}`), InvalidValueError, `batch with invalid operation #${i}`);
      await assertContents(store, model, `store after the failed batch #${i}`);
    }
    // The store still works, and the same writes succeed when valid.
    await write(store, model, [put(text('a'), bytes(9)), del(text('b')), put(text('d'), bytes(4))]);
    await assertContents(store, model, 'store after a valid batch');
    await store.close();
  },
};

const failedBatchThrowing: StorageCheck = {
  name: 'a batch whose operations throw while being read leaves nothing of itself',
  async run(subject) {
    const store = await subject.makeStore();
    const model = new StoreModel();
    await write(store, model, [put(text('a'), bytes(1)), put(text('b'), bytes(2))]);
    const boom = new Error('boom: this operation cannot be read');
    const throwingValue = { type: 'put', key: text('c') } as { type: 'put'; key: Uint8Array; value: Uint8Array };
    Object.defineProperty(throwingValue, 'value', { get: () => { throw boom; }, enumerable: true });
    const throwingType = { key: text('c'), value: bytes(3) } as unknown as StorageOperation;
    Object.defineProperty(throwingType, 'type', { get: () => { throw boom; }, enumerable: true });
    // An array whose fourth element cannot be read at all.
    const throwingArray = new Proxy([put(text('a'), bytes(7)), del(text('b')), put(text('x'), bytes(8)), put(text('y'), bytes(9))], {
      get(target, property, receiver) {
        if (property === '3') throw boom;
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const batches: Array<[string, readonly StorageOperation[]]> = [
      ['a throwing value getter', [put(text('a'), bytes(7)), del(text('b')), throwingValue, put(text('z'), bytes(9))]],
      ['a throwing type getter', [put(text('a'), bytes(7)), del(text('b')), throwingType]],
      ['an array that throws on index 3', throwingArray],
    ];
    for (const [what, batch] of batches) {
      const error = await rejection(() => store.batch(batch), `batch with ${what}`);
      assert(error === boom || error instanceof InvalidValueError, `batch with ${what}: expected the getter's error or an InvalidValueError, got ${String(error)}`);
      await assertContents(store, model, `store after the batch with ${what}`);
    }
    await store.close();
  },
};

const largeValues: StorageCheck = {
  name: 'large values (1 MiB and more) round-trip intact',
  async run(subject) {
    const store = await subject.makeStore();
    const model = new StoreModel();
    const random = new Random(0x1a49e);
    const oneMiB = random.bytes(MiB + 1);
    const threeMiB = random.bytes(3 * MiB + 5);
    await write(store, model, [put(text('one'), oneMiB)]);
    await write(store, model, [put(text('three'), threeMiB), put(text('small'), bytes(1))]);
    assertBytes(await store.get(text('one')), oneMiB, 'get of the 1 MiB value');
    assertBytes(await store.get(text('three')), threeMiB, 'get of the 3 MiB value');
    await assertContents(store, model, 'entries with large values');
    const replacement = random.bytes(2 * MiB + 3);
    await write(store, model, [put(text('one'), replacement), del(text('three'))]);
    assertBytes(await store.get(text('one')), replacement, 'get of the replaced large value');
    await assertContents(store, model, 'entries after replacing and deleting large values');
    if (subject.reopen !== undefined) {
      await store.close();
      const reopened = await subject.reopen(store);
      await assertContents(reopened, model, 'large values after reopening');
      await reopened.close();
    } else {
      await store.close();
    }
  },
};

const manyKeys: StorageCheck = {
  name: 'many keys (10,000): order, ranges, gets and a mass delete',
  async run(subject) {
    const store = await subject.makeStore();
    const model = new StoreModel();
    const random = new Random(10_000);
    // Two big-endian bytes make every key unique; 0..2 trailing zero bytes vary lengths
    // and make some keys prefixes of others' neighbours.
    const keyOf = (i: number): Uint8Array => bytes(0x6b, i >>> 8, i & 0xff, ...new Array<number>(i % 3).fill(0));
    const order = random.shuffle(Array.from({ length: 10_000 }, (_, i) => i));
    const operations = order.map((i) => put(keyOf(i), bytes(i >>> 8, i & 0xff, i % 251)));
    await write(store, model, operations.slice(0, 4_000));
    for (let start = 4_000; start < 10_000; start += 1_000) await write(store, model, operations.slice(start, start + 1_000));
    assert(model.size === 10_000, 'the model holds 10,000 keys');
    await assertContents(store, model, 'all 10,000 entries');
    await assertRange(store, model, { reverse: true, limit: 25 }, 'the last 25');
    await assertRange(store, model, { prefix: bytes(0x6b, 0x12) }, 'one prefix');
    await assertRange(store, model, { gte: keyOf(1234), lt: keyOf(4321), reverse: true }, 'a reversed span');
    for (let n = 0; n < 200; n++) {
      const i = random.below(10_000);
      assertBytes(await store.get(keyOf(i)), model.get(keyOf(i)), `get of key ${i}`);
    }
    await write(store, model, order.filter((i) => i % 2 === 0).map((i) => del(keyOf(i))));
    await assertContents(store, model, 'the 5,000 entries left after deleting every even key');
    await store.close();
  },
};

const concurrentWriters: StorageCheck = {
  name: 'concurrent writers: overlapping batch() calls all land, the later call winning per key',
  async run(subject) {
    const store = await subject.makeStore();
    const model = new StoreModel();
    /** Every batch in the order batch() was called: the order the store must apply them in. */
    const calls: StorageOperation[][] = [];
    const issue = (operations: StorageOperation[]): Promise<void> => {
      calls.push(operations);
      return store.batch(operations);
    };
    const value = (call: number): Uint8Array => bytes(call >>> 8, call & 0xff);
    // 1. A burst: 120 batches issued back to back, none awaited before the next.
    const burst: Promise<void>[] = [];
    for (let i = 0; i < 120; i++) {
      const operations = [put(text('shared'), value(i)), put(text(`own-${i}`), value(i)), put(text(`group-${i % 5}`), value(i))];
      if (i % 7 === 0) operations.push(del(text(`own-${i - 1}`)));
      if (i % 11 === 0) operations.push(del(text('group-0')));
      burst.push(issue(operations));
    }
    // 2. Eight writers awaiting their own batches, interleaving with each other.
    let call = 1000;
    const writer = async (w: number): Promise<void> => {
      for (let n = 0; n < 12; n++) {
        const c = call++;
        const operations = [put(text('shared'), value(c)), put(text(`writer-${w}`), value(c)), put(text(`group-${c % 5}`), value(c))];
        if (n % 4 === 3) operations.push(del(text(`writer-${(w + 1) % 8}`)));
        await issue(operations);
        if (n % 3 === 0) await Promise.resolve(); // vary the interleaving
      }
    };
    const settled = await Promise.allSettled([...burst, ...Array.from({ length: 8 }, (_, w) => writer(w))]);
    const failed = settled.filter((s) => s.status === 'rejected');
    assert(failed.length === 0, `every batch resolves; ${failed.length} rejected, first: ${String((failed[0] as PromiseRejectedResult | undefined)?.reason)}`);
    for (const operations of calls) model.apply(operations);
    await assertContents(store, model, 'store after concurrent batches (expected: applied in call order)');
    await store.close();
  },
};

const snapshots: StorageCheck = {
  name: 'an iteration sees the store as it was when it started (its first next())',
  async run(subject) {
    const store = await subject.makeStore();
    const model = new StoreModel();
    await write(store, model, [1, 2, 3, 4, 5].map((i) => put(bytes(i), bytes(i))));
    // Created now, started later: it sees what resolved before its first next().
    const created = store.entries();
    await write(store, model, [put(bytes(6), bytes(6))]);
    const atStart = model.select();
    const changes = [put(bytes(3), bytes(99)), del(bytes(4)), put(bytes(2, 5), bytes(25)), put(bytes(9), bytes(9)), del(bytes(1))];
    const seen: StorageEntry[] = [];
    for await (const entry of created) {
      seen.push(entry);
      if (seen.length === 1) await write(store, model, changes);
    }
    assertEqual(seen.map((e) => [hex(e.key), hex(e.value)]), atStart.map(([k, v]) => [k, hex(v)]), 'forward iteration during writes');
    // Reversed and limited, writing at every step.
    const beforeReverse = model.select({ reverse: true, limit: 3 });
    const reversed: StorageEntry[] = [];
    let step = 0;
    for await (const entry of store.entries({ reverse: true, limit: 3 })) {
      reversed.push(entry);
      step++;
      await write(store, model, [put(bytes(0xf0 + step), bytes(step)), del(entry.key), put(bytes(2, 5), bytes(step))]);
    }
    assertEqual(reversed.map((e) => [hex(e.key), hex(e.value)]), beforeReverse.map(([k, v]) => [k, hex(v)]), 'reverse iteration during writes');
    // Leaving a loop early releases the iteration; later ones see everything written.
    for await (const entry of store.entries()) {
      void entry;
      break;
    }
    await write(store, model, [put(bytes(0x10), bytes(0x10))]);
    await assertContents(store, model, 'a new iteration after the writes');
    await store.close();
  },
};

const independentStores: StorageCheck = {
  name: 'separate stores do not share data',
  async run(subject) {
    const first = await subject.makeStore();
    const second = await subject.makeStore();
    const one = new StoreModel();
    const two = new StoreModel();
    await write(first, one, [put(text('same'), bytes(1)), put(text('only-first'), bytes(1))]);
    await write(second, two, [put(text('same'), bytes(2)), put(text('only-second'), bytes(2))]);
    await assertContents(first, one, 'first store');
    await assertContents(second, two, 'second store');
    await write(first, one, [del(text('same'))]);
    await first.close();
    assertBytes(await second.get(text('same')), bytes(2), 'second store after the first deleted and closed');
    await assertContents(second, two, 'second store after the first closed');
    await second.close();
  },
};

const reopen: StorageCheck = {
  name: 'reopening a persistent store keeps its data',
  notApplicable: (subject) => (subject.reopen === undefined ? 'the backend is not persistent' : undefined),
  async run(subject) {
    const store = await subject.makeStore();
    const model = new StoreModel();
    const random = new Random(0x7e0);
    const keys = edgeKeys();
    await write(store, model, keys.map((key) => put(key, random.bytes(random.below(40)))));
    await write(store, model, [put(text('big'), random.bytes(256 * 1024)), ...keys.filter((_, i) => i % 3 === 0).map(del)]);
    await write(store, model, keys.filter((_, i) => i % 5 === 0).map((key) => put(key, bytes(5))));
    await store.close();
    const reopened = await subject.reopen!(store);
    await assertContents(reopened, model, 'entries after reopening');
    await assertRange(reopened, model, { prefix: bytes(0xff), reverse: true, limit: 10 }, 'a range after reopening');
    assertBytes(await reopened.get(text('big')), model.get(text('big')), 'get after reopening');
    assertError(await rejection(() => store.get(bytes(1)), 'get on the closed handle'), ClosedError, 'the old handle stays closed');
    await write(reopened, model, [put(bytes(0xff, 0xff, 0xff, 0xff), bytes(1)), del(text('big'))]);
    await reopened.close();
    const again = await subject.reopen!(reopened);
    await assertContents(again, model, 'entries after reopening twice');
    await again.close();
  },
};

const closeSettlesBatches: StorageCheck = {
  name: 'close() waits for batches already issued; batch() after close() rejects',
  async run(subject) {
    const store = await subject.makeStore();
    const model = new StoreModel();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      const operations = [put(bytes(i), bytes(i)), put(text('last'), bytes(i))];
      model.apply(operations);
      pending.push(store.batch(operations));
    }
    // Observed at once, so a broken backend's rejections are reported here, not as unhandled.
    const settling = Promise.allSettled(pending);
    const closing = store.close();
    const late = store.batch([put(text('late'), bytes(1))]);
    assertError(await rejection(() => late, 'batch() after close()'), ClosedError, 'batch() issued after close()');
    const settled = await settling;
    const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    assert(rejected.length === 0, `every batch issued before close() resolves; ${rejected.length} rejected, first: ${String(rejected[0]?.reason)}`);
    await closing;
    if (subject.reopen !== undefined) {
      const reopened = await subject.reopen(store);
      await assertContents(reopened, model, 'entries after reopening (close() flushed every batch)');
      await reopened.close();
    }
  },
};

const closedErrors: StorageCheck = {
  name: 'after close() every method rejects with ClosedError; close() is idempotent',
  async run(subject) {
    const store = await subject.makeStore();
    await store.batch([put(bytes(1), bytes(1))]);
    await store.close();
    await store.close();
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ['get', () => store.get(bytes(1))],
      ['get with an invalid key', () => store.get('x' as never)],
      ['batch([])', () => store.batch([])],
      ['batch with a put', () => store.batch([put(bytes(2), bytes(2))])],
      ['batch with an invalid operation', () => store.batch([null as never])],
      ['entries()', () => collect(store.entries())],
      ['entries(range)', () => collect(store.entries({ prefix: bytes(1), reverse: true, limit: 1 }))],
      ['entries with an invalid range', () => collect(store.entries({ limit: -1 }))],
    ];
    for (const [what, attempt] of attempts) {
      const error = await rejection(attempt, `${what} after close()`);
      assertError(error, ClosedError, `${what} after close()`, 'closed');
      assertError(error, RustDHTError, `${what} after close()`);
    }
    await store.close();
  },
};

const closedDuringIteration: StorageCheck = {
  name: 'an iteration running when the store closes ends with ClosedError',
  async run(subject) {
    const store = await subject.makeStore();
    await store.batch([1, 2, 3].map((i) => put(bytes(i), bytes(i))));
    const iterator = store.entries()[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert(first.done !== true && hex(first.value.key) === '01', 'the first entry comes before close()');
    await store.close();
    assertError(await rejection(() => iterator.next(), 'next() after close()'), ClosedError, 'next() after close()');
  },
};

const quota: StorageCheck = {
  name: 'a batch that exceeds the quota rejects with StorageQuotaError, and nothing is lost',
  notApplicable: (subject) => (subject.quotaLimited === true ? undefined : 'the backend has no quota a test can reach'),
  async run(subject) {
    const store = await subject.makeStore();
    const model = new StoreModel();
    const random = new Random(0x9007a);
    await write(store, model, Array.from({ length: 50 }, (_, i) => put(text(`precious-${i}`), random.bytes(i))));
    await write(store, model, [put(text('victim'), bytes(1)), put(text('overwritten'), bytes(2))]);
    // Fill in 256 KiB steps until the backend refuses one; give up after 64 MiB.
    let full: unknown;
    for (let i = 0; full === undefined; i++) {
      if (i * 256 * 1024 > 64 * MiB) fail('no quota reached after writing 64 MiB');
      const operations = [put(text(`fill-${i}`), random.bytes(256 * 1024))];
      try {
        await store.batch(operations);
        model.apply(operations);
      } catch (error) {
        full = error;
      }
    }
    assertError(full, StorageQuotaError, 'the batch that did not fit', 'storage/quota');
    assertError(full, RustDHTError, 'the batch that did not fit');
    await assertContents(store, model, 'everything written before the quota was reached');
    // A batch that starts fitting: a delete and small writes succeed, then a large one does not.
    const partial = [del(text('victim')), put(text('overwritten'), bytes(9, 9)), put(text('new-small'), bytes(3)), put(text('too-big'), random.bytes(512 * 1024)), put(text('after'), bytes(4))];
    assertError(await rejection(() => store.batch(partial), 'a partly fitting batch'), StorageQuotaError, 'a partly fitting batch', 'storage/quota');
    await assertContents(store, model, 'store after the partly fitting batch (nothing of it, nothing lost)');
    // Freeing space makes the same batch fit.
    const fills = model.select({ prefix: text('fill-') }).map(([k]) => k);
    await write(store, model, fills.map((k) => del(Uint8Array.from(k.match(/../g)!, (h) => parseInt(h, 16)))));
    await write(store, model, partial);
    await assertContents(store, model, 'store after freeing space and retrying');
    await store.close();
    if (subject.reopen !== undefined) {
      const reopened = await subject.reopen(store);
      await assertContents(reopened, model, 'store after reopening');
      await reopened.close();
    }
  },
};

/** Every check, in the order they run. The names are the suite's identity across platforms. */
export const storageChecks: readonly StorageCheck[] = [
  basics,
  manyReads,
  keysOnly,
  batchOrder,
  copies,
  byteOrder,
  fixedRanges,
  randomRanges,
  edgePrefixes,
  invalidArguments,
  failedBatchInvalid,
  failedBatchThrowing,
  largeValues,
  manyKeys,
  concurrentWriters,
  snapshots,
  independentStores,
  reopen,
  closeSettlesBatches,
  closedErrors,
  closedDuringIteration,
  quota,
];

/** Runs one check against `subject`, then its cleanup; never throws. */
export async function runStorageCheck(check: StorageCheck, subject: StorageSubject): Promise<CheckResult> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const reason = check.notApplicable?.(subject);
  if (reason !== undefined) return { name: check.name, status: 'skipped', detail: reason, ms: 0 };
  let outcome: CheckResult;
  try {
    await check.run(subject);
    outcome = { name: check.name, status: 'passed', ms: elapsed() };
  } catch (error) {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    outcome = { name: check.name, status: 'failed', detail, error, ms: elapsed() };
  }
  try {
    await subject.cleanup?.();
  } catch (error) {
    if (outcome.status !== 'failed') outcome = { name: check.name, status: 'failed', detail: `cleanup failed: ${String(error)}`, error, ms: elapsed() };
  }
  return outcome;
}

/** Runs every check in order; `onResult` hears each result as it comes. */
export async function runStorageChecks(subject: StorageSubject, onResult?: (result: CheckResult) => void): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of storageChecks) {
    const result = await runStorageCheck(check, subject);
    results.push(result);
    onResult?.(result);
  }
  return results;
}
