// Runs ONE measurement in a fresh process and prints its result as JSON.
//
//   node --expose-gc scripts/bench/probe.mjs <task-module> <export> '<options json>'
//
// Every measurement gets its own process so that no contender inherits another's
// heap, JIT state or background timers (GunDB keeps timers running after its work is
// done). run.mjs starts these; running one by hand is handy when profiling:
//   node --cpu-prof --expose-gc scripts/bench/probe.mjs writes rustUnsigned '{"timing":...}'

import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RESULT_MARK } from './lib/protocol.mjs';

const [moduleName, exportName, optionsJson = '{}'] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));

try {
  const mod = await import(pathToFileURL(join(here, 'tasks', `${moduleName}.mjs`)).href);
  const task = mod[exportName];
  if (typeof task !== 'function') throw new Error(`tasks/${moduleName}.mjs has no export ${exportName}`);
  const result = await task(JSON.parse(optionsJson));
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (error) {
  process.stdout.write(`${RESULT_MARK}${JSON.stringify({ error: String(error?.stack ?? error) })}\n`);
  process.exit(1);
}
