/**
 * The network's dependency rules, read from the import statements of src/network/**:
 *
 * - it depends on the database through replica-port.ts only: no import of the replica
 *   class, of storage internals (persistence/) or of storage backends (storage/);
 * - its modules import each other without a cycle (type imports included).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
const NETWORK = join(SRC, 'network');

function modulesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return modulesUnder(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

const IMPORT = /^\s*(?:import|export)\s[^'";]*?['"](\.[^'"]+)['"]/gm;

/** The relative imports (and re-exports) of `file`, as absolute .ts paths. */
function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((match) => resolve(dirname(file), match[1]!.replace(/\.js$/, '.ts')));
}

const modules = modulesUnder(NETWORK);

describe('src/network imports', () => {
  it('reaches the database only through replica-port.ts', () => {
    const forbidden = [join(SRC, 'replica', 'replica.ts'), join(SRC, 'persistence') + '/', join(SRC, 'storage') + '/'];
    // A rule naming a file that moved would pass silently.
    for (const rule of forbidden) expect(existsSync(rule), rule).toBe(true);
    const offending = modules.flatMap((file) =>
      importsOf(file)
        .filter((target) => forbidden.some((rule) => (rule.endsWith('/') ? target.startsWith(rule) : target === rule)))
        .map((target) => `${relative(SRC, file)} → ${relative(SRC, target)}`),
    );
    expect(offending).toEqual([]);
  });

  it('has no import cycle', () => {
    const graph = new Map(modules.map((file) => [file, importsOf(file).filter((target) => modules.includes(target))]));
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(SRC, f)).join(' → '));
        return;
      }
      state.set(file, 'visiting');
      for (const next of graph.get(file)!) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of modules) visit(file, []);
    expect(modules.length).toBeGreaterThan(30);
    expect(cycles).toEqual([]);
  });
});
