/**
 * The engine's JSON contracts. engine-json.fixture.ts holds every kind of JSON text
 * core-rs/src/report.rs writes (core-rs/tests/engine_json.rs generates it and fails when
 * it is stale), each beside the same text as a literal that `tsc` checks against the
 * types the engine declares (core-rs/src/wasm.rs → the glue's .d.ts → src/engine/reports.ts).
 * Here: each text parses to exactly that literal, the SDK's readers of reports work on
 * them, and the WebAssembly engine writes the same text as the native one.
 */
import { describe, expect, it } from 'vitest';
import { countOutcomes, toPropertyChange } from '../../src/replica/batch-report.js';
import { Engine, encodeUpdates } from '../../src/engine/load-node.js';
import { parseJson, parseReport, type EngineNode } from '../../src/engine/reports.js';
import { batchReports, nodeReads } from './engine-json.fixture.js';

describe('the engine JSON contracts', () => {
  it('has an example of every call that returns JSON', () => {
    expect(Object.keys(batchReports)).toEqual(
      expect.arrayContaining(['ingest', 'tick', 'tick, nothing due', 'restoreRecords', 'restoreDeferred, due']),
    );
    expect(Object.keys(nodeReads)).toEqual(
      expect.arrayContaining(['read: unsigned node', 'read: signed node', 'read: some keys', 'read: unknown node']),
    );
  });

  it('parses every report text to its type-checked literal, -0 included', () => {
    for (const [name, { text, json }] of Object.entries(batchReports)) expect(parseReport(text), name).toStrictEqual(json);
    const zero = parseReport(batchReports.ingest!.text).changes.find(([, key]) => key === 'zero');
    expect(Object.is(zero?.[2], -0)).toBe(true);
  });

  it('parses every node read to its type-checked literal', () => {
    for (const [name, { text, json }] of Object.entries(nodeReads)) expect(JSON.parse(text), name).toStrictEqual(json);
    const signed = nodeReads['read: signed node']!.json!;
    for (const property of Object.values(signed.props)) expect(property.by !== undefined && property.sig !== undefined).toBe(true);
  });

  it('counts outcomes and turns changes into PropertyChange', () => {
    const report = batchReports.ingest!.json;
    expect(countOutcomes(report.outcomes)).toEqual({ applied: 8, ignored: 1, historical: 1, deferred: 1, rejected: 4 });
    const signed = report.changes.find((change) => change[4] !== null)!;
    expect(toPropertyChange(signed)).toEqual({ soul: signed[0], key: 'name', value: 'Ada', state: 10, signer: signed[4] });
  });

  it('the WebAssembly engine writes the same text as the native engine', () => {
    const engine = new Engine(undefined);
    const frame = encodeUpdates(['a', 'zero', -0, 'a', 'link', { '#': 'b' }, 'a', 'null', null], new Float64Array([10, 10, 10]));
    const ingested = engine.ingest(frame, Date.now());
    expect(parseJson(ingested).changes).toHaveLength(3);
    const some = engine.read('a', ['zero', 'link', 'missing']);
    expect(some).toBe(nodeReads['read: some keys']!.text);
    const node: EngineNode | null = parseJson(some);
    expect(node).toStrictEqual(nodeReads['read: some keys']!.json);
    expect(engine.read('nobody')).toBe(nodeReads['read: unknown node']!.text);
    expect(engine.tick(Date.now())).toBe(batchReports['tick, nothing due']!.text);
    engine.free();
  });
});
