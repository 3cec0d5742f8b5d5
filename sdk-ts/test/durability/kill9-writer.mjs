// The process kill9.test.ts kills. Opens the LevelDB store in argv[2], signs as the
// identity kept there (generating and keeping one on first run), and writes signed
// nodes `~<publicKey>.<key> = { n, text }` with a few puts in flight, printing one
// line per put once it resolved (is durable):
//
//   ready <publicKey>
//   ack <key> <n>
//
// stdout to a pipe is synchronous in Node on Linux, so a line printed was printed
// before the next put; a kill can lose a line, never invent one.
import { Identity, LevelStore, RustDHT } from '../../src/node.js';

const [directory, round] = process.argv.slice(2);
const IN_FLIGHT = 4;

const db = await RustDHT.open({ store: await LevelStore.open(directory) });
const [kept] = await db.identities.list();
let identity = kept === undefined ? undefined : await db.identities.load(kept);
if (identity === undefined) {
  identity = Identity.generate();
  await db.identities.keep(identity);
}
process.stdout.write(`ready ${identity.publicKey}\n`);

const user = db.user(identity);
let next = 0;
async function writeForever() {
  for (;;) {
    const n = next++;
    const key = `r${round}-${n}`;
    await user.get(key).put({ n, text: `round ${round} item ${n}` });
    process.stdout.write(`ack ${key} ${n}\n`);
  }
}
await Promise.all(Array.from({ length: IN_FLIGHT }, writeForever));
