// RustDHT on IndexedDB in the page (row 9): the browser build of `rustdht`, bundled by
// Vite like any app's, opened on an IndexedDBStore (transactions with durability
// 'strict'; a put resolves once the transaction holding it completed).
import { Identity, IndexedDBStore, RustDHT } from 'rustdht';
import { inFlight } from '../lib/in-flight.mjs';
import { nodeProps } from '../lib/shapes.mjs';

window.bench = {
  async run({ signed, window: writesInFlight, timing }) {
    const name = `rustdht-bench-${signed ? 'signed' : 'unsigned'}-${Date.now()}`;
    const db = await RustDHT.open({ store: await IndexedDBStore.open(name) });
    const user = signed ? db.user(Identity.generate()) : undefined;
    const result = await inFlight({
      ...timing,
      window: writesInFlight,
      start: (i, done) => {
        const ref = user ? user.get(`n${i}`) : db.get(`bench/n${i}`);
        ref.put(nodeProps(i)).then(() => done(), done);
      },
    });
    await db.close(); // waits for the puts still in flight
    result.originUsageBytes = (await navigator.storage.estimate()).usage;
    await IndexedDBStore.destroy(name);
    result.propertiesPerPut = signed ? 6 : 5;
    result.propertiesPerSecond = Math.round(result.perSecond * result.propertiesPerPut);
    result.userAgent = navigator.userAgent;
    return result;
  },
};
document.getElementById('status').textContent = 'ready';
