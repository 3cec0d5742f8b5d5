/**
 * HAM breaks equal-state ties by comparing JSON.stringify texts, so the engine's JSON
 * must be JavaScript's, character for character. Cross-checked here against the real
 * JSON.stringify on random and adversarial inputs.
 */
import { describe, expect, it } from 'vitest';
import { jsonText } from '../../src/engine/load-node.js';

/** Deterministic, so a failure reproduces (xorshift128+). */
function randomSource(seed: number): () => number {
  let a = seed >>> 0 || 1;
  let b = 0x9e3779b9;
  return () => {
    let t = a ^ (a << 11);
    a = b;
    b = b ^ (b >>> 19) ^ (t ^ (t >>> 8));
    t = b >>> 0;
    return t;
  };
}

function mismatches(values: readonly unknown[]): Array<{ value: unknown; engine: string; js: string }> {
  const out = [];
  for (const value of values) {
    const engine = jsonText(value);
    const js = JSON.stringify(value);
    if (engine !== js) out.push({ value, engine, js });
  }
  return out;
}

describe('jsonText(v) === JSON.stringify(v)', () => {
  it('for 100,000 doubles from random bit patterns', () => {
    const next = randomSource(20240601);
    const view = new DataView(new ArrayBuffer(8));
    const values: number[] = [];
    while (values.length < 100_000) {
      view.setUint32(0, next());
      view.setUint32(4, next());
      const x = view.getFloat64(0);
      if (Number.isFinite(x)) values.push(x);
    }
    expect(mismatches(values)).toEqual([]);
  });

  it('for 100,000 doubles of everyday magnitudes', () => {
    const next = randomSource(7);
    const values: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      const exponent = (next() % 60) - 30;
      const sign = next() & 1 ? -1 : 1;
      values.push(sign * (next() / 2 ** 32) * 10 ** exponent);
      if (i % 10 === 0) values.push(next() % 100_000, (next() % 10_000) / 100);
    }
    expect(mismatches(values)).toEqual([]);
  });

  it('for edge numbers', () => {
    const values = [
      0, -0, 1, -1, 0.1, 0.2, 0.1 + 0.2, 1 / 3, 100, 1e6, 123456789012345680000, 1e20, 1e21, 1.5e21, 1e-6, 1e-7,
      1.5e-7, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, Number.MAX_VALUE, -Number.MAX_VALUE,
      Number.MIN_VALUE, Number.EPSILON, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), Number.MAX_SAFE_INTEGER, 2 ** 31, 2 ** 32, 2 ** 64,
      4.35, 0.000001, 0.0000001, 9.007199254740993e15, 1.7976931348623157e308, 5e-7, 123e-20, 1e300, 1e-300,
    ];
    expect(mismatches(values)).toEqual([]);
  });

  it('for random strings with astral, private-use, control, separator, quote and backslash characters', () => {
    const next = randomSource(99);
    const pools = [
      () => String.fromCodePoint(0x10000 + (next() % 0xfffff)), // astral: surrogate pairs
      () => String.fromCharCode(0xe000 + (next() % 0x2000)), // above U+E000, sorts above surrogates in UTF-16
      () => String.fromCharCode(next() % 0x20), // control characters
      () => String.fromCharCode(0x7f + (next() % 0x21)), // DEL and C1 controls
      () => ['\u2028', '\u2029', '"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\ufeff', '\ufffd', '\uffff'][next() % 13]!,
      () => String.fromCharCode(0x20 + (next() % 0x5f)), // printable ASCII
      () => String.fromCharCode(0x80 + (next() % 0xd780)), // BMP below the surrogates
    ];
    const values: string[] = [''];
    for (let i = 0; i < 20_000; i++) {
      let s = '';
      const length = next() % 24;
      for (let j = 0; j < length; j++) s += pools[next() % pools.length]!();
      values.push(s);
    }
    expect(mismatches(values)).toEqual([]);
  });

  it('for the other value kinds', () => {
    expect(mismatches([null, true, false, { '#': 'soul "quoted" \\ \u2028' }])).toEqual([]);
  });

  it('refuses what JSON.stringify would alter or drop', () => {
    for (const bad of ['\ud800', 'x\udfff', NaN, Infinity, undefined, [1], () => 1]) {
      expect(() => jsonText(bad), String(bad)).toThrow(expect.objectContaining({ name: 'EngineError' }));
    }
  });
});
