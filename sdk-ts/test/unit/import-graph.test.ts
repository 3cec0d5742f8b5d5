// The SDK's modules import each other without cycles (type-only imports count too: a
// cycle of types is still a knot a reader has to untangle), and every relative import
// names a file that exists.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Relative imports and re-exports of each module, as absolute .ts paths. */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g)]
      .map((m) => resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
    graph.set(file, targets);
  }
  return graph;
}

function cycles(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next].map((f) => relative(SRC, f)).join(' → '));
      else if (!state.has(next) && graph.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

it('sdk-ts/src has no import cycles, and every relative import exists', () => {
  const files = sourceFiles(SRC);
  const graph = importGraph(files);
  // Imports leaving src/ (the generated WASM glue in pkg/) are the build's business.
  const missing = [...graph].flatMap(([file, targets]) => targets.filter((t) => t.startsWith(SRC) && !graph.has(t)).map((t) => `${relative(SRC, file)} imports ${relative(SRC, t)}`));
  expect(missing).toEqual([]);
  expect(cycles(graph)).toEqual([]);
});

it('finds a cycle when there is one (the check itself works)', () => {
  const a = join(SRC, 'a.ts');
  const b = join(SRC, 'b.ts');
  expect(cycles(new Map([[a, [b]], [b, [a]]]))).toEqual(['a.ts → b.ts → a.ts']);
});
