/**
 * NetworkHooks (replica/network-hooks.ts) on a scripted graph: how a read asks the network
 * before answering (one round per hop, each soul and key set asked once, links followed as
 * the answers reveal them) and how writes wait for a durability level. The network tests
 * drive it only through whole servers; these check each rule alone.
 */
import { describe, expect, it } from 'vitest';
import type { EngineNode } from '../../src/engine/reports.js';
import { NetworkHooks } from '../../src/replica/network-hooks.js';
import type { GraphView } from '../../src/replica/resolve.js';
import type { ReplicationWaits } from '../../src/replica/types.js';

type Asked = [soul: string, keys: readonly string[] | undefined, signal: AbortSignal | undefined, consistency: string | undefined];

/** A graph of links only ("soul.key" → soul); `remote` may add links, as an answer from a peer would. */
function scripted(links: Record<string, string> = {}, reveal: Record<string, Record<string, string>> = {}) {
  const view: GraphView = {
    target: (soul, key) => links[`${soul}.${key}`],
    readNode: (): EngineNode | null => null,
  };
  let reads = 0;
  const hooks = new NetworkHooks(view, (plan) => {
    reads++;
    return plan();
  });
  const asked: Asked[] = [];
  const remote = (soul: string, keys: readonly string[] | undefined, signal: AbortSignal | undefined, consistency?: 'one' | 'quorum' | 'all') => {
    asked.push([soul, keys, signal, consistency]);
    Object.assign(links, reveal[soul]);
    return Promise.resolve();
  };
  return { hooks, asked, remote, reads: () => reads };
}

describe('readThrough', () => {
  it('offline (no remote reads registered) asks nothing and reads nothing', async () => {
    const { hooks, reads } = scripted();
    await hooks.readThrough({ root: 'r', keys: ['a'] }, undefined);
    expect(reads()).toBe(0);
  });

  it('a node read asks for the whole node, with the signal and consistency given', async () => {
    const { hooks, asked, remote } = scripted();
    hooks.useRemoteReads(remote);
    const signal = new AbortController().signal;
    await hooks.readThrough({ root: 'r', keys: [] }, signal, 'quorum');
    expect(asked).toEqual([['r', undefined, signal, 'quorum']]);
  });

  it('follows a link an answer reveals, one hop per round, up to the node at the end of the path', async () => {
    const { hooks, asked, remote, reads } = scripted({}, { r: { 'r.a': 's' }, s: { 's.b': 't' } });
    hooks.useRemoteReads(remote);
    await hooks.readThrough({ root: 'r', keys: ['a', 'b'] }, undefined, 'all');
    // r.a first; then s.b (r.a is not asked again); then t, the node the path names.
    expect(asked.map(([soul, keys, , consistency]) => [soul, keys, consistency])).toEqual([
      ['r', ['a'], 'all'],
      ['s', ['b'], 'all'],
      ['t', undefined, 'all'],
    ]);
    expect(reads()).toBe(3);
  });

  it('a property read asks for that key only, and stops as soon as a round has nothing new to ask', async () => {
    const { hooks, asked, remote, reads } = scripted({ 'r.a': 's' });
    hooks.useRemoteReads(remote);
    await hooks.readThrough({ root: 'r', keys: ['a', 'b', 'c'] }, undefined);
    // r.a links to s; s.b links nowhere, so the read ends at s.b (missing): two rounds ask, the third finds nothing new.
    expect(asked.map(([soul, keys]) => [soul, keys])).toEqual([
      ['r', ['a']],
      ['s', ['b']],
    ]);
    expect(reads()).toBe(2);
  });

  it('the keys a path reads on one soul are asked together, sorted', async () => {
    // r.b links back to r: the path reads r.b, then r.a.
    const { hooks, asked, remote } = scripted({ 'r.b': 'r' });
    hooks.useRemoteReads(remote);
    await hooks.readThrough({ root: 'r', keys: ['b', 'a'] }, undefined);
    expect(asked.map(([soul, keys]) => [soul, keys])).toEqual([['r', ['a', 'b']]]);
  });

  it('a soul read both for a key and as the whole node is asked for the whole node', async () => {
    const { hooks, asked, remote } = scripted({ 'r.x': 'r' });
    hooks.useRemoteReads(remote);
    await hooks.readThrough({ root: 'r', keys: ['x'] }, undefined);
    expect(asked.map(([soul, keys]) => [soul, keys])).toEqual([['r', undefined]]);
  });

  it('after a key of a soul was asked, the whole node is still asked when a revealed link makes the path end there', async () => {
    const { hooks, asked, remote } = scripted({}, { r: { 'r.x': 'r' } });
    hooks.useRemoteReads(remote);
    await hooks.readThrough({ root: 'r', keys: ['x'] }, undefined);
    expect(asked.map(([soul, keys]) => [soul, keys])).toEqual([
      ['r', ['x']],
      ['r', undefined],
    ]);
  });

  it("unregistering is a no-op once another network's reads replaced these; it removes its own", async () => {
    const first = scripted();
    const second: Asked[] = [];
    const stopFirst = first.hooks.useRemoteReads(first.remote);
    const stopSecond = first.hooks.useRemoteReads(async (soul, keys) => void second.push([soul, keys, undefined, undefined]));
    stopFirst();
    await first.hooks.readThrough({ root: 'r', keys: [] }, undefined);
    expect(first.asked).toEqual([]);
    expect(second).toEqual([['r', undefined, undefined, undefined]]);
    stopSecond();
    await first.hooks.readThrough({ root: 'r', keys: [] }, undefined);
    expect(second).toHaveLength(1);
  });
});

describe('expectReplication', () => {
  it('is undefined without a network; with one it starts the wait registered; unregistering only removes its own', () => {
    const { hooks } = scripted();
    expect(hooks.expectReplication(1, 'one')).toBeUndefined();
    const calls: Array<[number, string]> = [];
    const wait = { result: new Promise<never>(() => {}), cancel: () => {} };
    const waits: ReplicationWaits = (outboxId, level) => {
      calls.push([outboxId, level]);
      return wait as ReturnType<ReplicationWaits>;
    };
    const stop = hooks.useReplication(waits);
    expect(hooks.expectReplication(7, 'quorum')).toBe(wait);
    expect(calls).toEqual([[7, 'quorum']]);
    const other: ReplicationWaits = () => wait as ReturnType<ReplicationWaits>;
    const stopOther = hooks.useReplication(other);
    stop();
    expect(hooks.expectReplication(8, 'all')).toBe(wait);
    expect(calls).toHaveLength(1);
    stopOther();
    expect(hooks.expectReplication(9, 'one')).toBeUndefined();
  });
});
