// LevelStore's durability claim, tested: a batch whose promise resolved survives
// `kill -9`, and a batch in flight at the kill is wholly present or wholly absent.
// A separate Node process writes batches (several in flight, so group commit is
// exercised) and prints each acknowledgement; this test kills it with SIGKILL at a
// random moment, reopens the directory and checks every batch.
//
// The child runs LevelStore's real code: its sources are transpiled (types erased,
// nothing else) into target/, inside the repo, so `classic-level` resolves from the
// workspace's node_modules as it would in an app.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LevelStore } from '../../src/storage/leveldb.js';

const SDK = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHILD_ROOT = join(SDK, '..', 'target', 'leveldb-crash-test');
const ROUNDS = 20;
const KEYS_PER_BATCH = 50;
const IN_FLIGHT = 4;

const CHILD = `
import { LevelStore } from './src/storage/leveldb.js';
const store = await LevelStore.open(process.argv[2]);
const encoder = new TextEncoder();
let next = 0;
async function writer() {
  for (;;) {
    const n = next++;
    const operations = [];
    for (let i = 0; i < ${KEYS_PER_BATCH}; i++) {
      operations.push({ type: 'put', key: encoder.encode('b' + n + '/' + i), value: encoder.encode('v' + n + '/' + i + '/' + 'x'.repeat(200)) });
    }
    await store.batch(operations);
    process.stdout.write('ack ' + n + '\\n');
  }
}
process.stdout.write('ready\\n');
await Promise.all(Array.from({ length: ${IN_FLIGHT} }, writer));
`;

/** Transpiles src/api/errors.ts and src/storage/*.ts to JavaScript under CHILD_ROOT. */
function buildChild(): void {
  rmSync(CHILD_ROOT, { recursive: true, force: true });
  const sources = ['api/errors.ts', ...readdirSync(join(SDK, 'src', 'storage')).filter((f) => f.endsWith('.ts')).map((f) => `storage/${f}`)];
  for (const source of sources) {
    const { outputText } = ts.transpileModule(readFileSync(join(SDK, 'src', source), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: source,
    });
    const out = join(CHILD_ROOT, 'src', source.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, outputText);
  }
  writeFileSync(join(CHILD_ROOT, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  writeFileSync(join(CHILD_ROOT, 'child.js'), CHILD);
}

/** Runs the writer, and SIGKILLs it `killAfterMs` after it is ready. */
function runAndKill(directory: string, killAfterMs: number): Promise<{ acked: Set<number> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(CHILD_ROOT, 'child.js'), directory], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked = new Set<number>();
    let buffered = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === 'ready') setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        else if (line.startsWith('ack ')) acked.add(Number(line.slice(4)));
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`the writer exited by itself (code ${code}): ${stderr}`));
      else resolve({ acked });
    });
  });
}

describe('LevelStore survives kill -9', () => {
  const root = mkdtempSync(join(tmpdir(), 'rustdht-level-crash-'));
  beforeAll(buildChild);
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(CHILD_ROOT, { recursive: true, force: true });
  });

  it(`keeps every acknowledged batch, and no batch in part, over ${ROUNDS} kills`, async () => {
    const directory = join(root, 'db');
    let totalAcked = 0;
    const summary: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const { acked } = await runAndKill(directory, 5 + Math.floor(Math.random() * 120));
      totalAcked += acked.size;
      // Each round's writer starts again at batch 0: count what this store holds per batch.
      const store = await LevelStore.open(directory); // opens cleanly after the kill
      const present = new Map<number, number>();
      for await (const { key } of store.entries()) {
        const n = Number(new TextDecoder().decode(key).slice(1).split('/')[0]);
        present.set(n, (present.get(n) ?? 0) + 1);
      }
      const partial = [...present].filter(([, count]) => count !== KEYS_PER_BATCH);
      expect(partial, `round ${round}: batches present only in part`).toEqual([]);
      const lost = [...acked].filter((n) => !present.has(n));
      expect(lost, `round ${round}: acknowledged batches missing after the kill`).toEqual([]);
      const unacked = [...present.keys()].filter((n) => !acked.has(n)).length;
      summary.push(`${acked.size} acked${unacked > 0 ? ` +${unacked} in flight` : ''}`);
      // Start each round from an empty store so every round's batches are checked afresh.
      await store.batch([...present.keys()].flatMap((n) => Array.from({ length: KEYS_PER_BATCH }, (_, i) => ({ type: 'del' as const, key: new TextEncoder().encode(`b${n}/${i}`) }))));
      await store.close();
    }
    console.log(`LevelStore kill -9, per round: ${summary.join(', ')}`);
    expect(totalAcked, 'the writer got acknowledgements before being killed').toBeGreaterThan(0);
  });
});
