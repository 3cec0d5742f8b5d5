// Durability under kill -9: a separate Node process (kill9-writer.mjs) writes signed
// nodes into a LevelDB store and prints each put once it resolved; this test kills it
// with SIGKILL at random moments, reopens the directory, and checks that the store
// opens cleanly, that every acknowledged write is there with its value and signer, that
// every stored signature verifies, and that no put is half stored. The writer resumes
// on the same directory each round, signing with the identity it kept there.
//
// Random delays come from a seeded generator; a failure prints the seed, and
// RUSTDHT_KILL9_SEED=<seed> replays the same schedule.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { Engine } from '../../src/engine/load-node.js';
import { LevelStore, RustDHT, type PropertyMeta } from '../../src/node.js';
import { soulPrefix } from '../../src/persistence/layout.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const WRITER = join(HERE, 'kill9-writer.mjs');
const REGISTER_TS = join(HERE, 'register-ts.mjs');
const ROUNDS = 24;
/** Every fourth round is killed at a random moment from spawn, possibly while opening. */
const KILL_DURING_OPEN_EVERY = 4;
/** How long a writer may take to open the store and acknowledge its first put. */
const START_TIMEOUT_MS = 30_000;

const seed = Number(process.env['RUSTDHT_KILL9_SEED'] ?? Date.now() % 2 ** 31);
let state = seed;
/** Park–Miller: small, seedable, good enough for delays. */
function random(): number {
  state = (state * 48_271) % 2_147_483_647;
  return state / 2_147_483_647;
}
const between = (min: number, max: number): number => Math.round(min + random() * (max - min));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const directory = mkdtempSync(join(tmpdir(), 'rustdht-kill9-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

interface Round {
  /** The writer's identity, if it got as far as printing it. */
  readonly publicKey: string | undefined;
  /** key → n of every put the writer reported as resolved. */
  readonly acked: Map<string, number>;
}

/** Runs the writer once and kills it; resolves when it is dead. */
async function runAndKill(round: number): Promise<Round> {
  const child = spawn(process.execPath, ['--import', REGISTER_TS, WRITER, directory, String(round)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const drained = new Promise((resolve) => child.stdout.once('close', resolve));
  let publicKey: string | undefined;
  const acked = new Map<string, number>();
  let onWriting: () => void = () => {};
  const writing = new Promise<void>((resolve) => (onWriting = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const [kind, a, b] = line.split(' ');
    if (kind === 'ready') {
      publicKey = a;
    } else if (kind === 'ack') {
      acked.set(a!, Number(b));
      onWriting();
    }
  });

  if (round % KILL_DURING_OPEN_EVERY === KILL_DURING_OPEN_EVERY - 1) {
    await sleep(between(0, 400));
  } else {
    // Kill at a random moment once puts are being acknowledged, however slow the
    // machine is today.
    const timeout = sleep(START_TIMEOUT_MS).then(() => 'timeout' as const);
    const outcome = await Promise.race([writing.then(() => 'writing' as const), exited.then(() => 'exited' as const), timeout]);
    if (outcome !== 'writing') {
      child.kill('SIGKILL');
      throw new Error(`round ${round}: the writer ${outcome} before acknowledging a put (seed ${seed}):\n${stderr}`);
    }
    await sleep(between(0, 300));
  }
  child.kill('SIGKILL');
  const { code, signal } = await exited;
  // Died by our hand, not by an error of its own.
  expect(signal, `round ${round} (seed ${seed}): writer exited with code ${code}:\n${stderr}`).toBe('SIGKILL');
  // Lines the reader had not split yet are still in the pipe: read them all.
  await drained;
  return { publicKey, acked };
}

/** Opens the directory and checks the acknowledged writes; returns the kept identities. */
async function checkAcknowledged(publicKey: string, acked: ReadonlyMap<string, number>): Promise<string[]> {
  const db = await RustDHT.open({ store: await LevelStore.open(directory) });
  try {
    const root = db.get(`~${publicKey}`);
    for (const [key, n] of acked) {
      expect(await root.get(key).once(), `${key} (seed ${seed})`).toEqual({ n, text: `round ${key.slice(1, key.indexOf('-'))} item ${n}` });
      const meta = (await root.get(key).get('text').meta()) as PropertyMeta;
      expect(meta.signer).toBe(publicKey);
    }
    return await db.identities.list();
  } finally {
    await db.close();
  }
}

/**
 * Reads the raw records of the writer's nodes and has a fresh engine verify them, as
 * a peer would: every signature must check. Also checks that no put is half stored:
 * every child the root links to has both of its properties.
 */
async function checkRecords(publicKey: string): Promise<number> {
  const store = await LevelStore.open(directory);
  const engine = new Engine(undefined);
  try {
    const rootSoul = `~${publicKey}`;
    const souls = [rootSoul];
    const records: Uint8Array[] = [];
    for await (const { value } of store.entries({ prefix: soulPrefix(rootSoul) })) records.push(value);
    const rootRecords = records.length;
    expect(rootRecords).toBeGreaterThan(0);
    // The root's properties are the links to each put's child node.
    engine.restoreRecords(records.slice(0, rootRecords));
    const root = JSON.parse(engine.read(rootSoul)) as { props: Record<string, { v: { '#': string } }> };
    for (const key in root.props) souls.push(root.props[key]!.v['#']);
    for (const soul of souls.slice(1)) {
      let count = 0;
      for await (const { value } of store.entries({ prefix: soulPrefix(soul) })) {
        records.push(value);
        count++;
      }
      expect(count, `${soul} is half stored (seed ${seed})`).toBe(2);
    }
    const verifier = new Engine(undefined);
    let applied = 0;
    try {
      for (const record of records) {
        const report = JSON.parse(verifier.ingest(record, Date.now() + 60_000)) as { outcomes: Array<{ o: string }> };
        for (const { o } of report.outcomes) {
          expect(o, `a stored record fails verification (seed ${seed})`).toBe('applied');
          applied++;
        }
      }
    } finally {
      verifier.free();
    }
    return applied;
  } finally {
    engine.free();
    await store.close();
  }
}

it(`every write acknowledged before SIGKILL survives, over ${ROUNDS} random kills`, { timeout: 120_000 }, async () => {
  const everyAck = new Map<string, number>();
  let identity: string | undefined;
  let killedWhileWriting = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const { publicKey, acked } = await runAndKill(round);
    if (publicKey !== undefined) {
      // Once an identity was kept, every later run finds and reuses it.
      if (identity !== undefined) expect(publicKey, `round ${round} (seed ${seed})`).toBe(identity);
      identity = publicKey;
    }
    if (acked.size !== 0) killedWhileWriting++;
    for (const [key, n] of acked) everyAck.set(key, n);
    if (identity !== undefined) expect(await checkAcknowledged(identity, acked)).toEqual([identity]);
  }
  expect(identity).toBeDefined();
  expect(killedWhileWriting).toBeGreaterThanOrEqual(ROUNDS - ROUNDS / KILL_DURING_OPEN_EVERY);
  // The last rounds must not have lost anything from the first ones.
  await checkAcknowledged(identity!, everyAck);
  const verified = await checkRecords(identity!);
  expect(verified).toBeGreaterThanOrEqual(3 * everyAck.size);
  console.log(`kill -9: ${ROUNDS} rounds (seed ${seed}), ${everyAck.size} acknowledged puts survived, ${verified} stored signatures verified`);
});
