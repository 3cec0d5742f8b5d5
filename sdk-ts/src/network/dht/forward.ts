/**
 * A PUT_AT this server coordinates, passed on to the owners of its souls without being
 * stored here (issue 12: a server that does not own a soul forwards the write and keeps no
 * long-term copy beyond a bounded cache for the subscribers it serves):
 *
 * - the whole frame is checked in the engine first (signatures, namespace, clock:
 *   `check`, nothing merged), so the writer hears each update's outcome;
 * - the part of the souls this server owns is taken here (merged, stored, logged), the
 *   rest is sent to the owners with it (replicate.ts), and the answer goes once the level
 *   is met — a subscriber here to a soul it does not own hears the write from the owners
 *   it subscribed at (owner-subscriptions.ts);
 * - the frame is kept here only when some owner did not confirm it by the coordination
 *   timeout: then it is taken like any write (stored, logged), and the hand-off delivers
 *   it when that owner can be reached (the hint, handoff.ts).
 *
 * Before, every coordinated write was merged, stored, logged, digested, handed off and
 * released by its coordinator even when the owners had it: the coordinator of bench row
 * 12d spent ~40 % of its core on that. With every member owning everything (no more
 * members than R), it is taken here as before.
 */
import { codeOf, messageOf } from '../refusal.js';
import type { ReceivedBatch, ReplicaForNetwork } from '../replica-port.js';
import type { ReplicationLevel } from '../wire/messages.js';
import type { PlacementView } from './placement-view.js';
import type { Replicated } from './replicate.js';

export interface ForwardHost {
  readonly replica: Pick<ReplicaForNetwork, 'prepare' | 'receive'>;
  readonly placement: PlacementView;
  readonly selfId: string;
  readonly replicate: (frame: Uint8Array, level: ReplicationLevel) => Promise<Replicated>;
  readonly refused: (peerId: string, code: string, message: string) => void;
}

/**
 * The outcomes of `frame` checked in the engine when it is to be forwarded rather than
 * taken here whole; undefined when it is taken here. Throws DecodeError for malformed bytes.
 */
export function checkForForwarding(host: ForwardHost, frame: Uint8Array): ReceivedBatch | undefined {
  const { placement } = host;
  // Every member owns everything: taken here, without decoding it twice.
  if (placement.members.length === 0 || placement.full) return undefined;
  const prepared = host.replica.prepare(frame);
  try {
    return prepared.souls.length === 0 ? undefined : prepared.check();
  } finally {
    prepared.discard();
  }
}

/**
 * Takes the part of a checked frame this server owns, sends the frame to the owners, and
 * resolves with what they reached once the level is met or the coordination timeout
 * passed. When some owner did not confirm it by then, the frame is taken here, as the hint
 * the hand-off delivers.
 */
export async function forward(host: ForwardHost, frame: Uint8Array, level: ReplicationLevel): Promise<{ readonly reached: number; readonly owners: number }> {
  const own = host.placement.route(frame)?.parts.get(host.selfId);
  // Durable here before the owners are counted: replicate() counts this server for its own souls.
  if (own !== undefined && own.length !== 0) await host.replica.receive(own, { feedLive: false });
  const replicated = await host.replicate(frame, level);
  void replicated.allConfirmed
    .then(async (every) => {
      if (!every) await host.replica.receive(frame, { feedLive: false });
    })
    .catch((error: unknown) => host.refused(host.selfId, codeOf(error, 'repair/failed'), `keeping a write its owners did not all confirm failed: ${messageOf(error)}`));
  return { reached: replicated.reached, owners: replicated.owners };
}
