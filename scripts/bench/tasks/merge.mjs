// Row 4: merge decisions per second, and what the WebAssembly boundary costs.
//
// The receiver already holds `existingNodes` nodes; every batch rewrites
// `nodesPerBatch` of them (cycling), so each of its updates is a HAM decision against an
// existing property (all newer: applied). Three ways to make the same decisions on the
// same updates:
//   engineBatched  one `Engine.ingest` per batch; graph and decisions in the engine
//   engineSingle   graph in a JS Map, one `hamDecide` call per decision (bench build)
//   jsLoop         graph in a JS Map, decisions in plain JS (no engine at all)
// The engine gets the batches as another engine's changes frames; the JS paths get the
// same updates already decoded ([soul, key, value, state], states from a JS clock
// lagging the wall clock like the engine's sender), since they would skip decoding.

import { throughput } from '../lib/measure.mjs';
import { benchEngine } from '../lib/bench-engine.mjs';
import { engineSource } from '../lib/engine-source.mjs';
import { nodeProps } from '../lib/shapes.mjs';

const MAX_CLOCK_SKEW_MS = 600_000;
const SENDER_LAG_MS = 5;

function frames(opts) {
  const source = engineSource({ signed: false });
  const souls = existingSouls(opts);
  return {
    initial: source.frame(opts.existingNodes, souls),
    next: () => source.frame(opts.nodesPerBatch, souls),
    perBatch: source.updatesPer(opts.nodesPerBatch),
  };
}

/**
 * Decoded updates for the JS paths: a ring of batches over the existing souls whose
 * states are advanced before each use (building fresh values in JS would take 50× longer
 * than deciding them and stretch the measurement to minutes). Every decision still
 * compares a newer state against an existing property's.
 */
function decodedUpdates(opts) {
  const souls = existingSouls(opts);
  let i = 0;
  let last = 0;
  const build = (nodes) => {
    const updates = [];
    for (let n = 0; n < nodes; n++, i++) {
      const soul = souls[i % souls.length];
      const props = nodeProps(i);
      for (const key in props) updates.push([soul, key, props[key], 0]);
    }
    return stamp(updates);
  };
  const stamp = (updates) => {
    const wall = Date.now() - SENDER_LAG_MS;
    for (const update of updates) update[3] = last = wall > last ? wall : last + 1 / 1024;
    return updates;
  };
  const initial = build(opts.existingNodes);
  const ring = Array.from({ length: Math.ceil(opts.existingNodes / opts.nodesPerBatch) }, () => build(opts.nodesPerBatch));
  let next = 0;
  return { initial, next: () => stamp(ring[next++ % ring.length]) };
}

function existingSouls(opts) {
  return Array.from({ length: opts.existingNodes }, (_, i) => `bench/merge/${process.pid}/n${i}`);
}

/** HAM as docs/ARCHITECTURE.md states it, in plain JavaScript. */
function jsDecide(now, stateIn, stateCur, valueIn, valueCur) {
  if (stateIn > now) return stateIn - now > MAX_CLOCK_SKEW_MS ? 'TooFarAhead' : 'Defer';
  if (stateIn < stateCur) return 'Historical';
  if (stateIn === stateCur) return JSON.stringify(valueIn) <= JSON.stringify(valueCur) ? 'KeepCurrent' : 'Incoming';
  return 'Incoming';
}

/** A JS-held graph fed decoded updates, asking `decide` about each one. */
function jsGraph(decide) {
  const graph = new Map();
  let applied = 0;
  return {
    get applied() {
      return applied;
    },
    apply(updates, now) {
      for (let i = 0; i < updates.length; i++) {
        const [soul, key, value, state] = updates[i];
        let node = graph.get(soul);
        if (node === undefined) graph.set(soul, (node = new Map()));
        const current = node.get(key);
        const decision =
          current === undefined
            ? decide(now, state, -Infinity, value, null)
            : decide(now, state, current.s, value, current.v);
        if (decision === 'Incoming') {
          node.set(key, { v: value, s: state });
          applied++;
        }
      }
      return updates.length;
    },
  };
}

export async function engineBatched(opts) {
  const { Engine } = await import('rustdht/engine');
  const w = frames(opts);
  const target = new Engine(undefined);
  target.ingest(w.initial, Date.now());
  let applied = 0;
  let decided = 0;
  const result = await throughput({
    ...opts.timing,
    prepare: w.next,
    run: (frame) => {
      const report = JSON.parse(target.ingest(frame, Date.now()));
      applied += report.changes.length;
      decided += w.perBatch;
      return w.perBatch;
    },
  });
  return { ...result, allApplied: applied === decided };
}

async function jsMapTask(opts, decide) {
  const w = decodedUpdates(opts);
  const graph = jsGraph(decide);
  graph.apply(w.initial, Date.now());
  let decided = 0;
  const before = graph.applied;
  const result = await throughput({
    ...opts.timing,
    prepare: w.next,
    run: (updates) => {
      decided += updates.length;
      return graph.apply(updates, Date.now());
    },
  });
  return { ...result, allApplied: graph.applied - before === decided };
}

export async function engineSingle(opts) {
  const { hamDecide } = benchEngine();
  if (hamDecide(2, 1, 0, 'b', 'a') !== 'Incoming' || hamDecide(2, 1, 1, 'a', 'b') !== 'KeepCurrent') {
    throw new Error(`hamDecide answers differently than expected: ${hamDecide(2, 1, 0, 'b', 'a')}`);
  }
  return jsMapTask(opts, hamDecide);
}

export const jsLoop = (opts) => jsMapTask(opts, jsDecide);
