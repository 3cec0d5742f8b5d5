/**
 * How large the parts of a whole node may be when this peer sends them (NODE_PART
 * replies to GET_PART, the EVENTs of a subscription's current state): within the
 * receiving peer's message limit (its HELLO) and well within any receiver's batch limit
 * (the engine's maxBatchUpdates, 10,000 by default). The engine cuts the parts
 * (`Engine.nodeFramePart`); nothing here looks inside a frame.
 */
import { MAX_FRAME_MESSAGE_OVERHEAD } from '../wire/messages.js';
import { ENGINE_MAX_KEY_BYTES } from '../wire/request-limits.js';
import { MAX_VARINT_BYTES } from '../wire/varint.js';
import type { NodePartLimits } from '../replica-port.js';

/** Properties one part looks at, at most (taken or skipped): a tenth of the engine's default batch limit, as the outbox's joined PUTs. */
export const PART_MAX_UPDATES = 1000;
/** A part stops growing past about this many bytes; a larger property still travels alone, up to the message limit. */
export const PART_BYTES = 1024 * 1024;

/**
 * The limits of a part for a peer that takes messages of up to `remoteMaxMessageBytes`:
 * room is kept for the message around the frame (type, id), the next cursor (a key of
 * up to `maxKeyBytes`) and the skipped keys' count; the engine counts the skipped keys
 * themselves against `maxBytes`.
 */
export function partLimits(remoteMaxMessageBytes: number, maxKeyBytes = ENGINE_MAX_KEY_BYTES): NodePartLimits {
  const room = MAX_FRAME_MESSAGE_OVERHEAD + 2 * MAX_VARINT_BYTES + maxKeyBytes;
  const maxBytes = Math.max(1, remoteMaxMessageBytes - room);
  return { partBytes: Math.min(PART_BYTES, maxBytes), maxBytes, maxUpdates: PART_MAX_UPDATES };
}
