/**
 * The JSON local-write boundary keeps every value exact: -0 stays -0 (JSON.stringify
 * alone would print 0), non-finite numbers and lone surrogates are refused with a
 * typed error naming the soul and key, and nothing of a refused put is written.
 */
import { describe, expect, it } from 'vitest';
import { InvalidValueError, RustDHT } from '../../src/node.js';
import { writeListText } from '../../src/replica/local-write.js';

describe('local writes across the JSON boundary', () => {
  it('marks -0 and leaves every other value to JSON.stringify', () => {
    const text = writeListText(['s', 'a', -0, 's', 'b', 0, 's', 'c', 'x', 's', 'd', { '#': 't' }]);
    expect(text).toBe('["s","a",{"-0":1},"s","b",0,"s","c","x","s","d",{"#":"t"}]');
  });

  it('keeps -0 through put, once and a replica', async () => {
    const db = await RustDHT.open();
    const peer = await RustDHT.open();
    db.onChanges((frame) => void peer.receive(frame));
    await db.get('zero').put({ negative: -0, positive: 0 });
    const local = (await db.get('zero').once()) as Record<string, number>;
    expect(Object.is(local.negative, -0)).toBe(true);
    expect(Object.is(local.positive, 0)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(Object.is(await peer.get('zero').get('negative').once(), -0)).toBe(true);
    await db.close();
    await peer.close();
  });

  it('refuses NaN and lone surrogates with the soul and key, writing nothing', async () => {
    const db = await RustDHT.open();
    const nan = await db.get('n').put({ ok: 1, bad: NaN }).catch((e: unknown) => e);
    expect(nan).toBeInstanceOf(InvalidValueError);
    expect(nan).toMatchObject({ code: 'value/non-finite', soul: 'n', key: 'bad' });
    const lone = await db.get('n').put({ ok: 1, text: 'x\ud800' }).catch((e: unknown) => e);
    expect(lone).toBeInstanceOf(InvalidValueError);
    expect(lone).toMatchObject({ code: 'value/ill-formed-string', soul: 'n', key: 'text' });
    expect(await db.get('n').once()).toBeUndefined();
    await db.close();
  });
});
