// RustDHT in five minutes. `npm start` builds everything and runs this file; after a
// build, `node examples/quickstart.mjs` runs it directly. It imports the package by name,
// exactly as an application would.
import { Identity, RustDHT } from 'rustdht';

const show = (value) => JSON.stringify(value);

// Two databases in one process stand in for two peers: every local write of `db`
// produces a signed binary frame (`onChanges`), and `peer.receive()` runs it through the
// peer's own engine: decode, verify signatures, validate, merge.
const db = await RustDHT.open();
const peer = await RustDHT.open();
const deliveries = [];
db.onChanges((frame) => deliveries.push(peer.receive(frame)));
const delivered = async () => Promise.all(deliveries.splice(0));
console.log('Opened two in-memory databases, "db" and "peer"; db forwards its changes to peer.\n');

// 1. Subscribe, then write.
console.log('1. Subscribe to chat/message, then write it.');
const message = db.get('chat').get('message');
const stop = message.on((value) => console.log(`   on() fired: chat/message = ${show(value)}`));
const ack = await message.put('hello, world');
console.log(`   put() resolved: ${ack.applied} update applied, ${ack.rejected} rejected.`);
await message.put('hello again');
stop();
console.log(`   After unsubscribing, once() still reads the latest value: ${show(await message.once())}\n`);

// 2. Nested objects become linked nodes.
console.log('2. Put a nested object: the inner object becomes its own node, linked from the outer one.');
const alice = db.get('people').get('alice');
await alice.put({ name: 'Alice', address: { city: 'Lyon' } });
console.log(`   people/alice = ${show(await alice.once())}`);
console.log(`   people/alice/address/city = ${show(await alice.get('address').get('city').once())}\n`);

// 3. Signed data in a protected space.
console.log('3. Generate an Ed25519 identity and write into its protected space ~<publicKey>.');
const identity = Identity.generate();
const profile = db.user(identity).get('profile');
await profile.put({ displayName: 'Alice', status: 'writing Rust' });
const meta = await profile.get('displayName').meta();
console.log(`   public key: ${identity.publicKey}`);
console.log(`   displayName = ${show(meta?.value)}, signed by that key: ${meta?.signer === identity.publicKey}\n`);

// 4. Nobody else may write there.
console.log('4. Try to overwrite that profile without the identity (an unsigned write).');
try {
  await db.get(`~${identity.publicKey}`).get('profile').get('displayName').put('Mallory');
  console.log('   Unexpected: the write was accepted.');
} catch (error) {
  console.log(`   Refused with ${error.name} (${error.code}): ${error.message}`);
}
console.log(`   displayName is still ${show(await profile.get('displayName').once())}\n`);

// 5. What the peer saw.
const results = await delivered();
const count = (kind) => results.reduce((sum, result) => sum + result[kind], 0);
console.log(`5. The peer received ${results.length} frames and checked their signatures itself: ` +
  `${count('applied')} updates applied, ${count('deferred')} deferred, ${count('rejected')} rejected.`);
if (count('deferred') > 0) {
  // States order writes within a millisecond by a fraction, so a write made in the same
  // millisecond the peer receives it is slightly "in the future" for the peer: it waits
  // until the peer's clock gets there (at most a few milliseconds here).
  console.log('   Deferred updates carry a state just ahead of the peer\'s clock; the peer applies them when its clock gets there.');
  await new Promise((resolve) => setTimeout(resolve, 20));
}
console.log(`   chat/message = ${show(await peer.get('chat').get('message').once())}`);
console.log(`   people/alice/address/city = ${show(await peer.get('people').get('alice').get('address').get('city').once())}`);
const peerMeta = await peer.get(`~${identity.publicKey}`).get('profile').get('displayName').meta();
console.log(`   ~<publicKey>/profile/displayName = ${show(peerMeta?.value)}, signer verified: ${peerMeta?.signer === identity.publicKey}`);

identity.dispose();
await db.close();
await peer.close();
console.log('\nClosed both databases. Next: `npm test` runs every test suite; docs/ARCHITECTURE.md explains the design.');
