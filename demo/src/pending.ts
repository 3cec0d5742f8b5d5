/**
 * Which local writes the server has not acknowledged yet, per soul and property.
 *
 * The SDK's outbox lists each unacknowledged local write as its changes frame
 * (`db.outbox.pending()`, then `onChange()`: added with its frame, removed once a server
 * acknowledged it) but does not say which souls a frame touches, and `put()` does not
 * return its outbox entry. So this module reads the frames itself, in the engine's
 * documented binary format (docs/ARCHITECTURE.md, "The frame"; core-rs/src/codec.rs):
 *
 *   frame  = "RD" version:u8(=1) count:varint update*count
 *   update = flags:u8 [soul:str] key:str value state:f64le [signer:32 signature:64]
 *            flags bit 0: signed; bit 1: same soul as the previous update (soul omitted)
 *   value  = tag:u8 payload   0 null | 1 false | 2 true | 3 f64le | 4 str | 5 link str
 *   str    = len:varint utf8-bytes        varint = unsigned LEB128, at most 5 bytes
 *
 * A frame it cannot read (a newer format) counts as touching everything: better shown
 * pending too long than acknowledged too early.
 */
import type { RustDHT } from 'rustdht';

/** One update of a frame: which property it writes. */
export interface Touched {
  readonly soul: string;
  readonly key: string;
}

const FLAG_SIGNED = 1;
const FLAG_SAME_SOUL = 2;
const SIGNED_BYTES = 32 + 64;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The (soul, key) pairs a changes frame writes; throws on anything it does not understand. */
export function decodeFrame(frame: Uint8Array): Touched[] {
  let at = 0;
  const need = (n: number): void => {
    if (at + n > frame.length) throw new Error('truncated frame');
  };
  const byte = (): number => {
    need(1);
    return frame[at++]!;
  };
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = byte();
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
    }
    throw new Error('varint too long');
  };
  const str = (): string => {
    const length = varint();
    need(length);
    const text = utf8.decode(frame.subarray(at, at + length));
    at += length;
    return text;
  };
  if (byte() !== 0x52 || byte() !== 0x44) throw new Error('not a frame');
  if (byte() !== 1) throw new Error('unknown frame version');
  const count = varint();
  const touched: Touched[] = [];
  let soul: string | undefined;
  for (let i = 0; i < count; i++) {
    const flags = byte();
    if ((flags & ~(FLAG_SIGNED | FLAG_SAME_SOUL)) !== 0) throw new Error('unknown flags');
    if ((flags & FLAG_SAME_SOUL) === 0) soul = str();
    else if (soul === undefined) throw new Error('no previous soul');
    const key = str();
    const tag = byte();
    if (tag === 3) need(8), (at += 8);
    else if (tag === 4 || tag === 5) str();
    else if (tag > 2) throw new Error('unknown value tag');
    need(8);
    at += 8; // the state
    if ((flags & FLAG_SIGNED) !== 0) need(SIGNED_BYTES), (at += SIGNED_BYTES);
    touched.push({ soul: soul!, key });
  }
  return touched;
}

/** Unreadable frame: touches every soul. */
const EVERYTHING = Symbol('everything');

export interface PendingWrites {
  /** Whether some unacknowledged local write touches `soul` (any property, or only `key`). */
  touches(soul: string, key?: string): boolean;
  /** How many local writes are unacknowledged. */
  readonly size: number;
  /** Called after every change (and once the outbox's earlier entries are read). Returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}

/** Follows `db.outbox`: entry id → the properties it writes. */
export function trackPendingWrites(db: RustDHT): PendingWrites {
  const entries = new Map<number, Touched[] | typeof EVERYTHING>();
  /** While the earlier entries are being listed: ids removed meanwhile. */
  let removed: Set<number> | undefined = new Set<number>();
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const listener of listeners) listener();
  };
  const read = (frame: Uint8Array): Touched[] | typeof EVERYTHING => {
    try {
      return decodeFrame(frame);
    } catch (error) {
      console.warn(`pending writes: cannot read an outbox frame (${String(error)}); counting it as touching everything`);
      return EVERYTHING;
    }
  };
  // Subscribe first, then list what was queued before (e.g. offline writes of the last
  // visit, kept in IndexedDB): an entry acknowledged meanwhile is not added back.
  db.outbox.onChange((event) => {
    if (event.type === 'added') entries.set(event.id, read(event.frame));
    else {
      entries.delete(event.id);
      removed?.add(event.id);
    }
    notify();
  });
  void (async () => {
    for await (const entry of db.outbox.pending()) {
      if (!removed!.has(entry.id) && !entries.has(entry.id)) entries.set(entry.id, read(entry.frame));
    }
  })()
    .catch((error: unknown) => console.warn(`pending writes: ${String(error)}`))
    .finally(() => {
      removed = undefined;
      notify();
    });

  return {
    touches(soul, key) {
      for (const touched of entries.values()) {
        if (touched === EVERYTHING) return true;
        if (touched.some((t) => t.soul === soul && (key === undefined || t.key === key))) return true;
      }
      return false;
    },
    get size() {
      return entries.size;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
