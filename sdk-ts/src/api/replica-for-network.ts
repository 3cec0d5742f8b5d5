/**
 * The database's replica as its network sees it (network/replica-port.ts): the replica's
 * own operations, its stored nodes (replica/stored-nodes.ts) and the hooks a network
 * registers (replica/network-hooks.ts), as one object. The API layer builds it because
 * it is the one layer that knows both sides: the replica does not know the network's
 * types, and the network does not know the replica's classes.
 */
import type { ReplicaForNetwork } from '../network/replica-port.js';
import type { LocalReplica } from '../replica/replica.js';

export function replicaForNetwork(replica: LocalReplica): ReplicaForNetwork {
  const { stored, hooks, outbox, subscriptions, engineModule, limits } = replica;
  return {
    get closed() {
      return replica.closed;
    },
    get changeLog() {
      return replica.changeLog;
    },
    limits,
    outbox,
    subscriptions,
    engineModule,
    receive: (frame, options) => replica.receive(frame, options),
    prepare: (frame) => replica.prepare(frame),
    soulsOf: (frame) => replica.soulsOf(frame),
    spaceOwner: (soul) => replica.spaceOwner(soul),
    onApplied: (listener) => replica.onApplied(listener),
    flush: () => replica.flush(),
    onClose: (listener) => replica.onClose(listener),
    useRemoteReads: (reads) => hooks.useRemoteReads(reads),
    useReplication: (waits) => hooks.useReplication(waits),
    nodeFrame: (soul, keys) => stored.nodeFrame(soul, keys),
    nodeFramePart: (soul, after, partLimits) => stored.nodeFramePart(soul, after, partLimits),
    residentNodeFrame: (soul, keys) => stored.residentNodeFrame(soul, keys),
    holds: (soul) => stored.holds(soul),
    storedSouls: (after) => stored.storedSouls(after),
    release: (souls, keep) => stored.release(souls, keep),
    onReleased: (listener) => stored.onReleased(listener),
    soulRecords: (souls) => stored.soulRecords(souls),
    residentDigests: (souls) => stored.residentDigests(souls),
    stageRecord: (key, value) => stored.stageRecord(key, value),
    readRecord: (key) => stored.readRecord(key),
  };
}
