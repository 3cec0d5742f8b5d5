// GunDB on IndexedDB in the page (row 9): gun.js + SEA + RAD with its IndexedDB adapter
// (lib/rindexed.js), localStorage off, no peers. A write counts when its put's ack
// callback fires. What that ack means: RAD batches changes for 250 ms, then
// rindexed.js puts the whole RAD file (a JSON chunk) with one `objectStore.put` per
// file in a transaction of default durability, and acks on the request's `success`,
// before the transaction has committed.
import { inFlight } from '../lib/in-flight.mjs';
import { nodeProps } from '../lib/shapes.mjs';

window.bench = {
  async run({ signed, window: writesInFlight, timing }) {
    const Gun = window.Gun;
    Gun.log.off = true;
    const file = `gun-bench-${signed ? 'signed' : 'unsigned'}-${Date.now()}`;
    const gun = Gun({ file, localStorage: false, radisk: true, peers: [], axe: false, multicast: false });
    let prefix = 'bench';
    if (signed) {
      const pair = await Gun.SEA.pair();
      await new Promise((resolve, reject) => gun.user().auth(pair, (ack) => (ack.err ? reject(new Error(ack.err)) : resolve())));
      prefix = `~${pair.pub}`;
    }
    const result = await inFlight({
      ...timing,
      window: writesInFlight,
      start: (i, done) => {
        gun.get(`${prefix}/n${i}`).put(nodeProps(i), (ack) => done(ack.err ? new Error(`GunDB put: ${ack.err}`) : undefined));
      },
    });
    result.originUsageBytes = (await navigator.storage.estimate()).usage;
    result.propertiesPerPut = 5;
    result.propertiesPerSecond = Math.round(result.perSecond * result.propertiesPerPut);
    result.userAgent = navigator.userAgent;
    return result;
  },
};
document.getElementById('status').textContent = 'ready';
