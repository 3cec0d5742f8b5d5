/**
 * The duty roster (network/duties/duty-roster.ts) on its own: what it does for a peer
 * whose session now carries its duties (subscriptions, the DHT's membership and owner
 * subscriptions, a ping), and, for a server to us, one outbox sender per session (which
 * sends what the outbox holds and what is offered later, until the session ends) and,
 * between servers, following its change log (a FEED request). Sessions, the outbox and
 * the other parts are scripted (helpers/outbox-sender-harness.ts).
 */
import { describe, expect, it } from 'vitest';
import { CounterSet } from '../../src/network/counters.js';
import type { Dht } from '../../src/network/dht/dht.js';
import { DutyRoster, type DutyRosterOptions } from '../../src/network/duties/duty-roster.js';
import { ReplicationWaitList } from '../../src/network/duties/replication-waits.js';
import type { Subscriber } from '../../src/network/duties/subscriber.js';
import type { Pinger } from '../../src/network/peers/pinger.js';
import type { ServerChoice } from '../../src/network/peers/server-choice.js';
import type { SyncSession } from '../../src/network/sync-session.js';
import type { PeerRole } from '../../src/network/types.js';
import * as engine from '../../src/engine/load-node.js';
import { entryFrame, nextMacrotask, ScriptedOutbox, ScriptedSession, until } from './helpers/outbox-sender-harness.js';

/** A scripted session that also records the change logs followed on it (a quiet one: no entries come). */
class RosterSession extends ScriptedSession {
  remoteRole: PeerRole = 'server';
  readonly feeds: number[] = [];

  follow(since: number): Promise<void> {
    this.feeds.push(since);
    return new Promise(() => {});
  }
}

function roster(options: { role?: PeerRole; servers?: (session: SyncSession) => boolean; noDht?: true } = {}) {
  const calls: string[] = [];
  const outbox = new ScriptedOutbox();
  const replica = { outbox, engineModule: { joinFrames: engine.joinFrames }, closed: false, readRecord: async () => undefined, stageRecord: () => {} };
  const sessions: RosterSession[] = [];
  const isServer = options.servers ?? ((session: SyncSession) => session.remoteRole === 'server');
  const choice = { isServer, servers: () => sessions.filter((s) => isServer(s as unknown as SyncSession)) } as unknown as ServerChoice;
  const subscriber = { subscribeAll: (session: SyncSession) => void calls.push(`subscribe ${session.peerId}`) } as unknown as Subscriber;
  const pinger = { ping: async (peerId: string) => void calls.push(`ping ${peerId}`) } as unknown as Pinger;
  const dht = {
    membership: { sessionReady: (session: SyncSession) => void calls.push(`members ${session.peerId}`) },
    ownerSubscriptions: { sessionReady: (session: SyncSession) => void calls.push(`owners ${session.peerId}`) },
  } as unknown as Dht;
  const replicationWaits = new ReplicationWaitList();
  const duties = new DutyRoster({
    replica: replica as unknown as DutyRosterOptions['replica'],
    counters: new CounterSet(),
    role: options.role ?? 'client',
    stop: new AbortController().signal,
    choice,
    subscriber,
    pinger,
    replicationWaits,
    dht: () => (options.noDht === true ? undefined : dht),
    emit: () => {},
    changed: () => {},
    refused: () => {},
    requestFailed: () => {},
  });
  const session = (peerId: string, role: PeerRole = 'server'): RosterSession => {
    const s = new RosterSession();
    Object.defineProperty(s, 'peerId', { value: peerId });
    s.remoteRole = role;
    sessions.push(s);
    return s;
  };
  return { duties, calls, outbox, replica, session, replicationWaits };
}

const asSession = (s: RosterSession): SyncSession => s as unknown as SyncSession;

