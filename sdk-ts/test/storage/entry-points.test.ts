// Which platform pulls in which storage library: classic-level is a native addon and
// must never reach a browser bundle; idb is browser-only and stays out of Node. Walks
// the static import graph of each entry in src/ and lists the packages it reaches.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

/** Bare package names imported (statically or dynamically) by `entry` and everything it imports from src/. */
function packagesReachedFrom(entry: string): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const pending = [join(SRC, entry)];
  const specifier = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(?\s*['"]([^'"]+)['"]/g;
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm, '');
    for (const match of source.matchAll(specifier)) {
      const target = match[1] ?? match[2]!;
      if (!target.startsWith('.')) packages.add(target.split('/')[0]!.startsWith('@') ? target.split('/').slice(0, 2).join('/') : target.split('/')[0]!);
      else if (resolve(dirname(file), target).startsWith(SRC)) pending.push(resolve(dirname(file), target).replace(/\.js$/, '.ts'));
    }
  }
  return packages;
}

describe('storage libraries per entry point', () => {
  it('the browser entry reaches idb and never classic-level', () => {
    const packages = packagesReachedFrom('browser.ts');
    expect(packages).toContain('idb');
    expect(packages).not.toContain('classic-level');
  });

  it('the Node entry reaches classic-level and never idb', () => {
    const packages = packagesReachedFrom('node.ts');
    expect(packages).toContain('classic-level');
    expect(packages).not.toContain('idb');
  });

  it('the shared API (index.ts) reaches neither', () => {
    const packages = packagesReachedFrom('index.ts');
    expect(packages).not.toContain('classic-level');
    expect(packages).not.toContain('idb');
  });
});
