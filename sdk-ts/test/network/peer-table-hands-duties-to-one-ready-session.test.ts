/**
 * The sessions this peer has, by remote peer (network/peers/peer-table.ts), against
 * scripted sessions whose HELLO the test delivers:
 *
 * - at most MAX_SESSIONS_PER_PEER sessions per peer (the next is refused), one send
 *   queue shared by all of a peer's sessions;
 * - the first session ready is the peer's duty session: `peer:connect` with its status
 *   (the role it claims, transport, address, when it connected), `onDuty`, `changed`;
 *   a later ready session updates the status (keeping the RTT and when it connected) and
 *   takes no duties; a HELLO after the network stopped, on an ended session, or a failed
 *   one, changes nothing;
 * - when the duty session ends, the next ready open session takes the duties; the last
 *   session's end is `peer:disconnect` (only for a peer that was ever ready);
 * - the duty sessions (filtered), one peer's, its sessions, the peers, their statuses
 *   and their RTTs (only for connected peers).
 *
 * Why: the network's tests see these only through whole peers connecting; the rules
 * themselves survived mutation there (scripts/mutation/README.md).
 */
import { describe, expect, it } from 'vitest';
import { MAX_SESSIONS_PER_PEER, PeerTable, type RemotePeer } from '../../src/network/peers/peer-table.js';
import type { SyncSession } from '../../src/network/sync-session.js';
import type { NetworkEvent, PeerRole } from '../../src/network/types.js';

const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class ScriptedSession {
  readonly peerId: string;
  readonly name: string;
  closed = false;
  remoteRole: PeerRole | undefined;
  readonly #ready: Promise<PeerRole>;
  hello!: (role: PeerRole) => Promise<void>;
  fail!: () => Promise<void>;
  constructor(peerId: string, name: string) {
    this.peerId = peerId;
    this.name = name;
    this.#ready = new Promise<PeerRole>((resolve, reject) => {
      this.hello = async (role) => {
        this.remoteRole = role;
        resolve(role);
        await macrotask();
      };
      this.fail = async () => {
        reject(new Error('no hello'));
        await macrotask();
      };
    });
  }

  whenReady(): Promise<PeerRole> {
    return this.#ready;
  }
}

function setup() {
  const log: string[] = [];
  const events: NetworkEvent[] = [];
  let stopped = false;
  const table = new PeerTable({
    onDuty: (session) => void log.push(`duty ${(session as unknown as ScriptedSession).name}`),
    emit: (event) => void events.push(event),
    changed: () => void log.push('changed'),
    stopped: () => stopped,
  });
  const remote = (peerId: string): RemotePeer => ({ peerId, transport: 'other', address: `/memory/${peerId}` });
  const session = (peerId: string, name: string): ScriptedSession & SyncSession => {
    const s = new ScriptedSession(peerId, name) as ScriptedSession & SyncSession;
    return s;
  };
  const add = (s: ScriptedSession & SyncSession): boolean => table.add(s, remote(s.peerId));
  const names = (sessions: readonly SyncSession[]): string[] => sessions.map((s) => (s as unknown as ScriptedSession).name);
  return { table, log, events, session, add, names, stop: () => (stopped = true) };
}