describe('the duty roster', () => {
  it("a peer's duty session is subscribed, told who the members are and which souls we want from it, and pinged", async () => {
    const { duties, calls, session } = roster();
    duties.take(asSession(session('peer-a', 'client')));
    await nextMacrotask();
    expect(calls).toEqual(['subscribe peer-a', 'members peer-a', 'owners peer-a', 'ping peer-a']);
  });

  it('nothing is taken up once the database is closed', async () => {
    const { duties, calls, replica, session, outbox } = roster();
    replica.closed = true;
    outbox.add(1);
    const s = session('peer-a');
    duties.take(asSession(s));
    await nextMacrotask();
    expect(calls).toEqual([]);
    expect(s.puts).toEqual([]);
  });

  it('a server to us gets the outbox from one sender per session, however often its duties are taken', async () => {
    const { duties, outbox, session } = roster();
    outbox.add(1);
    const s = session('server-a');
    duties.take(asSession(s));
    await until('the outbox to be sent', () => s.puts.length !== 0);
    // Taken again (a dial of ours completing after the peer's): still the one sender.
    duties.takeServerDuties(asSession(s));
    for (let i = 0; i < 5; i++) await nextMacrotask();
    expect(s.puts.map((put) => put.ids)).toEqual([[1]]);
    // A write added later is offered to the sender of every server's session, once.
    duties.offer({ id: 2, frame: entryFrame(2) });
    await until('the offered write to be sent', () => s.puts.length === 2);
    for (let i = 0; i < 5; i++) await nextMacrotask();
    expect(s.puts.flatMap((put) => put.ids)).toEqual([1, 2]);
  });

  it('a peer that is not a server to us gets no outbox, and a closed session none either', async () => {
    const { duties, outbox, session } = roster({ servers: () => false });
    outbox.add(1);
    const client = session('client-a');
    duties.take(asSession(client));
    duties.offer({ id: 2, frame: entryFrame(2) });
    for (let i = 0; i < 5; i++) await nextMacrotask();
    expect(client.puts).toEqual([]);
    const { duties: other, outbox: otherOutbox, session: otherSession } = roster();
    otherOutbox.add(1);
    const closed = otherSession('server-b');
    closed.closed = true;
    other.takeServerDuties(asSession(closed));
    for (let i = 0; i < 5; i++) await nextMacrotask();
    expect(closed.puts).toEqual([]);
  });

  it("a session that ended stops its sender: what is offered after it goes nowhere, and a new session gets a sender of its own", async () => {
    const { duties, session } = roster();
    const s = session('server-a');
    duties.takeServerDuties(asSession(s));
    duties.offer({ id: 6, frame: entryFrame(6) });
    await until('the first write to be sent', () => s.puts.length === 1);
    duties.ended(asSession(s));
    duties.offer({ id: 7, frame: entryFrame(7) });
    for (let i = 0; i < 5; i++) await nextMacrotask();
    expect(s.puts.flatMap((put) => put.ids)).toEqual([6]);
    duties.takeServerDuties(asSession(s));
    duties.offer({ id: 8, frame: entryFrame(8) });
    await until('the new sender to send', () => s.puts.length === 2);
    expect(s.puts.flatMap((put) => put.ids)).toEqual([6, 8]);
  });

  it("between servers, each follows the other's change log; a client follows none", async () => {
    const server = roster({ role: 'server' });
    const s = server.session('server-a');
    server.duties.takeServerDuties(asSession(s));
    await until('the change log to be followed', () => s.feeds.length !== 0);
    expect(s.feeds).toHaveLength(1);
    const client = roster({ role: 'client' });
    const c = client.session('server-b');
    client.duties.takeServerDuties(asSession(c));
    for (let i = 0; i < 5; i++) await nextMacrotask();
    expect(c.feeds).toEqual([]);
  });

  it('a client (no DHT) takes the same duties without the DHT steps; ending a session that never had a sender is fine', async () => {
    const { duties, calls, session } = roster({ noDht: true });
    const s = session('server-a');
    duties.take(asSession(s));
    await nextMacrotask();
    expect(calls).toEqual(['subscribe server-a', 'ping server-a']);
    expect(() => duties.ended(asSession(session('never-taken')))).not.toThrow();
  });

  it('once the database is closed a server to us gets no sender either', async () => {
    const { duties, outbox, replica, session } = roster();
    outbox.add(1);
    replica.closed = true;
    const s = session('server-a');
    duties.takeServerDuties(asSession(s));
    for (let i = 0; i < 5; i++) await nextMacrotask();
    expect(s.puts).toEqual([]);
  });

  it("a write waiting for a durability level goes as PUT_AT with that level, and the server's ACK_AT settles the wait", async () => {
    const { duties, session, replicationWaits, outbox } = roster();
    const s = session('server-a');
    duties.takeServerDuties(asSession(s));
    const wait = replicationWaits.expect(9, 'quorum');
    let report: unknown;
    void wait.result.then((r) => (report = r));
    duties.offer({ id: 9, frame: entryFrame(9) });
    await until('the write to be sent', () => s.puts.length === 1);
    expect(s.puts[0]!.message).toMatchObject({ type: 'put-at', level: 'quorum' });
    s.puts[0]!.resolve({ type: 'ack-at', id: 1, reached: 2, owners: 3, outcomes: [{ outcome: 'applied' }] });
    await until('the entry to leave the outbox', () => outbox.acknowledged.length === 1);
    await nextMacrotask();
    expect(report).toEqual({ reached: 2, owners: 3 });
    // Settled: the entry no longer raises a PUT's level.
    expect(replicationWaits.levelOf([9])).toBeUndefined();
  });
});
