// A client that dht-partition.test.ts runs inside a network namespace
// (`ip netns exec NS node netns-writer.mjs SERVER_ADDRESS`): it reads
// `{ "key": K, "writes": [{ "soul": S, "value": V }, ...] }` on stdin, connects to the
// server at SERVER_ADDRESS only (the built SDK in dist/, as an application would),
// puts each `S.K = V`, waits until that server acknowledged every write, and prints one
// JSON line: `{ "metas": [{ "soul", "value", "state" }, ...] }`, what it wrote with
// the state each write got (the test computes HAM's winner from these).
import { RustDHT } from '../../../dist/node.js';

const [server] = process.argv.slice(2);
if (server === undefined) throw new Error('usage: netns-writer.mjs SERVER_ADDRESS < spec.json');
let input = '';
for await (const chunk of process.stdin) input += chunk;
const { key, writes } = JSON.parse(input);

const db = await RustDHT.open({ store: 'memory', network: { role: 'client', peers: [server] } });
await db.network.whenConnected({ signal: AbortSignal.timeout(20_000) });
await Promise.all(writes.map(({ soul, value }) => db.get(soul).get(key).put(value)));
await db.network.whenSynced({ signal: AbortSignal.timeout(20_000) });
const metas = [];
for (const { soul } of writes) {
  const meta = await db.get(soul).get(key).meta({ local: true });
  metas.push({ soul, value: meta.value, state: meta.state });
}
await db.close();
process.stdout.write(`${JSON.stringify({ metas })}\n`, () => process.exit(0));
