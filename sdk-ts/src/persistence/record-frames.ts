/**
 * Joins property records into frames, so loading a node (or many nodes) costs one
 * engine call per frame instead of one per property.
 *
 * A record is the engine's single-update frame (`lastChangeRecords()`): the header
 * `"RD" version count=1` followed by one update that names its soul (docs/ARCHITECTURE.md,
 * "The frame"). An n-update frame is the same header with count n followed by the n
 * updates, so joining is splicing bytes: nothing here decodes an update. The engine still
 * decodes and checks every byte when it restores the frame, so a damaged record fails
 * the load with a typed error instead of slipping through.
 */
import { corrupt } from './layout.js';

const MAGIC_R = 0x52;
const MAGIC_D = 0x44;
/** The only frame version this splice understands (codec.rs VERSION). */
const FRAME_VERSION = 1;
/** Magic, version, and count 1 as a one-byte varint. */
const RECORD_HEADER_BYTES = 4;
/** Update flag bit 1: "same soul as the previous update"; a record's only update never has it. */
const FLAG_SAME_SOUL = 2;

function checkRecord(record: Uint8Array): void {
  if (
    record.length <= RECORD_HEADER_BYTES ||
    record[0] !== MAGIC_R ||
    record[1] !== MAGIC_D ||
    record[2] !== FRAME_VERSION ||
    record[3] !== 1 ||
    (record[4]! & FLAG_SAME_SOUL) !== 0
  ) {
    throw corrupt('a property record is not a single-update frame');
  }
}

function varintLength(n: number): number {
  let length = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    length++;
  }
  return length;
}

function join(records: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const count = end - start;
  let size = 3 + varintLength(count);
  for (let i = start; i < end; i++) size += records[i]!.length - RECORD_HEADER_BYTES;
  const frame = new Uint8Array(size);
  frame[0] = MAGIC_R;
  frame[1] = MAGIC_D;
  frame[2] = FRAME_VERSION;
  let at = 3;
  for (let n = count; ; n = Math.floor(n / 0x80)) {
    if (n < 0x80) {
      frame[at++] = n;
      break;
    }
    frame[at++] = (n % 0x80) | 0x80;
  }
  for (let i = start; i < end; i++) {
    const record = records[i]!;
    frame.set(record.subarray(RECORD_HEADER_BYTES), at);
    at += record.length - RECORD_HEADER_BYTES;
  }
  return frame;
}

/** `records` as frames of at most `perFrame` updates each, in order. */
export function joinRecords(records: readonly Uint8Array[], perFrame: number): Uint8Array[] {
  for (const record of records) checkRecord(record);
  const frames: Uint8Array[] = [];
  for (let start = 0; start < records.length; start += perFrame) {
    frames.push(join(records, start, Math.min(records.length, start + perFrame)));
  }
  return frames;
}
