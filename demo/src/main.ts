/**
 * The RustDHT demo page. One database per browser profile (IndexedDB, the browser
 * default), one identity created on the first visit and kept with it, one libp2p node
 * per tab (a new peer id on every load). Each part lives in its own module:
 *   connection.ts  connects on load to the server serving the page (from /health), the
 *                  remembered Connect/Disconnect choice, addresses (folded, with copy
 *                  buttons), direct WebRTC dial
 *   profile.ts     display names: each identity's profile node in its own space
 *   chat.ts        a chat room: signed messages linked from a public room node, by name,
 *                  "pending" until the server acknowledges them (pending.ts)
 *   presence.ts    who is in the room now: heartbeats linked from a public room set
 *   explorer.ts    open a soul, see states (as times) and signers, edit, follow links with
 *                  a trail, a picture of the neighbourhood (graph.ts), notes, refusals
 *   status.ts      state (offline | syncing | idle), outbox size, peers with transport and RTT
 *   offline.ts     go offline and back on purpose
 * `window.rustdhtDemo` exposes { db, identity, network } to tests and the curious.
 */
import './style.css';
import { Identity, RustDHT, type Network } from 'rustdht';
import { setupChat } from './chat.js';
import { setupConnection } from './connection.js';
import { byId, describeError } from './dom.js';
import { setupExplorer } from './explorer.js';
import { setupOffline } from './offline.js';
import { trackPendingWrites } from './pending.js';
import { setupPresence } from './presence.js';
import { setupNames, setupProfile } from './profile.js';
import { setupStatus } from './status.js';
import { keepTimesFresh } from './time.js';

export interface DemoApi {
  readonly db: RustDHT;
  readonly identity: Identity;
  readonly network: Network;
  /** The IndexedDB database of this tab ('rustdht-demo'; '-2', '-3'… for more tabs of one browser). */
  readonly storeName: string;
  /** performance.now() when the first peer's sync session was ready (undefined before). */
  connectedMs: number | undefined;
}

declare global {
  interface Window {
    rustdhtDemo?: DemoApi;
  }
}

/** The IndexedDB database the demo keeps its graph, outbox and identity in. */
const STORE_NAME = 'rustdht-demo';

/**
 * The store this tab may use. One database must not be opened by two tabs at once (each
 * would number its outbox entries on its own), so each tab holds a Web Lock on its
 * store's name for its lifetime: the first tab gets 'rustdht-demo' (after a reload too:
 * the previous page's lock is released as it unloads, hence the short wait), a second
 * tab of the same browser gets 'rustdht-demo-2' with an identity of its own, and so on.
 */
async function claimStore(): Promise<string> {
  if (!('locks' in navigator)) return STORE_NAME;
  for (let slot = 1; slot <= 16; slot++) {
    const name = slot === 1 ? STORE_NAME : `${STORE_NAME}-${slot}`;
    const claimed = await new Promise<boolean>((resolve) => {
      navigator.locks
        .request(`rustdht-store:${name}`, slot === 1 ? { signal: AbortSignal.timeout(2000) } : { ifAvailable: true }, (lock) => {
          resolve(lock !== null);
          // Held until the page goes away.
          return lock === null ? undefined : new Promise<never>(() => {});
        })
        .catch(() => resolve(false)); // the wait for slot 1 timed out
    });
    if (claimed) return name;
  }
  throw new Error('too many tabs of the demo are open in this browser: close some and reload');
}

/** The identity kept with the database, or a new one kept now (first visit). */
async function ownIdentity(db: RustDHT): Promise<{ identity: Identity; created: boolean }> {
  for (const publicKey of await db.identities.list()) {
    const identity = await db.identities.load(publicKey);
    if (identity !== undefined) return { identity, created: false };
  }
  const identity = Identity.generate();
  await db.identities.keep(identity);
  return { identity, created: true };
}

async function main(): Promise<void> {
  const boot = byId('boot-status');
  // A network with no peers yet: the node starts (peer id, relay listening) and the
  // connection panel tells it whom to dial.
  const storeName = await claimStore();
  const db = await RustDHT.open({ name: storeName, network: { peers: [] } });
  const network = db.network!;
  const { identity, created } = await ownIdentity(db);
  const api: DemoApi = { db, identity, network, storeName, connectedMs: undefined };
  const stopTiming = network.on((event) => {
    if (event.type === 'peer:connect' && api.connectedMs === undefined) {
      api.connectedMs = performance.now();
      stopTiming();
    }
  });

  const offline = setupOffline(network);
  setupConnection({ network, identity, offline });
  setupStatus(db, network);
  const names = setupNames(db);
  setupProfile(db, identity, names);
  const pending = trackPendingWrites(db);
  const chat = setupChat(db, identity, names, pending);
  const presence = setupPresence(db, network, identity, names, chat.room());
  const explorer = setupExplorer(db, identity, names, () => chat.room());
  // Something to look at from the start: the chat room's node and its messages; it
  // follows the chat to another room while the user has not opened anything else.
  let shownRoom = `chat/${chat.room()}`;
  void explorer.open(shownRoom);
  chat.onRoom((room) => {
    presence.join(room);
    const trail = explorer.trail();
    if (trail.length === 1 && trail[0] === shownRoom) {
      shownRoom = `chat/${room}`;
      void explorer.open(shownRoom);
    }
  });
  keepTimesFresh();

  window.rustdhtDemo = api;
  const where = storeName === STORE_NAME ? 'this browser' : `this tab (another tab holds the first database; this one is "${storeName}")`;
  boot.textContent = created ? `Ready: a new identity was created for ${where}.` : `Ready: welcome back, the identity of ${where} was restored.`;
  document.body.dataset['ready'] = 'true';
}

main().catch((error: unknown) => {
  const boot = document.getElementById('boot-status');
  if (boot !== null) {
    boot.textContent = `Could not start: ${describeError(error)}`;
    boot.classList.add('error');
  }
  console.error(error);
});
