/**
 * Window updates once half the window is used, not after every data frame.
 *
 * A yamux receiver tells the sender how much more it may send (a WindowUpdate frame).
 * @chainsafe/libp2p-yamux (8.0.1) sends one after *every* data frame it receives, so a
 * peer sending many small messages makes us write a frame back for each: its own Noise
 * encryption and its own socket write. Measured in a server under a flood of small
 * messages from one peer (bench row 11, raw-flood alone, CPU profile): 60 % of the event
 * loop's busy stretches over 50 ms were those socket writes, and honest clients' put → ack
 * p99 was ~480 ms.
 *
 * rust-yamux and go-yamux send the update once half of the window has been consumed (the
 * sender still has the other half to go on with meanwhile, so it never waits for it);
 * this does the same. A frame that must carry a flag (SYN or ACK of a new stream) and a
 * paused stream (which sends no update until it resumes) keep yamux's own behaviour.
 * Nothing on the wire changes but how often updates come, which the protocol leaves to
 * the receiver, so either side may run this or not.
 */
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';

/** What this module reads of a yamux stream (fields yamux declares private). */
interface WindowState {
  readonly state: StreamState;
  readonly recvWindow: number;
  readonly recvWindowCapacity: number;
}

let installed = false;

/** Installs the rule on every yamux stream of this process; idempotent. */
export function sendWindowUpdatesAtHalf(): void {
  if (installed) return;
  installed = true;
  const prototype = YamuxStream.prototype as unknown as { sendWindowUpdate(this: YamuxStream): void };
  const sendAlways = prototype.sendWindowUpdate;
  prototype.sendWindowUpdate = function sendWindowUpdate(this: YamuxStream): void {
    const stream = this as unknown as WindowState;
    const consumed = stream.recvWindow - stream.recvWindowCapacity;
    if (stream.state === StreamState.Established && consumed < stream.recvWindow / 2) return;
    sendAlways.call(this);
  };
}
