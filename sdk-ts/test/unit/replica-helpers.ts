/** A LocalReplica on a store, as a server opens one (no network), for tests of what the store backing does. */
import { afterEach } from 'vitest';
import * as engineModule from '../../src/engine/load-node.js';
import { LocalReplica } from '../../src/replica/replica.js';
import type { ReplicaSettings } from '../../src/replica/types.js';
import type { StorageAdapter } from '../../src/storage/adapter.js';

const opened: LocalReplica[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((replica) => replica.close().catch(() => {})));
});

/** Opens a replica on `store`, closed after the current test. */
export async function openReplica(store: StorageAdapter, settings: Partial<ReplicaSettings> = {}): Promise<LocalReplica> {
  const replica = await LocalReplica.open({
    engineModule,
    engineConfig: {},
    now: Date.now,
    store,
    signal: undefined,
    importIdentity: () => {
      throw new Error('no identities here');
    },
    ...settings,
  });
  opened.push(replica);
  return replica;
}

/** `soul.key = value`, as a put writes it (an outbox entry until acknowledged). */
export function put(replica: LocalReplica, soul: string, key: string, value: unknown): Promise<unknown> {
  return replica.write(() => [soul, key, value], undefined);
}

/** The network took every pending write: nothing is protected by the outbox any more. */
export async function acknowledgeAll(replica: LocalReplica): Promise<void> {
  const ids: number[] = [];
  for await (const { id } of replica.outbox.pending()) ids.push(id);
  for (const id of ids) await replica.outbox.acknowledge(id);
}

/** Every soul the store holds records of, in key order. */
export async function listStored(replica: LocalReplica, after?: string): Promise<string[]> {
  const souls: string[] = [];
  for await (const soul of replica.stored.storedSouls(after)) souls.push(soul);
  return souls;
}
