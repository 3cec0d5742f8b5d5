/**
 * Message boundaries on a sync stream: each message body is preceded by its length as an
 * unsigned LEB128 varint of at most 5 bytes (see messages.ts for the whole format).
 *
 * The reader is the first thing a peer's bytes meet, so it must not let a peer make us
 * allocate or wait for more than maxMessageBytes: the announced length is checked the
 * moment the prefix is complete (earlier when the bytes seen already exceed the limit),
 * before any of the body is buffered.
 */
import { InvalidValueError } from '../../api/errors.js';
import { varintLength, writeVarint } from './varint.js';
import { WireError } from './wire-error.js';

/** 5 × 7 = 35 bits: more than any sane maxMessageBytes, and small enough to bound the prefix. */
export const MAX_PREFIX_BYTES = 5;

/**
 * Bodies built by encodeMessage keep MAX_PREFIX_BYTES unused bytes in front of them in
 * their buffer, so lengthPrefixed can write the prefix there instead of copying a
 * multi-megabyte frame a second time. Only bodies registered here are known to own that
 * room; any other Uint8Array may be a view into someone else's memory.
 */
const withHeadroom = new WeakSet<Uint8Array>();

/** @internal For encodeMessage: a zeroed body of `length` bytes with room for its prefix in front. */
export function allocateBody(length: number): Uint8Array {
  const body = new Uint8Array(new ArrayBuffer(MAX_PREFIX_BYTES + length), MAX_PREFIX_BYTES, length);
  withHeadroom.add(body);
  return body;
}

/**
 * The body preceded by its length prefix, ready to write to the stream. For a body that
 * came from encodeMessage this writes the prefix into the room reserved before it and
 * returns a view over prefix and body (no copy); otherwise it copies into a new buffer.
 * Throws WireError('wire/malformed') for an empty body, which the wire cannot carry.
 */
export function lengthPrefixed(body: Uint8Array): Uint8Array {
  if (body.length === 0) throw new WireError('wire/malformed', 'cannot send an empty message.');
  const prefixLength = varintLength(body.length, 'message length');
  if (prefixLength > MAX_PREFIX_BYTES) {
    throw new WireError('wire/too-large', `a ${body.length}-byte message does not fit a ${MAX_PREFIX_BYTES}-byte length prefix.`);
  }
  if (withHeadroom.has(body) && body.byteOffset >= prefixLength) {
    const framed = new Uint8Array(body.buffer, body.byteOffset - prefixLength, prefixLength + body.length);
    writeVarint(framed, 0, body.length);
    return framed;
  }
  const framed = new Uint8Array(prefixLength + body.length);
  writeVarint(framed, 0, body.length);
  framed.set(body, prefixLength);
  return framed;
}

/**
 * Splits a byte stream into message bodies. Feed it the chunks as they arrive; each push
 * returns the bodies completed by that chunk, in order.
 *
 * - A body that lies entirely inside one chunk is returned as a subarray of that chunk
 *   (no copy): callers must not reuse or mutate a chunk after pushing it, and a small
 *   body keeps its whole chunk alive as long as it is referenced.
 * - A body split across chunks is copied, once, into a buffer of exactly its announced
 *   length (allocated only after the length passed the limit), so a 4 MiB message in
 *   64 KiB chunks costs one 4 MiB copy, not a re-concatenation per chunk.
 * - A zero length or a prefix longer than 5 bytes throws WireError('wire/malformed'); a
 *   length over maxMessageBytes throws WireError('wire/too-large'). The stream can no
 *   longer be trusted to be in step after that, so the reader is poisoned: every later
 *   push throws the same error. Bodies completed earlier in the failing chunk are not
 *   returned (the session closes the stream anyway).
 */
export class MessageReader {
  readonly maxMessageBytes: number;
  #failure: WireError | undefined;
  /** Length prefix being read: value so far and bytes seen (0 = between messages). */
  #prefixValue = 0;
  #prefixBytes = 0;
  /** Body being assembled across chunks, and how much of it has arrived. */
  #body: Uint8Array | undefined;
  #filled = 0;

  constructor(maxMessageBytes: number) {
    if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1) {
      throw new InvalidValueError('config/invalid', `maxMessageBytes must be a positive integer, got ${String(maxMessageBytes)}.`);
    }
    this.maxMessageBytes = maxMessageBytes;
  }

  /** True while part of a message (prefix or body) has arrived but not all of it: a stream ending now was cut short. */
  get midMessage(): boolean {
    return this.#prefixBytes > 0 || this.#body !== undefined;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failure !== undefined) throw this.#failure;
    try {
      return this.#consume(chunk);
    } catch (error) {
      // #consume only throws WireErrors; keep the first one for every later push.
      this.#failure = error as WireError;
      throw error;
    }
  }

  #consume(chunk: Uint8Array): Uint8Array[] {
    const bodies: Uint8Array[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      const body = this.#body;
      if (body !== undefined) {
        const n = Math.min(body.length - this.#filled, chunk.length - pos);
        body.set(chunk.subarray(pos, pos + n), this.#filled);
        this.#filled += n;
        pos += n;
        if (this.#filled === body.length) {
          bodies.push(body);
          this.#body = undefined;
        }
        continue;
      }
      const byte = chunk[pos++]!;
      this.#prefixValue += (byte & 0x7f) * 2 ** (7 * this.#prefixBytes);
      this.#prefixBytes++;
      // Later prefix bytes can only add to the value: once it is over, it stays over.
      if (this.#prefixValue > this.maxMessageBytes) {
        throw new WireError(
          'wire/too-large',
          `a message announced ${(byte & 0x80) !== 0 ? 'at least ' : ''}${this.#prefixValue} bytes; the limit is ${this.maxMessageBytes}.`,
        );
      }
      if ((byte & 0x80) !== 0) {
        if (this.#prefixBytes === MAX_PREFIX_BYTES) {
          throw new WireError('wire/malformed', `a message length prefix is longer than ${MAX_PREFIX_BYTES} bytes.`);
        }
        continue;
      }
      const length = this.#prefixValue;
      this.#prefixValue = 0;
      this.#prefixBytes = 0;
      if (length === 0) throw new WireError('wire/malformed', 'a message announced a length of 0.');
      if (chunk.length - pos >= length) {
        bodies.push(chunk.subarray(pos, pos + length));
        pos += length;
      } else {
        this.#body = new Uint8Array(length);
        this.#filled = 0;
      }
    }
    return bodies;
  }
}