describe('peer table', () => {
  it(`at most ${MAX_SESSIONS_PER_PEER} sessions per peer, all charging one send queue`, () => {
    const t = setup();
    const queue = t.table.sendQueueOf('p');
    for (let i = 0; i < MAX_SESSIONS_PER_PEER; i++) expect(t.add(t.session('p', `p${i}`))).toBe(true);
    expect(t.add(t.session('p', 'one too many'))).toBe(false);
    expect(t.names(t.table.sessions('p'))).toEqual(['p0', 'p1', 'p2', 'p3']);
    expect(t.table.sendQueueOf('p')).toBe(queue);
    // Another peer has its own.
    expect(t.add(t.session('q', 'q0'))).toBe(true);
    expect(t.table.sendQueueOf('q')).not.toBe(queue);
    expect(t.names(t.table.sessions())).toEqual(['p0', 'p1', 'p2', 'p3', 'q0']);
    expect(t.table.peerIds()).toEqual(['p', 'q']);
  });

  it('the first ready session carries the duties: peer:connect with its status, onDuty, changed; a later one only updates the status', async () => {
    const t = setup();
    const a = t.session('p', 'a');
    const b = t.session('p', 'b');
    t.add(a);
    t.add(b);
    expect(t.table.everConnected).toBe(false);
    expect(t.table.statuses()).toEqual([]);
    expect(t.table.dutySession('p')).toBeUndefined();
    const before = Date.now();
    await b.hello('client');
    expect(t.log).toEqual(['duty b', 'changed']);
    expect(t.table.everConnected).toBe(true);
    expect(t.events).toHaveLength(1);
    const status = t.table.statuses()[0]!;
    expect(t.events[0]).toEqual({ type: 'peer:connect', peer: status });
    expect(status).toMatchObject({ peerId: 'p', role: 'client', transport: 'other', address: '/memory/p', rttMs: undefined });
    expect(status.connectedAt).toBeGreaterThanOrEqual(before);
    expect(status.connectedAt).toBeLessThanOrEqual(Date.now());
    expect(t.table.dutySession('p')).toBe(b);

    t.table.setRtt('p', 12);
    await a.hello('server');
    expect(t.log).toEqual(['duty b', 'changed', 'changed']);
    expect(t.events).toHaveLength(1);
    expect(t.table.statuses()).toEqual([{ ...status, role: 'server', rttMs: 12 }]);
    expect(t.table.dutySession('p')).toBe(b);
  });

  it('a HELLO after the network stopped, on an ended session, or that failed changes nothing', async () => {
    const t = setup();
    const ended = t.session('p', 'ended');
    const failed = t.session('p', 'failed');
    t.add(ended);
    t.add(failed);
    ended.closed = true;
    await ended.hello('server');
    await failed.fail();
    const late = t.session('q', 'late');
    t.add(late);
    t.stop();
    await late.hello('server');
    expect([t.log, t.events, t.table.statuses(), t.table.everConnected]).toEqual([[], [], [], false]);
  });

  it('when the duty session ends the next ready open one takes over; the last one leaving is peer:disconnect', async () => {
    const t = setup();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => t.session('p', name)) as [ReturnType<typeof t.session>, ReturnType<typeof t.session>, ReturnType<typeof t.session>, ReturnType<typeof t.session>];
    for (const s of [a, b, c, d]) t.add(s);
    await a.hello('server');
    await c.hello('server');
    await d.hello('server');
    c.closed = true;
    // b is not ready, c has ended: d takes over.
    t.table.remove(a);
    expect(t.log).toEqual(['duty a', 'changed', 'changed', 'changed', 'duty d']);
    expect(t.table.dutySession('p')).toBe(d);
    // Ending a session that is not the duty session changes no duty.
    t.table.remove(c);
    expect(t.log).toHaveLength(5);
    t.table.remove(d);
    // None ready left: no duty session, still connected (b remains).
    expect(t.log).toHaveLength(5);
    expect(t.table.dutySession('p')).toBeUndefined();
    expect(t.table.peerIds()).toEqual(['p']);
    expect(t.events.map((e) => e.type)).toEqual(['peer:connect']);
    t.table.remove(b);
    expect(t.events).toEqual([{ type: 'peer:connect', peer: expect.anything() }, { type: 'peer:disconnect', peerId: 'p' }]);
    expect([t.table.peerIds(), t.table.statuses(), t.table.sessions('p')]).toEqual([[], [], []]);
    // An unknown session, or one removed already: nothing.
    t.table.remove(b);
    t.table.remove(t.session('x', 'x'));
    expect(t.events).toHaveLength(2);

    // A peer never ready leaves without peer:disconnect.
    const u = setup();
    const never = u.session('n', 'never');
    u.add(never);
    u.table.remove(never);
    expect([u.events, u.table.peerIds()]).toEqual([[], []]);
  });

  it('the duty sessions (open ones, those accepted), the statuses, RTTs only of connected peers, clear()', async () => {
    const t = setup();
    const p = t.session('p', 'p');
    const q = t.session('q', 'q');
    const r = t.session('r', 'r');
    const s = t.session('s', 's');
    for (const x of [p, q, r, s]) t.add(x);
    await p.hello('server');
    await q.hello('client');
    await r.hello('server');
    r.closed = true;
    expect(t.names(t.table.dutySessions())).toEqual(['p', 'q']);
    expect(t.names(t.table.dutySessions((x) => x.remoteRole === 'server'))).toEqual(['p']);
    expect(t.table.dutySession('r')).toBeUndefined();
    expect(t.table.dutySession('s')).toBeUndefined();
    expect(t.table.dutySession('nobody')).toBeUndefined();
    expect(t.table.sessions('nobody')).toEqual([]);
    expect(t.table.statuses().map((x) => x.peerId)).toEqual(['p', 'q', 'r']);
    // s is not connected: no status, so no RTT to record.
    t.table.setRtt('s', 5);
    t.table.setRtt('nobody', 5);
    t.table.setRtt('q', 9);
    expect(t.table.statuses().map((x) => x.rttMs)).toEqual([undefined, 9, undefined]);
    t.table.clear();
    expect([t.table.peerIds(), t.table.sessions(), t.table.statuses()]).toEqual([[], [], []]);
  });
});
