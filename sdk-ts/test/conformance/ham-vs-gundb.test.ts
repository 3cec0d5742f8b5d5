/**
 * The engine's merge decided against GunDB's own: the same updates, in the same
 * order, go into a real in-memory GunDB (through its message ingestion, so its real
 * `ham()` decides) and into the engine (through `Engine.ingest`, the batch entry
 * point). Both graphs must end identical, value and state of every property.
 *
 * Excluded on purpose: `-0` (GunDB's `val === known` treats it as `0`; its JSON wire
 * cannot carry it, and our deterministic tie-break picks `0` where arrival order would
 * pick for GunDB) and future states (GunDB defers with a timer and no skew limit;
 * deferral is covered by the engine's own tests).
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { Engine, encodeUpdates } from '../../src/engine/load-node.js';

type GunValue = null | boolean | number | string | { '#': string };
type Update = { soul: string; key: string; value: GunValue; state: number };

const require = createRequire(import.meta.url);

function quietGun() {
  // Gun prints a banner and hints on load; keep test output readable.
  const log = console.log;
  console.log = () => {};
  try {
    const Gun = require('gun/gun');
    return Gun({ peers: [], localStorage: false, file: false, radisk: false, axe: false, multicast: false });
  } finally {
    console.log = log;
  }
}

/** GunDB drops a message whose id it has seen, across instances: ids must be unique. */
let messageId = 0;

/** Feeds one update to GunDB as a peer's graph message would arrive. */
function gunReceive(gun: any, u: Update) {
  const node = { _: { '#': u.soul, '>': { [u.key]: u.state } }, [u.key]: u.value };
  gun._.on('in', { '#': `ham-vs-gundb-${++messageId}`, put: { [u.soul]: node } });
}

function gunGraph(gun: any): Map<string, [GunValue, number]> {
  const out = new Map<string, [GunValue, number]>();
  const graph = gun._.graph as Record<string, any>;
  for (const [soul, node] of Object.entries(graph)) {
    for (const key of Object.keys(node)) {
      if (key === '_') continue;
      out.set(`${soul}\u0000${key}`, [node[key], node._['>'][key]]);
    }
  }
  return out;
}

function engineGraph(engine: InstanceType<typeof Engine>, souls: string[]): Map<string, [GunValue, number]> {
  const out = new Map<string, [GunValue, number]>();
  for (const soul of souls) {
    const node = JSON.parse(engine.read(soul));
    if (!node) continue;
    for (const [key, p] of Object.entries<any>(node.props)) out.set(`${soul}\u0000${key}`, [p.v, p.s]);
  }
  return out;
}

function frameOf(updates: Update[]): Uint8Array {
  const flat: unknown[] = [];
  for (const u of updates) flat.push(u.soul, u.key, u.value);
  return encodeUpdates(flat, Float64Array.from(updates.map((u) => u.state)));
}

/** Small deterministic PRNG so a failure can be replayed from its seed. */
function prng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const EDGE_VALUES: GunValue[] = [
  null, true, false, 0, 1, -1, 9, 10, 1e21, 1e20, 0.1 + 0.2, 0.3, 5e-324, 1e-7, 1.7976931348623157e308,
  '', 'a', 'b', 'ab', 'A', '1', 'null', 'true', '"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u2028',
  '\uE000', '\uFFFF', '\u{1F600}', '\u{10FFFF}', 'é', '\u00e9\u0301',
  { '#': 'a' }, { '#': 'b' }, { '#': '\u{1F600}' },
];

function randomValue(rand: () => number): GunValue {
  const pick = rand();
  if (pick < 0.5) return EDGE_VALUES[Math.floor(rand() * EDGE_VALUES.length)]!;
  if (pick < 0.7) {
    // random finite doubles from random bit patterns
    const buf = new DataView(new ArrayBuffer(8));
    buf.setUint32(0, Math.floor(rand() * 2 ** 32));
    buf.setUint32(4, Math.floor(rand() * 2 ** 32));
    const x = buf.getFloat64(0);
    return Number.isFinite(x) && !Object.is(x, -0) ? x : 42;
  }
  // random short strings over an alphabet with the code units that matter
  const alphabet = ['a', 'b', 'Z', '0', ' ', '"', '\\', '\n', '\u00ff', '\uE000', '\uFFFD', '\u{1F600}', '\u{10000}'];
  let s = '';
  const n = Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
  return s;
}

function randomUpdates(seed: number, count: number): Update[] {
  const rand = prng(seed);
  const souls = ['a', 'b'];
  const keys = ['x', 'y', 'z'];
  const states = [1, 2, 3, 1000.5]; // few states → many equal-state decisions
  return Array.from({ length: count }, () => ({
    soul: souls[Math.floor(rand() * souls.length)]!,
    key: keys[Math.floor(rand() * keys.length)]!,
    value: randomValue(rand),
    state: states[Math.floor(rand() * states.length)]!,
  }));
}

function compare(updates: Update[]) {
  const gun = quietGun();
  for (const u of updates) gunReceive(gun, u);
  const engine = new Engine(undefined);
  try {
    // One update per frame, as GunDB got them: the same order of decisions.
    for (const u of updates) engine.ingest(frameOf([u]), Date.now());
    const souls = [...new Set(updates.map((u) => u.soul))];
    return { gun: gunGraph(gun), engine: engineGraph(engine, souls) };
  } finally {
    engine.free();
  }
}

describe('HAM merge against GunDB', () => {
  it('every edge value against every other at equal state decides as GunDB does', () => {
    for (const current of EDGE_VALUES) {
      for (const incoming of EDGE_VALUES) {
        const updates: Update[] = [
          { soul: 'e', key: 'k', value: current, state: 7 },
          { soul: 'e', key: 'k', value: incoming, state: 7 },
        ];
        const { gun, engine } = compare(updates);
        expect(engine, `current ${JSON.stringify(current)} vs incoming ${JSON.stringify(incoming)}`).toEqual(gun);
      }
    }
  });

  it('random update sequences end in the same graph (300 sequences)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const updates = randomUpdates(seed, 40);
      const { gun, engine } = compare(updates);
      expect(engine.size).toBeGreaterThan(0);
      expect(engine, `seed ${seed}`).toEqual(gun);
    }
  });

  it('notices a different winner (the comparison is not vacuous)', () => {
    const { engine } = compare([
      { soul: 'e', key: 'k', value: 'a', state: 7 },
      { soul: 'e', key: 'k', value: 'b', state: 7 },
    ]);
    expect(engine.get('e\u0000k')).toEqual(['b', 7]);
    expect(engine).not.toEqual(new Map([['e\u0000k', ['a', 7]]]));
  });
});
