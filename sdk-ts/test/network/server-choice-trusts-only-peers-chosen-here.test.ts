/**
 * ServerChoice (network/peers/server-choice.ts) on scripted sessions: a peer is a server to
 * us only when it says so and this peer chose it (an address kept dialled names it, or an
 * open session to it was dialled here); reads go to servers, else to anyone connected.
 * The network tests reach it only through whole peers; these check each rule alone.
 */
import { describe, expect, it } from 'vitest';
import type { PeerTable } from '../../src/network/peers/peer-table.js';
import { ServerChoice } from '../../src/network/peers/server-choice.js';
import type { SyncSession } from '../../src/network/sync-session.js';

interface FakeSession {
  peerId: string;
  remoteRole: 'server' | 'client';
  closed: boolean;
}

function session(peerId: string, remoteRole: 'server' | 'client', closed = false): SyncSession {
  return { peerId, remoteRole, closed } satisfies FakeSession as unknown as SyncSession;
}

/** A peer table of these sessions; each peer's first open session carries its duties. */
function table(sessions: SyncSession[]): PeerTable {
  return {
    sessions: (peerId: string) => sessions.filter((s) => s.peerId === peerId),
    dutySessions: (accept?: (s: SyncSession) => boolean) => {
      const duty = new Map<string, SyncSession>();
      for (const s of sessions) if (!s.closed && !duty.has(s.peerId)) duty.set(s.peerId, s);
      return [...duty.values()].filter((s) => accept === undefined || accept(s));
    },
  } as unknown as PeerTable;
}

describe('ServerChoice', () => {
  it('a peer claiming the server role is one only if an address kept dialled names it', () => {
    const kept = session('kept', 'server');
    const claims = session('claims', 'server');
    const choice = new ServerChoice({ peers: table([kept, claims]), keepsPeer: (peerId) => peerId === 'kept' });
    expect(choice.isServer(kept)).toBe(true);
    expect(choice.isServer(claims)).toBe(false);
    expect(choice.servers()).toEqual([kept]);
  });

  it('a client is never a server, even when kept dialled or dialled here', () => {
    const client = session('c', 'client');
    const choice = new ServerChoice({ peers: table([client]), keepsPeer: () => true });
    choice.markDialled(client);
    expect(choice.isServer(client)).toBe(false);
  });

  it('a server-role session is one when some open session to that peer was dialled here, whichever side opened this one', () => {
    const dialled = session('p', 'server');
    const inbound = session('p', 'server');
    const other = session('q', 'server');
    const choice = new ServerChoice({ peers: table([inbound, dialled, other]), keepsPeer: () => false });
    expect(choice.isServer(inbound)).toBe(false);
    choice.markDialled(dialled);
    expect(choice.isServer(inbound)).toBe(true);
    expect(choice.isServer(dialled)).toBe(true);
    expect(choice.isServer(other)).toBe(false);
    // Once the dialled session is closed, it no longer vouches for the peer.
    (dialled as unknown as FakeSession).closed = true;
    expect(choice.isServer(inbound)).toBe(false);
  });

  it('reads go to the servers when there are any, otherwise to every duty session', () => {
    const server = session('s', 'server');
    const browser = session('b', 'client');
    const withServer = new ServerChoice({ peers: table([browser, server]), keepsPeer: (peerId) => peerId === 's' });
    expect(withServer.readSessions()).toEqual([server]);
    const without = new ServerChoice({ peers: table([browser, server]), keepsPeer: () => false });
    expect(without.servers()).toEqual([]);
    expect(without.readSessions()).toEqual([browser, server]);
  });
});
