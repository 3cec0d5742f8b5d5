// An offline app on IndexedDB, driven by offline-reload.spec.ts: it writes with no
// peers, the test reloads the page (without closing the database first), and the new
// page reads back the data, the signatures, the kept identity and the outbox.
import { Identity, IndexedDBStore, RustDHT, type PropertyMeta } from '../../src/browser.js';

const STORE = 'rustdht-offline-reload';

export interface ReloadState {
  readonly note: unknown;
  readonly items: Array<[string, unknown]>;
  readonly signed: PropertyMeta | undefined;
  readonly identities: string[];
  readonly outboxSize: number;
  readonly outboxIds: number[];
}

export interface ReloadPageApi {
  /** Deletes the store: the next page load starts empty. */
  reset(): Promise<void>;
  /** Writes offline; resolves when every put resolved (is durable). Returns the identity's public key. */
  write(): Promise<string>;
  state(): Promise<ReloadState>;
  acknowledge(id: number): Promise<boolean>;
}

declare global {
  interface Window {
    rustdhtReload?: ReloadPageApi;
  }
}

async function main(): Promise<void> {
  const db = await RustDHT.open({ store: await IndexedDBStore.open(STORE) });
  const api: ReloadPageApi = {
    async reset() {
      await db.close();
      await IndexedDBStore.destroy(STORE);
    },
    async write() {
      const me = Identity.generate();
      await db.identities.keep(me);
      await db.get('notes').get('first').put({ text: 'written offline' });
      await db.get('notes').get('list').set({ text: 'one' });
      await db.get('notes').get('list').set({ text: 'two' });
      await db.user(me).get('status').put('signed offline');
      return me.publicKey;
    },
    async state() {
      const [publicKey] = await db.identities.list();
      const ids: number[] = [];
      for await (const { id } of db.outbox.pending()) ids.push(id);
      return {
        note: await db.get('notes').get('first').once(),
        items: await db.get('notes').get('list').map().once(),
        signed: publicKey === undefined ? undefined : ((await db.get(`~${publicKey}`).get('status').meta()) as PropertyMeta),
        identities: await db.identities.list(),
        outboxSize: db.outbox.size,
        outboxIds: ids,
      };
    },
    acknowledge: (id) => db.outbox.acknowledge(id),
  };
  window.rustdhtReload = api;
  document.getElementById('status')!.textContent = 'ready';
}

main().catch((error: unknown) => {
  document.getElementById('status')!.textContent = `error: ${String(error)}`;
  console.error(error);
});
