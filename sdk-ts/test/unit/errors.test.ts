import { describe, expect, it } from 'vitest';
import { errorForCode, fromEngineError } from '../../src/api/errors.js';
import {
  AbortError,
  ClosedError,
  DecodeError,
  InvalidValueError,
  LimitError,
  PermissionError,
  RustDHTError,
  SignatureError,
} from '../../src/node.js';

describe('engine error codes map to typed errors', () => {
  const table: Array<[string, new (...args: never[]) => RustDHTError]> = [
    ['decode/truncated', DecodeError],
    ['decode/version', DecodeError],
    ['decode/tag', DecodeError],
    ['decode/utf8', DecodeError],
    ['decode/number', DecodeError],
    ['decode/trailing', DecodeError],
    ['limit/soul', LimitError],
    ['limit/key', LimitError],
    ['limit/value', LimitError],
    ['limit/batch', LimitError],
    ['limit/deferred', LimitError],
    ['clock/too-far-ahead', LimitError],
    ['value/type', InvalidValueError],
    ['value/non-finite', InvalidValueError],
    ['value/link', InvalidValueError],
    ['value/ill-formed-string', InvalidValueError],
    ['key/invalid', InvalidValueError],
    ['soul/invalid', InvalidValueError],
    ['config/invalid', InvalidValueError],
    ['namespace/not-owner', PermissionError],
    ['namespace/bad-key', PermissionError],
    ['content/hash-mismatch', PermissionError],
    ['content/immutable', PermissionError],
    ['signature/missing', PermissionError],
    ['signature/invalid', SignatureError],
  ];
  for (const [code, ErrorClass] of table) {
    it(`${code} → ${ErrorClass.name}`, () => {
      const error = errorForCode(code, 'engine says no');
      expect(error).toBeInstanceOf(ErrorClass);
      expect(error).toBeInstanceOf(RustDHTError);
      expect(error).toBeInstanceOf(Error);
      expect(error.code).toBe(code);
      expect(error.name).toBe(ErrorClass.name);
      expect(error.message).toMatch(/^engine says no\. \S/); // the engine's words, then what to do
    });
  }

  it('keeps unknown codes as RustDHTError with the code', () => {
    const error = errorForCode('brand/new', 'something');
    expect(error.constructor).toBe(RustDHTError);
    expect(error.code).toBe('brand/new');
  });

  it('converts thrown EngineErrors and passes anything else through', () => {
    const engineError = Object.assign(new Error('malformed frame'), { name: 'EngineError', code: 'decode/tag' });
    const converted = fromEngineError(engineError, { soul: 's', key: 'k' }) as RustDHTError;
    expect(converted).toBeInstanceOf(DecodeError);
    expect(converted.cause).toBe(engineError);
    expect(converted.soul).toBe('s');
    expect(converted.message).toContain('"s"');
    const trap = new WebAssembly.RuntimeError('unreachable');
    expect(fromEngineError(trap)).toBe(trap);
  });

  it('names the SDK-side errors', () => {
    expect(new AbortError().name).toBe('AbortError');
    expect(new AbortError().code).toBe('abort');
    expect(new ClosedError('closed', 'x').name).toBe('ClosedError');
  });
});
